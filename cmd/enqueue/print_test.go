package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/testkit"
)

// TestPrintRedactsSecrets prints the option structs holding the Redis URL
// or the bearer tokens every way a program may print or log them.
func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	c := common{redisURL: "redis://spmsg:" + testkit.MarkRedisPass + "@visible-redis-host:6379/0", sellersFile: "/etc/sellers.json"}
	t.Run("common", func(t *testing.T) {
		t.Parallel()
		assertRedacted(t, c, "visible-redis-host", testkit.MarkRedisPass)
	})
	t.Run("serveOpts", func(t *testing.T) {
		t.Parallel()
		o := serveOpts{common: c, addr: "127.0.0.1:18080", tokens: testkit.MarkAPITokens + "=ASELLER"}
		assertRedacted(t, o, "127.0.0.1:18080", testkit.MarkRedisPass, testkit.MarkAPITokens)
		assert.Contains(t, o.String(), "visible-redis-host")
	})
	t.Run("batchOpts", func(t *testing.T) {
		t.Parallel()
		assertRedacted(t, batchOpts{common: c, campaign: "visible-campaign"}, "visible-campaign", testkit.MarkRedisPass)
	})
}

// assertRedacted prints v, and v nested in a struct and in a slice, with
// every fmt verb a caller might use and through slog's text and JSON
// handlers, and fails if any secret appears or visible does not.
func assertRedacted[T any](t *testing.T, v T, visible string, secrets ...string) {
	t.Helper()
	type wrapper struct {
		Name  string
		Inner T
		Ptr   *T
	}
	nested := wrapper{Name: "wrap", Inner: v, Ptr: &v}
	list := []T{v, v}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
		for _, x := range []any{v, &v, nested, list} {
			outs = append(outs, fmt.Sprintf(verb, x))
		}
	}
	outs = append(outs, fmt.Sprint(v), fmt.Sprintln(list))
	for _, json := range []bool{false, true} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, nil)
		if json {
			h = slog.NewJSONHandler(&buf, nil)
		}
		slog.New(h).Info("values", "value", v, "pointer", &v, "nested", nested, "list", list,
			slog.Group("group", slog.Any("inner", v)))
		outs = append(outs, buf.String())
	}
	for _, out := range outs {
		for _, s := range secrets {
			require.NotContains(t, out, s, "a secret leaks")
		}
	}
	assert.Contains(t, outs[0], visible, "a non-secret field is hidden")
}
