package jobstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/keyspace"
)

// Store is everything Redis keeps about a job, as one attempt at it sees
// it: its record (OutcomeStore), its send mark, its ledger entries (Ledger)
// and its place in its seller's line with the quota it books (Lines). An
// attempt calls, in order: Begin, Reserve, Claim, MarkSending, then Settle
// (the job ends) or Undo (it does not, and nothing was sent); it may call
// Begin again to read the ledger afresh. It is safe for concurrent use.
type Store struct {
	Outcomes *OutcomeStore
	Ledger   *Ledger
	Lines    *dispatch.Dispatcher

	rdb redis.UniversalClient
	ks  keyspace.Space
}

// New returns the store on rdb with the given lines; retention 0 means
// DefaultRetention.
func New(rdb redis.UniversalClient, lines *dispatch.Dispatcher, retention time.Duration) *Store {
	return &Store{Outcomes: NewOutcomeStore(rdb, "", retention), Ledger: NewLedger(rdb, ""), Lines: lines,
		rdb: rdb, ks: keyspace.New("")}
}

// Prior is what earlier attempts of a job left behind.
type Prior struct {
	// Final: the job already has its final outcome.
	Final bool
	// Enqueued is when the job was accepted (zero when its record does
	// not say).
	Enqueued time.Time
	// Mark is MarkNone, MarkBusy or MarkStale (MarkFinal when Final), and
	// MarkAge the mark's age.
	Mark    MarkState
	MarkAge time.Duration
	// Entry is the job's deciding ledger entry (see Ledger.First), when
	// HasEntry.
	Entry    Entry
	HasEntry bool
}

// Begin reads, in one round trip, what earlier attempts of job j left:
// its record, its send mark and its ledger entries under keys (none for a
// job the ledger does not cover).
func (s *Store) Begin(ctx context.Context, j Ref, keys []Key) (Prior, error) {
	if len(keys) > 0 {
		if _, _, err := s.Ledger.redisKeys(keys, j.ID); err != nil {
			return Prior{}, err
		}
	}
	var mark *redis.Cmd
	var entries []*redis.MapStringStringCmd
	_, err := keyspace.Pipelined(ctx, s.rdb, func(p keyspace.Pipe) error {
		mark = markScript.Queue(ctx, p, []string{s.ks.SendMark(j.Campaign, j.ID), s.ks.Job(j.Campaign, j.ID)},
			"", MarkStaleAfter.Microseconds(), markTTL.Milliseconds())
		entries = s.Ledger.queueGet(ctx, p, keys)
		return nil
	})
	if err != nil {
		return Prior{}, fmt.Errorf("job %s: read its state: %w", j.ID, err)
	}
	var pr Prior
	if pr.Mark, pr.MarkAge, pr.Enqueued, err = markReply(mark); err != nil {
		return Prior{}, fmt.Errorf("job %s: read its send mark: %w", j.ID, err)
	}
	pr.Final = pr.Mark == MarkFinal
	if _, pr.Entry, pr.HasEntry, err = first(j.ID, entries); err != nil {
		return Prior{}, err
	}
	return pr, nil
}

var (
	markScript   = keyspace.NewScript(markLua)
	unmarkScript = keyspace.NewScript(unmarkLua)
)

func markReply(cmd *redis.Cmd) (MarkState, time.Duration, time.Time, error) {
	res, err := cmd.Slice()
	if err != nil || len(res) != 3 {
		return 0, 0, time.Time{}, fmt.Errorf("unexpected reply %v (%v)", res, err)
	}
	st, _ := res[0].(int64)
	age, _ := res[1].(int64)
	enq, _ := time.Parse(time.RFC3339Nano, str(res[2]))
	return MarkState(st), time.Duration(age) * time.Microsecond, enq, nil
}

// Claim claims the job's ledger keys before its send (Ledger.Claim).
func (s *Store) Claim(ctx context.Context, j Ref, keys []Key, staleAfter time.Duration) (ClaimResult, error) {
	return s.Ledger.Claim(ctx, keys, j.ID, staleAfter)
}

