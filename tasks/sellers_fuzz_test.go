package tasks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/tasks"
)

const fuzzToken = "Atzr|IwEBIFUZZ-REFRESH-TOKEN-c0ffee-0123456789"

// printings are every way a value can reach a log or an error: fmt's
// verbs and slog's text and JSON handlers. (A []SellerConfig is excluded
// from the JSON handler: it marshals as the sellers file does, so log a
// seller or the *Sellers, never the slice, as JSON.)
func printings(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T"} {
		fmt.Fprintf(&b, verb+"\n", v)
	}
	fmt.Fprintln(&b, v)
	fmt.Fprintf(&b, "%v %+v %#v\n", []any{v}, struct{ S any }{v}, map[string]any{"s": v})
	slog.New(slog.NewTextHandler(&b, nil)).Info("m", "seller", v)
	if _, slice := v.([]tasks.SellerConfig); !slice {
		slog.New(slog.NewJSONHandler(&b, nil)).Info("m", "seller", v)
	}
	return b.String()
}

// Ensure a seller's refresh token never shows when the seller, a list of
// them or the sellers file is printed with any fmt verb or logged.
func TestSellerPrintingHidesRefreshToken(t *testing.T) {
	s, err := tasks.ParseSellers(strings.NewReader(`[{"id":"A1","refresh_token":"` + fuzzToken + `","region":"NA",
	  "rates":{"sendInvoice":{"rate":2,"burst":4}}}]`))
	require.NoError(t, err)
	c, ok := s.Get("A1")
	require.True(t, ok)
	require.Equal(t, fuzzToken, c.RefreshToken)
	for name, v := range map[string]any{"SellerConfig": c, "*SellerConfig": &c, "[]SellerConfig": s.List(), "*Sellers": s} {
		out := printings(v)
		assert.NotContains(t, out, "IwEBIFUZZ", "%s:\n%s", name, out)
		assert.Contains(t, out, "A1", name)
	}
	assert.Equal(t, `tasks.SellerConfig{ID:"A1" RefreshToken:[redacted] Region:"na" Rates:map[sendInvoice:{2 4}]}`, c.String())
	assert.Equal(t, c.String(), c.GoString())
	assert.Equal(t, `tasks.SellerConfig{ID:"" RefreshToken:"" Region:"" Rates:map[]}`, tasks.SellerConfig{}.String())
	var nilSellers *tasks.Sellers
	assert.Equal(t, "tasks.Sellers(nil)", fmt.Sprint(nilSellers))
}

// errNames is what every sellers-file error starts by naming: a line of
// bad JSON, a seller by index or id, or the file's shape.
var errNames = regexp.MustCompile(`^(line \d+: |seller (#\d+|".*"): \S|want a JSON array|no sellers$)`)

// FuzzSellersFile feeds ParseSellers arbitrary files: it never panics; an
// error names the line, the seller or the file's shape, and holds no
// refresh token; a parsed file prints without its tokens, and written back
// as JSON it parses to the same sellers.
func FuzzSellersFile(f *testing.F) {
	for _, seed := range []string{
		`[{"id":"A1","refresh_token":"` + fuzzToken + `","region":"na"}]`,
		`[{"id":"A1","refresh_token":"` + fuzzToken + `","region":"EU","rates":{"messaging":{"rate":1.5,"burst":3},"uploads":{"rate":0.1,"burst":1}}},
		  {"id":"A2","refresh_token":"Atzr|second-token-0000000000","region":"fe"}]`,
		`[{"id":"A1","refresh_token":"` + fuzzToken + `","region":"us"}]`,
		`[{"id":"A1","refresh_token":"` + fuzzToken + `","regoin":"na"}]`,
		`[{"id":"A1","refresh_token":"` + fuzzToken + `"},{"id":"A1","refresh_token":"` + fuzzToken + `","region":"na"}]`,
		`[{"id":"A1","refresh_token":"` + fuzzToken + `","region":"na","rates":{"messaging":{"rate":0,"burst":1}}}]`,
		`[{"id":"A1","refresh_token":` + "\n" + `"` + fuzzToken,
		`[{"refresh_token":"` + fuzzToken + `","region":"na"}]`,
		`[{"id":5,"refresh_token":"` + fuzzToken + `"}]`,
		`{"id":"A1"}`, `[]`, `null`, `[null]`, `[1]`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens := refreshTokens(data)
		s, err := tasks.ParseSellers(bytes.NewReader(data))
		if err != nil {
			require.Nil(t, s)
			msg := err.Error()
			require.Regexp(t, errNames, msg)
			for _, tok := range tokens {
				require.NotContains(t, msg, tok, "the error quotes a refresh token")
			}
			return
		}
		list := s.List()
		require.NotEmpty(t, list)
		out := printings(s) + printings(list)
		for _, c := range list {
			require.NotEmpty(t, c.RefreshToken)
			if len(c.RefreshToken) >= 8 && !strings.Contains(c.ID+c.Region+fmt.Sprint(c.Rates)+`tasks.SellerConfig{ID: RefreshToken:[redacted] Region: Rates:map[]} "id" "region" "refresh_token_set" true seller msg level time INFO m`, c.RefreshToken) {
				require.NotContains(t, out, c.RefreshToken, "a printed seller shows its refresh token")
			}
		}
		b, err := json.Marshal(list)
		require.NoError(t, err)
		again, err := tasks.ParseSellers(bytes.NewReader(b))
		require.NoError(t, err, "%s", b)
		require.Equal(t, list, again.List())
	})
}

// refreshTokens are the refresh_token values of a sellers file that are
// long and appear nowhere else in it (not as an id, key or other value), so
// that an error can only hold one by quoting it. It walks the JSON tokens
// as far as they are valid.
func refreshTokens(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		key    string
		isKey  bool // the next string in an object is a key
	}
	var stack []frame
	var tokens, others []string
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{object: true, isKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].isKey = true
				}
			}
			continue
		case string:
			switch {
			case top != nil && top.object && top.isKey:
				top.key = v
				others = append(others, v)
			case top != nil && top.object && top.key == "refresh_token" && len(stack) == 2:
				tokens = append(tokens, v)
			default:
				others = append(others, v)
			}
		default:
			others = append(others, fmt.Sprint(v))
		}
		if top != nil && top.object {
			top.isKey = !top.isKey
		}
	}
	var out []string
	for _, tok := range tokens {
		if len(tok) < 12 || !strings.HasPrefix(tok, "Atzr|") {
			continue
		}
		elsewhere := false
		for _, o := range others {
			elsewhere = elsewhere || strings.Contains(o, tok)
		}
		if !elsewhere {
			out = append(out, tok)
		}
	}
	return out
}
