package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reservation is a booked slot.
type Reservation struct {
	// At is when the call may go, on Redis's clock.
	At time.Time
	// Wait is At minus Redis's now when the slot was booked, never negative.
	// Zero means: call now. Schedule with Wait (or Local), not At.
	Wait time.Duration
	// Local is At on this process's clock (Options.Now() + Wait), suitable
	// for asynq.ProcessAt.
	Local time.Time
}

// Ready reports whether the call may go now (Wait is zero).
func (r Reservation) Ready() bool { return r.Wait == 0 }

// reserveLua books a slot for one job. All times are integer microseconds
// on Redis's clock (TIME), so every process agrees.
//
// KEYS[1] the schedule hash: tat (main theoretical arrival time), ctat
//
//	(campaign TAT), otat (the overflow line of campaign jobs that found the
//	main schedule busy), obs (observed rate), iv and b (interval and burst
//	of the last reservation, for Throttled)
//
// KEYS[2] the job's record: "m:<slot>" (holds a main slot) or "c:<time>"
//
//	(a campaign job waiting, on the campaign schedule or in the overflow
//	line, until <time>)
//
// ARGV[1] class "t" or "c"; ARGV[2], ARGV[3] default rate and burst;
// ARGV[4], ARGV[5] override rate and burst (rate 0: none); ARGV[6] margin;
// ARGV[7] campaign share; ARGV[8] grace; ARGV[9] record hold; ARGV[10] state TTL;
// ARGV[11] slack (µs taken off the burst tolerances).
//
// When the interval differs from the one stored by the last reservation
// (a new observed rate or override), the main schedule's debt is rescaled so
// it stays the same number of tokens. The campaign schedule is left alone.
//
// Returns {slot, now, phase}.
const reserveLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'tat', 'ctat', 'obs', 'iv', 'otat')
local tat = tonumber(st[1]) or 0
local ctat = tonumber(st[2]) or 0
local otat = tonumber(st[5]) or 0
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
if tonumber(ARGV[4]) > 0 then
  rate = tonumber(ARGV[4])
  burst = tonumber(ARGV[5])
elseif st[3] then
  rate = tonumber(st[3])
end
local iv = math.ceil(1000000 * (1 + tonumber(ARGV[6])) / rate)
local oldiv = tonumber(st[4])
if oldiv and oldiv ~= iv and tat > now then
  -- The rate changed: keep the debt in tokens, not in time.
  tat = now + math.ceil((tat - now) * iv / oldiv)
end
local slack = math.min(tonumber(ARGV[11]) or 0, math.floor(iv / 2))
local tau = math.max(0, (burst - 1) * iv - slack)
local keep = math.floor(burst / 2)
local tauc = math.max(0, (burst - 1 - keep) * iv - slack)
local lead = math.max(0, keep - 1) * iv
local grace = tonumber(ARGV[8])

local campaign = ARGV[1] == 'c'
local fresh = true
local rec = redis.call('GET', KEYS[2])
if rec then
  local phase = string.sub(rec, 1, 1)
  local at = tonumber(string.sub(rec, 3))
  if phase == 'm' and now <= at + grace then
    return {at, now, 'm'}
  end
  if phase == 'c' then
    if now < at then
      return {at, now, 'c'}
    end
    campaign = true
  end
  fresh = false
end

local slot, phase
if campaign and fresh then
  local civ = math.ceil(iv / tonumber(ARGV[7]))
  local c0 = math.max(ctat, now)
  local cslot = math.max(now, c0 - (burst - 1 - keep) * civ)
  ctat = c0 + civ
  if cslot > now then
    slot = cslot
    phase = 'c'
  end
end
if not phase then
  local m0 = math.max(tat, now)
  if campaign then
    local earliest = m0 - tauc
    if earliest <= now + lead then
      slot = math.max(now, earliest)
      tat = m0 + iv
      phase = 'm'
    else
      -- Main is busy: wait, booking nothing there, for a turn in the
      -- overflow line (one per interval), no earlier than main frees up.
      slot = math.max(earliest - lead, otat)
      if slot - now <= burst * iv then
        otat = slot + iv
      else
        -- The line is long (time was lost: a sweep, an outage): take a
        -- new turn at the back of the campaign line instead, so the lost
        -- time costs these jobs one more wait, not every later job.
        local civ = math.ceil(iv / tonumber(ARGV[7]))
        slot = math.max(earliest - lead, ctat)
        ctat = slot + civ
      end
      phase = 'c'
    end
  else
    slot = math.max(now, m0 - tau)
    tat = m0 + iv
    phase = 'm'
  end
