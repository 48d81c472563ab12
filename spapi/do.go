package spapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
)

const (
	// maxErrorBodySize caps how much of an error answer is read.
	maxErrorBodySize = 1 << 20
	// maxBodySize caps a success answer (an actions list with schemas).
	maxBodySize = 8 << 20
)

// Response is an SP-API answer. It is returned, also together with an
// error, whenever an HTTP response arrived. The body has been read and
// closed; Body is replaced by a reader over the bytes read.
type Response struct {
	*http.Response
	// RequestID is the x-amzn-RequestId header.
	RequestID string
	// RateLimit is the parsed x-amzn-RateLimit-Limit header (requests per
	// second), 0 when absent or not a number. Amazon sends it on 2xx, 400
	// and 404 only, best effort.
	RateLimit float64
}

// call is one SP-API operation invocation.
type call struct {
	op       string
	sellerID string
	method   string
	path     string // escaped, with leading slash, no query
	query    url.Values
	body     []byte // nil: no body at all
}

// do runs a call for a seller: token, request, error mapping, and the one
// token-refresh retry. It returns the response and its body bytes.
func (c *Client) do(ctx context.Context, cl call) (*Response, []byte, error) {
	st, err := c.seller(cl.sellerID)
	if err != nil {
		return nil, nil, &Error{Operation: cl.op, Method: cl.method, Path: cl.path, Err: err}
	}
	for attempt := 1; ; attempt++ {
		token, err := st.tokens.get(ctx)
		if err != nil {
			return nil, nil, c.tokenErr(cl, err)
		}
		resp, body, err := c.attempt(ctx, st, cl, token, attempt)
		if attempt == 1 && IsTokenError(err) {
			c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "spapi: access token rejected, refreshing once",
				slog.String("seller", st.ID), slog.String("op", cl.op), slog.String("request_id", resp.RequestID))
			st.tokens.invalidate(token)
			continue
		}
		return resp, body, err
	}
}

// tokenErr wraps a failure to obtain an access token. LWA answers and LWA
// network errors keep their type; a wait cut short by ctx becomes an *Error
// of the call that was never written.
func (c *Client) tokenErr(cl call, err error) error {
	var le *LWAError
	var ee *Error
	if errors.As(err, &le) || errors.As(err, &ee) {
		return &tokenError{sellerID: cl.sellerID, op: cl.op, err: err}
	}
	return &Error{Operation: cl.op, Method: cl.method, Path: cl.path, Err: err}
}

// tokenError names the call and seller whose token could not be obtained.
type tokenError struct {
	sellerID, op string
	err          error
}

func (e *tokenError) Error() string {
	return "spapi: " + e.op + ": access token for seller " + strconv.Quote(e.sellerID) + ": " + e.err.Error()
}

func (e *tokenError) Unwrap() error { return e.err }

func (c *Client) attempt(ctx context.Context, st *sellerState, cl call, token string, n int) (*Response, []byte, error) {
	target := c.baseURL(st) + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	var rd io.Reader
	if cl.body != nil {
		rd = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target, rd)
	if err != nil {
		return nil, nil, &Error{Operation: cl.op, Method: cl.method, Path: cl.path, Err: errors.Join(ErrInvalidRequest, err)}
	}
	// No GetBody: a redirect must never make net/http resend a POST.
	req.GetBody = nil
	req.Header.Set("x-amz-access-token", token)
	req.Header.Set("User-Agent", c.cfg.userAgent)
	req.Header.Set("Accept", "application/json, application/hal+json, */*")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := c.cfg.now()
	hresp, written, err := send(c.cfg.httpClient, req)
	if err != nil {
		e := &Error{Operation: cl.op, Method: cl.method, Path: cl.path, Err: cleanNetErr(err), Written: written}
		c.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "spapi: request failed",
			slog.String("seller", st.ID), slog.String("op", cl.op), slog.String("method", cl.method),
			slog.String("path", cl.path), slog.Bool("written", written), slog.Int("attempt", n),
			slog.String("error", e.Error()))
		return nil, nil, e
	}
	resp, body := readResponse(hresp)
	c.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "spapi: request",
		slog.String("seller", st.ID), slog.String("op", cl.op), slog.String("method", cl.method),
		slog.String("path", cl.path), slog.Int("status", resp.StatusCode), slog.String("request_id", resp.RequestID),
		slog.Float64("rate_limit", resp.RateLimit), slog.Int("attempt", n), slog.Duration("took", c.cfg.now().Sub(start)))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := errorFromResponse(cl.op, cl.method, cl.path, resp, body)
		e.redact(token, st.RefreshToken, c.cfg.clientSecret)
		return resp, body, e
	}
	return resp, body, nil
}

// send performs req and reports whether the whole request was written to
// the connection (httptrace WroteRequest without error).
func send(hc *http.Client, req *http.Request) (*http.Response, bool, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := hc.Do(req)
	return resp, wrote.Load(), err
}

// readResponse reads (a bounded amount of) the body, closes it and wraps
// the answer. A body read error is ignored: the status is what counts, and
// a truncated success body fails decoding later.
func readResponse(hresp *http.Response) (*Response, []byte) {
	limit := int64(maxBodySize)
	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		limit = maxErrorBodySize
	}
	body, _ := io.ReadAll(io.LimitReader(hresp.Body, limit))
	_ = hresp.Body.Close()
	hresp.Body = io.NopCloser(bytes.NewReader(body))
	return newResponse(hresp), body
}

func newResponse(hresp *http.Response) *Response {
	r := &Response{Response: hresp, RequestID: hresp.Header.Get("x-amzn-RequestId")}
	if v := hresp.Header.Get("x-amzn-RateLimit-Limit"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			r.RateLimit = f
		}
	}
	return r
}

// cleanNetErr strips the query from a *url.Error's URL: a presigned upload
// URL carries its signature there, and no query belongs in an error text.
func cleanNetErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: stripQuery(ue.URL), Err: ue.Err}
	}
	return err
}

func stripQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[url]"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// pathOf returns the path of a URL for error texts.
func pathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.EscapedPath()
}
