package spapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

// okWithOwner answers 200 when the token was issued by lwa, else 403 like
// Amazon does for a bad token.
func okWithOwner(lwa *lwaServer) func(w http.ResponseWriter, r *http.Request, _ int) {
	return func(w http.ResponseWriter, r *http.Request, _ int) {
		if _, ok := lwa.owner(r.Header.Get("x-amz-access-token")); !ok {
			writeAPIError(w, http.StatusForbidden, "Unauthorized", "Access to requested resource is denied.",
				"The access token you provided is revoked, malformed or invalid.")
			return
		}
		_, _ = io.WriteString(w, `{"buyer":{"locale":"en-US"}}`)
	}
}

func TestTokenExchangeRequest(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	srv := newScripted(t, okWithOwner(lwa))
	cfg := testConfig(lwa, srv.URL)
	cfg.UserAgent = "spmsg-test/1.0 (Language=Go)"
	c := mustClient(t, cfg)
	_, _, err := c.GetAttributes(ctxT(t), sellerOne, orderID, mpUS)
	require.NoError(t, err)
	lwa.set(func(l *lwaServer) {
		assert.Equal(t, "refresh_token", l.lastForm.Get("grant_type"))
		assert.Equal(t, refreshOne, l.lastForm.Get("refresh_token"))
		assert.Equal(t, testClientID, l.lastForm.Get("client_id"))
		assert.Equal(t, testClientSecret, l.lastForm.Get("client_secret"))
		assert.True(t, strings.HasPrefix(l.lastCType, "application/x-www-form-urlencoded"))
		assert.Equal(t, "spmsg-test/1.0 (Language=Go)", l.lastUA)
	})
	assert.Equal(t, "spmsg-test/1.0 (Language=Go)", srv.requests()[0].Header.Get("User-Agent"))
}

func TestTokenSingleExchangeForConcurrentCalls(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	lwa.set(func(l *lwaServer) { l.delay = 100 * time.Millisecond })
	srv := newScripted(t, okWithOwner(lwa))
	c := mustClient(t, testConfig(lwa, srv.URL))
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, _, err := c.GetAttributes(ctx, sellerOne, orderID, mpUS)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, lwa.calls.Load(), "exactly one LWA exchange")
	assert.Len(t, srv.requests(), 50)
}

func TestTokenWaiterCancelDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	lwa.set(func(l *lwaServer) { l.delay = 200 * time.Millisecond })
	srv := newScripted(t, okWithOwner(lwa))
	c := mustClient(t, testConfig(lwa, srv.URL))

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.GetAttributes(ctxT(t), sellerOne, orderID, mpUS)
		done <- err
	}()
	_, _, err := c.GetAttributes(short, sellerOne, orderID, mpUS)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, spapi.IsRetryable(err), "never written")
	require.NoError(t, <-done)
	assert.EqualValues(t, 1, lwa.calls.Load())
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	lwa.set(func(l *lwaServer) { l.expiresIn = 20 })
	srv := newScripted(t, okWithOwner(lwa))
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := testConfig(lwa, srv.URL)
	cfg.Now = clock.Now
	c := mustClient(t, cfg)
	ctx := ctxT(t)
	get := func() {
		t.Helper()
		_, _, err := c.GetAttributes(ctx, sellerOne, orderID, mpUS)
		require.NoError(t, err)
	}
	get()
	get()
	assert.EqualValues(t, 1, lwa.calls.Load())
	clock.Advance(17 * time.Second) // margin is min(60s, 20s/10) = 2s
	get()
	assert.EqualValues(t, 1, lwa.calls.Load(), "a 20 s token is reused until 2 s before expiry")
	clock.Advance(2 * time.Second)
	get()
	assert.EqualValues(t, 2, lwa.calls.Load(), "an expiring token is replaced")
	get()
	assert.EqualValues(t, 2, lwa.calls.Load())
	toks := map[string]bool{}
	for _, r := range srv.requests() {
		toks[r.Header.Get("x-amz-access-token")] = true
	}
	assert.Len(t, toks, 2)
}

func TestTokenRejectedRefreshesOnceAndRetriesOnce(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	var first string
	var mu sync.Mutex
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		defer mu.Unlock()
		if n == 1 {
			first = r.Header.Get("x-amz-access-token")
			writeAPIError(w, http.StatusForbidden, "Unauthorized", "Access to requested resource is denied.",
				"The access token you provided has expired.")
			return
		}
		_, _ = io.WriteString(w, `{"buyer":{"locale":"fr-FR"}}`)
	})
	c := mustClient(t, testConfig(lwa, srv.URL))
	attrs, resp, err := c.GetAttributes(ctxT(t), sellerOne, orderID, mpUS)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "fr-FR", attrs.BuyerLocale)
	reqs := srv.requests()
	require.Len(t, reqs, 2, "one retry")
	assert.EqualValues(t, 2, lwa.calls.Load(), "one forced refresh")
	assert.NotEqual(t, first, reqs[1].Header.Get("x-amz-access-token"))
}

func TestTokenRejectedTwiceGivesUp(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		writeAPIError(w, http.StatusForbidden, "Unauthorized", "Access to requested resource is denied.",
			"The access token you provided is revoked, malformed or invalid.")
	})
	c := mustClient(t, testConfig(lwa, srv.URL))
	invoice := mustType(t, "invoice")
	resp, err := c.Send(ctxT(t), sellerOne, orderID, mpUS, invoice,
		spapi.SendRequest{Attachments: []spapi.Attachment{{UploadDestinationID: "u", FileName: "i.pdf"}}})
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.True(t, spapi.IsTokenError(err))
	assert.False(t, spapi.IsPermanent(err))
	assert.Len(t, srv.requests(), 2, "a gateway-rejected POST is repeated once, never more")
	assert.EqualValues(t, 2, lwa.calls.Load())
}

