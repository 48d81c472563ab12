package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/httpapi"
	"github.com/spmsg/spmsg/jobstate"
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
		_, err := httpapi.New(httpapi.Config{Producer: tasks.NewProducer(rdb, sellers(t)), Outcomes: jobstate.NewOutcomeStore(rdb, "", 0),
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

// Ensure a seller-bound token enqueues only for its sellers (403 alone,
// the item rejected naming seller_id in an array), reads only its
// sellers' jobs (404 otherwise, as for an unknown id) and only campaigns
// whose every job is of its sellers (404 otherwise); and that a bare token
// still acts for every seller.
func TestSellerBoundTokens(t *testing.T) {
	f := newFixture(t)
	na := jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x","campaign":"na-only"`)
	eu := `{"seller_id":"` + sellerEU + `","marketplace_id":"` + mktDE + `","order_id":"111-1111111-0000002","type":"confirmOrderDetails","text":"x","campaign":"mixed"}`
	euAuth := []string{"Authorization", "Bearer " + tokenEU}
	naAuth := []string{"Authorization", "Bearer " + tokenNA}

	// POST, one job: 403 naming seller_id, nothing queued.
	a := f.post("/v1/messages", na, euAuth...)
	require.Equal(t, http.StatusForbidden, a.status, string(a.body))
	var r itemResult
	a.decode(t, &r)
	assert.Equal(t, "rejected", r.Status)
	require.Len(t, r.Errors, 1)
	assert.Equal(t, "seller_id", r.Errors[0].Field)
	assert.Contains(t, r.Error, sellerNA)
	assert.Zero(t, f.queued())

	// POST, an array: the other seller's item is rejected, the rest go.
	mixedNA := strings.Replace(na, "na-only", "mixed", 1)
	a = f.post("/v1/messages", "["+eu+","+mixedNA+"]", euAuth...)
	require.Equal(t, http.StatusMultiStatus, a.status, string(a.body))
	var ans batchAnswer
	a.decode(t, &ans)
	assert.Equal(t, "accepted", ans.Results[0].Status)
	assert.Equal(t, "rejected", ans.Results[1].Status)
	require.Len(t, ans.Results[1].Errors, 1)
	assert.Equal(t, "seller_id", ans.Results[1].Errors[0].Field)
	euID := ans.Results[0].ID
	assert.Equal(t, 1, f.queued())

	// The bare token acts for both: NA jobs into both campaigns.
	a = f.post("/v1/messages", "["+na+","+mixedNA+"]")
	require.Equal(t, http.StatusMultiStatus, a.status, string(a.body))
	ans = batchAnswer{}
	a.decode(t, &ans)
	assert.Equal(t, 2, ans.Accepted, string(a.body))
	naID := ans.Results[0].ID

	// GET /v1/messages/{id}: another seller's job is not found, word for
	// word as an unknown id.
	a = f.get("/v1/messages/"+euID, naAuth...)
	require.Equal(t, http.StatusNotFound, a.status)
	assert.Equal(t, "job "+euID+": not found (never enqueued here, or its record expired)", a.fields(t)["error"])
	assert.NotContains(t, string(a.body), sellerEU)
	for _, c := range []struct {
		id, token string
		want      int
	}{{euID, tokenEU, 200}, {naID, tokenNA, 200}, {naID, tokenEU, 404}, {euID, token1, 200}, {naID, token2, 200}} {
		a = f.get("/v1/messages/"+c.id, "Authorization", "Bearer "+c.token)
		assert.Equal(t, c.want, a.status, "%s with %s", c.id, c.token)
	}

	// GET /v1/campaigns/{name}: only when every job is of the token's
	// sellers; an unknown campaign is not found either.
	for _, c := range []struct {
		campaign, token string
		want            int
	}{
		{"na-only", tokenNA, 200}, {"na-only", tokenEU, 404}, {"mixed", tokenNA, 404}, {"mixed", tokenEU, 404},
		{"mixed", token1, 200}, {"nosuch", tokenNA, 404}, {"nosuch", token1, 200},
	} {
		a = f.get("/v1/campaigns/"+c.campaign, "Authorization", "Bearer "+c.token)
		assert.Equal(t, c.want, a.status, "%s with %s: %s", c.campaign, c.token, a.body)
		if c.want == 404 {
			assert.NotContains(t, string(a.body), "total")
		}
	}
	sellersOf, err := f.outcomes.CampaignSellers(context.Background(), "mixed")
	require.NoError(t, err)
	assert.Equal(t, []string{sellerNA, sellerEU}, sellersOf)

	// A token bound to both sellers sees the mixed campaign.
	both := newFixture(t, func(c *httpapi.Config) {
		c.Tokens = []httpapi.Token{{Secret: token1, Sellers: []string{sellerEU, sellerNA}}}
	})
	a = both.post("/v1/messages", "["+eu+","+mixedNA+"]")
	require.Equal(t, http.StatusMultiStatus, a.status, string(a.body))
	a = both.get("/v1/campaigns/mixed")
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	assert.EqualValues(t, 2, a.fields(t)["total"])
}

// Ensure POST /v1/messages takes only Content-Type: application/json (with
// a utf-8 charset or none): a form or text/plain body, which a web page
// can post cross-site, is 415 and enqueues nothing.
func TestPostMessagesNeedsJSONContentType(t *testing.T) {
	f := newFixture(t)
	job := jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x"`)
	for _, ct := range []string{"", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/jsonx", "application/json; charset=iso-8859-1", "application/json;;"} {
		a := f.post("/v1/messages", job, "Content-Type", ct)
		require.Equal(t, http.StatusUnsupportedMediaType, a.status, "Content-Type %q: %s", ct, a.body)
		assert.Contains(t, a.fields(t)["error"], "application/json")
	}
	assert.Zero(t, f.queued())
	for i, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"} {
		a := f.post("/v1/messages", jobJSON("111-1111111-000000"+strconv.Itoa(i+1), "confirmOrderDetails", `"text":"x"`), "Content-Type", ct)
		assert.Equal(t, http.StatusAccepted, a.status, "Content-Type %q: %s", ct, a.body)
	}
}

// Ensure a server without tokens answers only requests whose Host is a
// loopback name (DNS-rebinding defense), on every route; and that a
// server with tokens does not care.
func TestHostCheckWithoutTokens(t *testing.T) {
	f := newFixture(t, func(c *httpapi.Config) { c.Tokens = nil })
	port := f.srv.URL[strings.LastIndex(f.srv.URL, ":")+1:]
	for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1.nip.io:" + port, "10.0.0.1:" + port,
		"localhost.evil.example", "0.0.0.0:" + port, "[::]:" + port} {
		for _, p := range []string{"/v1/messages/j_x", "/v1/campaigns/x", "/healthz", "/metrics", "/openapi.json", "/nosuch"} {
			a := f.get(p, "Host", host)
			require.Equal(t, http.StatusMisdirectedRequest, a.status, "Host %q %s", host, p)
			assert.Contains(t, a.fields(t)["error"], "localhost")
		}
		a := f.post("/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x"`), "Host", host)
		require.Equal(t, http.StatusMisdirectedRequest, a.status, host)
	}
	assert.Zero(t, f.queued())
	for _, host := range []string{"localhost", "localhost:" + port, "LOCALHOST:" + port, "127.0.0.1", "127.0.0.1:" + port, "127.0.0.2:" + port, "[::1]:" + port, "[::1]"} {
		a := f.get("/healthz", "Host", host)
		assert.Equal(t, http.StatusOK, a.status, "Host %q", host)
	}

	withTokens := newFixture(t)
	a := withTokens.get("/v1/campaigns/x", "Host", "api.example.com")
	assert.Equal(t, http.StatusOK, a.status, "with tokens, any Host")
}
