package dispatch

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/spmsg/spmsg/internal/wait"
)

// Handoff puts a released job on the queue. It returns nil once the queue
// holds the job (or already held it); an error leaves the job to be handed
// off again after the handoff timeout.
type Handoff func(ctx context.Context, r Released) error

// handoffWorkers bounds the hand-offs in flight per release step.
const handoffWorkers = 16

// backPressurePoll is how soon releases are tried again while the workers
// are behind.
const backPressurePoll = 10 * time.Millisecond

// Run releases due jobs until ctx ends: it runs a release step on each
// shard when the shard's next job is due (or at the next IdlePoll tick when
// nothing is known to be due: every shard polled idle shares the tick, so
// idle polls go in one pipeline), and hands what it releases to handoff.
// Every worker process runs it; the steps are atomic in Redis, so any
// number of them share the work with no leader. It returns ctx's error.
func (d *Dispatcher) Run(ctx context.Context, handoff Handoff, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &loop{d: d, next: make([]time.Time, Shards)}
	wakes := d.subscribe(ctx)
	// Go 1.23 timers: Reset never delivers a stale expiry, so the timer is
	// reset each round without draining.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		due, wake := l.dueShards(now)
		per := d.o.Batch
		if len(due) > 0 {
			per = l.budget(ctx, now, len(due))
			if per == 0 {
				due = due[:0]
				wake = earlier(wake, now.Add(backPressurePoll))
			}
		}
		if len(due) > 0 {
			rs, nexts, err := d.Release(ctx, due, per)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if wait.Sleep(ctx, l.failed(err, log)) != nil {
					return ctx.Err()
				}
				continue
			}
			l.recovered(log)
			l.queued += len(rs)
			wake = earlier(wake, l.schedule(due, nexts, rs, per))
			d.handOff(ctx, rs, handoff, log)
		}
		timer.Reset(max(time.Until(wake), 0))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case s := <-wakes:
			l.next[s] = time.Time{} // a job joined an idle line there
		}
	}
}

// subscribe delivers the shards of pushes to idle lines (see Push) until
// ctx ends. go-redis resubscribes after a reconnection; messages lost
// meanwhile cost an idle poll.
func (d *Dispatcher) subscribe(ctx context.Context) <-chan int {
	out := make(chan int, Shards)
	ps := d.rdb.Subscribe(ctx, d.wakeChannel())
	go func() {
		defer ps.Close()
		ch := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				if s, err := strconv.Atoi(m.Payload); err == nil && s >= 0 && s < Shards {
					select {
					case out <- s:
					default: // a wake for it is pending already
					}
				}
			}
		}
	}()
	return out
}

// loop is Run's state: when each shard is next worth a release step, the
// last reading of the workers' backlog, and the current run of failed
// steps (Redis unreachable).
type loop struct {
	d          *Dispatcher
	next       []time.Time
	queued     int
	queuedRead time.Time
	failures   int
	loggedAt   time.Time
}

// maxRetryWait bounds the wait between release steps while they fail.
const maxRetryWait = 5 * time.Second

// failed logs a failed release step (the first of a run, then every 30 s)
// and returns how long to wait before the next: IdlePoll, doubling up to
// maxRetryWait.
func (l *loop) failed(err error, log *slog.Logger) time.Duration {
	l.failures++
	if l.failures == 1 || time.Since(l.loggedAt) >= 30*time.Second {
		log.Warn("release step failed; jobs wait in their lines until it works again", "error", err, "failures", l.failures)
		l.loggedAt = time.Now()
	}
	return min(l.d.o.IdlePoll<<min(l.failures-1, 10), maxRetryWait)
}

// recovered ends a run of failed steps.
func (l *loop) recovered(log *slog.Logger) {
	if l.failures > 0 {
		log.Info("release steps work again", "after_failures", l.failures)
		l.failures = 0
	}
}

// dueShards returns the shards due at now and when the next one is.
func (l *loop) dueShards(now time.Time) (due []int, wake time.Time) {
	wake = now.Add(l.d.o.IdlePoll)
	for s, t := range l.next {
		if !now.Before(t) {
			due = append(due, s)
		} else {
			wake = earlier(wake, t)
		}
	}
	return due, wake
}

// budget is how many jobs each of n due shards may release: all of a
// batch, unless the workers are behind (Options.Queued). The backlog is
// read at most every backPressurePoll; in between, what this loop released
// counts on top of the last reading.
func (l *loop) budget(ctx context.Context, now time.Time, n int) int {
	o := l.d.o
	if o.Queued == nil {
		return o.Batch
	}
	if now.Sub(l.queuedRead) >= backPressurePoll {
		q, err := o.Queued(ctx)
		if err != nil {
			return o.Batch // no reading: do not stall the lines
		}
		l.queued, l.queuedRead = q, now
	}
	free := o.MaxQueued - l.queued
	if free <= 0 {
		return 0
	}
	return min(o.Batch, max(free/n, 1))
}

// schedule records when each released shard is next due and returns the
// earliest.
func (l *loop) schedule(due []int, nexts []time.Time, rs []Released, per int) time.Time {
	o := l.d.o
	taken := map[int]int{}
	for _, r := range rs {
		taken[r.shard]++
	}
	now := time.Now()
	// The shared idle tick: IdlePoll/2 to 1.5 IdlePoll away.
	idle := now.Add(o.IdlePoll / 2).Truncate(o.IdlePoll).Add(o.IdlePoll)
	wake := idle
	for i, s := range due {
		n := idle
		if t := nexts[i]; !t.IsZero() {
			n = earlier(n, l.d.Local(t).Add(-o.Lead))
		}
		if taken[s] >= per {
			n = now // a full batch: more may be due now
		}
		l.next[s] = n
		wake = earlier(wake, n)
	}
	return wake
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// handOff hands rs to the queue, a few at a time, and confirms those the
// queue took.
func (d *Dispatcher) handOff(ctx context.Context, rs []Released, handoff Handoff, log *slog.Logger) {
	if len(rs) == 0 {
		return
	}
	ok := make([]bool, len(rs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, handoffWorkers)
	for i := range rs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := handoff(ctx, rs[i]); err != nil {
				log.Warn("handoff failed; the job is handed off again later", "job_id", rs[i].ID, "error", err)
				return
			}
			ok[i] = true
		}()
	}
	wg.Wait()
	done := make([]Released, 0, len(rs))
	for i, r := range rs {
		if ok[i] {
			done = append(done, r)
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.Confirm(cctx, done); err != nil {
		log.Warn("confirming handoffs failed; they are handed off again later", "error", err)
	}
}
