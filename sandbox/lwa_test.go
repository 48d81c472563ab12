package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
)

func lwaConfig() sandbox.Config {
	return sandbox.Config{
		ClientID: "cid", ClientSecret: "secret",
		Sellers: []sandbox.Seller{{ID: "A1SELLER", RefreshToken: "Atzr|known"}},
	}
}

func TestTokenFormEncoded(t *testing.T) {
	t.Parallel()
	e := setup(t, lwaConfig())
	r := e.lwaForm(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"Atzr|known"}, "client_id": {"cid"}, "client_secret": {"secret"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	assert.True(t, strings.HasPrefix(m["access_token"].(string), "Atza|"))
	assert.Equal(t, "bearer", m["token_type"])
	assert.EqualValues(t, 3600, m["expires_in"])
	assert.Equal(t, "Atzr|known", m["refresh_token"])
	assert.NotEmpty(t, r.header.Get("x-amzn-RequestId"))
	assert.EqualValues(t, 1, e.sb.Stats().TokenExchanges)
}

func TestTokenJSONBody(t *testing.T) {
	t.Parallel()
	e := setup(t, lwaConfig())
	body, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": "Atzr|known", "client_id": "cid", "client_secret": "secret"})
	r := e.request(http.MethodPost, sandbox.TokenPath, http.Header{"Content-Type": {"application/json"}}, body)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	tok := r.json(t)["access_token"].(string)

	// The token works and identifies the seller.
	got := e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "Hello"})
	require.Equal(t, http.StatusCreated, got.status, "%s", got.body)
	require.Len(t, e.sb.Sent(), 1)
	assert.Equal(t, "A1SELLER", e.sb.Sent()[0].Seller)
}

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	good := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"Atzr|known"}, "client_id": {"cid"}, "client_secret": {"secret"}}
	with := func(k, v string) url.Values {
		out := url.Values{}
		for kk, vv := range good {
			out[kk] = vv
		}
		if v == "" {
			out.Del(k)
		} else {
			out.Set(k, v)
		}
		return out
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"WrongClientSecret", with("client_secret", "nope"), http.StatusUnauthorized, "invalid_client"},
		{"WrongClientID", with("client_id", "other"), http.StatusUnauthorized, "invalid_client"},
		{"UnknownRefreshToken", with("refresh_token", "Atzr|unknown"), http.StatusBadRequest, "invalid_grant"},
		{"MissingRefreshToken", with("refresh_token", ""), http.StatusBadRequest, "invalid_request"},
		{"MissingGrantType", with("grant_type", ""), http.StatusBadRequest, "invalid_request"},
		{"MissingClientID", with("client_id", ""), http.StatusBadRequest, "invalid_request"},
		{"ClientCredentialsGrant", with("grant_type", "client_credentials"), http.StatusBadRequest, "unsupported_grant_type"},
		{"AuthorizationCodeGrant", with("grant_type", "authorization_code"), http.StatusBadRequest, "unsupported_grant_type"},
	}
	e := setup(t, lwaConfig())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.lwaForm(tc.form)
			assert.Equal(t, tc.status, r.status, "%s", r.body)
			m := r.json(t)
			assert.Equal(t, tc.code, m["error"])
			assert.NotEmpty(t, m["error_description"])
			assert.NotContains(t, m, "access_token")
		})
	}
	t.Run("WrongContentType", func(t *testing.T) {
		r := e.request(http.MethodPost, sandbox.TokenPath, http.Header{"Content-Type": {"text/plain"}}, []byte(good.Encode()))
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Equal(t, "invalid_request", r.json(t)["error"])
	})
	t.Run("MalformedJSON", func(t *testing.T) {
		r := e.request(http.MethodPost, sandbox.TokenPath, http.Header{"Content-Type": {"application/json"}}, []byte(`{"grant_type":`))
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Equal(t, "invalid_request", r.json(t)["error"])
	})
	t.Run("GetMethod", func(t *testing.T) {
		r := e.request(http.MethodGet, sandbox.TokenPath, nil, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status)
		assert.Equal(t, "invalid_request", r.json(t)["error"])
	})
	st := e.sb.Stats()
	assert.Zero(t, st.TokenExchanges)
	assert.EqualValues(t, len(tests)+3, st.TokenErrors)
}

