package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/testkit"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

const serveToken = "serve-test-token-0123456789"

// syncBuffer is a goroutine-safe buffer for output the test reads.
type syncBuffer = testkit.Buffer

// server is a running `enqueue serve`.
type server struct {
	url    string
	stderr *syncBuffer
	stop   func() int // cancels the context (SIGTERM) and returns the exit code
}

// serve runs `enqueue serve` on a free loopback port with f's environment
// and waits until it listens.
func (f *fixture) serve(args ...string) *server {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), func(k string) string { return f.env[k] }, nil, pw, stderr)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	s := &server{stderr: stderr}
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "enqueue serve: listening on "); ok {
			s.url = u
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if s.url == "" {
		cancel()
		f.t.Fatalf("enqueue serve did not start (exit %d): %s", <-done, stderr.String())
	}
	var once sync.Once
	code := -1
	s.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(15 * time.Second):
				f.t.Fatal("enqueue serve did not stop within 15 s of SIGTERM")
			}
		})
		return code
	}
	f.t.Cleanup(func() { s.stop() })
	return s
}

// call sends a request to the server and returns the status and body.
func (s *server) call(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	code, b, err := s.try(method, path, token, body)
	require.NoError(t, err)
	return code, b
}

// try is call without the test: for polls, whose conditions run outside
// the test's goroutine.
func (s *server) try(method, path, token, body string) (int, string, error) {
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == http.MethodPost && path == "/v1/messages" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestServeRefusesToExposeWithoutTokens(t *testing.T) {
	f := newFixture(t)
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.0.2.1:8080"} {
		code, _, errOut := f.run("", "serve", "--addr", addr)
		assert.Equal(t, 2, code, addr)
		assert.Contains(t, errOut, "without authentication")
		assert.Contains(t, errOut, "ENQUEUE_API_TOKENS")
	}
	code, _, errOut := f.run("", "serve", "--addr", "8080")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "HOST:PORT")

	f.env["ENQUEUE_API_TOKENS"] = serveToken + ",weak-secret"
	code, _, errOut = f.run("", "serve", "--addr", "0.0.0.0:0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "token #2")
	assert.NotContains(t, errOut, "weak-secret")

	// --help never shows the tokens from the environment.
	f.env["ENQUEUE_API_TOKENS"] = serveToken
	code, _, errOut = f.run("", "serve", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "ENQUEUE_API_TOKENS")
	assert.NotContains(t, errOut, serveToken)
}

