package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// observeLua stores the rate Amazon reports for the schedule.
//
// KEYS[1] the schedule hash. ARGV[1] the rate (req/s); ARGV[2] the minimum
// TTL of the hash in milliseconds (the hash's TTL is only ever extended).
const observeLua = `
redis.call('HSET', KEYS[1], 'obs', ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`

// throttledLua treats the bucket as empty after a 429:
// tat = max(tat, now + burst*interval), so the next slot is one interval
// away and the following ones are spaced by the interval.
//
// KEYS[1] the schedule hash. ARGV[1] fallback interval (µs) when no
// reservation ever stored one; ARGV[2] state TTL (µs).
const throttledLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'tat', 'ctat', 'iv', 'b')
local tat = tonumber(st[1]) or 0
local ctat = tonumber(st[2]) or 0
local iv = tonumber(st[3]) or tonumber(ARGV[1])
local burst = tonumber(st[4]) or 1
tat = math.max(tat, now + burst * iv)
redis.call('HSET', KEYS[1], 'tat', string.format('%d', tat))
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tat, ctat) - now + tonumber(ARGV[2])) / 1000))
return tat - now
`

// Observe adapts the schedule to the rate Amazon granted, as reported by
// the x-amzn-RateLimit-Limit header (a decimal req/s). Later reservations
// use that rate with the burst they are given; an override still wins.
// The header is best effort: call Observe only when it was present.
//
// Errors: ErrInvalid for bad arguments (headerRate must be finite and > 0),
// or the Redis error.
func (l *Limiter) Observe(ctx context.Context, key Key, headerRate float64) error {
	if err := l.checkKey(key); err != nil {
		return err
	}
	if !validRate(headerRate) {
		return fmt.Errorf("%w: observed rate %v", ErrInvalid, headerRate)
	}
	err := l.observe.Run(ctx, l.rdb, []string{l.stateKey(key)},
		fmtFloat(headerRate), stateTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("ratelimit: observe %s/%s: %w", key.Seller, key.Operation, err)
	}
	return nil
}

// Effective returns the limit in force for key: the override if one is
// configured, else the observed rate with def's burst, else def.
//
// Errors: ErrInvalid for bad arguments, or the Redis error.
func (l *Limiter) Effective(ctx context.Context, key Key, def Limit) (Limit, error) {
	if err := l.checkKey(key); err != nil {
		return Limit{}, err
	}
	if err := checkLimit(def); err != nil {
		return Limit{}, err
	}
	if l.override != nil {
		if o, ok := l.override(key); ok {
			return o, nil
		}
	}
	s, err := l.rdb.HGet(ctx, l.stateKey(key), "obs").Result()
	if errors.Is(err, redis.Nil) {
		return def, nil
	}
	if err != nil {
		return Limit{}, fmt.Errorf("ratelimit: effective %s/%s: %w", key.Seller, key.Operation, err)
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || !validRate(r) {
		return def, nil
	}
	return Limit{Rate: r, Burst: def.Burst}, nil
}

// Throttled records that Amazon answered 429 although the call had a slot:
// the seller's main schedule is pushed back as if the bucket were empty
// (TAT = max(TAT, now + burst*interval)), so every process slows down. Slots
// already booked stay booked.
//
// Errors: ErrInvalid for bad arguments, or the Redis error.
func (l *Limiter) Throttled(ctx context.Context, key Key) error {
	if err := l.checkKey(key); err != nil {
		return err
	}
	err := l.throttled.Run(ctx, l.rdb, []string{l.stateKey(key)},
		micros(fallbackInterval), micros(stateTTL)).Err()
	if err != nil {
		return fmt.Errorf("ratelimit: throttled %s/%s: %w", key.Seller, key.Operation, err)
	}
	return nil
}
