package dispatch

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/internal/keyspace"
)

// Reserve books one slot now on every listed operation of one seller, for
// a job that holds none (a retry, a redelivery, an upload), and returns how
// long until it. Unlike a release it does not wait in a line: use it only
// for the few calls that are not released from one.
func (d *Dispatcher) Reserve(ctx context.Context, seller string, ops ...string) (time.Duration, error) {
	if err := checkSeller(seller); err != nil {
		return 0, err
	}
	k := d.keys(seller)
	args := append(d.schedArgs(k), seller)
	for _, op := range ops {
		if err := checkOp(op); err != nil {
			return 0, err
		}
		args = append(args, op)
	}
	res, err := d.reserve.Run(ctx, d.rdb, []string{k.Plans()}, args...).Int64Slice()
	if err != nil || len(res) != 2 {
		return 0, fmt.Errorf("dispatch: reserve %s: %w", seller, err)
	}
	d.observeClock(res[1])
	return time.Duration(res[0]-res[1]) * time.Microsecond, nil
}

// Observe stores the rate Amazon reported in x-amzn-RateLimit-Limit for a
// seller's operation; the next release of that seller's jobs uses it,
// unless the sellers file overrides it.
func (d *Dispatcher) Observe(ctx context.Context, key Key, rate float64) error {
	if err := d.checkKey(key); err != nil {
		return err
	}
	if !(Plan{Rate: rate, Burst: 1}).valid() {
		return fmt.Errorf("%w: rate %v", ErrInvalid, rate)
	}
	k := d.keys(key.Seller).Sched(key.Seller, key.Operation)
	if err := d.observe.Run(ctx, d.rdb, []string{k}, fmtFloat(rate), scheduleTTL.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("dispatch: observe %s/%s: %w", key.Seller, key.Operation, err)
	}
	return nil
}

// Throttled records a 429 for a seller's operation: its bucket is treated
// as empty, so the seller's next release waits an interval and its jobs go
// at the rate until the burst has refilled.
func (d *Dispatcher) Throttled(ctx context.Context, key Key) error {
	if err := d.checkKey(key); err != nil {
		return err
	}
	k := d.keys(key.Seller).Sched(key.Seller, key.Operation)
	if err := d.throttled.Run(ctx, d.rdb, []string{k}, time.Second.Microseconds(), scheduleTTL.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("dispatch: throttled %s/%s: %w", key.Seller, key.Operation, err)
	}
	return nil
}

// Effective returns the plan in force for a seller's operation: the
// sellers-file override, else the rate Amazon reported (with the default
// burst), else the default.
func (d *Dispatcher) Effective(ctx context.Context, key Key) (Plan, error) {
	def := d.o.Defaults(key.Operation)
	if err := d.checkKey(key); err != nil {
		return def, err
	}
	k := d.keys(key.Seller)
	var ovr *redis.StringCmd
	var obs *redis.StringCmd
	_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ovr = p.HGet(ctx, k.Plans(), key.Seller+"\n"+key.Operation)
		obs = p.HGet(ctx, k.Sched(key.Seller, key.Operation), "obs")
		return nil
	})
	if err != nil && err != redis.Nil {
		return def, fmt.Errorf("dispatch: plan %s/%s: %w", key.Seller, key.Operation, err)
	}
	if p, ok := parsePlan(ovr.Val()); ok {
		return p, nil
	}
	if r, err := strconv.ParseFloat(obs.Val(), 64); err == nil && r > 0 {
		return Plan{Rate: r, Burst: def.Burst}, nil
	}
	return def, nil
}

func parsePlan(s string) (Plan, bool) {
	r, b, ok := strings.Cut(s, " ")
	if !ok {
		return Plan{}, false
	}
	rate, err1 := strconv.ParseFloat(r, 64)
	burst, err2 := strconv.Atoi(b)
	p := Plan{Rate: rate, Burst: burst}
	return p, err1 == nil && err2 == nil && p.valid()
}

// SetOverrides replaces the sellers-file overrides every process applies:
// plans[key] wins over the rate Amazon reports and the default for that
// seller's operation, from the next release on. Each shard's set is
// replaced in one transaction.
func (d *Dispatcher) SetOverrides(ctx context.Context, plans map[Key]Plan) error {
	byShard := make([]map[string]any, Shards)
	for key, p := range plans {
		if err := d.checkKey(key); err != nil {
			return err
		}
		if !p.valid() {
			return fmt.Errorf("%w: plan %v for %s/%s", ErrInvalid, p, key.Seller, key.Operation)
		}
		s := Shard(key.Seller)
		if byShard[s] == nil {
			byShard[s] = map[string]any{}
		}
		byShard[s][key.Seller+"\n"+key.Operation] = fmtFloat(p.Rate) + " " + strconv.Itoa(p.Burst)
	}
	for s, fields := range byShard {
		k := d.ks.Shard(s)
		_, err := d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, k.Plans())
			if len(fields) > 0 {
				p.HSet(ctx, k.Plans(), fields)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("dispatch: set overrides: %w", err)
		}
	}
	return nil
}

// schedArgs are the ARGV the schedule code of the booking scripts reads
// (schedLua).
func (d *Dispatcher) schedArgs(k keyspace.Shard) []any {
	return []any{k.Base(), fmtFloat(d.o.Margin), d.o.Slack.Microseconds(), d.defs, scheduleTTL.Milliseconds()}
}

func (d *Dispatcher) checkKey(k Key) error {
	if err := checkSeller(k.Seller); err != nil {
		return err
	}
	return checkOp(k.Operation)
}
