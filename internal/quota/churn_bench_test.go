package quota_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
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

// The benchmark's plans and timing. Each plan is every Messaging
// operation's, granted by the sandbox and set in the sellers file.
var (
	// churnFast is the backlog axis's seller and each of the 10 sellers.
	churnFast = sandbox.Rate{PerSecond: 5, Burst: 5}
	// churnSlow is each of the 1,000 sellers: 50 msgs/s in all, as for
	// the 10 sellers at churnFast.
	churnSlow = sandbox.Rate{PerSecond: 0.05, Burst: 1}
	// churnWindow is how long sends and commands are counted.
	churnWindow = 20 * time.Second
	// churnSettle is how long after the backlog is queued (and, with
	// several sellers, after the last seller's first job may go) the
	// window starts: the bursts are spent, the stack is in its steady
	// state.
	churnSettle = 3 * time.Second
	// churnIdle is how long the idle stack is measured before anything
	// is enqueued, after a second for it to start.
	churnIdle = 3 * time.Second
	// churnLag is how long after the enqueue starts the first of several
	// sellers may go: the enqueue is over by then, so the release loop
	// knows every line's first due time and releases each on time, not
	// at its shard's next idle poll (which would put sellers in phase).
	churnLag = time.Second
)

// churnWide is the sellers-file plan of the wiki pattern's rows: our lines
// are opened wide, so they release the backlog at once and the wiki's
// limiter in the handler paces it.
var churnWide = tasks.Rate{Rate: 1000, Burst: 1000}

const churnSeller = "A1CHURNSELLER"

// The two axes of issue "flat cost".
const (
	axisBacklog = "backlog" // one seller, a backlog of perSeller jobs
	axisSellers = "sellers" // many sellers, the same rate in all
)

// churnCase is one row: a pipeline and a load.
type churnCase struct {
	pipeline  string // "ours" or "wiki"
	axis      string
	sellers   int
	perSeller int          // jobs per seller; zero: enough for the run
	plan      sandbox.Rate // every seller's
}

// churnCases are the rows, in order. The wiki rows compare the backlog
// axis with asynq's wiki rate-limit pattern.
var churnCases = []churnCase{
	{pipeline: "ours", axis: axisBacklog, sellers: 1, perSeller: 1000, plan: churnFast},
	{pipeline: "ours", axis: axisBacklog, sellers: 1, perSeller: 20000, plan: churnFast},
	{pipeline: "ours", axis: axisSellers, sellers: 10, plan: churnFast},
	{pipeline: "ours", axis: axisSellers, sellers: 1000, plan: churnSlow},
	{pipeline: "wiki", axis: axisBacklog, sellers: 1, perSeller: 1000, plan: churnFast},
	{pipeline: "wiki", axis: axisBacklog, sellers: 1, perSeller: 20000, plan: churnFast},
}

func (c churnCase) name() string {
	if c.axis == axisBacklog {
		return fmt.Sprintf("%s/backlog=%d", c.pipeline, c.perSeller)
	}
	return fmt.Sprintf("%s/sellers=%d", c.pipeline, c.sellers)
}

// interval is the plan's 1/rate.
func (c churnCase) interval() time.Duration {
	return time.Duration(float64(time.Second) / c.plan.PerSecond)
}

// start is how long after the enqueue starts seller i's jobs may go:
// with several sellers, churnLag, then the sellers spread over one
// interval.
func (c churnCase) start(i int) time.Duration {
	if c.sellers == 1 {
		return 0
	}
	return churnLag + c.interval()*time.Duration(i)/time.Duration(c.sellers)
}

// settle is how long after the backlog is queued the window starts: once
// the last seller may go, churnSettle.
func (c churnCase) settle() time.Duration { return c.start(c.sellers) + churnSettle }

// jobsPerSeller is perSeller, or enough to keep every seller backlogged
// to the end of the window, with a few seconds to spare.
func (c churnCase) jobsPerSeller() int {
	if c.perSeller > 0 {
		return c.perSeller
	}
	run := c.settle() + churnWindow + churnSettle
	return int(math.Ceil(c.plan.PerSecond*run.Seconds())) + c.plan.Burst
}

// ideal is how many messages the sellers' plans allow in the window once
// their bursts are spent.
func (c churnCase) ideal() float64 {
	return float64(c.sellers) * c.plan.PerSecond * churnWindow.Seconds()
}

func (c churnCase) sellerID(i int) string {
	if c.sellers == 1 {
		return churnSeller
	}
	return fmt.Sprintf("A%04dCHURN", i)
}

