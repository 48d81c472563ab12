package tasks

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/spapi"
)

// slotGrace is how late a released job may start and still use the slot it
// was released with. A job that comes later (a retry, a deferral, a
// redelivery, a job that waited for a free worker) books a new one.
const slotGrace = time.Second

// acquire waits for the job's quota: the slots its release booked, or,
// when it holds none, slots booked now. A job whose new slots are further
// away than MaxInlineWait goes back to its line instead of waiting here;
// acquire then reports requeued.
func (r *run) acquire(ctx context.Context) (requeued bool, err error) {
	h, j := r.h, r.job
	retried, _ := asynq.GetRetryCount(ctx)
	if j.Slot > 0 && retried == 0 {
		at := h.Lines.Local(time.UnixMicro(j.Slot))
		if time.Since(at) <= slotGrace {
			return false, r.waitQuota(ctx, time.Until(at))
		}
	}
	wait, err := h.Lines.Reserve(ctx, j.SellerID, r.typ.ActionsOperation(), r.typ.OperationID)
	if err != nil {
		return false, err
	}
	if wait <= h.maxInlineWait() {
		return false, r.waitQuota(ctx, wait)
	}
	return true, r.requeue(ctx, time.Now())
}

// requeue puts the job back in its seller's line, to be released from
// eligible on.
func (r *run) requeue(ctx context.Context, eligible time.Time) error {
	j := *r.job
	j.Retried = r.retried(ctx)
	payload, err := j.Encode()
	if err != nil {
		return err
	}
	e := lineEntry(r.id, &j, r.typ, payload)
	if e.Eligible.Before(eligible) {
		e.Eligible = eligible
	}
	if _, err := r.h.Lines.Push(ctx, e); err != nil {
		return err
	}
	r.h.Metrics.requeued()
	r.log.Debug("job back in its seller's line")
	return nil
}

// waitQuota sleeps for a quota wait and records it.
func (r *run) waitQuota(ctx context.Context, d time.Duration) error {
	r.h.Metrics.quotaWait(max(d, 0))
	return sleep(ctx, d)
}

// observe stores the rate Amazon reported in x-amzn-RateLimit-Limit (sent
// on 2xx, 400 and 404 answers) for the seller's next release.
func (r *run) observe(ctx context.Context, key dispatch.Key, resp *spapi.Response, err error) {
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
	if _, overridden := r.h.Sellers.override(key.Seller, key.Operation); overridden {
		return
	}
	// Amazon repeats the header on every answer; store it (a Redis round
	// trip) only when the rate changes, or again after a while in case it
	// expired.
	now := time.Now()
	if v, ok := r.h.observed.Load(key); ok {
		if o := v.(observation); o.rate == rate && now.Sub(o.at) < observeRefresh {
			return
		}
	}
	if r.h.Lines.Observe(ctx, key, rate) == nil {
		r.h.observed.Store(key, observation{rate: rate, at: now})
	}
}

// observeRefresh is how long a reported rate is trusted to be stored.
const observeRefresh = time.Minute

// observation is the last rate a worker stored for a key.
type observation struct {
	rate float64
	at   time.Time
}