func TestTokenConcurrentRejectionsRefreshOnce(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	var mu sync.Mutex
	var bad string
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		tok := r.Header.Get("x-amz-access-token")
		mu.Lock()
		if bad == "" {
			bad = tok // the first token issued is revoked
		}
		revoked := tok == bad
		mu.Unlock()
		if revoked {
			writeAPIError(w, http.StatusForbidden, "Unauthorized", "Access to requested resource is denied.",
				"The access token you provided is revoked, malformed or invalid.")
			return
		}
		_, _ = io.WriteString(w, `{}`)
	})
	c := mustClient(t, testConfig(lwa, srv.URL))
	_, _, err := c.GetAttributes(ctxT(t), sellerOne, orderID, mpUS)
	require.NoError(t, err)
	lwa.set(func(l *lwaServer) { l.delay = 50 * time.Millisecond })
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, _, err := c.GetAttributes(ctxT(t), sellerOne, orderID, mpUS)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.EqualValues(t, 2, lwa.calls.Load())
}

func TestTokensArePerSeller(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	srv := newScripted(t, okWithOwner(lwa))
	c := mustClient(t, testConfig(lwa, srv.URL),
		spapi.Seller{ID: sellerOne, RefreshToken: refreshOne, Region: spapi.RegionNA},
		spapi.Seller{ID: sellerTwo, RefreshToken: refreshTwo, Region: "NA"})
	ctx := ctxT(t)
	for range 3 {
		for _, id := range []string{sellerOne, sellerTwo} {
			_, _, err := c.GetAttributes(ctx, id, orderID, mpUS)
			require.NoError(t, err)
		}
	}
	assert.Equal(t, 1, lwa.exchangesFor(refreshOne))
	assert.Equal(t, 1, lwa.exchangesFor(refreshTwo))
	reqs := srv.requests()
	require.Len(t, reqs, 6)
	for i, r := range reqs {
		owner, ok := lwa.owner(r.Header.Get("x-amz-access-token"))
		require.True(t, ok)
		want := refreshOne
		if i%2 == 1 {
			want = refreshTwo
		}
		assert.Equal(t, want, owner, "request %d carries its own seller's token", i)
	}

	// Replacing a seller drops its cached token.
	require.NoError(t, c.AddSeller(spapi.Seller{ID: sellerTwo, RefreshToken: refreshTwo, Region: spapi.RegionNA}))
	_, _, err := c.GetAttributes(ctx, sellerTwo, orderID, mpUS)
	require.NoError(t, err)
	assert.Equal(t, 2, lwa.exchangesFor(refreshTwo))
	assert.Equal(t, 1, lwa.exchangesFor(refreshOne))
}

func TestLWAErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		status                        int
		body                          string
		code                          string
		permanent, retryable, throttl bool
	}{
		{"InvalidGrant", 400, `{"error":"invalid_grant","error_description":"The request has an invalid grant parameter : refresh_token"}`, "invalid_grant", true, false, false},
		{"InvalidClient", 401, `{"error":"invalid_client","error_description":"Client authentication failed"}`, "invalid_client", true, false, false},
		{"ServerError", 500, `{"error":"server_error","error_description":"oops"}`, "server_error", false, true, false},
		{"Unavailable", 503, `Service Unavailable`, "", false, true, false},
		{"Throttled", 429, `{"error":"slow_down"}`, "slow_down", false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lwa := newLWA(t)
			lwa.set(func(l *lwaServer) { l.errStatus, l.errBody = tc.status, tc.body })
			srv := newScripted(t, created)
			c := mustClient(t, testConfig(lwa, srv.URL))
			resp, err := c.Send(ctxT(t), sellerOne, orderID, mpUS, mustType(t, "confirmOrderDetails"), spapi.SendRequest{Text: "x"})
			require.Error(t, err)
			assert.Nil(t, resp)
			var le *spapi.LWAError
			require.True(t, errors.As(err, &le))
			assert.Equal(t, tc.status, le.StatusCode)
			assert.Equal(t, tc.code, le.Code)
			assert.True(t, spapi.IsTokenError(err))
			assert.Equal(t, tc.permanent, spapi.IsPermanent(err), "permanent")
			assert.Equal(t, tc.retryable, spapi.IsRetryable(err), "retryable")
			assert.Equal(t, tc.throttl, spapi.IsThrottled(err), "throttled")
			assert.False(t, spapi.IsOutcomeUnknown(err))
			assert.Contains(t, err.Error(), sellerOne)
			assert.Empty(t, srv.requests(), "no SP-API call without a token")
		})
	}
}

func TestLWAUnreachable(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, created)
	lwa := newLWA(t)
	cfg := testConfig(lwa, srv.URL)
	lwa.Close()
	c := mustClient(t, cfg)
	_, _, err := c.GetAttributes(ctxT(t), sellerOne, orderID, mpUS)
	require.Error(t, err)
	assert.True(t, spapi.IsRetryable(err))
	assert.False(t, spapi.IsTokenError(err))
	assert.False(t, spapi.IsPermanent(err))
	var e *spapi.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, spapi.OpLWAToken, e.Operation)
}