end

redis.call('HSET', KEYS[1], 'tat', string.format('%d', tat), 'ctat', string.format('%d', ctat),
  'otat', string.format('%d', otat), 'iv', string.format('%d', iv), 'b', string.format('%d', burst))
local horizon = math.max(tat, ctat, otat, now) - now
redis.call('PEXPIRE', KEYS[1], math.ceil((horizon + tonumber(ARGV[10])) / 1000))
redis.call('SET', KEYS[2], phase .. ':' .. string.format('%d', slot),
  'PX', math.ceil((slot - now + tonumber(ARGV[9])) / 1000))
return {slot, now, phase}
`

// Reserve books the earliest slot at which jobID may call key's operation
// and returns it. lim is the default limit for the operation; an override
// (Options.Override) or a rate observed from Amazon's header (Observe) wins
// over it. The caller calls when Wait is zero; otherwise it waits until the
// slot (sleeping in process for a short Wait, or deferring the job with
// asynq for a long one) and calls Reserve again with the same jobID, which
// returns the same slot, now with Wait zero.
//
// Reservations are idempotent per jobID: while jobID holds an unexpired
// reservation for key (until Options.Grace after its slot), Reserve returns
// that slot instead of booking another. A Campaign job first gets a slot on
// the campaign schedule; when it comes back at that slot, Reserve gives it
// a main-schedule slot, or a short further wait when transactional traffic
// keeps the main schedule busy (see the package documentation). After the
// call (or when giving up) call Done, so a retry books a fresh slot.
//
// Errors: ErrInvalid for bad arguments, or the Redis error.
func (l *Limiter) Reserve(ctx context.Context, key Key, class Class, jobID string, lim Limit) (Reservation, error) {
	rs, err := l.ReserveAll(ctx, []Key{key}, class, jobID, []Limit{lim})
	if err != nil {
		return Reservation{}, err
	}
	return rs[0], nil
}

// ReserveAll is Reserve for several keys in one round trip (a pipeline of
// one script call per key), e.g. every operation one message needs. lims[i]
// is the default limit of keys[i].
//
// Errors: as Reserve, for the first key that fails.
func (l *Limiter) ReserveAll(ctx context.Context, keys []Key, class Class, jobID string, lims []Limit) ([]Reservation, error) {
	return l.ReserveAllWith(ctx, keys, class, jobID, lims, nil)
}

// ReserveAllWith is ReserveAll that also sends the caller's own commands
// (queued by with on the same pipeline) in that one round trip; their
// results are in the commands with created. with may be nil.
func (l *Limiter) ReserveAllWith(ctx context.Context, keys []Key, class Class, jobID string, lims []Limit, with func(redis.Pipeliner)) ([]Reservation, error) {
	if len(keys) != len(lims) {
		return nil, fmt.Errorf("%w: %d keys but %d limits", ErrInvalid, len(keys), len(lims))
	}
	if jobID == "" {
		return nil, fmt.Errorf("%w: empty job ID", ErrInvalid)
	}
	cls := "t"
	switch class {
	case Transactional:
	case Campaign:
		cls = "c"
	default:
		return nil, fmt.Errorf("%w: class %v", ErrInvalid, class)
	}
	type call struct {
		keys []string
		args []any
	}
	calls := make([]call, len(keys))
	for i, key := range keys {
		if err := l.checkKey(key); err != nil {
			return nil, err
		}
		if err := checkLimit(lims[i]); err != nil {
			return nil, err
		}
		var over Limit
		if l.override != nil {
			if o, ok := l.override(key); ok {
				if err := checkLimit(o); err != nil {
					return nil, fmt.Errorf("override for %s/%s: %w", key.Seller, key.Operation, err)
				}
				over = o
			}
		}
		calls[i] = call{
			keys: []string{l.stateKey(key), l.jobKey(key, jobID)},
			args: []any{cls, fmtFloat(lims[i].Rate), lims[i].Burst, fmtFloat(over.Rate), over.Burst,
				fmtFloat(l.margin), fmtFloat(l.share), micros(l.grace), micros(recordHold), micros(stateTTL), micros(l.slack)},
		}
	}
	results := make([][]any, len(keys))
	if len(keys) == 1 && with == nil {
		res, err := l.reserve.Run(ctx, l.rdb, calls[0].keys, calls[0].args...).Slice()
		if err != nil {
			return nil, fmt.Errorf("ratelimit: reserve %s/%s: %w", keys[0].Seller, keys[0].Operation, err)
		}
		results[0] = res
	} else {
		var cmds []redis.Cmder
		var err error
		for attempt := 0; attempt < 2; attempt++ {
			cmds, err = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, c := range calls {
					l.reserve.EvalSha(ctx, p, c.keys, c.args...)
				}
				if with != nil {
					with(p)
				}
				return nil
			})
			if err != nil && !redis.HasErrorPrefix(err, "NOSCRIPT") && firstScriptErr(cmds, len(calls)) == nil {
				err = nil // only the caller's own commands failed (e.g. redis.Nil); they read their results
			}
			if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
				break
			}
			// Not cached on the server yet (or it restarted): load, retry.
			// A script that failed with NOSCRIPT did not run.
			if lerr := l.reserve.Load(ctx, l.rdb).Err(); lerr != nil {
				return nil, fmt.Errorf("ratelimit: reserve: %w", lerr)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("ratelimit: reserve %s: %w", keys[0].Seller, err)
		}
		for i, c := range cmds[:len(calls)] {
			res, err := c.(*redis.Cmd).Slice()
			if err != nil {
				return nil, fmt.Errorf("ratelimit: reserve %s/%s: %w", keys[i].Seller, keys[i].Operation, err)
			}
			results[i] = res
		}
	}
	out := make([]Reservation, len(keys))
	for i, res := range results {
		slot, now, err := slotAndNow(res)
		if err != nil {
			return nil, err
		}
		wait := max(time.Duration(slot-now)*time.Microsecond, 0)
		out[i] = Reservation{At: time.UnixMicro(slot), Wait: wait, Local: l.now().Add(wait)}
	}
	return out, nil
}

// Done drops jobID's reservation record for key: the job used its slot (or
// gave up). Its slot stays spent. Done on a job without a record is a no-op.
//
// Errors: ErrInvalid for bad arguments, or the Redis error.
func (l *Limiter) Done(ctx context.Context, key Key, jobID string) error {
	if err := l.checkKey(key); err != nil {
		return err
	}
	if jobID == "" {
		return fmt.Errorf("%w: empty job ID", ErrInvalid)
	}
	if err := l.rdb.Del(ctx, l.jobKey(key, jobID)).Err(); err != nil {
		return fmt.Errorf("ratelimit: done %s/%s: %w", key.Seller, key.Operation, err)
	}
	return nil
}

func slotAndNow(res []any) (slot, now int64, err error) {
	if len(res) < 2 {
		return 0, 0, fmt.Errorf("ratelimit: unexpected script reply %v", res)
	}
	slot, ok1 := res[0].(int64)
	now, ok2 := res[1].(int64)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("ratelimit: unexpected script reply %v", res)
	}
	return slot, now, nil
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func firstScriptErr(cmds []redis.Cmder, n int) error {
	for i := 0; i < n && i < len(cmds); i++ {
		if err := cmds[i].Err(); err != nil {
			return err
		}
	}
	return nil
}

// RecordKeys returns the Redis keys of jobID's reservation records for
// keys, for a caller that deletes them together with keys of its own in one
// command (DoneAll does just that for the records alone).
func (l *Limiter) RecordKeys(keys []Key, jobID string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = l.jobKey(k, jobID)
	}
	return out
}

// DoneAll is Done for several keys of one seller in one round trip (one
// DEL; the keys share the seller's hash tag, so it is one Cluster slot).
//
// Errors: ErrInvalid for bad arguments or keys of different sellers, or the
// Redis error.
func (l *Limiter) DoneAll(ctx context.Context, keys []Key, jobID string) error {
	if len(keys) == 0 {
		return nil
	}
	if jobID == "" {
		return fmt.Errorf("%w: empty job ID", ErrInvalid)
	}
	rk := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := l.checkKey(k); err != nil {
			return err
		}
		if k.Seller != keys[0].Seller {
			return fmt.Errorf("%w: DoneAll keys of sellers %s and %s", ErrInvalid, keys[0].Seller, k.Seller)
		}
		rk = append(rk, l.jobKey(k, jobID))
	}
	if err := l.rdb.Del(ctx, rk...).Err(); err != nil {
		return fmt.Errorf("ratelimit: done %s: %w", keys[0].Seller, err)
	}
	return nil
}