// stackSellers is the deployment's sellers: c.sellers with c.plan, in the
// sellers file too (opened wide for the wiki pattern).
func (c churnCase) stackSellers() []seller {
	file := tasks.Rate{Rate: c.plan.PerSecond, Burst: c.plan.Burst}
	if c.pipeline == "wiki" {
		file = churnWide
	}
	out := make([]seller, c.sellers)
	for i := range out {
		out[i] = seller{ID: c.sellerID(i), Grant: c.plan, File: file}
	}
	return out
}

// jobs is the backlog: every seller's campaign jobs, interleaved as in a
// batch file with many sellers. With several sellers, seller i's jobs may
// go from start + c.start(i) (not_before), so the sellers' sends
// interleave as independent sellers' do instead of all falling at once
// every interval.
func (c churnCase) jobs(start time.Time) []*tasks.Job {
	per := c.jobsPerSeller()
	out := make([]*tasks.Job, 0, per*c.sellers)
	for k := range per {
		for i := range c.sellers {
			j := campaignJob(c.sellerID(i), orderID(0, k*c.sellers+i))
			if d := c.start(i); d > 0 {
				nb := start.Add(d)
				j.NotBefore = &nb
			}
			out = append(out, j)
		}
	}
	return out
}

// churnResult is one row of the table.
type churnResult struct {
	churnCase
	enqueue time.Duration
	// the window's figures
	sent                   int64
	attempts, wasted, t429 int64
	clientCmds, redisCalls int64
	byCmd                  map[string]int64
	// the idle stack's Redis calls per second
	idleRedis float64
}

func (r churnResult) per(n int64) float64 {
	if r.sent == 0 {
		return 0
	}
	return float64(n) / float64(r.sent)
}

// idlePerMsg is the idle stack's Redis calls over the window, per sent
// message: the part of redis calls/msg that does not depend on sending.
func (r churnResult) idlePerMsg() float64 {
	if r.sent == 0 {
		return 0
	}
	return r.idleRedis * churnWindow.Seconds() / float64(r.sent)
}

// BenchmarkChurn prints what a fixed window of sending costs in Redis per
// sent message, in the steady state, along the two axes of issue "flat
// cost" (commands per sent message within 10% from 1,000 to 20,000 jobs
// per seller and from 10 to 1,000 sellers):
//
//   - backlog: one seller at 5 msgs/s (burst 5) with a campaign backlog of
//     1,000 and of 20,000 jobs;
//   - sellers: 10 sellers at 5 msgs/s and 1,000 sellers at 0.05 msgs/s
//     (burst 1), 50 msgs/s in all, each backlogged to the end of the
//     window.
//
// Jobs go through Producer.Enqueue (16 goroutines) into their sellers'
// lines; the worker (tasks.NewServer, default concurrency) and its release
// loop run as cmd/worker runs them. With several sellers, seller i's jobs
// carry not_before = start + churnLag + i x interval/sellers, so the
// sellers' sends interleave as independent sellers' do rather than fall
// together. The window (churnWindow) starts churnSettle after the backlog
// is queued and the last seller's first job may go.
//
// Commands are counted two ways: "client" by a go-redis hook on the one
// client that the producer, the release loop, the worker and asynq share
// (a Lua script call counts once), and "redis" from INFO commandstats
// deltas (everything the server executed, commands inside Lua scripts
// included). "steps" counts TIME calls, which only dispatch's scripts
// make (release steps; Reserve and 429s, rare here). "idle" is what the
// same stack costs per second with nothing to send (the release loop's
// poll of every shard each IdlePoll, asynq's polling and housekeeping),
// measured before the enqueue and spread over the window's messages: a
// fixed cost per second and per worker process, whatever the backlog or
// the number of sellers, which is why each axis keeps its total rate.
//
// The wiki rows run asynq's wiki rate-limit pattern on the backlog axis
// for comparison: our lines opened wide (so they release the backlog at
// once) and a per-process x/time/rate limiter per seller in the handler
// that returns a rate-limit error with a random RetryIn (IsFailure false);
// their window starts churnSettle after the lines are empty. Nothing is
// asserted but that messages were sent. Run it once:
//
//	go test -run '^$' -bench Churn -benchtime 1x ./internal/quota/
//
// or one axis, e.g. -bench 'Churn/ours/sellers'.
func BenchmarkChurn(b *testing.B) {
	var rows []churnResult
	for _, c := range churnCases {
		b.Run(c.name(), func(b *testing.B) {
			r := runChurn(b, c)
			rows = append(rows, r)
			b.ReportMetric(float64(r.sent), "sent")
			b.ReportMetric(r.per(r.clientCmds), "cmds/msg")
			b.ReportMetric(r.per(r.redisCalls), "rediscalls/msg")
			b.ReportMetric(r.idlePerMsg(), "idlecalls/msg")
			b.ReportMetric(r.per(r.wasted), "wasted/msg")
		})
	}
	printChurn(rows)
}

