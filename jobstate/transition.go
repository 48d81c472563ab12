package jobstate

import (
	"context"
	"fmt"
)

// settleLua moves the job's entries to a permanent state.
//
// KEYS  the entries, all of one seller (one slot).
// ARGV[1] job ID; ARGV[2] new state ("sent" or "in_doubt"); ARGV[3] the
// request ID ("" keeps the stored one).
//
// A missing entry is created in the new state (the send happened, or may
// have, whatever became of the claim). An entry of the job is updated, but
// sent is never downgraded to in_doubt. An entry of another job is left
// alone and counted. No TTL is ever set. Returns the count of foreign keys.
const settleLua = `
local t = redis.call('TIME')
local ts = string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]))
local job, state, req = ARGV[1], ARGV[2], ARGV[3]
local foreign = 0
for _, key in ipairs(KEYS) do
  local e = redis.call('HMGET', key, 'state', 'job')
  if not e[1] then
    redis.call('HSET', key, 'state', state, 'job', job, 'claimed', ts, 'updated', ts)
    if req ~= '' then redis.call('HSET', key, 'req', req) end
  elseif e[2] == job then
    if not (e[1] == 'sent' and state == 'in_doubt') then
      redis.call('HSET', key, 'state', state, 'updated', ts)
      if req ~= '' then redis.call('HSET', key, 'req', req) end
    end
  else
    foreign = foreign + 1
  end
end
return foreign
`

// releaseLua deletes the job's claims.
//
// KEYS  the entries. ARGV[1] job ID. Only entries in state claimed and held
// by the job are deleted; sent and in_doubt entries are permanent. Returns
// the count deleted.
const releaseLua = `
local n = 0
for _, key in ipairs(KEYS) do
  local e = redis.call('HMGET', key, 'state', 'job')
  if e[1] == 'claimed' and e[2] == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
`

// Commit records that jobID's message was sent (Amazon answered 2xx, with
// x-amzn-RequestId requestID, which may be empty). The entries become
// permanent (no TTL). A key with no entry is recorded as sent too.
//
// Errors: ErrInvalid for bad arguments; ErrNotHeld when a key is held by
// another job (that entry is left alone, the others are committed); or the
// Redis error.
func (l *Ledger) Commit(ctx context.Context, keys []Key, jobID, requestID string) error {
	return l.finish(ctx, "commit", keys, jobID, EntrySent, requestID)
}

// MarkInDoubt records that jobID's request reached the wire but its answer
// was lost: the message may have gone. The entries become permanent in
// state in_doubt; an entry already sent stays sent.
//
// Errors: as for Commit.
func (l *Ledger) MarkInDoubt(ctx context.Context, keys []Key, jobID string) error {
	return l.finish(ctx, "mark in doubt", keys, jobID, EntryInDoubt, "")
}

func (l *Ledger) finish(ctx context.Context, op string, keys []Key, jobID string, state EntryState, requestID string) error {
	rkeys, uniq, err := l.redisKeys(keys, jobID)
	if err != nil {
		return err
	}
	n, err := settleScript.Run(ctx, l.rdb, rkeys, jobID, string(state), requestID).Int64()
	if err != nil {
		return fmt.Errorf("ledger: %s %v: %w", op, uniq[0], err)
	}
	if n > 0 {
		return fmt.Errorf("%w: %s for job %s: %d of %d keys (first %v)", ErrNotHeld, op, jobID, n, len(uniq), uniq[0])
	}
	return nil
}

// Release gives up jobID's claims after a definite failure (the message
// did not go). It deletes only entries still claimed by jobID: a release by
// another job, or of a sent or in_doubt entry, is a no-op.
//
// Errors: ErrInvalid for bad arguments, or the Redis error.
func (l *Ledger) Release(ctx context.Context, keys []Key, jobID string) error {
	rkeys, uniq, err := l.redisKeys(keys, jobID)
	if err != nil {
		return err
	}
	if err := releaseScript.Run(ctx, l.rdb, rkeys, jobID).Err(); err != nil {
		return fmt.Errorf("ledger: release %v: %w", uniq[0], err)
	}
	return nil
}
