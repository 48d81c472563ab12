package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/tasks"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Ensure the one-command demo runs on a fresh machine and ends with the
// summary (README's quick start).
func TestDevDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"--dev", "--demo"}, env(nil), &out, &errOut)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	s := out.String()
	assert.Contains(t, s, "Summary: 19 jobs accepted, 1 refused at enqueue as duplicates")
	assert.Contains(t, s, "sent 16")
	assert.Contains(t, s, "skipped_duplicate 1")
	assert.Contains(t, s, "skipped_unavailable 1")
	assert.Contains(t, s, "expired 1")
	assert.Contains(t, s, "0 model violations")
	assert.NotContains(t, s+errOut.String(), "dev-secret", "no secret in any output")
	assert.NotContains(t, s+errOut.String(), "Atzr|", "no refresh token in any output")
}

// Ensure the demo also runs on the embedded Redis, for a machine without
// redis-server.
func TestDevDemoEmbeddedRedis(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"--dev", "--demo", "--dev-redis", "miniredis"}, env(nil), &out, &errOut)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	assert.Contains(t, out.String(), "started miniredis")
	assert.Contains(t, out.String(), "Summary: 19 jobs accepted, 1 refused at enqueue as duplicates")
	assert.Contains(t, out.String(), "sent 16")
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "sellers.json")
	require.NoError(t, os.WriteFile(bad, []byte(`[{"id":"A1","refresh_token":"Atzr|x","region":"us"}]`), 0o600))
	noTok := filepath.Join(dir, "notoken.json")
	require.NoError(t, os.WriteFile(noTok, []byte(`[{"id":"A2","region":"na"}]`), 0o600))
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"MissingCredentials", nil, nil, "SPAPI_LWA_CLIENT_ID"},
		{"UnknownRegion", nil, map[string]string{"SPAPI_LWA_CLIENT_ID": "id", "SPAPI_LWA_CLIENT_SECRET": "s", "SPAPI_SELLERS_FILE": bad}, `seller "A1": region`},
		{"MissingToken", nil, map[string]string{"SPAPI_LWA_CLIENT_ID": "id", "SPAPI_LWA_CLIENT_SECRET": "s", "SPAPI_SELLERS_FILE": noTok}, `seller "A2": refresh_token is required`},
		{"BadConcurrencyEnv", nil, map[string]string{"WORKER_CONCURRENCY": "many"}, "WORKER_CONCURRENCY"},
		{"FlagWinsOverEnv", []string{"--concurrency", "0"}, map[string]string{"WORKER_CONCURRENCY": "5"}, "--concurrency must be at least 1"},
		{"BadLogFormat", []string{"--log-format", "xml"}, map[string]string{"SPAPI_LWA_CLIENT_ID": "id", "SPAPI_LWA_CLIENT_SECRET": "s", "SPAPI_SELLERS_FILE": noTok}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, env(tc.env), &out, &errOut)
			require.Error(t, err)
			assert.True(t, isUsage(err), "%v should be a usage error (exit 2)", err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "Atzr|x")
		})
	}
}

// Ensure a worker started from its configuration serves /healthz and
// /metrics and stops on cancel.
func TestWorkerServesHealthAndMetrics(t *testing.T) {
	dir := t.TempDir()
	sellers := filepath.Join(dir, "sellers.json")
	require.NoError(t, os.WriteFile(sellers, []byte(`[{"id":"A1","refresh_token":"Atzr|x","region":"na"}]`), 0o600))
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	cfg, err := parseFlags([]string{"--metrics-addr", "127.0.0.1:0", "--redis-url", srv.URL(),
		"--attachment-store", "file://" + dir}, env(map[string]string{"SPAPI_LWA_CLIENT_ID": "id",
		"SPAPI_LWA_CLIENT_SECRET": "s", "SPAPI_SELLERS_FILE": sellers}), &bytes.Buffer{})
	require.NoError(t, err)
	s, err := loadSellers(cfg)
	require.NoError(t, err)
	var logs bytes.Buffer
	w, err := newWorker(context.Background(), cfg, s, &logs)
	require.NoError(t, err)
	require.NoError(t, w.start())
	defer w.shutdown()
	body := get(t, "http://"+w.httpAddr+"/healthz")
	assert.Equal(t, "ok", strings.TrimSpace(body))
	m := get(t, "http://"+w.httpAddr+"/metrics")
	for _, name := range []string{"spmsg_queue_tasks", "spmsg_queue_latency_seconds", "spmsg_jobs_total",
		"spmsg_amazon_throttled_total", "spmsg_job_deferrals_total", "spmsg_job_attempt_duration_seconds", "go_goroutines",
		"spmsg_line_jobs 0", "spmsg_quota_wait_seconds_bucket", "spmsg_jobs_requeued_total"} {
		assert.Contains(t, m, name)
	}
}

