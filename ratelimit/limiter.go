package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults used when the matching Options field is zero.
const (
	// DefaultPrefix starts every key the limiter writes.
	DefaultPrefix = "spmsg"
	// DefaultCampaignShare lets campaign jobs use the whole rate.
	DefaultCampaignShare = 1.0
	// DefaultMargin lengthens the emission interval by 2%, so small clock
	// and network jitter never make us faster than Amazon's bucket.
	DefaultMargin = 0.02
	// DefaultGrace is how long after its slot a booked main-schedule slot
	// may still be used. It covers asynq's whole-second scheduling and its
	// forwarder interval (5 s by default).
	DefaultGrace = 10 * time.Second
)

const (
	// recordHold is how long a per-job record outlives its slot. Past it the
	// record is gone and the job books from scratch. It only bounds memory
	// for jobs that never call Done; the Grace decides whether a main slot
	// may still be used.
	recordHold = time.Hour
	// stateTTL is how long a seller's schedule (and its observed rate)
	// outlives the last booked slot. An idle schedule older than that is
	// equivalent to an empty one; the observed rate is learnt again from
	// the next answer's x-amzn-RateLimit-Limit header.
	stateTTL = 24 * time.Hour
	// fallbackInterval is the push-back Throttled applies to a schedule on
	// which nothing was ever reserved (so no interval is known).
	fallbackInterval = time.Second
)

// ErrInvalid is wrapped by every error about a bad argument (empty seller,
// operation or job ID, a seller or prefix containing '{' or '}', an
// operation containing ':', a non-positive or non-finite rate, a burst < 1).
var ErrInvalid = errors.New("ratelimit: invalid argument")

// Limit is a token bucket: Rate tokens per second, at most Burst stored.
// Amazon's Messaging operations use {Rate: 1, Burst: 5};
// createUploadDestinationForResource uses {Rate: 10, Burst: 10}.
type Limit struct {
	Rate  float64 // requests per second; must be > 0
	Burst int     // bucket size; must be >= 1
}

// Key names one schedule: one seller's quota for one SP-API operation.
// Seller must not contain '{' or '}' (it is the Redis Cluster hash tag);
// Operation must not contain ':'.
type Key struct {
	Seller, Operation string
}

// Class says which schedule a reservation starts on.
type Class int

const (
	// Transactional jobs (order pipeline events) book directly on the main
	// schedule. It is the zero value.
	Transactional Class = iota
	// Campaign jobs (batch sends) first book a slot on the seller's
	// campaign schedule and take a main-schedule slot only when that slot
	// arrives, so a campaign backlog never books the main schedule ahead.
	Campaign
)

// String returns "transactional" or "campaign".
func (c Class) String() string {
	switch c {
	case Transactional:
		return "transactional"
	case Campaign:
		return "campaign"
	default:
		return fmt.Sprintf("Class(%d)", int(c))
	}
}

// Options tune a Limiter. The zero value is ready to use.
type Options struct {
	// Prefix starts every key; "" means DefaultPrefix. It must not contain
	// '{' or '}'.
	Prefix string
	// Now is this process's clock, used only to fill Reservation.Local; the
	// schedule itself runs on Redis's clock (TIME inside the Lua scripts),
	// so processes on several machines agree. nil means time.Now.
	Now func() time.Time
	// CampaignShare is the fraction of the rate campaign jobs may book on
	// their campaign schedule, in (0, 1]. Zero means DefaultCampaignShare;
	// values above 1 count as 1. Below 1 leaves room for transactional
	// traffic so campaign jobs rarely find the main schedule busy.
	CampaignShare float64
	// Margin lengthens the emission interval: T = 1/Rate * (1 + Margin).
	// Zero means DefaultMargin; a negative value means no margin.
	Margin float64
	// Grace is how long after its slot a booked slot may still be used by
	// the job that holds it; a job that comes back later books again. Zero
	// means DefaultGrace.
	Grace time.Duration
	// Override, when set, returns a per-seller limit that wins over both
	// the observed rate and the default passed to Reserve (the sellers
	// file's rate overrides). Every process should be given the same
	// overrides. nil means no overrides.
	Override func(Key) (Limit, bool)
	// Slack shortens the burst tolerance by a fixed time (at most half an
	// interval): an idle seller's burst is spread over Slack, so calls that leave a little late (the
	// first access-token exchange, a busy CPU) cannot bunch up against
	// the next on-time call in Amazon's bucket. It costs a seller at most
	// Slack of its quota once per idle period. Zero means none; workers
	// use DefaultSlack (tasks.NewLimiter).
	Slack time.Duration
}

