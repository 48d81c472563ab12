package tasks

import (
	"context"
	"errors"
	"time"

	"github.com/spmsg/spmsg/ratelimit"
	"github.com/spmsg/spmsg/spapi"
)

// limit is the rate plan in force for a seller's operation: the sellers
// file override, else what Amazon's header granted, else the default.
func (r *run) limit(ctx context.Context, key ratelimit.Key) ratelimit.Limit {
	def := r.h.Sellers.Limit(key.Seller, key.Operation)
	base := ratelimit.Limit{Rate: def.Rate, Burst: def.Burst}
	if _, overridden := r.override(key); overridden {
		return base
	}
	lim, err := r.h.Limiter.Effective(ctx, key, base)
	if err != nil {
		return base
	}
	return lim
}

func (r *run) override(key ratelimit.Key) (Rate, bool) {
	if r.h.Sellers == nil {
		return Rate{}, false
	}
	c, ok := r.h.Sellers.Get(key.Seller)
	if !ok {
		return Rate{}, false
	}
	if x, ok := c.Rates[key.Operation]; ok {
		return x, true
	}
	group := "messaging"
	if key.Operation == spapi.OpCreateUploadDestinationForResource {
		group = "uploads"
	}
	x, ok := c.Rates[group]
	return x, ok
}

// reserve books (or redeems, when this job already holds them) a slot on
// each key and returns how long until the latest of them.
func (r *run) reserve(ctx context.Context, keys ...ratelimit.Key) (time.Duration, error) {
	var wait time.Duration
	for _, k := range keys {
		res, err := r.h.Limiter.Reserve(ctx, k, r.class, r.id, r.limit(ctx, k))
		if err != nil {
			return 0, err
		}
		wait = max(wait, res.Wait)
	}
	return wait, nil
}

// waitSlot waits for the job's reserved slot on key (redeeming it).
func (r *run) waitSlot(ctx context.Context, key ratelimit.Key) error {
	wait, err := r.reserve(ctx, key)
	if err != nil {
		return err
	}
	return sleep(ctx, wait)
}

func (r *run) done(ctx context.Context, keys ...ratelimit.Key) {
	for _, k := range keys {
		_ = r.h.Limiter.Done(ctx, k, r.id)
	}
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
	if _, overridden := r.override(key); overridden {
		return
	}
	_ = r.h.Limiter.Observe(ctx, key, rate)
}
