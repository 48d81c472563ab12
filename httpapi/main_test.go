package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/httpapi"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

const (
	sellerNA = "A1SELLERNA"
	sellerEU = "A2SELLEREU"
	mktUS    = "ATVPDKIKX0DER"
	mktDE    = "A1PA6795UKMFR9"
	token1   = "tok-1-0123456789abcdef"
	token2   = "tok-2-fedcba9876543210"
	tokenNA  = "tok-na-0123456789abcdef" // bound to sellerNA
	tokenEU  = "tok-eu-0123456789abcdef" // bound to sellerEU
)

var pdfBytes = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")

// sellers returns the sellers file every fixture uses.
func sellers(tb testing.TB) *tasks.Sellers {
	tb.Helper()
	s, err := tasks.ParseSellers(strings.NewReader(`[
	  {"id":"` + sellerNA + `","refresh_token":"Atzr|a","region":"na"},
	  {"id":"` + sellerEU + `","refresh_token":"Atzr|b","region":"eu"}]`))
	require.NoError(tb, err)
	return s
}

// fixture is the API over a real HTTP server on a flushed, real Redis,
// with a file attachment store holding invoice.pdf. Every answer it gets
// is checked against openapi.json.
type fixture struct {
	t        *testing.T
	rdb      redis.UniversalClient
	srv      *httptest.Server
	outcomes *jobstate.OutcomeStore
	store    attachstore.Store
	dir      string
	token    string
	spec     *spec

	mu   sync.Mutex
	seen map[string]bool // "METHOD /path/template STATUS" answered
}

// newFixture starts the API; mods adjust its Config (tokens default to
// token1 and token2).
func newFixture(t *testing.T, mods ...func(*httpapi.Config)) *fixture {
	t.Helper()
	rdb := redistest.Client(t)
	dir := t.TempDir()
	store, err := attachstore.Open(context.Background(), "file://"+dir)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "invoice.pdf"), pdfBytes, 0o600))
	f := &fixture{t: t, rdb: rdb, dir: dir, store: store, token: token1, spec: loadSpec(t), seen: map[string]bool{}}
	f.outcomes = jobstate.NewOutcomeStore(rdb, "", 0)
	cfg := httpapi.Config{
		Producer: tasks.NewProducer(rdb, sellers(t)),
		Outcomes: f.outcomes, Store: store, Redis: rdb, Tokens: []httpapi.Token{{Secret: token1}, {Secret: token2}, {Secret: tokenNA, Sellers: []string{sellerNA}},
			{Secret: tokenEU, Sellers: []string{sellerEU}}},
	}
	for _, m := range mods {
		m(&cfg)
	}
	f.rdb = cfg.Redis
	api, err := httpapi.New(cfg)
	require.NoError(t, err)
	f.srv = httptest.NewServer(api)
	t.Cleanup(f.srv.Close)
	return f
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the body into v.
func (a answer) decode(tb testing.TB, v any) {
	tb.Helper()
	require.NoError(tb, json.Unmarshal(a.body, v), string(a.body))
}

// fields returns the body as a JSON object.
func (a answer) fields(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	a.decode(tb, &m)
	return m
}

// do sends a request with the fixture's token and, for a POST of jobs,
// Content-Type: application/json, for an upload application/octet-stream
// (headers given as name, value pairs override them; an empty value sends
// none; "Host" sets the Host header) and checks the answer against the OpenAPI document.
func (f *fixture) do(method, path string, body []byte, headers ...string) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	require.NoError(f.t, err)
	if body == nil {
		req.Body = http.NoBody
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	switch {
	case method == http.MethodPost && strings.HasPrefix(path, "/v1/attachments"):
		req.Header.Set("Content-Type", "application/octet-stream")
	case method == http.MethodPost:
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		switch {
		case headers[i] == "Host":
			req.Host = headers[i+1]
		case headers[i+1] == "":
			req.Header.Del(headers[i])
		default:
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	if key, ok := f.spec.checkResponse(f.t, req, a); ok {
		f.mu.Lock()
		f.seen[key] = true
		f.mu.Unlock()
	}
	return a
}

func (f *fixture) post(path, body string, headers ...string) answer {
	f.t.Helper()
	return f.do(http.MethodPost, path, []byte(body), headers...)
}

func (f *fixture) get(path string, headers ...string) answer {
	f.t.Helper()
	return f.do(http.MethodGet, path, nil, headers...)
}

// queued counts the jobs waiting in their sellers' lines.
func (f *fixture) queued() int {
	f.t.Helper()
	jobs, err := tasks.NewDispatcher(f.rdb, dispatch.Options{}).Jobs(context.Background())
	require.NoError(f.t, err)
	return len(jobs)
}

// spec is openapi.json loaded and routed.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(tb testing.TB) *spec {
	tb.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI())
	require.NoError(tb, err)
	require.NoError(tb, doc.Validate(context.Background()))
	router, err := legacy.NewRouter(doc)
	require.NoError(tb, err)
	return &spec{doc: doc, router: router}
}

// route finds the documented operation of a request.
func (s *spec) route(req *http.Request) (*routers.Route, map[string]string, error) {
	u := *req.URL
	u.Scheme, u.Host = "", ""
	r := req.Clone(context.Background())
	r.URL = &u
	route, params, err := s.router.FindRoute(r)
	for _, v := range params {
		if v == "" && err == nil {
			// The legacy router lets {id} match an empty segment.
			err = fmt.Errorf("%s %s: no documented route", req.Method, req.URL.Path)
		}
	}
	return route, params, err
}

// checkResponse validates an answer against the document when the
// request is a documented operation, and returns "METHOD template STATUS".
func (s *spec) checkResponse(tb testing.TB, req *http.Request, a answer) (string, bool) {
	tb.Helper()
	route, params, err := s.route(req)
	if err != nil {
		return "", false // not a documented route (404/405 tests)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: a.status, Header: a.header, Body: io.NopCloser(bytes.NewReader(a.body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	require.NoError(tb, err, "%s %s answered %d %s: not as openapi.json documents", req.Method, req.URL.Path, a.status, a.body)
	return req.Method + " " + route.Path + " " + strconv.Itoa(a.status), true
}

// checkRequest validates a request (with its body) against the document.
func (s *spec) checkRequest(tb testing.TB, method, path string, body []byte, headers ...string) {
	tb.Helper()
	req, err := http.NewRequest(method, path, bytes.NewReader(body))
	require.NoError(tb, err)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	req.Header.Set("Authorization", "Bearer x")
	route, params, err := s.route(req)
	require.NoError(tb, err, "%s %s is not documented", method, path)
	err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}})
	require.NoError(tb, err, "%s %s: the request does not match openapi.json", method, path)
}

// jobJSON is a job of the NA seller for an order and type, with extra
// JSON fields appended.
func jobJSON(order, typ, extra string) string {
	s := `{"seller_id":"` + sellerNA + `","marketplace_id":"` + mktUS + `","order_id":"` + order + `","type":"` + typ + `"`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}
