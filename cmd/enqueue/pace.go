package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/ratelimit"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

// pacer spreads each seller's campaign jobs over time at that seller's
// quota with not_before times, so a large batch waits in asynq's scheduled
// set (which costs nothing to hold) instead of churning through the
// workers. A per-seller cursor in Redis (the next free moment) makes
// successive batches for one seller queue up behind each other.
type pacer struct {
	rdb     redis.UniversalClient
	sellers *tasks.Sellers
	limiter *ratelimit.Limiter
	now     func() time.Time
	cursors map[cursorKey]*cursor
}

type cursor struct {
	next     time.Time
	interval time.Duration
	burst    int
	used     int
}

func newPacer(rdb redis.UniversalClient, sellers *tasks.Sellers) *pacer {
	return &pacer{rdb: rdb, sellers: sellers, limiter: tasks.NewLimiter(rdb, sellers, ratelimit.Options{}),
		now: time.Now, cursors: map[cursorKey]*cursor{}}
}

// paceKey is a seller's cursor for one API: Messaging and Solicitations
// (review requests) have separate quotas, so separate lines.
func paceKey(seller string, api spapi.API) string {
	if api == spapi.APISolicitations {
		return "spmsg:{" + seller + "}:pace:solicitations"
	}
	return "spmsg:{" + seller + "}:pace"
}

// cursorKey identifies a cursor in pacer.cursors.
type cursorKey struct {
	seller string
	api    spapi.API
}

// pace sets j.NotBefore for a campaign job to the seller's next free slot
// on its API's line (never earlier than the job's own not_before, or the
// opening of a review request's window: such a job waits for that and
// takes no slot here; nor past its deadline, where the worker ends it).
func (p *pacer) pace(ctx context.Context, j *tasks.Job) error {
	if j.Campaign == "" {
		return nil
	}
	t, _ := spapi.LookupType(j.Type)
	k := cursorKey{seller: j.SellerID, api: t.API}
	c, ok := p.cursors[k]
	if !ok {
		// The plan in force: the sellers file's override, else the rate
		// Amazon reported to the workers (x-amzn-RateLimit-Limit), else
		// Amazon's default.
		lim, act := p.plan(ctx, j.SellerID, t.OperationID), p.plan(ctx, j.SellerID, t.ActionsOperation())
		rate := math.Min(lim.Rate, act.Rate)
		// The same spacing as the worker's limiter (its 2% margin), so paced
		// jobs arrive as their slots come, not ahead of them.
		c = &cursor{interval: time.Duration(float64(time.Second) / rate * (1 + ratelimit.DefaultMargin)), burst: min(lim.Burst, act.Burst)}
		now := p.now()
		c.next = now
		v, err := p.rdb.Get(ctx, paceKey(j.SellerID, t.API)).Result()
		if err != nil && err != redis.Nil {
			return fmt.Errorf("read pacing cursor: %w", err)
		}
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
			if t := time.Unix(0, ns); t.After(now) {
				c.next = t
				c.burst = 0 // the seller's burst is already spoken for
			}
		}
		p.cursors[k] = c
	}
	at := c.next
	if nb := j.EffectiveNotBefore(); nb != nil && nb.After(at) {
		return nil
	}
	if dl := j.EffectiveDeadline(); dl != nil && !at.Before(*dl) {
		// No slot before its deadline: it takes none and goes as it is;
		// the worker's limiter decides (deadline_before_quota).
		return nil
	}
	if c.used < c.burst {
		c.used++
	} else {
		c.next = c.next.Add(c.interval)
	}
	if at.After(p.now().Add(time.Second)) {
		t := at
		j.NotBefore = &t
	}
	return nil
}

func (p *pacer) plan(ctx context.Context, seller, op string) ratelimit.Limit {
	d := p.sellers.Limit(seller, op)
	def := ratelimit.Limit{Rate: d.Rate, Burst: d.Burst}
	lim, err := p.limiter.Effective(ctx, ratelimit.Key{Seller: seller, Operation: op}, def)
	if err != nil {
		return def
	}
	return lim
}

// advanceCursor moves a pacing cursor forward only (another batch may be
// further out). KEYS[1] cursor; ARGV[1] new value (unix ns); ARGV[2] TTL ms.
var advanceCursor = redis.NewScript(`local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1`)

// save stores each seller's cursor so the next batch starts after this one.
func (p *pacer) save(ctx context.Context) error {
	for k, c := range p.cursors {
		ttl := time.Until(c.next) + time.Hour
		if ttl <= time.Hour {
			continue
		}
		if err := advanceCursor.Run(ctx, p.rdb, []string{paceKey(k.seller, k.api)}, c.next.UnixNano(), ttl.Milliseconds()).Err(); err != nil {
			return fmt.Errorf("save pacing cursor: %w", err)
		}
	}
	return nil
}