// prodEnv is a production configuration (no --dev) on the Redis at url.
func prodEnv(t *testing.T, url string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	sellers := filepath.Join(dir, "sellers.json")
	require.NoError(t, os.WriteFile(sellers, []byte(`[{"id":"A1","refresh_token":"Atzr|x","region":"na"}]`), 0o600))
	return map[string]string{"SPAPI_LWA_CLIENT_ID": "id", "SPAPI_LWA_CLIENT_SECRET": "s", "SPAPI_SELLERS_FILE": sellers,
		"REDIS_URL": url, "ATTACHMENT_STORE": "file://" + dir, "METRICS_ADDR": "127.0.0.1:0"}
}

// startWorker builds and starts a worker as run does, and stops it when
// the test ends.
func startWorker(t *testing.T, args []string, e map[string]string) (*worker, *bytes.Buffer) {
	t.Helper()
	cfg, err := parseFlags(args, env(e), &bytes.Buffer{})
	require.NoError(t, err)
	s, err := loadSellers(cfg)
	require.NoError(t, err)
	var logs bytes.Buffer
	w, err := newWorker(context.Background(), cfg, s, &logs)
	require.NoError(t, err, "logs:\n%s", logs.String())
	require.NoError(t, w.start())
	t.Cleanup(w.shutdown)
	return w, &logs
}

// Ensure the worker refuses to start on a Redis without AOF, with an error
// naming the setting, its fix and the flag that overrides it (exit 1, not
// a usage error), and starts with --accept-redis-risk or
// REDIS_ACCEPT_RISK=1, logging the risk.
func TestWorkerRefusesRedisWithoutAOF(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	e := prodEnv(t, srv.URL())
	var out, errOut bytes.Buffer
	err := run(context.Background(), nil, env(e), &out, &errOut)
	require.Error(t, err)
	assert.False(t, isUsage(err))
	assert.Contains(t, err.Error(), srv.Addr+": AOF is off: set appendonly yes, appendfsync always (or everysec on Redis >= 7.2)")
	assert.Contains(t, err.Error(), "--accept-redis-risk (REDIS_ACCEPT_RISK=1)")
	var stderr bytes.Buffer
	assert.Equal(t, 1, exitCode(err, &stderr))
	assert.Contains(t, stderr.String(), "worker: Redis can lose acknowledged writes")

	for name, args := range map[string][]string{"Flag": {"--accept-redis-risk"}, "Env": nil} {
		t.Run(name, func(t *testing.T) {
			e := prodEnv(t, srv.URL())
			if args == nil {
				e["REDIS_ACCEPT_RISK"] = "1"
			}
			w, logs := startWorker(t, args, e)
			assert.Contains(t, logs.String(), "AOF is off")
			assert.Contains(t, logs.String(), "level=WARN")
			require.NotNil(t, w.handler.Config().Durable, "the guard is always passed")
			assert.NoError(t, w.handler.Config().Durable.Confirm(context.Background()), "appendonly no, risk accepted: nothing to wait for")
		})
	}
}

// Ensure appendfsync everysec on this machine's Redis 7.0 (no WAITAOF) is
// refused with an error naming appendfsync.
func TestWorkerRefusesEverysecBefore72(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true, Args: []string{"--appendfsync", "everysec"}})
	err := run(context.Background(), nil, env(prodEnv(t, srv.URL())), &bytes.Buffer{}, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "appendfsync everysec on Redis 7.0")
	assert.Contains(t, err.Error(), "set appendfsync always, or use Redis >= 7.2")
}

