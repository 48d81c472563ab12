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

// Entry is a job to put in its seller's line.
type Entry struct {
	// ID identifies the job; a job already waiting (or being handed off)
	// is not added twice.
	ID string
	// Seller owns the quota the job uses.
	Seller string
	// ActionsOp and SendOp are the operations the job calls first (its
	// API's actions operation, which names the line) and to send.
	ActionsOp, SendOp string
	// Campaign puts the job in the seller's campaign line, behind its
	// transactional line.
	Campaign bool
	// Eligible is when the job may go at the earliest (zero: now).
	Eligible time.Time
	// Deadline, when set, releases the job without booking a slot once it
	// has passed (the worker ends it expired).
	Deadline time.Time
	// Payload is handed to the queue on release.
	Payload []byte
}

// Push puts e in its seller's line. It reports false when the job is
// already waiting there or being handed off.
func (d *Dispatcher) Push(ctx context.Context, e Entry) (bool, error) {
	if e.ID == "" {
		return false, fmt.Errorf("%w: empty job id", ErrInvalid)
	}
	if err := checkSeller(e.Seller); err != nil {
		return false, err
	}
	if err := checkOp(e.ActionsOp); err != nil {
		return false, err
	}
	if err := checkOp(e.SendOp); err != nil {
		return false, err
	}
	k := d.keys(e.Seller)
	class := "t"
	if e.Campaign {
		class = "c"
	}
	eligible := time.Now().UnixMicro()
	if !e.Eligible.IsZero() {
		eligible = max(e.Eligible.UnixMicro(), 1)
	}
	var deadline int64
	if !e.Deadline.IsZero() {
		deadline = max(e.Deadline.UnixMicro(), 1)
	}
	value := e.SendOp + "\n" + strconv.FormatInt(deadline, 10) + "\n" + class + "\n" + string(e.Payload)
	n, err := d.push.Run(ctx, d.rdb, []string{k.Due(), k.Jobs(), k.Line(e.Seller, e.ActionsOp, class)},
		e.ID, value, eligible, lineMember(e.Seller, e.ActionsOp), d.o.IdlePoll.Microseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("dispatch: push %s: %w", e.ID, err)
	}
	if n == 2 {
		// The line was idle: wake the release loops rather than leave the
		// job to the next idle poll. A lost message costs that poll only.
		_ = d.rdb.Publish(ctx, d.wakeChannel(), Shard(e.Seller)).Err()
	}
	return n >= 1, nil
}

// wakeChannel is the pub/sub channel on which a push to an idle line wakes
// every release loop, with the line's shard as the message.
func (d *Dispatcher) wakeChannel() string { return d.ks.WakeChannel() }

// Waiting reports whether the job is in its seller's line or being handed
// off to the queue.
func (d *Dispatcher) Waiting(ctx context.Context, seller, id string) (bool, error) {
	if err := checkSeller(seller); err != nil {
		return false, err
	}
	ok, err := d.rdb.HExists(ctx, d.keys(seller).Jobs(), id).Result()
	if err != nil {
		return false, fmt.Errorf("dispatch: waiting %s: %w", id, err)
	}
	return ok, nil
}

// Released is a job taken from its line, to be put on the queue.
type Released struct {
	ID      string
	Payload []byte
	// Campaign says the job came from its seller's campaign line.
	Campaign bool
	// Slot is when the job may make its first call, on Redis's clock (use
	// Dispatcher.Local for this process's); its slots on its actions and
	// send operations are booked. Zero when it holds none: it was released
	// again after its releaser died, or its deadline passed.
	Slot time.Time

	shard int
}

// releaseShard queues one release step on a shard, taking at most max
// jobs.
func (d *Dispatcher) releaseShard(ctx context.Context, p keyspace.Pipe, shard, max int) *redis.Cmd {
	k := d.ks.Shard(shard)
	return d.release.Queue(ctx, p, []string{k.Plans(), k.Due(), k.Jobs(), k.Handoff()},
		append(d.schedArgs(k), d.o.Lead.Microseconds(), max, fmtFloat(d.o.CampaignShare), d.o.HandoffTimeout.Milliseconds())...)
}

// Release runs one release step on each of the shards, taking at most
// max jobs from each, and returns the released jobs and, per shard, when it
// is next due (zero: nothing waits).
func (d *Dispatcher) Release(ctx context.Context, shards []int, max int) ([]Released, []time.Time, error) {
	cmds, err := keyspace.Pipelined(ctx, d.rdb, func(p keyspace.Pipe) error {
		for _, s := range shards {
			d.releaseShard(ctx, p, s, max)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("dispatch: release: %w", err)
	}
	var out []Released
	next := make([]time.Time, len(shards))
	for i, c := range cmds {
		res, err := c.(*redis.Cmd).Slice()
		if err != nil || len(res) != 3 {
			return nil, nil, fmt.Errorf("dispatch: release shard %d: unexpected reply %v (%v)", shards[i], res, err)
		}
		now, _ := res[0].(int64)
		nd, _ := res[1].(int64)
		d.observeClock(now)
		if nd >= 0 {
			next[i] = time.UnixMicro(nd)
		}
		items, _ := res[2].([]any)
		for j := 0; j+2 < len(items); j += 3 {
			id, _ := items[j].(string)
			v, _ := items[j+1].(string)
			slot, _ := items[j+2].(int64)
			r := Released{ID: id, shard: shards[i]}
			if slot > 0 {
				r.Slot = time.UnixMicro(slot)
			}
			// value: "<send op>\n<deadline>\n<class>\n<payload>"
			_, v, _ = strings.Cut(v, "\n")
			_, v, _ = strings.Cut(v, "\n")
			class, payload, _ := strings.Cut(v, "\n")
			r.Campaign, r.Payload = class == "c", []byte(payload)
			out = append(out, r)
		}
	}
	return out, next, nil
}

// Confirm drops handed-off jobs from the lines' records once the queue
// has them, in one round trip.
func (d *Dispatcher) Confirm(ctx context.Context, rs []Released) error {
	if len(rs) == 0 {
		return nil
	}
	_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range rs {
			k := d.ks.Shard(r.shard)
			p.HDel(ctx, k.Jobs(), r.ID)
			p.ZRem(ctx, k.Handoff(), r.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dispatch: confirm: %w", err)
	}
	return nil
}

// Jobs returns the payload of every job waiting in a line or being handed
// off, by id (for status and tests; it reads every shard's jobs hash).
func (d *Dispatcher) Jobs(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	for s := range Shards {
		m, err := d.rdb.HGetAll(ctx, d.ks.Shard(s).Jobs()).Result()
		if err != nil {
			return nil, fmt.Errorf("dispatch: jobs: %w", err)
		}
		for id, v := range m {
			_, v, _ = strings.Cut(v, "\n")
			_, v, _ = strings.Cut(v, "\n")
			_, payload, _ := strings.Cut(v, "\n")
			out[id] = []byte(payload)
		}
	}
	return out, nil
}

// Count returns how many jobs wait in lines or are being handed off, in
// one round trip (an HLEN per shard).
func (d *Dispatcher) Count(ctx context.Context) (int64, error) {
	cmds := make([]*redis.IntCmd, Shards)
	_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s := range Shards {
			cmds[s] = p.HLen(ctx, d.ks.Shard(s).Jobs())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("dispatch: count: %w", err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}
