package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The send guard closes the gap that asynq's at-least-once delivery leaves
// open for jobs the ledger does not cover (types that may go more than once
// per order, without an idempotency key): a worker killed in the middle of a
// send, or a job requeued at shutdown while its send is still running in the
// old process, would otherwise be sent again when asynq redelivers it.
//
// Right before the send, an attempt marks the job as "sending" (one key per
// job, with the attempt's nonce and start time); it removes the mark once
// the outcome is recorded or the send definitely failed. A later attempt
// that finds a mark younger than guardStale waits (the earlier attempt may
// still be running); an older mark means the earlier attempt died after it
// may have sent, so the job is settled as in doubt, never resent.

// guardStale is how long a send attempt can possibly still be running: the
// SP-API client's whole-exchange timeout (60 s) plus margin.
const guardStale = 90 * time.Second

// guardTTL bounds how long a mark survives if nobody removes it.
const guardTTL = 7 * 24 * time.Hour

type guardState int

const (
	guardAcquired guardState = iota + 1
	guardBusy
	guardExpired
	guardFinal // the job already has its final outcome
)

// guardLua: KEYS[1] the mark, KEYS[2] the job's outcome record (the same
// slot: both carry the job's campaign tag); ARGV[1] nonce; ARGV[2] stale
// µs; ARGV[3] TTL ms. Returns {state, age µs}: 1 acquired, 2 busy, 3
// stale, 4 final. Checking the record in the same script closes the race
// with an attempt that records its outcome and then drops its mark.
var guardLua = redis.NewScript(`
if redis.call('HGET', KEYS[2], 'state') == 'final' then return {4, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. now, 'PX', ARGV[3])
  return {1, 0}
end
local sep = string.find(v, '|', 1, true)
local owner = string.sub(v, 1, sep - 1)
local at = tonumber(string.sub(v, sep + 1)) or 0
if owner == ARGV[1] then return {1, now - at} end
if now - at > tonumber(ARGV[2]) then return {3, now - at} end
return {2, now - at}
`)

// guardKey is the job's send mark, beside its outcome record.
func (s *OutcomeStore) guardKey(campaign, id string) string {
	return s.tag(campaign) + ":sending:" + id
}

// acquireGuard marks the job as being sent by this attempt.
func (r *run) acquireGuard(ctx context.Context) (guardState, time.Duration, error) {
	if r.nonce == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		r.nonce = hex.EncodeToString(b[:])
	}
	o := r.h.Outcomes
	res, err := guardLua.Run(ctx, o.rdb, []string{o.guardKey(r.job.Campaign, r.id), o.jobKey(r.job.Campaign, r.id)},
		r.nonce, guardStale.Microseconds(), guardTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("send guard: %w", err)
	}
	st := guardState(res[0])
	r.guarded = st == guardAcquired
	return st, time.Duration(res[1]) * time.Microsecond, nil
}

// release drops the job's send mark once its outcome is recorded, or when
// the send definitely did not happen.
func (r *run) release(ctx context.Context) {
	if !r.guarded || (r.sendAttempted && !r.sendRefused && !r.settled) {
		return
	}
	r.guarded = false
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = r.h.Outcomes.rdb.Del(ctx, r.h.Outcomes.guardKey(r.job.Campaign, r.id)).Err()
}