// runChurn builds the case's stack, measures it idle, enqueues the
// backlog, lets it settle and measures the window.
func runChurn(b *testing.B, c churnCase) churnResult {
	s := newStack(b, c.plan, c.stackSellers()...)
	wiki := &wikiLimiter{plan: c.plan, limiters: map[string]*rate.Limiter{}}
	if c.pipeline == "wiki" {
		s.startWith(newWikiServer(s), wiki.wrap(s.defers.wrap(s.handler)))
	} else {
		s.start(0)
	}
	r := churnResult{churnCase: c}
	r.idleRedis = measureIdle(b, s, wiki)

	t0 := time.Now()
	s.enqueue(c.jobs(t0), 16)
	r.enqueue = time.Since(t0)
	if c.pipeline == "wiki" {
		waitLinesEmpty(b, s)
	}
	time.Sleep(c.settle())

	before := takeSnapshot(b, s, wiki)
	time.Sleep(churnWindow)
	after := takeSnapshot(b, s, wiki)
	r.measure(s, before, after)
	require.Positive(b, r.sent, "messages sent in the window")
	return r
}

// measureIdle returns the stack's Redis calls per second over churnIdle,
// after a second to start.
func measureIdle(b *testing.B, s *stack, w *wikiLimiter) float64 {
	time.Sleep(time.Second)
	before := takeSnapshot(b, s, w)
	time.Sleep(churnIdle)
	after := takeSnapshot(b, s, w)
	_, n := quota.Delta(before.stats, after.stats)
	secs := after.at.Sub(before.at).Seconds()
	return float64(n) / secs
}

// waitLinesEmpty waits until every job has left its line for asynq.
func waitLinesEmpty(b *testing.B, s *stack) {
	require.Eventually(b, func() bool {
		jobs, err := s.lines.Jobs(context.Background())
		return err == nil && len(jobs) == 0
	}, 3*time.Minute, time.Second)
}

// measure fills the window's figures from the snapshots at its ends.
func (r *churnResult) measure(s *stack, before, after snapshot) {
	r.byCmd, r.redisCalls = quota.Delta(before.stats, after.stats)
	r.clientCmds = after.cmds - before.cmds
	r.attempts = after.attempts - before.attempts
	r.wasted = after.deferrals - before.deferrals + after.rateLimited - before.rateLimited
	r.t429 = after.throttled - before.throttled
	for _, m := range s.sb.Sent() {
		if !m.Time.Before(before.at) && !m.Time.After(after.at) {
			r.sent++
		}
	}
}

// snapshot is the counters at one moment.
type snapshot struct {
	at                               time.Time
	stats                            map[string]int64
	cmds                             int64
	attempts, deferrals, rateLimited int64
	throttled                        int64
}

func takeSnapshot(b *testing.B, s *stack, w *wikiLimiter) snapshot {
	b.Helper()
	st, err := quota.CommandStats(context.Background(), s.rdb)
	require.NoError(b, err)
	attempts, deferrals, _ := s.defers.snapshot()
	wa, wl := w.snapshot()
	if wa > 0 { // the wiki pattern: every attempt passes its limiter first
		attempts = wa
	}
	return snapshot{at: time.Now(), stats: st, cmds: s.cmds.Load(), attempts: attempts,
		deferrals: deferrals, rateLimited: wl, throttled: s.sb.Stats().Throttled}
}

