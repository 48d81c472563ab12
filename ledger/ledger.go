package ledger

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key when New is given an empty prefix.
const DefaultPrefix = "spmsg"

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

// State is an entry's state.
type State string

// The states of an entry. Claimed entries are deleted by Release; sent and
// in_doubt entries are permanent.
const (
	// StateClaimed: a job is about to send (or sending).
	StateClaimed State = "claimed"
	// StateSent: Amazon answered 2xx; permanent.
	StateSent State = "sent"
	// StateInDoubt: the request reached the wire but its answer was lost,
	// so the message may have gone; permanent.
	StateInDoubt State = "in_doubt"
)

// Entry is the stored record of one key.
type Entry struct {
	State     State
	JobID     string // the job that claimed it
	RequestID string // Amazon's x-amzn-RequestId, once sent
	ClaimedAt time.Time
	UpdatedAt time.Time
}

// Ledger is the permanent dedup ledger in Redis. It is safe for concurrent
// use by any number of processes.
type Ledger struct {
	rdb    redis.UniversalClient
	prefix string

	claim   *redis.Script
	settle  *redis.Script
	release *redis.Script
}

// New returns a Ledger on rdb (a client, a cluster client or a failover
// client). An empty prefix means DefaultPrefix; a prefix containing a brace
// is reported by every method as ErrInvalid.
func New(rdb redis.UniversalClient, prefix string) *Ledger {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Ledger{
		rdb:     rdb,
		prefix:  prefix,
		claim:   redis.NewScript(claimLua),
		settle:  redis.NewScript(settleLua),
		release: redis.NewScript(releaseLua),
	}
}

// redisKey is prefix:{seller}:ledger:order:<order>:<type> or
// prefix:{seller}:ledger:idem:<key>. The seller in braces is the Redis
// Cluster hash tag, so all entries of one seller share one slot.
func (l *Ledger) redisKey(k Key) string {
	base := l.prefix + ":{" + k.Seller + "}:ledger:"
	if k.IdempotencyKey != "" {
		return base + "idem:" + k.IdempotencyKey
	}
	return base + "order:" + k.Order + ":" + k.Type
}

func (l *Ledger) checkKey(k Key) error {
	switch {
	case strings.ContainsAny(l.prefix, "{}"):
		return fmt.Errorf("%w: prefix %q contains a brace", ErrInvalid, l.prefix)
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
