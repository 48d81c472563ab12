package quota_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/spmsg/spmsg/internal/quota"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/tasks"
)

// churnPlan is the benchmark's plan: one seller at 5 messages/s, burst 5,
// for every Messaging operation, granted by the sandbox and configured in
// the sellers file. The window is fixed, so the ideal is 50 sends.
var (
	churnGrant  = sandbox.Rate{PerSecond: 5, Burst: 5}
	churnFile   = tasks.Rate{Rate: 5, Burst: 5}
	churnWindow = 10 * time.Second
	churnSettle = 2 * time.Second
)

const churnSeller = "A1CHURNSELLER"

// churnResult is one row of the table.
type churnResult struct {
	pipeline string
	paced    bool
	backlog  int
	// window figures
	sent, attempts, wasted, deferrals int64
	clientCmds, redisCalls            int64
	// lifetime deferrals of the jobs sent in the window
	lifeMean float64
	lifeMax  int
	// setup: enqueue and, for ours, the sweep in which every job books
	// its slot and is deferred once
	enqueue, sweep time.Duration
	sweepCmds      int64
}

func (r churnResult) per(n int64) float64 {
	if r.sent == 0 {
		return 0
	}
	return float64(n) / float64(r.sent)
}

// BenchmarkChurn prints, for a seller with a backlog of 1,000 and of
// 20,000 campaign jobs, what a fixed window of sending costs: Redis
// commands and deferrals per sent message, for our pipeline (reservations
// in Redis, each job deferred once to its slot) and for asynq's wiki
// rate-limit pattern (a per-process x/time/rate limiter in the handler
// returning a rate-limit error with a random RetryIn, IsFailure false).
//
// Commands are counted two ways: "client" by a go-redis hook on the one
// client that the worker, asynq's server and client, and the producer
// share (a Lua script call counts once), and "redis" from INFO
// commandstats deltas (everything the server executed, commands inside
// Lua scripts included, asynq's idle polling too). Each backlog is
// enqueued through Producer.Enqueue from 16 goroutines, either unpaced
// (ours then sweeps it: every job books its slot and is deferred once; the
// window starts when nothing is pending) or paced with not_before as
// `enqueue batch` does; the window starts churnSettle later. "lifetime
// deferrals" counts, for the jobs sent in the window, every deferral since
// they were enqueued. Run it once:
//
//	go test -run '^$' -bench Churn -benchtime 1x ./internal/quota/
func BenchmarkChurn(b *testing.B) {
	var rows []churnResult
	for _, p := range []string{"ours", "wiki"} {
		for _, paced := range []bool{false, true} {
			for _, n := range []int{1000, 20000} {
				name := fmt.Sprintf("%s/%s/backlog=%d", p, map[bool]string{false: "unpaced", true: "paced"}[paced], n)
				b.Run(name, func(b *testing.B) {
					r := runChurn(b, p, paced, n)
					rows = append(rows, r)
					b.ReportMetric(float64(r.sent), "sent")
					b.ReportMetric(r.per(r.clientCmds), "cmds/msg")
					b.ReportMetric(r.per(r.redisCalls), "rediscalls/msg")
					b.ReportMetric(r.per(r.deferrals), "deferrals/msg")
					b.ReportMetric(float64(r.wasted), "wasted")
				})
			}
		}
	}
	printChurn(rows)
}

