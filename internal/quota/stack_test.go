package quota_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/quota"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

const (
	mktUS     = "ATVPDKIKX0DER"
	msgType   = "confirmOrderDetails"
	msgText   = "Please confirm the colour of your order."
	campaign  = "spring-sale"
	clientID  = "amzn1.application-oa2-client.quota"
	clientSec = "quota-secret"
)

// seller is one selling partner of a test deployment: what Amazon (the
// sandbox) grants it, and what the worker's sellers file says.
type seller struct {
	ID string
	// Grant is the sandbox's plan for every Messaging operation of the
	// seller; zero means the sandbox's MessagingRate.
	Grant sandbox.Rate
	// File is the sellers-file override for "messaging"; zero means the
	// worker knows no more than Amazon's default (1/s, burst 5) until the
	// x-amzn-RateLimit-Limit header tells it.
	File tasks.Rate
}

// stack is one spmsg deployment for a test: a real Redis (flushed), the
// SP-API sandbox over HTTP, the spapi client and the worker's handler. The
// asynq server is started separately (start, or startWith for another
// server configuration), so a test can wrap the handler.
type stack struct {
	tb       testing.TB
	rdb      *redis.Client
	cmds     *quota.Counter
	sb       *sandbox.Sandbox
	handler  *tasks.Handler
	producer *tasks.Producer
	outcomes *jobstate.OutcomeStore
	defers   *deferCounter
	lines    *dispatch.Dispatcher
}

// newStack builds the deployment. messaging is the sandbox's default plan
// for every Messaging operation (zero: Amazon's 1/s burst 5).
func newStack(tb testing.TB, messaging sandbox.Rate, sellers ...seller) *stack {
	tb.Helper()
	s := &stack{tb: tb, rdb: redistest.Client(tb), cmds: &quota.Counter{}, defers: newDeferCounter()}
	s.rdb.AddHook(s.cmds)

	cfg := sandbox.Config{ClientID: clientID, ClientSecret: clientSec, MessagingRate: messaging}
	var file []string
	for _, sl := range sellers {
		sbs := sandbox.Seller{ID: sl.ID, RefreshToken: "Atzr|" + sl.ID}
		if sl.Grant.PerSecond > 0 {
			sbs.Rates = map[string]sandbox.Rate{}
			for _, t := range []string{spapi.OpGetMessagingActionsForOrder, opOf(tb, msgType)} {
				sbs.Rates[t] = sl.Grant
			}
		}
		cfg.Sellers = append(cfg.Sellers, sbs)
		entry := fmt.Sprintf(`{"id":%q,"refresh_token":"Atzr|%s","region":"na"`, sl.ID, sl.ID)
		if sl.File.Rate > 0 {
			entry += fmt.Sprintf(`,"rates":{"messaging":{"rate":%g,"burst":%d}}`, sl.File.Rate, sl.File.Burst)
		}
		file = append(file, entry+"}")
	}
	sb, err := sandbox.New(cfg)
	require.NoError(tb, err)
	s.sb = sb
	ts := httptest.NewServer(sb)
	tb.Cleanup(ts.Close)

	parsed, err := tasks.ParseSellers(strings.NewReader("[" + strings.Join(file, ",") + "]"))
	require.NoError(tb, err)
	client, err := spapi.NewClient(spapi.Config{LWAClientID: clientID, LWAClientSecret: clientSec,
		Endpoint: ts.URL, LWAEndpoint: ts.URL + sandbox.TokenPath}, parsed.SPAPISellers()...)
	require.NoError(tb, err)
	store, err := attachstore.Open(context.Background(), "file://"+tb.TempDir())
	require.NoError(tb, err)

	s.outcomes = jobstate.NewOutcomeStore(s.rdb, "", 0)
	led := jobstate.NewLedger(s.rdb, "")
	s.lines = tasks.NewDispatcher(s.rdb, dispatch.Options{})
	require.NoError(tb, tasks.ApplyOverrides(context.Background(), s.lines, parsed))
	s.handler, err = tasks.NewHandler(tasks.Config{Amazon: client, State: jobstate.New(s.rdb, s.lines, 0), Sellers: parsed,
		Attachments: store, Metrics: tasks.NewMetrics(nil)})
	require.NoError(tb, err)
	s.producer = &tasks.Producer{Lines: s.lines, Outcomes: s.outcomes, Ledger: led,
		Validation: tasks.Validation{Sellers: parsed}}
	return s
}

func opOf(tb testing.TB, typ string) string {
	t, ok := spapi.LookupType(typ)
	require.True(tb, ok, typ)
	return t.OperationID
}