// printChurn prints the table, the summary of each axis and the Redis
// calls per message by command.
func printChurn(rows []churnResult) {
	if len(rows) == 0 {
		return
	}
	fmt.Printf("\nchurn: a %s window starting %s after the backlog is queued (and the last seller's first job may go); "+
		"per sent message; steps = release steps (TIME calls); idle = the stack's Redis calls per second with nothing to send, "+
		"spread over the window's messages; busy = redis - idle; wiki rows: asynq's wiki rate-limit pattern, our lines opened wide\n",
		churnWindow, churnSettle)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tsellers\tjobs/seller\tplan\tsent\tideal\tattempts\twasted\t429s\tclient cmds/msg\tredis calls/msg\tsteps/msg\tidle calls/s\tidle calls/msg\tbusy calls/msg\tenqueue\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%g/s b%d\t%d\t%.0f\t%d\t%d\t%d\t%.1f\t%.1f\t%.2f\t%.0f\t%.1f\t%.1f\t%s\t\n",
			r.name(), r.sellers, r.jobsPerSeller(), r.plan.PerSecond, r.plan.Burst, r.sent, r.ideal(),
			r.attempts, r.wasted, r.t429, r.per(r.clientCmds), r.per(r.redisCalls), r.per(r.byCmd["time"]),
			r.idleRedis, r.idlePerMsg(), r.per(r.redisCalls)-r.idlePerMsg(), r.enqueue.Round(100*time.Millisecond))
	}
	tw.Flush()
	fmt.Println()
	for _, p := range []string{"ours", "wiki"} {
		printAxis(rows, p, axisBacklog, "jobs")
		printAxis(rows, p, axisSellers, "sellers")
	}
	printByCommand(rows, 10)
}

// printAxis prints the ratio of the largest to the smallest case of one
// pipeline's axis, when both ran.
func printAxis(rows []churnResult, pipeline, axis, unit string) {
	var in []churnResult
	for _, r := range rows {
		if r.pipeline == pipeline && r.axis == axis && r.sent > 0 {
			in = append(in, r)
		}
	}
	if len(in) < 2 {
		return
	}
	size := func(r churnResult) int {
		if axis == axisBacklog {
			return r.jobsPerSeller()
		}
		return r.sellers
	}
	small := slices.MinFunc(in, func(a, b churnResult) int { return cmp.Compare(size(a), size(b)) })
	large := slices.MaxFunc(in, func(a, b churnResult) int { return cmp.Compare(size(a), size(b)) })
	client := large.per(large.clientCmds) / small.per(small.clientCmds)
	calls := large.per(large.redisCalls) / small.per(small.redisCalls)
	fmt.Printf("%s, %s axis: per sent message at %d vs %d %s: client cmds x%.2f (within 10%%: %s), redis calls x%.2f (within 10%%: %s)\n",
		pipeline, axis, size(large), size(small), unit, client, yesNo(within(client, 0.1)), calls, yesNo(within(calls, 0.1)))
}

func within(ratio, tol float64) bool { return ratio >= 1-tol && ratio <= 1+tol }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// printByCommand prints, for the ours rows, the Redis calls per sent
// message of the top commands (by their largest figure in any row).
func printByCommand(rows []churnResult, top int) {
	var ours []churnResult
	peak := map[string]float64{}
	for _, r := range rows {
		if r.pipeline != "ours" || r.sent == 0 {
			continue
		}
		ours = append(ours, r)
		for k, n := range r.byCmd {
			peak[k] = max(peak[k], r.per(n))
		}
	}
	if len(ours) == 0 {
		return
	}
	cmds := make([]string, 0, len(peak))
	for k := range peak {
		cmds = append(cmds, k)
	}
	sort.Slice(cmds, func(i, j int) bool { return peak[cmds[i]] > peak[cmds[j]] })
	cmds = cmds[:min(top, len(cmds))]
	fmt.Printf("\nredis calls per sent message by command (top %d):\n", len(cmds))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\t%s\t\n", strings.Join(cmds, "\t"))
	for _, r := range ours {
		fmt.Fprint(tw, r.name())
		for _, k := range cmds {
			fmt.Fprintf(tw, "\t%.1f", r.per(r.byCmd[k]))
		}
		fmt.Fprintln(tw, "\t")
	}
	tw.Flush()
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

// wikiLimiter keeps a per-process x/time/rate limiter per seller, at plan,
// and counts handler attempts and rate-limited ones.
type wikiLimiter struct {
	plan        sandbox.Rate
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
		if !w.allow(j.SellerID) {
			// As in the wiki: come back in a random 0-9 s.
			return &rateLimitError{RetryIn: time.Duration(rand.IntN(10)) * time.Second}
		}
		return h.ProcessTask(ctx, t)
	})
}

// allow counts an attempt and reports whether seller's limiter lets it
// through.
func (w *wikiLimiter) allow(seller string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts++
	lim, ok := w.limiters[seller]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(w.plan.PerSecond), w.plan.Burst)
		w.limiters[seller] = lim
	}
	if !lim.Allow() {
		w.rateLimited++
		return false
	}
	return true
}

func (w *wikiLimiter) snapshot() (attempts, rateLimited int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.attempts, w.rateLimited
}

// newWikiServer is tasks.NewServer's configuration (queues, priority,
// 1 s forwarder, 50 ms task check) at concurrency 50, with the wiki's
// IsFailure and RetryDelayFunc.
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
