package tasks

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/wait"
	"github.com/spmsg/spmsg/spapi"
)

// slotGrace is how late a released job may start and still use the slot it
// was released with. A job that comes later (a retry, a deferral, a
// redelivery, a job that waited for a free worker) books a new one.
const slotGrace = time.Second

// reserve waits for the job's quota: the slots its release booked, or,
// when it holds none, slots booked now. A job whose new slots are further
// away than MaxInlineWait goes back to its line instead of waiting here.
func (a *attempt) reserve(ctx context.Context) error {
	c, j := a.h.c, a.job
	if n, _ := asynq.GetRetryCount(ctx); j.Slot > 0 && n == 0 {
		at := c.State.Local(time.UnixMicro(j.Slot))
		if time.Since(at) <= slotGrace {
			return a.waitQuota(ctx, time.Until(at))
		}
	}
	wait, err := c.State.Reserve(ctx, j.SellerID, a.typ.ActionsOperation(), a.typ.OperationID)
	if err != nil {
		return err
	}
	if wait > c.MaxInlineWait {
		return &requeueJob{at: time.Now()}
	}
	return a.waitQuota(ctx, wait)
}

// waitQuota sleeps for a quota wait and records it.
func (a *attempt) waitQuota(ctx context.Context, d time.Duration) error {
	a.h.c.Metrics.quotaWait(max(d, 0))
	if err := wait.Sleep(ctx, d); err != nil {
		return err
	}
	a.phase = max(a.phase, phaseReserved)
	return nil
}

// requeue puts the job back in its seller's line, to be released from
// eligible on. It keeps its count of failed attempts.
func (a *attempt) requeue(ctx context.Context, eligible time.Time) error {
	j := *a.job
	j.Retried = a.retried
	payload, err := j.Encode()
	if err != nil {
		return err
	}
	e := lineEntry(a.ref.ID, &j, a.typ, payload)
	if e.Eligible.Before(eligible) {
		e.Eligible = eligible
	}
	if err := a.h.c.State.Requeue(ctx, e); err != nil {
		return err
	}
	a.h.c.Metrics.requeued()
	a.log.Debug("job back in its seller's line")
	return nil
}

// observe stores the rate Amazon reported in x-amzn-RateLimit-Limit (sent
// on 2xx, 400 and 404 answers) for the seller's next release.
func (a *attempt) observe(ctx context.Context, key dispatch.Key, resp *spapi.Response, err error) {
	rate := 0.0
	if resp != nil {
		rate = resp.RateLimit
	}
	var e *spapi.Error
	if rate == 0 && errors.As(err, &e) {
		rate = e.RateLimit
	}
	if rate <= 0 {
		return
	}
	h := a.h
	if _, overridden := h.c.Sellers.override(key.Seller, key.Operation); overridden {
		return
	}
	// Amazon repeats the header on every answer; store it (a Redis round
	// trip) only when the rate changes, or again after a while in case it
	// expired.
	now := time.Now()
	if v, ok := h.observed.Load(key); ok {
		if o := v.(observation); o.rate == rate && now.Sub(o.at) < observeRefresh {
			return
		}
	}
	if h.c.State.Observe(ctx, key, rate) == nil {
		h.observed.Store(key, observation{rate: rate, at: now})
	}
}

// observeRefresh is how long a reported rate is trusted to be stored.
const observeRefresh = time.Minute

// observation is the last rate a worker stored for a key.
type observation struct {
	rate float64
	at   time.Time
}
