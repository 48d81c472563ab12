package spapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// OpLWAToken is the Operation of an *Error from the LWA token exchange
// itself (a network failure or an unreadable answer); LWA's own error
// answers are *LWAError.
const OpLWAToken = "lwaToken"

const (
	// defaultTokenLifetime is assumed when LWA omits expires_in; LWA
	// access tokens live one hour.
	defaultTokenLifetime = time.Hour
	// maxRefreshMargin caps how early a cached token is replaced.
	maxRefreshMargin = 60 * time.Second
	maxLWABodySize   = 64 << 10
)

// refreshMargin is how long before expiry a token is replaced: a tenth of
// its lifetime, at most a minute. A 20 s token is reused for 18 s.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(maxRefreshMargin, lifetime/10)
}

// LWAError is an error answer of the LWA token endpoint
// ({"error": ..., "error_description": ...}). Code is e.g. invalid_client,
// invalid_grant, unauthorized_client, server_error. Its Error text never
// contains the client secret or a token.
type LWAError struct {
	// StatusCode is the HTTP status of the LWA answer.
	StatusCode int
	// Code is LWA's error code, "" when the body had none.
	Code string
	// Description is LWA's error_description (or the trimmed body text),
	// with any credential the client knows replaced by [redacted].
	Description string
}

// Error implements error.
func (e *LWAError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "spapi: LWA token exchange: %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	return b.String()
}

// tokenSource caches one seller's access token and runs at most one LWA
// exchange at a time, however many goroutines ask (singleflight).
type tokenSource struct {
	now      func() time.Time
	exchange func(ctx context.Context) (token string, lifetime time.Duration, err error)

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	inflight  *tokenCall
}

// tokenCall is one running exchange; done closes when token/err are set.
type tokenCall struct {
	done  chan struct{}
	token string
	err   error
}

// get returns a valid cached token or waits for the (single) exchange.
// The exchange runs detached from ctx, so one caller giving up does not
// fail the others; ctx only bounds this caller's wait.
func (ts *tokenSource) get(ctx context.Context) (string, error) {
	ts.mu.Lock()
	if ts.token != "" && ts.now().Before(ts.refreshAt) {
		tok := ts.token
		ts.mu.Unlock()
		return tok, nil
	}
	call := ts.inflight
	if call == nil {
		call = &tokenCall{done: make(chan struct{})}
		ts.inflight = call
		go ts.run(context.WithoutCancel(ctx), call)
	}
	ts.mu.Unlock()
	select {
	case <-call.done:
		return call.token, call.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (ts *tokenSource) run(ctx context.Context, call *tokenCall) {
	ctx, cancel := context.WithTimeout(ctx, lwaExchangeTimeout)
	defer cancel()
	start := ts.now()
	tok, life, err := ts.exchange(ctx)
	ts.mu.Lock()
	if err == nil {
		ts.token = tok
		ts.refreshAt = start.Add(life - refreshMargin(life))
	}
	ts.inflight = nil
	ts.mu.Unlock()
	call.token, call.err = tok, err
	close(call.done)
}

// invalidate drops the cached token if it is still the one that SP-API
// rejected, so that many concurrent rejections cause one refresh.
func (ts *tokenSource) invalidate(rejected string) {
	ts.mu.Lock()
	if ts.token == rejected {
		ts.token = ""
		ts.refreshAt = time.Time{}
	}
	ts.mu.Unlock()
}

// lwaAnswer is both the success and the error shape of LWA.
type lwaAnswer struct {
	AccessToken      string          `json:"access_token"`
	TokenType        string          `json:"token_type"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// exchangeToken trades the seller's refresh token for an access token.
func (c *Client) exchangeToken(ctx context.Context, s Seller) (string, time.Duration, error) {
	secrets := []string{c.cfg.clientSecret, s.RefreshToken}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {s.RefreshToken},
		"client_id":     {c.cfg.clientID},
		"client_secret": {c.cfg.clientSecret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.lwaURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, &Error{Operation: OpLWAToken, Method: http.MethodPost, Path: pathOf(c.cfg.lwaURL), Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.userAgent)
	start := c.cfg.now()
	resp, written, err := send(c.cfg.httpClient, req)
	if err != nil {
		return "", 0, &Error{Operation: OpLWAToken, Method: http.MethodPost, Path: req.URL.Path, Err: cleanNetErr(err), Written: written}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxLWABodySize))
	var ans lwaAnswer
	jsonErr := json.Unmarshal(body, &ans)
	if resp.StatusCode < 200 || resp.StatusCode > 299 || ans.Error != "" {
		e := &LWAError{StatusCode: resp.StatusCode, Code: ans.Error, Description: ans.ErrorDescription}
		if jsonErr != nil {
			e.Description = trimText(body)
		}
		e.Description = redact(e.Description, secrets...)
		c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "spapi: LWA token exchange failed",
			slog.String("seller", s.ID), slog.Int("status", e.StatusCode), slog.String("code", e.Code))
		return "", 0, e
	}
	if jsonErr != nil || ans.AccessToken == "" {
		return "", 0, &LWAError{StatusCode: resp.StatusCode, Code: "invalid_response", Description: "no access_token in the LWA answer"}
	}
	life := parseExpiresIn(ans.ExpiresIn)
	c.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "spapi: LWA access token refreshed",
		slog.String("seller", s.ID), slog.Duration("lifetime", life), slog.Duration("took", c.cfg.now().Sub(start)))
	return ans.AccessToken, life, nil
}

// parseExpiresIn accepts a JSON number or numeric string of seconds.
func parseExpiresIn(raw json.RawMessage) time.Duration {
	var n json.Number
	s := strings.Trim(string(raw), `"`)
	if s == "" {
		return defaultTokenLifetime
	}
	n = json.Number(s)
	f, err := n.Float64()
	if err != nil || f <= 0 {
		return defaultTokenLifetime
	}
	return time.Duration(f * float64(time.Second))
}
