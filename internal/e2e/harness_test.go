package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/cli"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/tasks"
)

const (
	lwaClientID     = "amzn1.application-oa2-client.e2e"
	lwaClientSecret = "e2e-secret"
	marketplaceUS   = "ATVPDKIKX0DER"
	invoiceFile     = "invoice.pdf"
)

// pdfBytes is a minimal PDF the attachment checks accept.
var pdfBytes = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n") //nolint:gochecknoglobals // immutable fixture

// call is one HTTP request the sandbox answered (LWA excluded).
type call struct {
	at   time.Time
	what string // method and path
	code int
}

// statusRecorder notes the status code of an answer.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Hijack lets the sandbox drop a connection (Faults.Lost); such a call is
// recorded with code 0.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	s.code = 0
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// deployment is one spmsg installation for a test: a Redis (given by URL),
// the SP-API sandbox over HTTP, a sellers file, a file attachment store,
// a producer in the test process and worker OS processes.
type deployment struct {
	t           testing.TB
	redisURL    string
	sb          *sandbox.Sandbox
	spapiURL    string
	sellers     []string
	sellersFile string
	storeDir    string
	rdb         redis.UniversalClient
	outcomes    *jobstate.OutcomeStore
	producer    *tasks.Producer
	inspector   *asynq.Inspector
	workers     []*workerProc
	started     int
	// strictRedis starts workers without REDIS_ACCEPT_RISK=1, so they
	// refuse a Redis that can lose acknowledged writes (most tests run on
	// a test Redis without AOF and accept that risk).
	strictRedis bool

	mu    sync.Mutex
	calls []call // every request the sandbox answered, in arrival order
}

// newDeployment starts the sandbox with nSellers sellers (ids E2E<nn>SELLER,
// each with its own refresh token) and connects a producer to redisURL
// through the same REDIS_URL parsing the commands use.
//
// Each opt may give seller i a grant in the sandbox (Amazon's side) and rate
// overrides in the sellers file (the worker's side).
func newDeployment(t testing.TB, redisURL string, nSellers int, cfg sandbox.Config, opts ...sellerOpt) *deployment {
	t.Helper()
	d := &deployment{t: t, redisURL: redisURL}
	var entries []sellerEntry
	for i := range nSellers {
		id := fmt.Sprintf("E2E%02dSELLER", i)
		tok := "Atzr|" + id + "|e2e-refresh"
		d.sellers = append(d.sellers, id)
		e := sellerEntry{ID: id, RefreshToken: tok, Region: "na"}
		sb := sandbox.Seller{ID: id, RefreshToken: tok}
		for _, o := range opts {
			o(i, &sb, &e)
		}
		entries = append(entries, e)
		cfg.Sellers = append(cfg.Sellers, sb)
	}
	cfg.ClientID, cfg.ClientSecret = lwaClientID, lwaClientSecret
	sb, err := sandbox.New(cfg)
	require.NoError(t, err)
	d.sb = sb
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		at := time.Now()
		sb.ServeHTTP(rec, r)
		if r.URL.Path != sandbox.TokenPath {
			d.mu.Lock()
			d.calls = append(d.calls, call{at: at, what: r.Method + " " + r.URL.Path, code: rec.code})
			d.mu.Unlock()
		}
	}))
	t.Cleanup(ts.Close)
	d.spapiURL = ts.URL

	dir := t.TempDir()
	b, err := json.Marshal(entries)
	require.NoError(t, err)
	d.sellersFile = filepath.Join(dir, "sellers.json")
	require.NoError(t, os.WriteFile(d.sellersFile, b, 0o600))
	d.storeDir = filepath.Join(dir, "attachments")
	require.NoError(t, os.MkdirAll(d.storeDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(d.storeDir, invoiceFile), pdfBytes, 0o600))

	_, rdb, err := cli.Redis(redisURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	d.rdb = rdb
	sellers, err := tasks.LoadSellersFile(d.sellersFile)
	require.NoError(t, err)
	d.outcomes = jobstate.NewOutcomeStore(rdb, "", 0)
	d.producer = &tasks.Producer{Lines: tasks.NewDispatcher(rdb, dispatch.Options{}), Outcomes: d.outcomes, Ledger: jobstate.NewLedger(rdb, ""),
		Validation: tasks.Validation{Sellers: sellers}}
	d.inspector = asynq.NewInspectorFromRedisClient(rdb)
	return d
}