// Ensure a loopback server without tokens warns, serves without
// authentication, and shuts down cleanly on SIGTERM.
func TestServeLoopbackWithoutTokens(t *testing.T) {
	f := newFixture(t)
	s := f.serve()
	assert.Contains(t, s.stderr.String(), "WITHOUT authentication")
	code, body := s.call(t, "GET", "/healthz", "", "")
	assert.Equal(t, 200, code, body)
	code, body = s.call(t, "POST", "/v1/messages", "",
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000001","type":"confirmOrderDetails","text":"Which size?"}`)
	assert.Equal(t, 202, code, body)
	assert.Len(t, f.queued(), 1)
	assert.Equal(t, 0, s.stop())
	assert.Contains(t, s.stderr.String(), "stopped")
	_, err := http.Get(s.url + "/healthz")
	assert.Error(t, err, "the listener is closed after shutdown")
}

// Ensure ENQUEUE_API_TOKENS binds a token to sellers: the bound token
// enqueues only for its seller and reads only its jobs; a bare token in
// the same list acts for every seller; a token bound to a seller missing
// from the sellers file stops serve, named by position.
func TestServeSellerBoundTokens(t *testing.T) {
	f := newFixture(t)
	shopToken := "shop-token-0123456789abcdef"
	f.env["ENQUEUE_API_TOKENS"] = serveToken + "," + shopToken + "=A9NOSUCH|A1SELLERNA"
	code, _, errOut := f.run("", "serve", "--addr", "127.0.0.1:0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "token #2: seller #1 of its list is not in the sellers file")
	assert.NotContains(t, errOut, shopToken)
	assert.NotContains(t, errOut, "A9NOSUCH")

	f.env["ENQUEUE_API_TOKENS"] = serveToken + "," + shopToken + "=A1SELLERNA"
	s := f.serve()
	eu := `{"seller_id":"A2SELLEREU","marketplace_id":"A1PA6795UKMFR9","order_id":"111-1111111-0000002","type":"confirmOrderDetails","text":"x"}`
	code, body := s.call(t, "POST", "/v1/messages", shopToken, eu)
	require.Equal(t, 403, code, body)
	assert.Contains(t, body, "seller_id")
	code, body = s.call(t, "POST", "/v1/messages", serveToken, eu)
	require.Equal(t, 202, code, body)
	var r struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	code, _ = s.call(t, "GET", "/v1/messages/"+r.ID, shopToken, "")
	assert.Equal(t, 404, code, "another seller's job is not found")
	code, body = s.call(t, "POST", "/v1/messages", shopToken,
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000001","type":"confirmOrderDetails","text":"x"}`)
	require.Equal(t, 202, code, body)
	assert.Len(t, f.queued(), 2)
	assert.NotContains(t, s.stderr.String(), shopToken)
}

// Ensure a loopback server without tokens refuses a request for another
// Host (DNS rebinding) and a POST that is not JSON (a cross-site form).
func TestServeWithoutTokensRefusesForeignHostAndNonJSON(t *testing.T) {
	f := newFixture(t)
	s := f.serve()
	job := `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000001","type":"confirmOrderDetails","text":"x"}`
	req, err := http.NewRequest("POST", s.url+"/v1/messages", strings.NewReader(job))
	require.NoError(t, err)
	req.Host = "rebound.example"
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)

	resp, err = http.Post(s.url+"/v1/messages", "text/plain", strings.NewReader(job))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	assert.Empty(t, f.queued())
}

// Ensure a request in flight when SIGTERM arrives still gets its answer.
func TestServeGracefulShutdown(t *testing.T) {
	f := newFixture(t)
	f.env["ENQUEUE_API_TOKENS"] = serveToken
	s := f.serve()
	// One keep-alive connection, already accepted by the server, so the
	// POST below is in flight (not in the listen backlog) at SIGTERM. The
	// POST expects 100-continue: the server answers it when the handler
	// first reads the body, which tells the test that the request is in
	// the handler, and the client sends no body before it.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, ExpectContinueTimeout: time.Minute}}
	resp, err := client.Get(s.url + "/healthz")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", s.url+"/v1/messages", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+serveToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	reading := make(chan struct{})
	var once sync.Once
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got100Continue: func() { once.Do(func() { close(reading) }) },
	}))
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{code: resp.StatusCode}
	}()
	select {
	case <-reading:
	case r := <-res:
		t.Fatalf("the request ended before the handler read its body: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("no 100 Continue: the handler never read the body")
	}
	_, err = pw.Write([]byte(`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER",`))
	require.NoError(t, err)
	stopped := make(chan int, 1)
	go func() { stopped <- s.stop() }()
	addr := strings.TrimPrefix(s.url, "http://")
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, 10*time.Second, 10*time.Millisecond, "shutdown has begun (the listener is closed) while the request waits for its body")
	_, err = pw.Write([]byte(`"order_id":"111-1111111-0000001","type":"confirmOrderDetails","text":"x"}`))
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, 202, r.code)
	assert.Equal(t, 0, <-stopped)
	assert.Len(t, f.queued(), 1)
}

