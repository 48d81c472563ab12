package tasks

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/ratelimit"
	"github.com/spmsg/spmsg/spapi"
)

// defaultLimit is Amazon's published plan for an operation. The limiter
// applies, in order, the sellers-file override (Options.Override, see
// LimitOverride), the rate Amazon reported in x-amzn-RateLimit-Limit, and
// this default.
func defaultLimit(op string) ratelimit.Limit {
	rate, burst := spapi.DefaultPlan(op)
	return ratelimit.Limit{Rate: rate, Burst: burst}
}

// LimitOverride returns the sellers-file overrides as a ratelimit override
// (ratelimit.Options.Override), so every worker applies them in the same
// place as the observed rate.
func LimitOverride(s *Sellers) func(ratelimit.Key) (ratelimit.Limit, bool) {
	return func(k ratelimit.Key) (ratelimit.Limit, bool) {
		r, ok := s.override(k.Seller, k.Operation)
		if !ok {
			return ratelimit.Limit{}, false
		}
		return ratelimit.Limit{Rate: r.Rate, Burst: r.Burst}, true
	}
}

// limit is the rate plan in force for a seller's operation (for back-off
// arithmetic; reservations apply it inside the limiter): the limiter's
// override (the sellers file), else the observed rate, else the default.
func (r *run) limit(ctx context.Context, key ratelimit.Key) ratelimit.Limit {
	lim, err := r.h.Limiter.Effective(ctx, key, defaultLimit(key.Operation))
	if err != nil {
		return defaultLimit(key.Operation)
	}
	return lim
}

// reserve books (or redeems, when this job already holds them) a slot on
// each key, remembers when each may go, and returns how long until the
// latest of them.
func (r *run) reserve(ctx context.Context, keys ...ratelimit.Key) (time.Duration, error) {
	lims := make([]ratelimit.Limit, len(keys))
	for i, k := range keys {
		lims[i] = defaultLimit(k.Operation)
	}
	res, err := r.h.Limiter.ReserveAll(ctx, keys, r.class, r.id, lims)
	if err != nil {
		return 0, err
	}
	r.record(keys, res)
	var wait time.Duration
	for _, x := range res {
		wait = max(wait, x.Wait)
	}
	return wait, nil
}

// untilDue sleeps through a campaign job's short wait (at most
// MaxInlineWait) and reserves again, until its slots are due or the wait is
// long enough to defer, and returns the wait left. A campaign job's first
// slot is on the seller's campaign schedule; only reserving again when it
// arrives books the main-schedule slot that keeps the call within the
// seller's bucket and behind transactional traffic (see package ratelimit).
// A transactional job's slots are main-schedule slots already.
func (r *run) untilDue(ctx context.Context, wait time.Duration, keys ...ratelimit.Key) (time.Duration, error) {
	for i := 0; r.class == ratelimit.Campaign && wait > 0 && wait <= r.h.maxInlineWait() && i < 3; i++ {
		if err := sleep(ctx, wait); err != nil {
			return 0, err
		}
		var err error
		if wait, err = r.reserve(ctx, keys...); err != nil {
			return 0, err
		}
	}
	return wait, nil
}

// deferIn is the RetryIn for a job whose slot is wait away. asynq schedules
// retries in whole seconds and the forwarder runs every second
// (NewServer), so a job deferred for d comes back between d-1s and d+1s;
// asking for a second less (at most half of MaxInlineWait) brings it back
// before its slot, never after, and it sleeps the rest in process. Late,
// it would find its seller's bucket refilled past what it can use.
func (h *Handler) deferIn(wait time.Duration) time.Duration {
	return max(wait-min(time.Second, h.maxInlineWait()/2), time.Second)
}