// Ensure a safe Redis gives the handler its guard, and the durability
// flags reach the handler.
func TestWorkerDurabilityWiring(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	w, logs := startWorker(t, []string{"--resend-after-5xx", "--max-age", "36h"}, prodEnv(t, srv.URL()))
	require.NotNil(t, w.handler.Config().Durable)
	assert.NoError(t, w.handler.Config().Durable.Confirm(context.Background()))
	assert.True(t, w.handler.Config().ResendAfter5xx)
	assert.Equal(t, 36*time.Hour, w.handler.Config().MaxAge)
	assert.Contains(t, logs.String(), "redis durability")
	assert.NotContains(t, logs.String(), "level=WARN")

	w, _ = startWorker(t, nil, prodEnv(t, srv.URL()))
	assert.False(t, w.handler.Config().ResendAfter5xx, "off by default")
	assert.Equal(t, tasks.DefaultMaxAge, w.handler.Config().MaxAge)
}

// Ensure the durability flags read their variables, flags win, --dev
// accepts the Redis risk, bad values name the variable or flag, and the
// help spells out the resend risk.
func TestDurabilityFlags(t *testing.T) {
	base := map[string]string{"SPAPI_LWA_CLIENT_ID": "id", "SPAPI_LWA_CLIENT_SECRET": "s", "SPAPI_SELLERS_FILE": "x"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := parseFlags(nil, env(base), &bytes.Buffer{})
	require.NoError(t, err)
	assert.False(t, c.AcceptRedisRisk)
	assert.False(t, c.ResendAfter5xx)
	assert.Equal(t, tasks.DefaultMaxAge, c.MaxAge)

	c, err = parseFlags(nil, env(with("REDIS_ACCEPT_RISK", "1", "RESEND_AFTER_5XX", "true", "JOB_MAX_AGE", "48h")), &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, c.AcceptRedisRisk)
	assert.True(t, c.ResendAfter5xx)
	assert.Equal(t, 48*time.Hour, c.MaxAge)

	c, err = parseFlags([]string{"--resend-after-5xx=false", "--max-age", "1h"}, env(with("RESEND_AFTER_5XX", "1", "JOB_MAX_AGE", "48h")), &bytes.Buffer{})
	require.NoError(t, err)
	assert.False(t, c.ResendAfter5xx, "the flag wins over its variable")
	assert.Equal(t, time.Hour, c.MaxAge)

	c, err = parseFlags([]string{"--dev"}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, c.AcceptRedisRisk, "--dev accepts the Redis risk")

	for want, e := range map[string]map[string]string{
		`RESEND_AFTER_5XX="maybe"`: with("RESEND_AFTER_5XX", "maybe"),
		`REDIS_ACCEPT_RISK="yes"`:  with("REDIS_ACCEPT_RISK", "yes"),
		"JOB_MAX_AGE":              with("JOB_MAX_AGE", "a week"),
	} {
		_, err := parseFlags(nil, env(e), &bytes.Buffer{})
		require.Error(t, err, want)
		assert.True(t, isUsage(err))
		assert.Contains(t, err.Error(), want)
	}
	_, err = parseFlags([]string{"--max-age", "0s"}, env(base), &bytes.Buffer{})
	require.ErrorContains(t, err, "--max-age must be positive")
	_, err = parseFlags([]string{"--max-age", "1000h"}, env(base), &bytes.Buffer{})
	require.ErrorContains(t, err, "longer than the 720h0m0s that outcome records")

	var help bytes.Buffer
	_, err = parseFlags([]string{"--help"}, env(nil), &help)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, help.String(), "the buyer may get the message twice")
	assert.Contains(t, help.String(), "RESEND_AFTER_5XX")
	assert.Contains(t, help.String(), "-accept-redis-risk")
	assert.Contains(t, help.String(), "JOB_MAX_AGE")
}

// Ensure a mistyped flag or a bad flag value is bad usage: exit code 2.
func TestBadFlagsExitTwo(t *testing.T) {
	for _, args := range [][]string{{"--no-such-flag"}, {"--concurrency", "x"}} {
		err := run(context.Background(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
		assert.Equal(t, 2, exitCode(err, &bytes.Buffer{}), "%v", args)
	}
	err := run(context.Background(), []string{"--help"}, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	assert.Equal(t, 0, exitCode(err, &bytes.Buffer{}))
}
