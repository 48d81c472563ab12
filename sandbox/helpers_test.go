package sandbox_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
)

const (
	orderID = "123-1234567-1234567"
	otherID = "902-6786204-8179805"
	mpUS    = "ATVPDKIKX0DER"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a sandbox behind a real HTTP server.
type env struct {
	t     testing.TB
	sb    *sandbox.Sandbox
	srv   *httptest.Server
	clock *clock
}

// setup starts a sandbox; a nil cfg.Now is replaced by a test clock.
func setup(t testing.TB, cfg sandbox.Config) *env {
	t.Helper()
	e := &env{t: t, clock: newClock()}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	sb, err := sandbox.New(cfg)
	require.NoError(t, err)
	e.sb = sb
	e.srv = httptest.NewServer(sb)
	t.Cleanup(e.srv.Close)
	return e
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// apiError returns the first entry of an SP-API error list.
func (r resp) apiError(t testing.TB) (code, message string, details any) {
	t.Helper()
	var b struct {
		Errors []map[string]any `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(r.body, &b), "body: %s", r.body)
	require.Len(t, b.Errors, 1, "body: %s", r.body)
	code, _ = b.Errors[0]["code"].(string)
	message, _ = b.Errors[0]["message"].(string)
	return code, message, b.Errors[0]["details"]
}

// request sends a raw HTTP request to the sandbox.
func (e *env) request(method, path string, header http.Header, body []byte) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// spapi sends an SP-API request with the usual headers; body is JSON
// unless nil.
func (e *env) spapi(method, path, token string, body any) resp {
	e.t.Helper()
	h := http.Header{}
	h.Set("User-Agent", "spmsg-sandbox-test/1.0 (Language=Go)")
	if token != "" {
		h.Set("x-amz-access-token", token)
	}
	var raw []byte
	if body != nil {
		var err error
		raw, err = json.Marshal(body)
		require.NoError(e.t, err)
		h.Set("Content-Type", "application/json")
	}
	return e.request(method, path, h, raw)
}

// token exchanges a refresh token (form-encoded) and returns the access
// token.
func (e *env) token(refresh string) string {
	e.t.Helper()
	r := e.lwaForm(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"cid"}, "client_secret": {"secret"}})
	require.Equal(e.t, http.StatusOK, r.status, "LWA: %s", r.body)
	tok, _ := r.json(e.t)["access_token"].(string)
	require.NotEmpty(e.t, tok)
	return tok
}

func (e *env) lwaForm(v url.Values) resp {
	e.t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded;charset=UTF-8"}}
	return e.request(http.MethodPost, sandbox.TokenPath, h, []byte(v.Encode()))
}

func ordersPath(order string) string { return "/messaging/v1/orders/" + order }

func actionsPath(order string) string { return ordersPath(order) + "?marketplaceIds=" + mpUS }

func sendPath(order, segment string) string {
	return ordersPath(order) + "/messages/" + segment + "?marketplaceIds=" + mpUS
}

func uploadPath(resource, contentMD5 string) string {
	return "/uploads/2020-11-01/uploadDestinations/" + resource + "?marketplaceIds=" + mpUS +
		"&contentMD5=" + url.QueryEscape(contentMD5)
}

func md5b64(data []byte) string {
	sum := md5.Sum(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// destination is a createUploadDestinationForResource payload.
type destination struct {
	ID      string            `json:"uploadDestinationId"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// createUpload creates an upload destination for data and returns it.
func (e *env) createUpload(token, order, segment string, data []byte) destination {
	e.t.Helper()
	r := e.spapi(http.MethodPost, uploadPath("messaging/v1/orders/"+order+"/messages/"+segment, md5b64(data)), token, nil)
	require.Equal(e.t, http.StatusCreated, r.status, "createUploadDestination: %s", r.body)
	var b struct{ Payload destination }
	require.NoError(e.t, json.Unmarshal(r.body, &b))
	return b.Payload
}

// put uploads data to a destination with the given headers.
func (e *env) put(u string, header map[string]string, data []byte) resp {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(data))
	require.NoError(e.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// upload runs the whole recipe (create, PUT) and returns the destination id.
func (e *env) upload(token, order, segment string, data []byte) string {
	e.t.Helper()
	d := e.createUpload(token, order, segment, data)
	r := e.put(d.URL, d.Headers, data)
	require.Equal(e.t, http.StatusOK, r.status, "PUT: %s", r.body)
	return d.ID
}

func attachment(id, name string) map[string]any {
	return map[string]any{"uploadDestinationId": id, "fileName": name}
}

func actionNames(t testing.TB, r resp) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var b struct {
		Links struct {
			Actions []struct{ Name string } `json:"actions"`
		} `json:"_links"`
	}
	require.NoError(t, json.Unmarshal(r.body, &b))
	names := []string{}
	for _, a := range b.Links.Actions {
		names = append(names, a.Name)
	}
	return names
}

func text(n int, unit string) string { return strings.Repeat(unit, n) }
