package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/httpapi"
	"github.com/spmsg/spmsg/tasks"
)

// Ensure every non-public route answers 401 with a Bearer challenge to a
// missing, malformed or wrong token, and accepts each rotation token.
func TestAuth(t *testing.T) {
	f := newFixture(t)
	job := jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x"`)
	calls := []struct{ method, path, body string }{
		{http.MethodPost, "/v1/messages", job},
		{http.MethodGet, "/v1/messages/j_nosuch", ""},
		{http.MethodGet, "/v1/campaigns/spring", ""},
		{http.MethodPost, "/v1/attachments?name=a.pdf", string(pdfBytes)},
	}
	for _, c := range calls {
		t.Run(strings.ReplaceAll(c.method+c.path, "/", "_"), func(t *testing.T) {
			for _, auth := range []string{"", "Bearer", "Bearer wrong-token-0123456789", "Basic " + token1, token1, "Bearer " + token1 + "x"} {
				a := f.do(c.method, c.path, []byte(c.body), "Authorization", auth) // "": no header at all
				require.Equal(t, http.StatusUnauthorized, a.status, "Authorization %q", auth)
				assert.True(t, strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer "), a.header)
				if auth != "" {
					assert.Contains(t, a.header.Get("WWW-Authenticate"), `error="invalid_token"`)
				}
				assert.NotEmpty(t, a.fields(t)["error"])
				assert.NotContains(t, string(a.body), token1)
			}
			for _, tok := range []string{token1, token2} {
				a := f.do(c.method, c.path, []byte(c.body), "Authorization", "Bearer "+tok)
				assert.NotEqual(t, http.StatusUnauthorized, a.status)
			}
			a := f.do(c.method, c.path, []byte(c.body), "Authorization", "bearer "+token2)
			assert.NotEqual(t, http.StatusUnauthorized, a.status, "the scheme is case-insensitive")
		})
	}
	assert.Equal(t, 1, f.queued(), "only the authorised POST enqueued")
	for _, p := range []string{"/healthz", "/metrics", "/openapi.json"} {
		a := f.get(p, "Authorization", "")
		assert.Equal(t, http.StatusOK, a.status, p)
	}
}

// Ensure a server without tokens serves without authentication.
func TestNoTokensNoAuth(t *testing.T) {
	f := newFixture(t, func(c *httpapi.Config) { c.Tokens = nil })
	a := f.post("/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x"`), "Authorization", "")
	assert.Equal(t, http.StatusAccepted, a.status, string(a.body))
}

func TestParseTokens(t *testing.T) {
	toks, err := httpapi.ParseTokens(" " + token1 + " ,," + token2 + ",")
	require.NoError(t, err)
	assert.Equal(t, []httpapi.Token{{Secret: token1}, {Secret: token2}}, toks, "bare tokens act for every seller")
	toks, err = httpapi.ParseTokens("")
	require.NoError(t, err)
	assert.Empty(t, toks)
	_, err = httpapi.ParseTokens(token1 + ",short-secret")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "token #2")
	assert.NotContains(t, err.Error(), "short-secret", "a token never appears in an error")
	_, err = httpapi.ParseTokens("with a space in it 0123456789")
	require.Error(t, err)
	_, err = httpapi.New(httpapi.Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Producer")

	// Seller binding: TOKEN=SELLER1|SELLER2, split at the last "=".
	toks, err = httpapi.ParseTokens(token1 + "=" + sellerNA + "|" + sellerEU + ", " + token2 + "=" + sellerEU)
	require.NoError(t, err)
	assert.Equal(t, []httpapi.Token{{Secret: token1, Sellers: []string{sellerNA, sellerEU}}, {Secret: token2, Sellers: []string{sellerEU}}}, toks)
	b64 := "c2VjcmV0LXNlY3JldC1zZWNyZXQ=="
	toks, err = httpapi.ParseTokens(b64 + "," + b64 + "=" + sellerNA)
	require.NoError(t, err)
	assert.Equal(t, []httpapi.Token{{Secret: b64}, {Secret: b64, Sellers: []string{sellerNA}}}, toks, "base64 padding stays in the token")
	for _, bad := range []string{token1 + "=" + sellerNA + "||" + sellerEU, token1 + "=|", "tiny=" + sellerNA} {
		_, err = httpapi.ParseTokens(token2 + "," + bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "token #2", bad)
		assert.NotContains(t, err.Error(), token1)
		assert.NotContains(t, err.Error(), "tiny")
	}
}

// Ensure New refuses a token bound to a seller that is not in the sellers
// file, or a token listed twice, naming it by position only.
func TestNewChecksTokenSellers(t *testing.T) {
	for _, c := range []struct {
		tokens []httpapi.Token
		want   string
	}{
		{[]httpapi.Token{{Secret: token1}, {Secret: token2, Sellers: []string{sellerNA, "A9NOSUCH"}}}, "token #2: seller #2 of its list is not in the sellers file"},
		{[]httpapi.Token{{Secret: token1}, {Secret: token2}, {Secret: token1, Sellers: []string{sellerNA}}}, "token #3 repeats token #1"},
	} {
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
		t.Cleanup(func() { _ = rdb.Close() })
		_, err := httpapi.New(httpapi.Config{Producer: tasks.NewProducer(rdb, sellers(t)), Outcomes: tasks.NewOutcomeStore(rdb, "", 0),
			Store: brokenStore{}, Redis: rdb, Tokens: c.tokens})
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.want)
		assert.NotContains(t, err.Error(), token1)
		assert.NotContains(t, err.Error(), "A9NOSUCH")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "[::1]:8080": true, "127.0.0.2:80": true,
		":8080": false, "0.0.0.0:8080": false, "192.168.1.5:8080": false, "example.com:80": false, "[::]:8080": false,
	} {
		got, err := httpapi.IsLoopback(addr)
		require.NoError(t, err, addr)
		assert.Equal(t, want, got, addr)
	}
	_, err := httpapi.IsLoopback("8080")
	assert.Error(t, err)
}