func runChurn(b *testing.B, pipeline string, paced bool, backlog int) churnResult {
	file := churnFile
	if pipeline == "wiki" {
		// The wiki pattern paces in process; our Redis limiter is opened
		// wide so it never waits, and the rest of the pipeline (outcomes,
		// ledger, availability check, send) is the same.
		file = tasks.Rate{Rate: 1000, Burst: 1000}
	}
	s := newStack(b, churnGrant, seller{ID: churnSeller, Grant: churnGrant, File: file})
	wiki := &wikiLimiter{limiters: map[string]*rate.Limiter{}}
	switch pipeline {
	case "ours":
		s.start(0)
	case "wiki":
		s.startWith(newWikiServer(s), wiki.wrap(s.defers.wrap(s.handler)))
	}
	res := churnResult{pipeline: pipeline, paced: paced, backlog: backlog}

	jobs := make([]*tasks.Job, backlog)
	idOf := map[string]string{}
	for i := range jobs {
		jobs[i] = campaignJob(churnSeller, orderID(0, i))
		idOf[jobs[i].OrderID] = jobs[i].ID()
	}
	c0 := s.cmds.Load()
	t0 := time.Now()
	if paced {
		pace(jobs, churnFile, t0)
	}
	s.enqueue(jobs, 16)
	res.enqueue = time.Since(t0)

	if pipeline == "ours" && !paced {
		// Wait until the sweep is over: every job has booked its slot
		// and waits for it in asynq's retry set; nothing is pending.
		insp := asynq.NewInspectorFromRedisClient(s.rdb)
		require.Eventually(b, func() bool {
			qi, err := insp.GetQueueInfo(tasks.QueueCampaign)
			return err == nil && qi.Pending == 0
		}, 3*time.Minute, 100*time.Millisecond)
		res.sweep = time.Since(t0) - res.enqueue
	}
	res.sweepCmds = s.cmds.Load() - c0
	// Let the start settle (the wiki pattern's churn is at full speed at
	// once; our jobs that came due during the sweep are placed), so the
	// window shows the steady state.
	time.Sleep(churnSettle)

	// The window.
	before := windowSnapshot(b, s, wiki)
	time.Sleep(churnWindow)
	after := windowSnapshot(b, s, wiki)

	_, res.redisCalls = quota.Delta(before.stats, after.stats)
	res.clientCmds = after.cmds - before.cmds
	res.attempts = after.attempts - before.attempts
	res.deferrals = after.deferrals - before.deferrals
	res.wasted = res.deferrals + after.rateLimited - before.rateLimited
	var life int
	for _, m := range s.sb.Sent() {
		if m.Time.Before(before.at) || m.Time.After(after.at) {
			continue
		}
		res.sent++
		n := s.defers.of(idOf[m.Order])
		life += n
		res.lifeMax = max(res.lifeMax, n)
	}
	if res.sent > 0 {
		res.lifeMean = float64(life) / float64(res.sent)
	}
	return res
}

type snapshot struct {
	at                               time.Time
	stats                            map[string]int64
	cmds                             int64
	attempts, deferrals, rateLimited int64
}

func windowSnapshot(b *testing.B, s *stack, w *wikiLimiter) snapshot {
	b.Helper()
	st, err := quota.CommandStats(context.Background(), s.rdb)
	require.NoError(b, err)
	attempts, deferrals, _ := s.defers.snapshot()
	wa, wl := w.snapshot()
	if wa > 0 { // the wiki pattern: every attempt passes its limiter first
		attempts = wa
	}
	return snapshot{at: time.Now(), stats: st, cmds: s.cmds.Load(),
		attempts: attempts, deferrals: deferrals, rateLimited: wl}
}

// pace spreads jobs over time at the plan's rate with not_before, as
// `enqueue batch` does (cmd/enqueue/pace.go): the first burst at start,
// then one per 1/rate; a job due within a second is left unscheduled.
func pace(jobs []*tasks.Job, plan tasks.Rate, start time.Time) {
	interval := time.Duration(float64(time.Second) / plan.Rate)
	at := start
	for i, j := range jobs {
		if i >= plan.Burst {
			at = at.Add(interval)
		}
		if at.After(start.Add(time.Second)) {
			t := at
			j.NotBefore = &t
		}
	}
}