// reserveFirst is reserve for the first keys of an attempt, pipelined with
// the check whether the job already has its final outcome.
// enqueued is when the job was accepted (zero when its record does not say).
func (r *run) reserveFirst(ctx context.Context, keys ...ratelimit.Key) (final bool, enqueued time.Time, wait time.Duration, err error) {
	lims := make([]ratelimit.Limit, len(keys))
	for i, k := range keys {
		lims[i] = defaultLimit(k.Operation)
	}
	var rec *redis.SliceCmd
	res, err := r.h.Limiter.ReserveAllWith(ctx, keys, r.class, r.id, lims, func(p redis.Pipeliner) {
		rec = p.HMGet(ctx, r.h.Outcomes.jobKey(r.job.Campaign, r.id), "state", "enqueued_at")
	})
	if err != nil {
		return false, time.Time{}, 0, err
	}
	r.record(keys, res)
	for _, x := range res {
		wait = max(wait, x.Wait)
	}
	vals := rec.Val()
	if len(vals) == 2 {
		if s, ok := vals[1].(string); ok {
			enqueued, _ = time.Parse(time.RFC3339Nano, s)
		}
		final = vals[0] == "final"
	}
	return final, enqueued, wait, nil
}

func (r *run) record(keys []ratelimit.Key, res []ratelimit.Reservation) {
	if r.slots == nil {
		r.slots = map[ratelimit.Key]time.Time{}
	}
	for i, k := range keys {
		r.slots[k] = time.Now().Add(res[i].Wait)
		r.held = append(r.held, k)
	}
}

// waitSlot waits for the job's slot on key: the one reserved at the start,
// or a new one (uploads are reserved just in time).
func (r *run) waitSlot(ctx context.Context, key ratelimit.Key) error {
	if at, ok := r.slots[key]; ok {
		delete(r.slots, key)
		return sleep(ctx, time.Until(at))
	}
	wait, err := r.reserve(ctx, key)
	if err != nil {
		return err
	}
	delete(r.slots, key)
	return sleep(ctx, wait)
}

// release drops the job's reservation records (its slots are used or
// abandoned) and its send mark (its outcome is recorded, or the send
// definitely did not happen), in one round trip. Not called when the job
// is deferred to its slot. The records share the seller's hash tag, the
// mark the campaign's.
func (r *run) release(ctx context.Context) {
	records := r.h.Limiter.RecordKeys(r.held, r.id)
	dropMark := r.guarded && (!r.sendAttempted || r.sendRefused || r.settled)
	r.held = nil
	if dropMark {
		r.guarded = false
	}
	if len(records) == 0 && !dropMark {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = r.h.Outcomes.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(records) > 0 {
			p.Del(ctx, records...)
		}
		if dropMark {
			p.Del(ctx, r.h.Outcomes.guardKey(r.job.Campaign, r.id))
		}
		return nil
	})
}

// observe adapts the limiter to the x-amzn-RateLimit-Limit header, which
// Amazon sends on 2xx, 400 and 404 answers.
func (r *run) observe(ctx context.Context, key ratelimit.Key, resp *spapi.Response, err error) {
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
	// Amazon repeats the header on every answer; tell the limiter (a Redis
	// round trip) only when the rate changes, or again after a while in
	// case its state expired.
	now := time.Now()
	if v, ok := r.h.observed.Load(key); ok {
		if o := v.(observation); o.rate == rate && now.Sub(o.at) < observeRefresh {
			return
		}
	}
	if r.h.Limiter.Observe(ctx, key, rate) == nil {
		r.h.observed.Store(key, observation{rate: rate, at: now})
	}
}

// observeRefresh is how long a reported rate is trusted to be stored.
const observeRefresh = time.Minute

// observation is the last rate a worker passed to the limiter for a key.
type observation struct {
	rate float64
	at   time.Time
}

// NewLimiter returns the shared limiter with the sellers file's overrides.
func NewLimiter(rdb redis.UniversalClient, sellers *Sellers, opts ratelimit.Options) *ratelimit.Limiter {
	if opts.Override == nil {
		opts.Override = LimitOverride(sellers)
	}
	if opts.Slack == 0 {
		opts.Slack = ratelimit.DefaultSlack
	}
	return ratelimit.New(rdb, opts)
}