// MarkSending marks the job as being sent by the attempt nonce, right
// before the send. It returns MarkAcquired, or why not (MarkBusy,
// MarkStale, MarkFinal) with the mark's age.
func (s *Store) MarkSending(ctx context.Context, j Ref, nonce string) (MarkState, time.Duration, error) {
	if nonce == "" {
		return 0, 0, fmt.Errorf("job %s: mark sending: empty nonce", j.ID)
	}
	st, age, _, err := markReply(markScript.Run(ctx, s.rdb, []string{s.ks.SendMark(j.Campaign, j.ID), s.ks.Job(j.Campaign, j.ID)},
		nonce, MarkStaleAfter.Microseconds(), markTTL.Milliseconds()))
	if err != nil {
		return 0, 0, fmt.Errorf("job %s: mark sending: %w", j.ID, err)
	}
	return st, age, nil
}

// Settle ends the job with res: its ledger entries under keys first (a
// sent outcome commits them, an unconfirmed one marks them in doubt, any
// other gives back this job's claims; a key another job holds is left to
// it, and already stands for the pair), then its record, once, dropping its
// send mark when the mark is the attempt's (nonce; "" for an attempt that
// never marked). first is false when the job already had its outcome.
func (s *Store) Settle(ctx context.Context, j Ref, keys []Key, res Result, nonce string) (first bool, err error) {
	if len(keys) > 0 {
		switch res.Outcome {
		case OutcomeSent:
			err = s.Ledger.Commit(ctx, keys, j.ID, res.RequestID)
		case OutcomeUnconfirmed:
			err = s.Ledger.MarkInDoubt(ctx, keys, j.ID)
		default:
			err = s.Ledger.Release(ctx, keys, j.ID)
		}
		if err != nil && !errors.Is(err, ErrNotHeld) {
			return false, err
		}
	}
	return s.Outcomes.finish(ctx, j, res, nonce)
}

// Undo gives back what an attempt that sent nothing holds: its ledger
// claims under keys and its send mark, when the mark is the attempt's
// (nonce); in one round trip.
func (s *Store) Undo(ctx context.Context, j Ref, keys []Key, nonce string) error {
	rkeys, _, err := s.Ledger.redisKeys(keys, j.ID)
	if len(keys) > 0 && err != nil {
		return err
	}
	_, err = keyspace.Pipelined(ctx, s.rdb, func(p keyspace.Pipe) error {
		if len(rkeys) > 0 {
			releaseScript.Queue(ctx, p, rkeys, j.ID)
		}
		if nonce != "" {
			unmarkScript.Queue(ctx, p, []string{s.ks.SendMark(j.Campaign, j.ID)}, nonce)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("job %s: undo: %w", j.ID, err)
	}
	return nil
}

// Reserve books slots on the seller's schedules for ops, for a job that
// holds none, and returns how long until they come (dispatch.Reserve).
func (s *Store) Reserve(ctx context.Context, seller string, ops ...string) (time.Duration, error) {
	return s.Lines.Reserve(ctx, seller, ops...)
}

// Requeue puts a job back in its seller's line.
func (s *Store) Requeue(ctx context.Context, e dispatch.Entry) error {
	_, err := s.Lines.Push(ctx, e)
	return err
}

// Throttled records a 429 on a seller's operation: its next slot waits
// for a full bucket.
func (s *Store) Throttled(ctx context.Context, key dispatch.Key) error {
	return s.Lines.Throttled(ctx, key)
}

// Observe records the rate Amazon reported for a seller's operation.
func (s *Store) Observe(ctx context.Context, key dispatch.Key, rate float64) error {
	return s.Lines.Observe(ctx, key, rate)
}

// Local converts a slot, on Redis's clock, to this process's clock.
func (s *Store) Local(slot time.Time) time.Time { return s.Lines.Local(slot) }
