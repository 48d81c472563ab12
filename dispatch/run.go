package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"time"
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
// shard when the shard's next job is due (or every IdlePoll when nothing
// is known to be due), and hands what it releases to handoff. Every worker
// process runs it; the steps are atomic in Redis, so any number of them
// share the work with no leader. It returns ctx's error.
func (d *Dispatcher) Run(ctx context.Context, handoff Handoff, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	next := make([]time.Time, Shards)
	var due []int
	for {
		now := time.Now()
		due = due[:0]
		wake := now.Add(d.o.IdlePoll)
		for s := range next {
			if !now.Before(next[s]) {
				due = append(due, s)
			} else if next[s].Before(wake) {
				wake = next[s]
			}
		}
		per := d.o.Batch
		if len(due) > 0 && d.o.Queued != nil {
			// Back-pressure: release only what the workers can start on
			// time.
			if n, err := d.o.Queued(ctx); err == nil {
				per = min(per, max(0, d.o.MaxQueued-n)/len(due))
				if per == 0 && n < d.o.MaxQueued {
					per = 1
				}
			}
			if per == 0 {
				due = due[:0]
				if t := now.Add(backPressurePoll); t.Before(wake) {
					wake = t
				}
			}
		}
		if len(due) > 0 {
			rs, nexts, err := d.Release(ctx, due, per)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Warn("release step failed", "error", err)
				if sleep(ctx, d.o.IdlePoll) != nil {
					return ctx.Err()
				}
				continue
			}
			taken := map[int]int{}
			for _, r := range rs {
				taken[r.shard]++
			}
			after := time.Now()
			for i, s := range due {
				n := after.Add(d.o.IdlePoll)
				if t := nexts[i]; !t.IsZero() {
					if l := d.Local(t).Add(-d.o.Lead); l.Before(n) {
						n = l
					}
				}
				if taken[s] >= per {
					n = after // a full batch: more may be due now
				}
				next[s] = n
				if n.Before(wake) {
					wake = n
				}
			}
			d.handOff(ctx, rs, handoff, log)
		}
		if err := sleep(ctx, time.Until(wake)); err != nil {
			return err
		}
	}
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

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