// start runs the worker as cmd/worker does (tasks.NewServer) with the
// given concurrency (0: the default, 100), counting deferrals per job.
func (s *stack) start(concurrency int) {
	s.tb.Helper()
	srv := tasks.NewServer(s.rdb, tasks.ServerOptions{Concurrency: concurrency, ShutdownTimeout: 5 * time.Second})
	s.startWith(srv, s.defers.wrap(s.handler))
}

// startWith runs srv with handler h until the test ends.
func (s *stack) startWith(srv *asynq.Server, h asynq.Handler) {
	s.tb.Helper()
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeMessage, h)
	require.NoError(s.tb, srv.Start(mux))
	s.tb.Cleanup(srv.Shutdown)
	s.tb.Cleanup(tasks.StartRelease(s.rdb, s.lines, nil))
}

// orderID returns a distinct valid order id for seller index i, job n.
func orderID(i, n int) string { return fmt.Sprintf("%03d-%07d-%07d", 100+i, n, n) }

func campaignJob(sellerID, order string) *tasks.Job {
	return &tasks.Job{SellerID: sellerID, MarketplaceID: mktUS, OrderID: order, Type: msgType, Text: msgText, Campaign: campaign}
}

func transactionalJob(sellerID, order string) *tasks.Job {
	return &tasks.Job{SellerID: sellerID, MarketplaceID: mktUS, OrderID: order, Type: msgType, Text: msgText}
}

// enqueue puts jobs through the producer, as users do (the order pipeline,
// the HTTP API and the batch command all call Producer.Enqueue), from
// workers goroutines, and returns the job ids.
func (s *stack) enqueue(jobs []*tasks.Job, workers int) []string {
	s.tb.Helper()
	ids := make([]string, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(workers, 1) {
		wg.Go(func() {
			for i := range next {
				res, err := s.producer.Enqueue(context.Background(), jobs[i])
				if err == nil && res.Status != tasks.StatusAccepted {
					err = fmt.Errorf("%s: %s", res.Status, res.Reason)
				}
				ids[i], errs[i] = res.ID, err
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	require.NoError(s.tb, errors.Join(errs...))
	return ids
}

// waitFinal polls until every job has its final outcome and returns the
// records.
func (s *stack) waitFinal(timeout time.Duration, ids ...string) map[string]*jobstate.Record {
	s.tb.Helper()
	out := make(map[string]*jobstate.Record, len(ids))
	var final atomic.Int64 // len(out), for the failure message
	require.Eventually(s.tb, func() bool {
		for _, id := range ids {
			if _, ok := out[id]; ok {
				continue
			}
			if rec, err := s.outcomes.Get(context.Background(), id); err == nil && rec.State == "final" {
				out[id] = rec
			}
		}
		final.Store(int64(len(out)))
		return len(out) == len(ids)
	}, timeout, 100*time.Millisecond, "every job final within %s (%s)", timeout, lazy(func() string {
		return fmt.Sprintf("%d of %d final; sandbox %+v", final.Load(), len(ids), s.sb.Stats())
	}))
	return out
}

// lazy is a failure message's argument computed only when the message is
// printed (require.Eventually's arguments are evaluated before the wait).
type lazy func() string

func (l lazy) String() string { return l() }

// sentTimes returns the sandbox's acceptance times of each seller's sends.
func (s *stack) sentTimes() map[string][]time.Time {
	out := map[string][]time.Time{}
	for _, m := range s.sb.Sent() {
		out[m.Seller] = append(out[m.Seller], m.Time)
	}
	return out
}

// deferCounter wraps the handler and counts *tasks.DeferError returns, in
// all and per job.
type deferCounter struct {
	mu       sync.Mutex
	attempts int64
	total    int64
	byReason map[string]int64
	byJob    map[string]int
}

func newDeferCounter() *deferCounter {
	return &deferCounter{byReason: map[string]int64{}, byJob: map[string]int{}}
}

func (d *deferCounter) wrap(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		err := h.ProcessTask(ctx, t)
		id, _ := asynq.GetTaskID(ctx)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.attempts++
		var de *tasks.DeferError
		if errors.As(err, &de) {
			d.total++
			d.byReason[string(de.Reason)]++
			d.byJob[id]++
		}
		return err
	})
}

// snapshot returns attempts, deferrals and deferrals by reason so far.
func (d *deferCounter) snapshot() (attempts, deferrals int64, byReason map[string]int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	byReason = make(map[string]int64, len(d.byReason))
	for k, v := range d.byReason {
		byReason[k] = v
	}
	return d.attempts, d.total, byReason
}

// of returns how many times job id was deferred.
func (d *deferCounter) of(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byJob[id]
}