// DefaultSlack is the Slack spmsg's workers use.
const DefaultSlack = 150 * time.Millisecond

// Limiter books call slots per seller and operation in Redis. It is safe
// for concurrent use, and any number of Limiters (in any number of
// processes) on one Redis share the same schedules.
type Limiter struct {
	rdb      redis.UniversalClient
	prefix   string
	now      func() time.Time
	share    float64
	margin   float64
	grace    time.Duration
	slack    time.Duration
	override func(Key) (Limit, bool)

	reserve   *redis.Script
	observe   *redis.Script
	throttled *redis.Script
}

// New returns a Limiter on rdb (a client, a cluster client or a failover
// client). Options are normalised as documented on Options; an invalid
// Prefix is reported by every method as ErrInvalid.
func New(rdb redis.UniversalClient, opts Options) *Limiter {
	l := &Limiter{
		rdb:       rdb,
		prefix:    opts.Prefix,
		now:       opts.Now,
		share:     opts.CampaignShare,
		margin:    opts.Margin,
		grace:     opts.Grace,
		slack:     opts.Slack,
		override:  opts.Override,
		reserve:   redis.NewScript(reserveLua),
		observe:   redis.NewScript(observeLua),
		throttled: redis.NewScript(throttledLua),
	}
	if l.prefix == "" {
		l.prefix = DefaultPrefix
	}
	if l.now == nil {
		l.now = time.Now
	}
	switch {
	case l.share <= 0 || math.IsNaN(l.share):
		l.share = DefaultCampaignShare
	case l.share > 1:
		l.share = 1
	}
	switch {
	case l.margin == 0 || math.IsNaN(l.margin):
		l.margin = DefaultMargin
	case l.margin < 0:
		l.margin = 0
	}
	if l.grace <= 0 {
		l.grace = DefaultGrace
	}
	return l
}

// Interval returns the emission interval the limiter uses for lim: one
// request every 1/Rate seconds, lengthened by the margin and rounded up to
// a whole microsecond (the schedule's unit).
func (l *Limiter) Interval(lim Limit) time.Duration {
	return time.Duration(intervalMicros(lim.Rate, l.margin)) * time.Microsecond
}

// intervalMicros mirrors the interval computation of the Lua scripts.
func intervalMicros(rate, margin float64) int64 {
	return int64(math.Ceil(1e6 * (1 + margin) / rate))
}

func (l *Limiter) checkKey(k Key) error {
	switch {
	case strings.ContainsAny(l.prefix, "{}"):
		return fmt.Errorf("%w: prefix %q contains a brace", ErrInvalid, l.prefix)
	case k.Seller == "":
		return fmt.Errorf("%w: empty seller", ErrInvalid)
	case strings.ContainsAny(k.Seller, "{}"):
		return fmt.Errorf("%w: seller %q contains a brace", ErrInvalid, k.Seller)
	case k.Operation == "":
		return fmt.Errorf("%w: empty operation", ErrInvalid)
	case strings.Contains(k.Operation, ":"):
		return fmt.Errorf("%w: operation %q contains ':'", ErrInvalid, k.Operation)
	}
	return nil
}

func checkLimit(lim Limit) error {
	if !validRate(lim.Rate) {
		return fmt.Errorf("%w: rate %v", ErrInvalid, lim.Rate)
	}
	if lim.Burst < 1 {
		return fmt.Errorf("%w: burst %d", ErrInvalid, lim.Burst)
	}
	return nil
}

func validRate(r float64) bool {
	return r > 0 && !math.IsInf(r, 0) && !math.IsNaN(r)
}

// stateKey is the hash holding the seller's schedules for one operation:
// prefix:{seller}:rl:operation.
func (l *Limiter) stateKey(k Key) string {
	return l.prefix + ":{" + k.Seller + "}:rl:" + k.Operation
}

// jobKey is the per-job reservation record: prefix:{seller}:rl:operation:job:jobID.
// It shares the state key's hash tag, so both live in one cluster slot.
func (l *Limiter) jobKey(k Key, jobID string) string {
	return l.stateKey(k) + ":job:" + jobID
}

func micros(d time.Duration) int64 { return d.Microseconds() }
