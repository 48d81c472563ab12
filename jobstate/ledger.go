package jobstate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/internal/keyspace"
)

// Errors. Each is wrapped with details; test with errors.Is.
var (
	// ErrInvalid: a bad argument (no keys, keys of several sellers, an
	// empty seller, order, type, idempotency key or job ID, a brace in the
	// seller or prefix, a ':' in the order, a Key that is both kinds).
	ErrInvalid = errors.New("ledger: invalid argument")
	// ErrNotHeld: Commit or MarkInDoubt found a key held by another job
	// (left as it was). Keys held by the job were still updated.
	ErrNotHeld = errors.New("ledger: key held by another job")
)

// Key names one ledger entry. A job can need two: (seller, order, type)
// when its type may go once per order, and (seller, idempotency key) when
// it has one. Build keys with OrderKey and IdemKey.
type Key struct {
	Seller, Order, Type string
	IdempotencyKey      string
}

// OrderKey is the entry for a once-per-order message type. Pass the type's
// canonical name (the same for every alias of the type).
func OrderKey(seller, order, msgType string) Key {
	return Key{Seller: seller, Order: order, Type: msgType}
}

// IdemKey is the entry for a job's idempotency key: same key, same seller,
// at most one send, ever.
func IdemKey(seller, key string) Key {
	return Key{Seller: seller, IdempotencyKey: key}
}

// String names the key for logs: "A1/order/111-2222222-3333333/negativeFeedbackRemoval"
// or "A1/idem/<key>".
func (k Key) String() string {
	if k.IdempotencyKey != "" {
		return k.Seller + "/idem/" + k.IdempotencyKey
	}
	return k.Seller + "/order/" + k.Order + "/" + k.Type
}

// EntryState is a ledger entry's state.
type EntryState string

// The states of an entry. Claimed entries are deleted by Release; sent and
// in_doubt entries are permanent.
const (
	// EntryClaimed: a job is about to send (or sending).
	EntryClaimed EntryState = "claimed"
	// EntrySent: Amazon answered 2xx; permanent.
	EntrySent EntryState = "sent"
	// EntryInDoubt: the request reached the wire but its answer was lost,
	// so the message may have gone; permanent.
	EntryInDoubt EntryState = "in_doubt"
)

// Entry is the stored record of one key.
type Entry struct {
	State     EntryState
	JobID     string // the job that claimed it
	RequestID string // Amazon's x-amzn-RequestId, once sent
	ClaimedAt time.Time
	UpdatedAt time.Time
}

// Ledger is the permanent dedup ledger in Redis. It is safe for concurrent
// use by any number of processes.
type Ledger struct {
	rdb redis.UniversalClient
	ks  keyspace.Space
}

// The ledger's scripts.
var (
	claimScript   = keyspace.NewScript(claimLua)
	settleScript  = keyspace.NewScript(settleLua)
	releaseScript = keyspace.NewScript(releaseLua)
)

// NewLedger returns a Ledger on rdb (a client, a cluster client or a
// failover client). An empty prefix means keyspace.DefaultPrefix; a prefix
// containing a brace is reported by every method as ErrInvalid.
func NewLedger(rdb redis.UniversalClient, prefix string) *Ledger {
	return &Ledger{rdb: rdb, ks: keyspace.New(prefix)}
}

// redisKey is the key's entry (keyspace.Space.LedgerOrder, LedgerIdem).
func (l *Ledger) redisKey(k Key) string {
	if k.IdempotencyKey != "" {
		return l.ks.LedgerIdem(k.Seller, k.IdempotencyKey)
	}
	return l.ks.LedgerOrder(k.Seller, k.Order, k.Type)
}

func (l *Ledger) checkKey(k Key) error {
	if err := l.ks.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return k.check()
}

// CheckKeys reports, as ErrInvalid, the first of keys that no ledger
// entry can be kept under (an empty or braced seller, an order with ':',
// ...), before any call is made with them.
func CheckKeys(keys []Key) error {
	for _, k := range keys {
		if err := k.check(); err != nil {
			return err
		}
	}
	return nil
}

func (k Key) check() error {
	switch {
	case k.Seller == "":
		return fmt.Errorf("%w: empty seller", ErrInvalid)
	case strings.ContainsAny(k.Seller, "{}"):
		return fmt.Errorf("%w: seller %q contains a brace", ErrInvalid, k.Seller)
	case k.IdempotencyKey != "" && (k.Order != "" || k.Type != ""):
		return fmt.Errorf("%w: key %v has both an idempotency key and an order", ErrInvalid, k)
	case k.IdempotencyKey != "":
		return nil
	case k.Order == "" || k.Type == "":
		return fmt.Errorf("%w: key %v needs an order and a type, or an idempotency key", ErrInvalid, k)
	case strings.Contains(k.Order, ":"):
		return fmt.Errorf("%w: order %q contains ':'", ErrInvalid, k.Order)
	}
	return nil
}

// redisKeys validates keys (one seller, at least one key, a job ID) and
// maps them to Redis keys, dropping repeats. uniq[i] is the Key of out[i].
func (l *Ledger) redisKeys(keys []Key, jobID string) (out []string, uniq []Key, err error) {
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("%w: no keys", ErrInvalid)
	}
	if jobID == "" {
		return nil, nil, fmt.Errorf("%w: empty job ID", ErrInvalid)
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if err := l.checkKey(k); err != nil {
			return nil, nil, err
		}
		if k.Seller != keys[0].Seller {
			return nil, nil, fmt.Errorf("%w: keys of sellers %q and %q in one call", ErrInvalid, keys[0].Seller, k.Seller)
		}
		rk := l.redisKey(k)
		if seen[rk] {
			continue
		}
		seen[rk] = true
		out = append(out, rk)
		uniq = append(uniq, k)
	}
	return out, uniq, nil
}

// First returns the entry that decides what a job with these keys may do,
// in one round trip: a sent or in_doubt entry (of any job) first, then a
// claim of job id, then another job's claim; k is its key. ok is false
// when no key has an entry.
func (l *Ledger) First(ctx context.Context, keys []Key, id string) (k Key, e Entry, ok bool, err error) {
	if _, _, err := l.redisKeys(keys, id); err != nil {
		return Key{}, Entry{}, false, err
	}
	var cmds []*redis.MapStringStringCmd
	_, err = keyspace.Pipelined(ctx, l.rdb, func(p keyspace.Pipe) error {
		cmds = l.queueGet(ctx, p, keys)
		return nil
	})
	if err != nil {
		return Key{}, Entry{}, false, fmt.Errorf("ledger: read %v: %w", keys, err)
	}
	i, e, ok, err := first(id, cmds)
	if ok {
		k = keys[i]
	}
	return k, e, ok, err
}

// queueGet queues the reading of every key's entry.
func (l *Ledger) queueGet(ctx context.Context, p keyspace.Pipe, keys []Key) []*redis.MapStringStringCmd {
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = p.HGetAll(ctx, l.redisKey(k))
	}
	return cmds
}

// first picks the deciding entry of queueGet's answers (see First), and
// its index.
func first(id string, cmds []*redis.MapStringStringCmd) (i int, e Entry, ok bool, err error) {
	rank := 0
	for n, c := range cmds {
		m, err := c.Result()
		if err != nil {
			return 0, Entry{}, false, fmt.Errorf("ledger: read: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		got := entryOf(m)
		r := 1
		switch {
		case got.State != EntryClaimed:
			r = 3
		case got.JobID == id:
			r = 2
		}
		if r > rank {
			i, e, ok, rank = n, got, true, r
		}
	}
	return i, e, ok, nil
}
