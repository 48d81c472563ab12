package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
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
	assert.Contains(t, s, "Summary: 17 jobs accepted, 1 refused at enqueue as duplicates")
	assert.Contains(t, s, "sent 15")
	assert.Contains(t, s, "skipped_duplicate 1")
	assert.Contains(t, s, "skipped_unavailable 1")
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
	assert.Contains(t, out.String(), "Summary: 17 jobs accepted, 1 refused at enqueue as duplicates")
	assert.Contains(t, out.String(), "sent 15")
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
	cfg, err := parseFlags([]string{"--metrics-addr", "127.0.0.1:0", "--redis-url", redistest.URL(t),
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
		"spmsg_amazon_throttled_total", "spmsg_job_deferrals_total", "spmsg_job_attempt_duration_seconds", "go_goroutines"} {
		assert.Contains(t, m, name)
	}
}
