package spapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/testkit"

	"github.com/spmsg/spmsg/spapi"
)

// Test credentials. Every test that can fail with an error or log line
// must never show these (see secrets_test.go).
const (
	testClientID     = "amzn1.application-oa2-client.testclient"
	testClientSecret = "amzn1.oa2-cs.v1.CLIENTSECRETshouldneverleak"
	refreshOne       = "Atzr|IwEBI-REFRESH-one-shouldneverleak"
	refreshTwo       = "Atzr|IwEBI-REFRESH-two-shouldneverleak"
	sellerOne        = "A1SELLERONE"
	sellerTwo        = "A2SELLERTWO"
	orderID          = "123-1234567-1234567"
	mpUS             = "ATVPDKIKX0DER"
	accessPrefix     = "Atza|ACCESS-shouldneverleak-"
	basePath         = "/sp"
)

// lwaServer is a fake LWA token endpoint. It issues a fresh access token
// per exchange ("Atza|ACCESS-...-<n>") and remembers which refresh token
// each belongs to.
type lwaServer struct {
	*httptest.Server
	calls atomic.Int32

	mu          sync.Mutex
	delay       time.Duration
	expiresIn   int
	errStatus   int
	errBody     string
	issued      map[string]string // access token -> refresh token
	perRefresh  map[string]int
	lastForm    url.Values
	lastCType   string
	lastUA      string
	lastAccept  string
	tokenPrefix string
}

func newLWA(tb testing.TB) *lwaServer {
	tb.Helper()
	l := &lwaServer{expiresIn: 3600, issued: map[string]string{}, perRefresh: map[string]int{}, tokenPrefix: accessPrefix}
	l.Server = httptest.NewServer(http.HandlerFunc(l.serve))
	tb.Cleanup(l.Close)
	return l
}

func (l *lwaServer) URL() string { return l.Server.URL + "/auth/o2/token" }

func (l *lwaServer) set(f func(l *lwaServer)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

func (l *lwaServer) serve(w http.ResponseWriter, r *http.Request) {
	n := l.calls.Add(1)
	_ = r.ParseForm()
	l.mu.Lock()
	l.lastForm, l.lastCType, l.lastUA, l.lastAccept = r.PostForm, r.Header.Get("Content-Type"), r.UserAgent(), r.Header.Get("Accept")
	delay, status, body, exp := l.delay, l.errStatus, l.errBody, l.expiresIn
	l.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	w.Header().Set("Content-Type", "application/json")
	if status != 0 {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
		return
	}
	rt := r.PostForm.Get("refresh_token")
	if r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "refresh_token" || rt == "" ||
		r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"Client authentication failed"}`)
		return
	}
	l.mu.Lock()
	tok := fmt.Sprintf("%s%d", l.tokenPrefix, n)
	l.issued[tok] = rt
	l.perRefresh[rt]++
	l.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "bearer", "expires_in": exp, "refresh_token": rt,
	})
}

// owner returns the refresh token an access token was issued for.
func (l *lwaServer) owner(token string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rt, ok := l.issued[token]
	return rt, ok
}

func (l *lwaServer) exchangesFor(refresh string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perRefresh[refresh]
}

// recorded is one request a fake server saw.
type recorded struct {
	Method, Path, RawPath, RawQuery string
	Query                           url.Values
	Header                          http.Header
	Body                            []byte
	HasBody                         bool
}

func record(r *http.Request) recorded {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return recorded{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Query: r.URL.Query(), Header: r.Header.Clone(), Body: body, HasBody: r.ContentLength != 0 || len(body) > 0}
}

// scripted is an SP-API stand-in whose answers the test decides.
type scripted struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newScripted(tb testing.TB, h func(w http.ResponseWriter, r *http.Request, n int)) *scripted {
	tb.Helper()
	s := &scripted{}
	s.Server = httptest.NewServer(http.StripPrefix(basePath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := record(r)
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		n := len(s.reqs)
		s.mu.Unlock()
		h(w, r, n)
	})))
	tb.Cleanup(s.Close)
	return s
}

func (s *scripted) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

// lockedBuffer is a goroutine-safe buffer for output the test reads.
type lockedBuffer = testkit.Buffer

func debugLogger() (*slog.Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// testConfig points a client at the fakes.
func testConfig(lwa *lwaServer, apiURL string) spapi.Config {
	return spapi.Config{
		LWAClientID:     testClientID,
		LWAClientSecret: testClientSecret,
		LWAEndpoint:     lwa.URL(),
		Endpoint:        apiURL + basePath,
	}
}

func mustClient(tb testing.TB, cfg spapi.Config, sellers ...spapi.Seller) *spapi.Client {
	tb.Helper()
	if len(sellers) == 0 {
		sellers = []spapi.Seller{{ID: sellerOne, RefreshToken: refreshOne, Region: spapi.RegionNA}}
	}
	c, err := spapi.NewClient(cfg, sellers...)
	require.NoError(tb, err)
	return c
}

func mustType(tb testing.TB, name string) spapi.MessageType {
	tb.Helper()
	t, ok := spapi.LookupType(name)
	require.True(tb, ok, name)
	return t
}

// writeAPIError writes an SP-API error answer.
func writeAPIError(w http.ResponseWriter, status int, code, message, details string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", "req-"+strings.ToLower(http.StatusText(status)))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message, "details": details}}})
}

// fakeClock is an adjustable Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}