// Ensure a client in another language (bash + curl) can upload an
// attachment, enqueue an invoice with an Idempotency-Key, retry it, and
// follow it until a real worker has sent it to the local SP-API sandbox;
// and that the campaign view over HTTP is `enqueue status --campaign
// --json`.
func TestServeCurlClientEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is not installed (Debian: apt-get install -y curl); the HTTP API's client test needs it")
	}
	f := newFixture(t)
	f.env["ENQUEUE_API_TOKENS"] = "old-token-0123456789abcdef," + serveToken
	sb := startWorker(t, f)
	s := f.serve()

	pdf := filepath.Join(f.dir, "invoice-upload.pdf")
	pdfBytes := []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	require.NoError(t, os.WriteFile(pdf, pdfBytes, 0o600))
	cmd := exec.Command("bash", filepath.Join("..", "..", "httpapi", "testdata", "curl_client.sh"))
	cmd.Env = append(os.Environ(), "SPMSG_API="+s.url, "SPMSG_TOKEN="+serveToken, "SELLER_ID=A1SELLERNA",
		"MARKETPLACE_ID=ATVPDKIKX0DER", "ORDER_ID=111-2222222-3333333", "PDF="+pdf, "TIMEOUT=60")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "curl_client.sh:\n%s\nserver log:\n%s", out, s.stderr.String())
	assert.Contains(t, string(out), "OUTCOME=sent")
	assert.Len(t, f.queued(), 0, "the retried POST enqueued nothing new")

	var invoices []sandbox.SentMessage
	for _, m := range sb.Sent() {
		if m.Order == "111-2222222-3333333" {
			invoices = append(invoices, m)
		}
	}
	require.Len(t, invoices, 1, "exactly one message reached Amazon")
	assert.Equal(t, "invoice", invoices[0].Type)
	require.Len(t, invoices[0].Attachments, 1)
	assert.Equal(t, "invoice-111-2222222-3333333.pdf", invoices[0].Attachments[0].FileName)
	assert.EqualValues(t, len(pdfBytes), invoices[0].Attachments[0].Size)

	// A campaign over HTTP, then its status both ways.
	code, body := s.call(t, "POST", "/v1/messages", serveToken, `[
	  {"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-2222222-0000001","type":"confirmOrderDetails","text":"Which size?","campaign":"autumn"},
	  {"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-2222222-0000002","type":"confirmOrderDetails","text":"Which size?","campaign":"autumn"}]`)
	require.Equal(t, 207, code, body)
	var rep jobstate.CampaignReport
	var lastAnswer atomic.Value // for the failure message
	require.Eventually(t, func() bool {
		var err error
		code, body, err = s.try("GET", "/v1/campaigns/autumn", serveToken, "")
		lastAnswer.Store(fmt.Sprintf("%d %s %v", code, body, err))
		rep = jobstate.CampaignReport{}
		return err == nil && code == 200 && json.Unmarshal([]byte(body), &rep) == nil && rep.Pending == 0
	}, 30*time.Second, 100*time.Millisecond, "the campaign's two jobs are no longer pending (last answer: %s)", lazy(func() string { a, _ := lastAnswer.Load().(string); return a }))
	require.Equal(t, 200, code, body)
	assert.EqualValues(t, 2, rep.Total)
	assert.EqualValues(t, 2, rep.Outcomes[jobstate.OutcomeSent])
	exit, cliOut, _ := f.run("", "status", "--campaign", "autumn", "--json")
	require.Equal(t, 0, exit)
	assert.JSONEq(t, cliOut, body)

	code, _ = s.call(t, "GET", "/v1/campaigns/autumn", "old-token-0123456789abcdef", "")
	assert.Equal(t, 200, code, "every token of the list is accepted")
	code, _ = s.call(t, "GET", "/v1/campaigns/autumn", "", "")
	assert.Equal(t, 401, code)
	assert.NotContains(t, s.stderr.String(), serveToken, "tokens never reach the log")
}

// lazy is a failure message's argument computed only when the message is
// printed (require.Eventually's arguments are evaluated before the wait).
type lazy func() string

func (l lazy) String() string { return l() }

// startWorker runs a worker in process, as cmd/worker does, against a
// local SP-API sandbox that knows f's sellers.
func startWorker(t *testing.T, f *fixture) *sandbox.Sandbox {
	t.Helper()
	ctx := context.Background()
	rdb := redistest.Client(t)
	sellers, err := tasks.LoadSellersFile(f.env["SPAPI_SELLERS_FILE"])
	require.NoError(t, err)
	cfg := sandbox.Config{ClientID: "amzn1.application-oa2-client.test", ClientSecret: "test-secret"}
	for _, s := range sellers.List() {
		cfg.Sellers = append(cfg.Sellers, sandbox.Seller{ID: s.ID, RefreshToken: s.RefreshToken})
	}
	sb, err := sandbox.New(cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	client, err := spapi.NewClient(spapi.Config{LWAClientID: cfg.ClientID, LWAClientSecret: cfg.ClientSecret,
		Endpoint: ts.URL, LWAEndpoint: ts.URL + sandbox.TokenPath}, sellers.SPAPISellers()...)
	require.NoError(t, err)
	store, err := attachstore.Open(ctx, f.env["ATTACHMENT_STORE"])
	require.NoError(t, err)
	lines := tasks.NewDispatcher(rdb, dispatch.Options{})
	t.Cleanup(tasks.StartRelease(rdb, lines, nil))
	h, err := tasks.NewHandler(tasks.Config{Amazon: client, State: jobstate.New(rdb, lines, 0), Sellers: sellers, Attachments: store})
	require.NoError(t, err)
	srv := tasks.NewServer(rdb, tasks.ServerOptions{Concurrency: 4, ShutdownTimeout: 5 * time.Second,
		Backoff: tasks.Backoff{Base: 300 * time.Millisecond, Max: time.Second}})
	require.NoError(t, srv.Start(tasks.NewServeMux(h)))
	t.Cleanup(srv.Shutdown)
	return sb
}