// sellerEntry is one entry of the deployment's sellers file.
type sellerEntry struct {
	ID           string                `json:"id"`
	RefreshToken string                `json:"refresh_token"`
	Region       string                `json:"region"`
	Rates        map[string]tasks.Rate `json:"rates,omitempty"`
}

// sellerOpt configures seller i in the sandbox and in the sellers file.
type sellerOpt func(i int, sb *sandbox.Seller, e *sellerEntry)

// workerProc is one worker OS process.
type workerProc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
	stopped bool // Kill or Stop was called: exiting is expected
	metrics string
}

// startWorker starts a worker process with the deployment's configuration
// and waits until it reports itself started and /healthz answers ok.
func (d *deployment) startWorker(concurrency int) *workerProc {
	t := d.t
	t.Helper()
	d.started++
	w := &workerProc{name: fmt.Sprintf("worker-%d", d.started), done: make(chan struct{})}
	w.logPath = filepath.Join(t.TempDir(), w.name+".log")
	logf, err := os.Create(w.logPath)
	require.NoError(t, err)
	w.cmd = exec.Command(workerBin)
	w.cmd.Env = d.workerEnv(concurrency)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	require.NoError(t, w.cmd.Start())
	go func() {
		w.waitErr = w.cmd.Wait()
		_ = logf.Close()
		close(w.done)
	}()
	d.workers = append(d.workers, w)
	t.Cleanup(w.Stop)

	var metrics string
	require.Eventually(t, func() bool {
		select {
		case <-w.done:
			return true // failed below
		default:
		}
		metrics = w.startedMetricsAddr()
		return metrics != ""
	}, 20*time.Second, 20*time.Millisecond, "%s logs \"worker started\" within 20s:\n%s", w.name, lazy(func() string { return w.logTail(30) }))
	select {
	case <-w.done:
		t.Fatalf("%s exited during start: %v\n%s", w.name, w.waitErr, w.logTail(30))
	default:
	}
	w.metrics = metrics
	code, body := w.healthz()
	require.Equal(t, http.StatusOK, code, "%s /healthz: %s", w.name, body)
	return w
}

