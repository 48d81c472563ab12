package jobstate

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Status is the outcome of Claim.
type Status int

// Claim outcomes. The zero Status is not one of them.
const (
	// Claimed: every key was free and is now held by the job: send.
	Claimed Status = iota + 1
	// Mine: the job already held a key (a redelivery after a crash, with no
	// answer recorded): the send may have happened. Keys that were free are
	// now held too.
	Mine
	// Done: a key is sent or in_doubt (or claimed by another job for longer
	// than staleAfter, reported as in_doubt). Result.Entry says which; when
	// Entry.JobID is the caller's own job, the caller itself sent it.
	Done
	// Busy: another job holds a key and is not stale: retry later.
	Busy
)

// String returns "claimed", "mine", "done" or "busy".
func (s Status) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Mine:
		return "mine"
	case Done:
		return "done"
	case Busy:
		return "busy"
	default:
		return fmt.Sprintf("Status(%d)", int(s))
	}
}

// ClaimResult is Claim's answer.
type ClaimResult struct {
	Status Status
	// Key is the key that decided Mine, Done or Busy (zero for Claimed).
	Key Key
	// Entry is Key's entry as stored, except that a stale foreign claim is
	// reported with State EntryInDoubt (the stored entry is unchanged).
	Entry Entry
}

// claimLua claims all KEYS for a job in one step.
//
// KEYS  the entries, all of one seller (one slot).
// ARGV[1] job ID; ARGV[2] stale-after in microseconds.
//
// Precedence over the keys: a sent or in_doubt entry (done) > a foreign
// claim older than stale-after (done, reported in_doubt) > a live foreign
// claim (busy) > the job's own claim (mine) > all free (claimed). Only for
// mine and claimed are the free keys written (state claimed, no TTL).
//
// Returns {status, index, state, job, request id, claimed µs, updated µs}.
const claimLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local job = ARGV[1]
local staleAfter = tonumber(ARGV[2])
local stale, busy, mine
local free = {}
for i, key in ipairs(KEYS) do
  local e = redis.call('HMGET', key, 'state', 'job', 'req', 'claimed', 'updated')
  if not e[1] then
    free[#free + 1] = key
  elseif e[1] ~= 'claimed' then
    return {'done', i, e[1], e[2] or '', e[3] or '', e[4] or '0', e[5] or '0'}
  elseif e[2] == job then
    mine = mine or {'mine', i, e[1], e[2], e[3] or '', e[4] or '0', e[5] or '0'}
  elseif now - (tonumber(e[4]) or 0) > staleAfter then
    stale = stale or {'done', i, 'in_doubt', e[2] or '', e[3] or '', e[4] or '0', e[5] or '0'}
  else
    busy = busy or {'busy', i, e[1], e[2] or '', e[3] or '', e[4] or '0', e[5] or '0'}
  end
end
if stale then return stale end
if busy then return busy end
local ts = string.format('%d', now)
for _, key in ipairs(free) do
  redis.call('HSET', key, 'state', 'claimed', 'job', job, 'claimed', ts, 'updated', ts)
end
if mine then return mine end
return {'claimed', 0, 'claimed', job, '', ts, ts}
`

// Claim atomically claims every key for jobID (all keys must belong to one
// seller: one slot, one Lua call). A claim held by another job for longer
// than staleAfter is never taken over: it is reported as Done with State
// EntryInDoubt, because that job may have sent.
//
// Errors: ErrInvalid for bad arguments, or the Redis error (then the
// ClaimResult is zero, which is no Status).
func (l *Ledger) Claim(ctx context.Context, keys []Key, jobID string, staleAfter time.Duration) (ClaimResult, error) {
	rkeys, uniq, err := l.redisKeys(keys, jobID)
	if err != nil {
		return ClaimResult{}, err
	}
	if staleAfter <= 0 {
		return ClaimResult{}, fmt.Errorf("%w: staleAfter %v", ErrInvalid, staleAfter)
	}
	res, err := claimScript.Run(ctx, l.rdb, rkeys, jobID, staleAfter.Microseconds()).Slice()
	if err != nil {
		return ClaimResult{}, fmt.Errorf("ledger: claim %v: %w", uniq[0], err)
	}
	if len(res) != 7 {
		return ClaimResult{}, fmt.Errorf("ledger: claim %v: unexpected script reply %v", uniq[0], res)
	}
	var out ClaimResult
	switch res[0] {
	case "claimed":
		return ClaimResult{Status: Claimed}, nil
	case "mine":
		out.Status = Mine
	case "done":
		out.Status = Done
	case "busy":
		out.Status = Busy
	default:
		return ClaimResult{}, fmt.Errorf("ledger: claim %v: unexpected status %v", uniq[0], res[0])
	}
	i, ok := res[1].(int64)
	if !ok || i < 1 || int(i) > len(uniq) {
		return ClaimResult{}, fmt.Errorf("ledger: claim %v: unexpected key index %v", uniq[0], res[1])
	}
	out.Key = uniq[i-1]
	out.Entry = Entry{
		State:     EntryState(str(res[2])),
		JobID:     str(res[3]),
		RequestID: str(res[4]),
		ClaimedAt: microsTime(str(res[5])),
		UpdatedAt: microsTime(str(res[6])),
	}
	return out, nil
}

// Get returns key's entry, and false when there is none.
//
// Errors: ErrInvalid for a bad key, or the Redis error.
func (l *Ledger) Get(ctx context.Context, key Key) (Entry, bool, error) {
	if err := l.checkKey(key); err != nil {
		return Entry{}, false, err
	}
	m, err := l.rdb.HGetAll(ctx, l.redisKey(key)).Result()
	if err != nil {
		return Entry{}, false, fmt.Errorf("ledger: get %v: %w", key, err)
	}
	if len(m) == 0 {
		return Entry{}, false, nil
	}
	return entryOf(m), true, nil
}

// entryOf reads an entry's hash.
func entryOf(m map[string]string) Entry {
	return Entry{
		State:     EntryState(m["state"]),
		JobID:     m["job"],
		RequestID: m["req"],
		ClaimedAt: microsTime(m["claimed"]),
		UpdatedAt: microsTime(m["updated"]),
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// microsTime parses microseconds since the epoch; "" or "0" is the zero time.
func microsTime(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n)
}