func printChurn(rows []churnResult) {
	if len(rows) == 0 {
		return
	}
	fmt.Printf("\nchurn: one seller at %.0f msgs/s (burst %d); a %s window starting %s after the backlog is queued "+
		"(unpaced: and, for ours, swept: every job booked and deferred to its slot; paced: not_before as `enqueue batch` sets it)\n",
		churnGrant.PerSecond, churnGrant.Burst, churnWindow, churnSettle)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pipeline\tenqueue\tbacklog\tsent\tattempts\twasted\twasted/msg\tlifetime deferrals/msg (max)\tclient cmds/msg\tredis calls/msg\tenqueue\tsweep\tsweep cmds/job\t")
	byKey := map[string]churnResult{}
	for _, r := range rows {
		byKey[fmt.Sprint(r.pipeline, r.paced, r.backlog)] = r
		life := "-"
		if r.pipeline == "ours" {
			life = fmt.Sprintf("%.2f (%d)", r.lifeMean, r.lifeMax)
		}
		sweep := "-"
		if r.sweep > 0 {
			sweep = r.sweep.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.2f\t%s\t%.0f\t%.0f\t%s\t%s\t%.1f\t\n",
			r.pipeline, map[bool]string{false: "unpaced", true: "paced"}[r.paced], r.backlog, r.sent, r.attempts, r.wasted, r.per(r.wasted), life,
			r.per(r.clientCmds), r.per(r.redisCalls), r.enqueue.Round(100*time.Millisecond), sweep,
			float64(r.sweepCmds)/float64(r.backlog))
	}
	tw.Flush()
	for _, paced := range []bool{false, true} {
		small, large := byKey[fmt.Sprint("ours", paced, 1000)], byKey[fmt.Sprint("ours", paced, 20000)]
		if small.sent == 0 || large.sent == 0 {
			continue
		}
		ratio := large.per(large.clientCmds) / small.per(small.clientCmds)
		worst := max(small.lifeMax, large.lifeMax)
		fmt.Printf("ours %s: client cmds/msg at 20,000 vs 1,000: x%.2f (target within 10%%: %v); "+
			"deferrals per sent message: at most %d (target <= 1: %v)\n",
			map[bool]string{false: "unpaced", true: "paced"}[paced], ratio, ratio >= 0.9 && ratio <= 1.1, worst, worst <= 1)
	}
}

// The asynq wiki's rate-limit pattern
// (https://github.com/hibiken/asynq/wiki/Rate-Limiting), adapted only to
// keep one limiter per seller.

// rateLimitError is the wiki's RateLimitError.
type rateLimitError struct{ RetryIn time.Duration }

func (e *rateLimitError) Error() string {
	return fmt.Sprintf("rate limited (retry in %v)", e.RetryIn)
}

func isRateLimitError(err error) bool {
	var rl *rateLimitError
	return errors.As(err, &rl)
}

// wikiLimiter keeps a per-process x/time/rate limiter per seller, at the
// seller's quota, and counts handler attempts and rate-limited ones.
type wikiLimiter struct {
	mu          sync.Mutex
	limiters    map[string]*rate.Limiter
	attempts    int64
	rateLimited int64
}

func (w *wikiLimiter) wrap(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		j, err := tasks.DecodeJob(t.Payload())
		if err != nil {
			return h.ProcessTask(ctx, t)
		}
		w.mu.Lock()
		w.attempts++
		lim, ok := w.limiters[j.SellerID]
		if !ok {
			lim = rate.NewLimiter(rate.Limit(churnGrant.PerSecond), churnGrant.Burst)
			w.limiters[j.SellerID] = lim
		}
		allowed := lim.Allow()
		if !allowed {
			w.rateLimited++
		}
		w.mu.Unlock()
		if !allowed {
			// As in the wiki: come back in a random 0-9 s.
			return &rateLimitError{RetryIn: time.Duration(rand.IntN(10)) * time.Second}
		}
		return h.ProcessTask(ctx, t)
	})
}

func (w *wikiLimiter) snapshot() (attempts, rateLimited int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.attempts, w.rateLimited
}

// newWikiServer is tasks.NewServer's configuration (queues, priority,
// 1 s forwarder, concurrency 50) with the wiki's IsFailure and
// RetryDelayFunc.
func newWikiServer(s *stack) *asynq.Server {
	return asynq.NewServerFromRedisClient(s.rdb, asynq.Config{
		Concurrency:              50,
		Queues:                   tasks.Queues(),
		StrictPriority:           true,
		DelayedTaskCheckInterval: time.Second,
		TaskCheckInterval:        50 * time.Millisecond,
		ShutdownTimeout:          5 * time.Second,
		LogLevel:                 asynq.FatalLevel,
		IsFailure: func(err error) bool {
			return !isRateLimitError(err) && tasks.IsFailure(err)
		},
		RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
			var rl *rateLimitError
			if errors.As(err, &rl) {
				return rl.RetryIn
			}
			return tasks.RetryDelay(n, err, t)
		},
	})
}
