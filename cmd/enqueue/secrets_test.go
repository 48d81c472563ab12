package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/testkit"
)

var secretMarkers = testkit.SecretMarkers()

// secretEnv is testkit.SecretEnv for this command.
func secretEnv(t *testing.T) map[string]string {
	env := testkit.SecretEnv(t, "A1SELLERNA")
	return env
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// Ensure every command's --help, unknown flags, bad flag values and bad
// configuration (malformed or unreachable REDIS_URL, bad sellers file, bad
// tokens) never print a secret: not in usage text, errors or logs.
func TestNoSecretInUsageOrErrors(t *testing.T) {
	sendArgs := []string{"send", "--seller", "A1SELLERNA", "--marketplace", "ATVPDKIKX0DER",
		"--order", "112-1234567-1234567", "--type", "confirmOrderDetails", "--text", "Which size?"}
	jobs := writeFile(t, "jobs.jsonl", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"112-1234567-1234567","type":"confirmOrderDetails","text":"Which size?"}`+"\n")
	// Every command, run as far as it gets with a good command line.
	commands := map[string][]string{
		"send":   sendArgs,
		"batch":  {"batch", jobs, "--no-progress"},
		"status": {"status", "j_0123456789abcdef"},
		"serve":  {"serve", "--addr", "127.0.0.1:0"},
	}
	tok := `"refresh_token":"Atzr|` + testkit.MarkRefreshToken + `"`
	type tcase struct {
		name string
		args []string
		env  map[string]string
		code int    // exit code
		want string // in stdout or stderr
	}
	tests := []tcase{
		{name: "NoCommand", code: 2, want: "Usage"},
		{name: "TopHelp", args: []string{"--help"}, code: 0, want: "Usage"},
		{name: "UnknownCommand", args: []string{"sned"}, code: 2, want: "unknown command"},
	}
	for _, cmd := range []string{"send", "batch", "status", "serve"} {
		args := commands[cmd]
		// Flags go before the positional arguments (status stops at them).
		with := func(extra ...string) []string { return append(append([]string{cmd}, extra...), args[1:]...) }
		tests = append(tests,
			tcase{name: cmd + "/Help", args: []string{cmd, "--help"}, code: 0, want: "REDIS_URL, which is set"},
			tcase{name: cmd + "/ShortHelp", args: []string{cmd, "-h"}, code: 0, want: "-redis-url"},
			tcase{name: cmd + "/UnknownFlag", args: with("--no-such-flag"), code: 2, want: "flag provided but not defined"},
			tcase{name: cmd + "/MalformedRedisURL", args: args, code: 2, want: "REDIS_URL",
				env: map[string]string{"REDIS_URL": "redis://spmsg:" + testkit.MarkRedisPass + "@127.0.0.1:notaport/0"}},
			tcase{name: cmd + "/MalformedRedisURLQuoted", args: args, code: 2, want: "REDIS_URL",
				env: map[string]string{"REDIS_URL": "redis://spmsg:" + testkit.MarkRedisPass + `"\@[::1`}},
			tcase{name: cmd + "/MalformedRedisURLNoScheme", args: args, code: 2, want: "REDIS_URL",
				env: map[string]string{"REDIS_URL": "spmsg:" + testkit.MarkRedisPass + "@127.0.0.1:6379"}},
			tcase{name: cmd + "/MalformedClusterURL", args: args, code: 2, want: "REDIS_URL",
				env: map[string]string{"REDIS_URL": "redis-cluster://spmsg:" + testkit.MarkRedisPass + "@a:1,b:x"}},
			tcase{name: cmd + "/RedisFlag", args: with("--redis-url", "redis://:"+testkit.MarkRedisPass+"@127.0.0.1:notaport"), code: 2, want: "REDIS_URL"},
			tcase{name: cmd + "/RedisUnreachable", args: args, code: 1, want: "cannot reach Redis at redis://spmsg:xxxxx@127.0.0.1:1/0"},
		)
		if cmd != "status" { // status needs no sellers file
			tests = append(tests,
				tcase{name: cmd + "/SellerBadRegion", args: args, code: 2, want: `seller "A1SELLERNA": region`,
					env: map[string]string{"SPAPI_SELLERS_FILE": writeFile(t, "s.json", `[{"id":"A1SELLERNA",`+tok+`,"region":"us"}]`)}},
				tcase{name: cmd + "/SellerUnknownField", args: args, code: 2, want: "regoin",
					env: map[string]string{"SPAPI_SELLERS_FILE": writeFile(t, "s.json", `[{"id":"A1SELLERNA",`+tok+`,"regoin":"na"}]`)}},
				tcase{name: cmd + "/SellerTruncated", args: args, code: 2, want: "sellers file",
					env: map[string]string{"SPAPI_SELLERS_FILE": writeFile(t, "s.json", `[{"id":"A1SELLERNA",`+tok)}},
			)
		}
	}
	tests = append(tests,
		tcase{name: "send/BadValue", args: append(append([]string(nil), sendArgs...), "--not-before", "tomorrow"), code: 2, want: "not_before"},
		tcase{name: "batch/BadFlagValue", args: []string{"batch", jobs, "--workers", "x"}, code: 2, want: "-workers"},
		tcase{name: "status/BadFlagValue", args: []string{"status", "--problems", "x", "j_1"}, code: 2, want: "-problems"},
		tcase{name: "serve/BadFlagValue", args: []string{"serve", "--shutdown-timeout", "x"}, code: 2, want: "-shutdown-timeout"},
		tcase{name: "serve/TokenTooShort", args: []string{"serve"}, code: 2, want: "ENQUEUE_API_TOKENS",
			env: map[string]string{"ENQUEUE_API_TOKENS": testkit.MarkAPITokens[:12]}},
		tcase{name: "serve/TokenWithSpace", args: []string{"serve"}, code: 2, want: "ENQUEUE_API_TOKENS",
			env: map[string]string{"ENQUEUE_API_TOKENS": "good-token-0123456789," + testkit.MarkAPITokens + " x"}},
		tcase{name: "serve/TokenEmptySeller", args: []string{"serve"}, code: 2, want: "ENQUEUE_API_TOKENS",
			env: map[string]string{"ENQUEUE_API_TOKENS": testkit.MarkAPITokens + "=A1SELLERNA||"}},
		tcase{name: "serve/TokensFlag", args: []string{"serve", "--tokens", testkit.MarkAPITokens + " x"}, code: 2, want: "ENQUEUE_API_TOKENS"},
		tcase{name: "serve/BadLogFormat", args: []string{"serve"}, code: 2, want: "LOG_FORMAT",
			env: map[string]string{"LOG_FORMAT": "xml"}},
		tcase{name: "serve/BadAddr", args: []string{"serve", "--addr", "nowhere"}, code: 2, want: "--addr"},
	)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := secretEnv(t)
			for k, v := range tc.env {
				e[k] = v
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return e[k] }, strings.NewReader(""), &out, &errOut)
			all := out.String() + errOut.String()
			assert.Equal(t, tc.code, code, "output:\n%s", all)
			assert.Contains(t, all, tc.want)
			for _, m := range secretMarkers {
				assert.NotContains(t, all, m, "output:\n%s", all)
			}
		})
	}
}