func TestAutoSellers(t *testing.T) {
	t.Parallel()
	cfg := lwaConfig()
	cfg.AutoSellers = true
	e := setup(t, cfg)
	for _, tc := range []struct{ refresh, seller string }{
		{"Atzr|A2NAMED", "A2NAMED"},
		{"Atzr|A3NAMED|rest-of-token", "A3NAMED"},
		{"Atzr|known", "A1SELLER"}, // configured sellers still win
	} {
		tok := e.token(tc.refresh)
		r := e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "Hi"})
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		sent := e.sb.Sent()
		assert.Equal(t, tc.seller, sent[len(sent)-1].Seller, tc.refresh)
	}
	// Any other token maps to a stable derived id.
	tok1, tok2 := e.token("opaque-token"), e.token("opaque-token")
	for _, tok := range []string{tok1, tok2} {
		r := e.spapi(http.MethodPost, sendPath(otherID, "confirmOrderDetails"), tok, map[string]any{"text": "Hi"})
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	}
	sent := e.sb.Sent()
	a, b := sent[len(sent)-2].Seller, sent[len(sent)-1].Seller
	assert.Equal(t, a, b)
	assert.Len(t, a, 14)
	assert.True(t, strings.HasPrefix(a, "A"))
}

func TestZeroConfigAcceptsAnyToken(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	assert.NotEmpty(t, e.token("Atzr|whatever"))
}

func TestAccessTokenExpiry(t *testing.T) {
	t.Parallel()
	cfg := lwaConfig()
	cfg.TokenLifetime = 10 * time.Minute
	e := setup(t, cfg)
	r := e.lwaForm(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"Atzr|known"}, "client_id": {"cid"}, "client_secret": {"secret"}})
	require.Equal(t, http.StatusOK, r.status)
	assert.EqualValues(t, 600, r.json(t)["expires_in"])
	tok := r.json(t)["access_token"].(string)

	e.clock.Advance(10*time.Minute - time.Second)
	assert.Equal(t, http.StatusOK, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil).status)

	e.clock.Advance(time.Second)
	got := e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)
	require.Equal(t, http.StatusForbidden, got.status)
	code, msg, details := got.apiError(t)
	assert.Equal(t, "Unauthorized", code)
	assert.Equal(t, "Access to requested resource is denied.", msg)
	assert.Equal(t, "The access token you provided has expired.", details)
	assert.Empty(t, got.header.Get("x-amzn-RateLimit-Limit"), "no rate header on 403")
	assert.NotEmpty(t, got.header.Get("x-amzn-RequestId"))
	assert.EqualValues(t, 1, e.sb.Stats().Unauthorized)

	// A fresh exchange works again.
	assert.Equal(t, http.StatusOK, e.spapi(http.MethodGet, actionsPath(orderID), e.token("Atzr|known"), nil).status)
}

func TestAccessTokenInvalidOrMissing(t *testing.T) {
	t.Parallel()
	e := setup(t, lwaConfig())
	tok := e.token("Atzr|known")
	for name, bad := range map[string]string{
		"NotAToken":  "hello",
		"Tampered":   tok[:len(tok)-2] + "xx",
		"OtherSeeds": mustToken(t, sandbox.Config{Seed: 99}),
	} {
		r := e.spapi(http.MethodGet, actionsPath(orderID), bad, nil)
		require.Equal(t, http.StatusForbidden, r.status, name)
		_, msg, details := r.apiError(t)
		assert.Equal(t, "Access to requested resource is denied.", msg, name)
		assert.Equal(t, "The access token you provided is revoked, malformed or invalid.", details, name)
	}
	r := e.spapi(http.MethodGet, actionsPath(orderID), "", nil)
	require.Equal(t, http.StatusForbidden, r.status)
	_, _, details := r.apiError(t)
	assert.Equal(t, "Access token is missing in the request header.", details)
}

// mustToken returns an access token minted by another sandbox.
func mustToken(t *testing.T, cfg sandbox.Config) string {
	t.Helper()
	return setup(t, cfg).token("Atzr|x")
}
