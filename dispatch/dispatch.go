package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/internal/keyspace"
)

// Defaults used when the matching Options field is zero.
const (
	// DefaultMargin lengthens every interval by 0.5%, so clock and network
	// jitter never make a seller faster than Amazon's bucket.
	DefaultMargin = 0.005
	// DefaultLead is how long before its slot a job is handed to the
	// queue: enough for an idle worker to pick it up (asynq polls every
	// 50 ms), so it waits in the handler only for the rest.
	DefaultLead = 80 * time.Millisecond
	// DefaultIdlePoll is how often a shard with nothing due is looked at
	// anyway. A job pushed to an idle line wakes the release loops at once
	// (pub/sub); the poll catches what a lost message would miss.
	DefaultIdlePoll = time.Second
	// DefaultSlack spreads an idle seller's burst over this time, so calls
	// that leave a little late cannot bunch up with the next on-time call
	// in Amazon's bucket.
	DefaultSlack = 150 * time.Millisecond
	// DefaultHandoffTimeout is how long a released job may stay
	// unconfirmed in the queue before any releaser hands it off again.
	DefaultHandoffTimeout = 15 * time.Second
	// DefaultBatch is the most jobs one release step takes from a shard.
	DefaultBatch = 256
	// DefaultMaxQueued is how many released jobs may wait for a worker
	// before releases pause (see Options.Queued).
	DefaultMaxQueued = 100
)

// scheduleTTL is how long a schedule (and the rate Amazon reported) outlives
// its last booked slot; an idle schedule older than that is an empty one.
const scheduleTTL = 24 * time.Hour

// ErrInvalid is wrapped by every error about a bad argument.
var ErrInvalid = errors.New("dispatch: invalid argument")

// Plan is a token bucket: Rate tokens per second, at most Burst stored.
type Plan struct {
	Rate  float64
	Burst int
}

func (p Plan) valid() bool {
	return p.Rate > 0 && !math.IsInf(p.Rate, 0) && !math.IsNaN(p.Rate) && p.Burst >= 1
}

// Key names one schedule: one seller's quota for one SP-API operation.
type Key struct {
	Seller, Operation string
}

// Options tune a Dispatcher. Defaults is required; the rest has defaults.
type Options struct {
	// Defaults returns Amazon's published plan for an operation.
	Defaults func(op string) Plan
	// Operations lists every operation a job can book (its actions and
	// send operations, uploads), with Defaults giving each one's plan.
	Operations []string
	// Prefix starts every key; "" means keyspace.DefaultPrefix.
	Prefix string
	// Margin lengthens the emission interval: T = 1/Rate x (1 + Margin).
	// Zero means DefaultMargin; negative means none.
	Margin float64
	// CampaignShare is the fraction of a seller's rate campaign jobs may
	// use, in (0, 1]; zero means 1.
	CampaignShare float64
	// Lead, IdlePoll, Slack, HandoffTimeout, Batch and MaxQueued: see the
	// defaults.
	Lead, IdlePoll, Slack, HandoffTimeout time.Duration
	Batch, MaxQueued                      int
	// Queued, when set, returns how many released jobs wait for a free
	// worker (asynq's pending tasks). While MaxQueued or more do, releases
	// pause: a job is booked its slot only when a worker can take it at
	// that slot, so busy workers never make calls late and bunched (which
	// Amazon's bucket would answer with 429s). nil: no back-pressure.
	Queued func(ctx context.Context) (int, error)
}

// Dispatcher keeps the per-seller lines and schedules in Redis. It is safe
// for concurrent use; any number of Dispatchers on one Redis share the same
// lines.
type Dispatcher struct {
	rdb    redis.UniversalClient
	o      Options
	defs   string // JSON op -> [rate, burst]
	offset atomic.Int64

	push, release, reserve, observe, throttled *keyspace.Script
	ks                                         keyspace.Space
}

// New returns a Dispatcher on rdb (a client, a cluster or failover client).
func New(rdb redis.UniversalClient, o Options) *Dispatcher {
	switch {
	case o.Margin == 0 || math.IsNaN(o.Margin):
		o.Margin = DefaultMargin
	case o.Margin < 0:
		o.Margin = 0
	}
	if o.CampaignShare <= 0 || o.CampaignShare > 1 || math.IsNaN(o.CampaignShare) {
		o.CampaignShare = 1
	}
	if o.Lead <= 0 {
		o.Lead = DefaultLead
	}
	if o.IdlePoll <= 0 {
		o.IdlePoll = DefaultIdlePoll
	}
	if o.Slack < 0 {
		o.Slack = 0
	} else if o.Slack == 0 {
		o.Slack = DefaultSlack
	}
	if o.HandoffTimeout <= 0 {
		o.HandoffTimeout = DefaultHandoffTimeout
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = DefaultMaxQueued
	}
	if o.Defaults == nil {
		o.Defaults = func(string) Plan { return Plan{Rate: 1, Burst: 1} }
	}
	defs := map[string][2]float64{"*": {1, 1}}
	for _, op := range o.Operations {
		p := o.Defaults(op)
		defs[op] = [2]float64{p.Rate, float64(p.Burst)}
	}
	b, _ := json.Marshal(defs)
	return &Dispatcher{rdb: rdb, o: o, defs: string(b),
		ks:   keyspace.New(o.Prefix),
		push: keyspace.NewScript(pushLua), release: keyspace.NewScript(releaseLua), reserve: keyspace.NewScript(reserveLua),
		observe: keyspace.NewScript(observeLua), throttled: keyspace.NewScript(throttledLua)}
}

// Interval is the emission interval used for a plan, margin included.
func (d *Dispatcher) Interval(p Plan) time.Duration {
	return time.Duration(math.Ceil(1e6*(1+d.o.Margin)/p.Rate)) * time.Microsecond
}

// Local converts a time on Redis's clock (as in a slot) to this process's
// clock, with the offset measured on the last release step.
func (d *Dispatcher) Local(redisTime time.Time) time.Time {
	return redisTime.Add(-time.Duration(d.offset.Load()))
}

// observeClock records Redis's clock against ours.
func (d *Dispatcher) observeClock(redisNowMicros int64) {
	d.offset.Store(int64(time.UnixMicro(redisNowMicros).Sub(time.Now())))
}

func (d *Dispatcher) keys(seller string) keyspace.Shard { return d.ks.Shard(Shard(seller)) }

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
