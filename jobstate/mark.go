package jobstate

import (
	"fmt"
	"time"
)

// The send mark closes the gap that asynq's at-least-once delivery leaves
// open for jobs the ledger does not cover (types that may go more than once
// per order, without an idempotency key): a worker killed in the middle of a
// send, or a job requeued at shutdown while its send is still running in the
// old process, would otherwise be sent again when asynq redelivers it.
//
// Right before the send, an attempt marks the job as "sending" (one key per
// job, with the attempt's nonce and start time); the mark goes with the
// outcome record (Settle), or when the send definitely did not happen
// (Undo). A later attempt that finds a mark younger than MarkStaleAfter waits
// (the earlier attempt may still be running); an older mark means the
// earlier attempt died after it may have sent, so the job is settled in
// doubt, never resent.

// MarkStaleAfter is how long a send attempt can possibly still be running: the
// SP-API client's whole-exchange timeout (60 s) plus margin.
const MarkStaleAfter = 90 * time.Second

// markTTL bounds how long a mark survives if nobody removes it.
const markTTL = 7 * 24 * time.Hour

// unmarkLua deletes the send mark KEYS[1] when it is the attempt's:
// ARGV[1] its nonce. A twin attempt's mark stays.
const unmarkLua = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then return redis.call('DEL', KEYS[1]) end
return 0
`

// MarkState is what a job's send mark says.
type MarkState int

// The send mark's states.
const (
	// MarkNone: no attempt is marked as sending the job.
	MarkNone MarkState = iota
	// MarkAcquired: the calling attempt now holds the mark.
	MarkAcquired
	// MarkBusy: another attempt marked the job less than MarkStaleAfter ago;
	// it may still be sending.
	MarkBusy
	// MarkStale: an attempt marked the job longer ago and never removed
	// the mark: it died while it may have sent.
	MarkStale
	// MarkFinal: the job already has its final outcome.
	MarkFinal
)

// markLua: KEYS[1] the mark, KEYS[2] the job's record (the same slot: both
// carry the job's campaign tag); ARGV[1] nonce ("" only reads); ARGV[2]
// stale µs; ARGV[3] TTL ms. Returns {state, age µs, enqueued_at}, state as
// MarkState. Checking the record in the same script closes the race with an
// attempt that records its outcome and then drops its mark.
const markLua = `
local rec = redis.call('HMGET', KEYS[2], 'state', 'enqueued_at')
local enq = rec[2] or ''
if rec[1] == 'final' then return {4, 0, enq} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('GET', KEYS[1])
if not v then
  if ARGV[1] == '' then return {0, 0, enq} end
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. now, 'PX', ARGV[3])
  return {1, 0, enq}
end
local sep = string.find(v, '|', 1, true)
local owner = string.sub(v, 1, sep - 1)
local at = tonumber(string.sub(v, sep + 1)) or 0
if owner == ARGV[1] then return {1, now - at, enq} end
if now - at > tonumber(ARGV[2]) then return {3, now - at, enq} end
return {2, now - at, enq}
`

// String returns "none", "acquired", "busy", "stale" or "final".
func (m MarkState) String() string {
	switch m {
	case MarkNone:
		return "none"
	case MarkAcquired:
		return "acquired"
	case MarkBusy:
		return "busy"
	case MarkStale:
		return "stale"
	case MarkFinal:
		return "final"
	}
	return fmt.Sprintf("MarkState(%d)", int(m))
}
