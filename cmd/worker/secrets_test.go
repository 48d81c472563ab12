package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/testkit"
)

var secretMarkers = testkit.SecretMarkers()

// secretEnv is testkit.SecretEnv for this command.
func secretEnv(t *testing.T) map[string]string {
	env := testkit.SecretEnv(t, "A1")
	env["METRICS_ADDR"] = ""
	return env
}

// writeSellers writes a sellers file into dir and returns its path.
func writeSellers(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sellers.json")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// Ensure --help, unknown flags, bad values and bad configuration never
// print a secret: not in usage text (flag defaults), errors or logs.
func TestNoSecretInUsageOrErrors(t *testing.T) {
	tok := `"refresh_token":"Atzr|` + testkit.MarkRefreshToken + `"`
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr bool
		want    string // in stderr or the error
	}{
		{name: "Help", args: []string{"--help"}, want: "SPAPI_LWA_CLIENT_SECRET, which is set"},
		{name: "ShortHelp", args: []string{"-h"}, want: "-lwa-client-secret"},
		{name: "UnknownFlag", args: []string{"--no-such-flag"}, wantErr: true, want: "flag provided but not defined"},
		{name: "BadFlagValue", args: []string{"--concurrency", "x"}, wantErr: true, want: "-concurrency"},
		{name: "UnexpectedArgument", args: []string{"extra"}, wantErr: true, want: "unexpected arguments"},
		{name: "BadConcurrencyEnv", env: map[string]string{"WORKER_CONCURRENCY": "x"}, wantErr: true, want: "WORKER_CONCURRENCY"},
		{name: "BadShutdownTimeoutEnv", env: map[string]string{"WORKER_SHUTDOWN_TIMEOUT": "x"}, wantErr: true, want: "WORKER_SHUTDOWN_TIMEOUT"},
		{name: "BadDevRedis", args: []string{"--dev-redis", "x"}, wantErr: true, want: "--dev-redis"},
		{name: "MissingClientID", env: map[string]string{"SPAPI_LWA_CLIENT_ID": ""}, wantErr: true, want: "SPAPI_LWA_CLIENT_ID"},
		{name: "MalformedRedisURL", env: map[string]string{"REDIS_URL": "redis://spmsg:" + testkit.MarkRedisPass + "@127.0.0.1:notaport/0"}, wantErr: true, want: "REDIS_URL"},
		{name: "MalformedRedisURLQuoted", env: map[string]string{"REDIS_URL": "redis://spmsg:" + testkit.MarkRedisPass + `"\@[::1`}, wantErr: true, want: "REDIS_URL"},
		{name: "MalformedRedisURLNoScheme", env: map[string]string{"REDIS_URL": "spmsg:" + testkit.MarkRedisPass + "@127.0.0.1:6379"}, wantErr: true, want: "REDIS_URL"},
		{name: "MalformedClusterURL", env: map[string]string{"REDIS_URL": "redis-cluster://spmsg:" + testkit.MarkRedisPass + "@a:1,b:x"}, wantErr: true, want: "REDIS_URL"},
		{name: "RedisFlag", args: []string{"--redis-url", "redis://:" + testkit.MarkRedisPass + "@127.0.0.1:notaport"}, wantErr: true, want: "REDIS_URL"},
		{name: "RedisUnreachable", wantErr: true, want: "cannot reach Redis at redis://spmsg:xxxxx@127.0.0.1:1/0"},
		{name: "BadLogFormat", env: map[string]string{"LOG_FORMAT": "xml"}, wantErr: true, want: "LOG_FORMAT"},
		{name: "BadLogLevel", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: true, want: "LOG_LEVEL"},
		{name: "SellerBadRegion", env: map[string]string{"SPAPI_SELLERS_FILE": writeSellers(t, `[{"id":"A1",`+tok+`,"region":"us"}]`)}, wantErr: true, want: `seller "A1": region`},
		{name: "SellerUnknownField", env: map[string]string{"SPAPI_SELLERS_FILE": writeSellers(t, `[{"id":"A1",`+tok+`,"regoin":"na"}]`)}, wantErr: true, want: "regoin"},
		{name: "SellerWrongType", env: map[string]string{"SPAPI_SELLERS_FILE": writeSellers(t, `[{"id":"A1",`+tok+`,"region":"na","rates":{"messaging":"Atzr|`+testkit.MarkRefreshToken+`"}}]`)}, wantErr: true, want: "rates"},
		{name: "SellerTruncated", env: map[string]string{"SPAPI_SELLERS_FILE": writeSellers(t, `[{"id":"A1",`+tok)}, wantErr: true, want: "sellers file"},
		{name: "SellerDuplicate", env: map[string]string{"SPAPI_SELLERS_FILE": writeSellers(t, `[{"id":"A1",`+tok+`,"region":"na"},{"id":"A1",`+tok+`,"region":"na"}]`)}, wantErr: true, want: "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := secretEnv(t)
			for k, v := range tc.env {
				e[k] = v
			}
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, env(e), &out, &errOut)
			exitCode(err, &errOut) // what main prints
			all := out.String() + errOut.String()
			if err != nil {
				all += err.Error()
			}
			if tc.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, ignoreHelp(err))
			}
			assert.Contains(t, all, tc.want)
			for _, m := range secretMarkers {
				assert.NotContains(t, all, m, "output:\n%s", all)
			}
		})
	}
}

// ignoreHelp maps flag.ErrHelp (exit 0 after --help) to nil.
func ignoreHelp(err error) error {
	if isUsage(err) && exitCode(err, &bytes.Buffer{}) == 0 {
		return nil
	}
	return err
}
