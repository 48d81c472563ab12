package testkit

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// AssertRedacted prints v, and v nested in a struct and in a slice, with
// every fmt verb a caller might use and through slog's text and JSON
// handlers, and fails if any secret appears or visible does not.
func AssertRedacted[T any](t *testing.T, v T, visible string, secrets ...string) {
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