// healthz asks the worker's /healthz (Redis and asynq reachable).
func (w *workerProc) healthz() (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + w.metrics + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// waitHealthy waits until every running worker's /healthz answers ok.
func (d *deployment) waitHealthy(timeout time.Duration) {
	d.t.Helper()
	var workers []*workerProc
	for _, w := range d.workers {
		if !w.stopped {
			workers = append(workers, w)
		}
	}
	unhealthy := func() []string {
		var out []string
		for _, w := range workers {
			if code, body := w.healthz(); code != http.StatusOK {
				out = append(out, fmt.Sprintf("%s: %d %s\n%s", w.name, code, body, w.logTail(20)))
			}
		}
		return out
	}
	require.Eventually(d.t, func() bool { return len(unhealthy()) == 0 }, timeout, 100*time.Millisecond,
		"every worker healthy within %s; not now:\n%s", timeout, lazy(func() string { return strings.Join(unhealthy(), "\n") }))
}

// startedMetricsAddr returns the metrics address from the worker's
// "worker started" log line, or "" before that line is written.
func (w *workerProc) startedMetricsAddr() string {
	f, err := os.Open(w.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			Metrics string `json:"metrics"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "worker started" {
			return line.Metrics
		}
	}
	return ""
}

// Kill ends the process with SIGKILL, as a crash or an OOM kill would.
func (w *workerProc) Kill() {
	w.stopped = true
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
}

// Stop ends the process gracefully (SIGTERM), killing it after 20 s.
func (w *workerProc) Stop() {
	w.stopped = true
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		_ = w.cmd.Process.Signal(syscall.SIGKILL)
		<-w.done
	}
}

// exitedUnexpectedly reports whether the process ended without Kill or
// Stop.
func (w *workerProc) exitedUnexpectedly() bool {
	select {
	case <-w.done:
		return !w.stopped
	default:
		return false
	}
}

func (w *workerProc) logTail(n int) string {
	b, _ := os.ReadFile(w.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return w.name + " log:\n  " + strings.Join(lines, "\n  ")
}

// grepLogs returns the worker log lines (all processes) containing s.
func (d *deployment) grepLogs(s string) []string {
	var out []string
	for _, w := range d.workers {
		b, _ := os.ReadFile(w.logPath)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, s) {
				out = append(out, w.name+": "+l)
			}
		}
	}
	return out
}

// checkWorkers fails the test when a worker process died on its own.
func (d *deployment) checkWorkers() {
	d.t.Helper()
	if w := d.deadWorker(); w != nil {
		d.t.Fatalf("%s exited on its own: %v\n%s", w.name, w.waitErr, w.logTail(40))
	}
}

// deadWorker returns a worker process that died on its own, or nil. It
// does not touch the test, so polls (require.Eventually's conditions, run
// outside the test's goroutine) may call it and stop waiting.
func (d *deployment) deadWorker() *workerProc {
	for _, w := range d.workers {
		if w.exitedUnexpectedly() {
			return w
		}
	}
	return nil
}

// lazy is a failure message's argument computed only when the message is
// printed (require.Eventually's arguments are evaluated before the wait).
type lazy func() string

func (l lazy) String() string { return l() }

// queueState sums the jobs not yet done (waiting in their sellers' lines,
// or in asynq's queues: pending, active, scheduled, retry) and archived
// ones. Errors (Redis restarting) count as "not known yet": ok is false.
func (d *deployment) queueState() (open, archived int, ok bool) {
	ctx, cancel := withTimeout()
	defer cancel()
	waiting, err := d.producer.Lines.Jobs(ctx)
	if err != nil {
		return 0, 0, false
	}
	open = len(waiting)
	for _, q := range []string{tasks.QueueTransactional, tasks.QueueCampaign} {
		info, err := d.inspector.GetQueueInfo(q)
		if err != nil {
			if strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "not found") {
				continue
			}
			return 0, 0, false
		}
		open += info.Pending + info.Active + info.Scheduled + info.Retry
		archived += info.Archived
	}
	return open, archived, true
}

// withTimeout is a short context for one Redis call from the test.
func withTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// workerEnv is a worker process's whole environment: the deployment's
// configuration, WORKER_CONCURRENCY unless 0 (the default), and
// REDIS_ACCEPT_RISK=1 unless strictRedis.
func (d *deployment) workerEnv(concurrency int) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TMPDIR=" + os.TempDir(),
		"REDIS_URL=" + d.redisURL,
		"SPAPI_LWA_CLIENT_ID=" + lwaClientID,
		"SPAPI_LWA_CLIENT_SECRET=" + lwaClientSecret,
		"SPAPI_SELLERS_FILE=" + d.sellersFile,
		"SPAPI_ENDPOINT=" + d.spapiURL,
		"SPAPI_LWA_ENDPOINT=" + d.spapiURL + sandbox.TokenPath,
		"ATTACHMENT_STORE=file://" + d.storeDir,
		"WORKER_SHUTDOWN_TIMEOUT=5s",
		"METRICS_ADDR=127.0.0.1:0",
		"LOG_FORMAT=json",
		"LOG_LEVEL=info",
	}
	if concurrency > 0 {
		env = append(env, fmt.Sprintf("WORKER_CONCURRENCY=%d", concurrency))
	}
	if !d.strictRedis {
		env = append(env, "REDIS_ACCEPT_RISK=1")
	}
	return env
}
