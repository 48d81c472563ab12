package jobstate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/internal/keyspace"
)

// Outcome is a job's final outcome (PRODUCT.md "Final outcomes").
type Outcome string

// The final outcomes. Every accepted job ends in exactly one.
const (
	OutcomeSent               Outcome = "sent"
	OutcomeSkippedUnavailable Outcome = "skipped_unavailable"
	OutcomeSkippedDuplicate   Outcome = "skipped_duplicate"
	OutcomeExpired            Outcome = "expired"
	OutcomeFailed             Outcome = "failed"
	OutcomeUnconfirmed        Outcome = "unconfirmed"
)

// Outcomes lists every final outcome, in report order.
func Outcomes() []Outcome {
	return []Outcome{OutcomeSent, OutcomeSkippedUnavailable, OutcomeSkippedDuplicate, OutcomeExpired, OutcomeFailed, OutcomeUnconfirmed}
}

// Result is what a worker records when a job ends.
type Result struct {
	Outcome   Outcome
	Reason    Reason // short machine word, e.g. not_offered, content_invalid
	Code      string // Amazon's error code, when Amazon answered one
	Message   string // Amazon's or spmsg's message
	RequestID string // Amazon's x-amzn-RequestId of the deciding call
}

// Ref names a job and what its record says of it.
type Ref struct {
	ID, Campaign, Seller, Order string
	// Type is the message type's canonical name.
	Type string
	// Digest is the digest of the job's message (Accept keeps it, to tell a
	// conflicting reuse of an idempotency key).
	Digest string
}

// Record is a job's stored state, readable by `enqueue status`.
type Record struct {
	ID         string    `json:"id"`
	State      string    `json:"state"` // pending or final
	Outcome    Outcome   `json:"outcome,omitempty"`
	Reason     Reason    `json:"reason,omitempty"`
	Code       string    `json:"code,omitempty"`
	Message    string    `json:"message,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	SellerID   string    `json:"seller_id"`
	OrderID    string    `json:"order_id"`
	Type       string    `json:"type"`
	Campaign   string    `json:"campaign,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// CampaignReport is a campaign's counts (PRODUCT.md `status --campaign`).
type CampaignReport struct {
	Campaign string            `json:"campaign"`
	Total    int64             `json:"total"`
	Pending  int64             `json:"pending"`
	Outcomes map[Outcome]int64 `json:"outcomes"`
	Reasons  map[string]int64  `json:"reasons"`
	Problems []Record          `json:"problems"`
}

// ErrNoRecord means no job with that id is on record (never accepted, or
// its retention ended).
var ErrNoRecord = errors.New("no such job on record")

// DefaultRetention is how long outcome records are kept.
const DefaultRetention = 30 * 24 * time.Hour

// OutcomeStore keeps every job's record and per-campaign counters in Redis,
// with their own retention, so status can answer after asynq's own
// retention ends. Keys of one campaign share a hash tag so the outcome and
// the counters change in one atomic script, on a cluster too.
type OutcomeStore struct {
	rdb       redis.UniversalClient
	ks        keyspace.Space
	retention time.Duration
	now       func() time.Time
}

// NewOutcomeStore returns a store; prefix "" means keyspace.DefaultPrefix,
// retention 0 means DefaultRetention.
func NewOutcomeStore(rdb redis.UniversalClient, prefix string, retention time.Duration) *OutcomeStore {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &OutcomeStore{rdb: rdb, ks: keyspace.New(prefix), retention: retention, now: time.Now}
}

// acceptScript records an accepted job unless it is on record already,
// and adds its seller to the campaign's sellers (which GET
// /v1/campaigns/{name} checks a seller-bound token against). KEYS[1] job
// hash, KEYS[2] campaign hash, KEYS[3] campaign sellers set. ARGV[1]
// retention seconds, ARGV[2] seller id, then field/value pairs (the job's
// message digest among them). Returns {1, ""} when created, {0, digest}
// when the job existed ("" for a record written before digests were kept).
var acceptScript = keyspace.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[1], 'digest') or ''}
end
local ttl = tonumber(ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call('HSET', KEYS[1], 'state', 'pending')
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('HINCRBY', KEYS[2], 'total', 1)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('EXPIRE', KEYS[3], ttl)
return {1, ''}
`)

// finishScript sets a job's final outcome exactly once and counts it.
// KEYS[1] job hash, KEYS[2] campaign hash, KEYS[3] campaign problem list,
// KEYS[4] the job's send mark, deleted when it holds ARGV[6] (the
// attempt's nonce; "" deletes nothing): the outcome is on record once the
// script ends either way. ARGV[1] retention seconds, ARGV[2] job id,
// ARGV[3] outcome, ARGV[4] reason, ARGV[5] problem flag ("1" for
// failed/unconfirmed), ARGV[6] nonce, then field/value pairs. Returns 1
// when this call set the outcome, 0 when the job already had one.
var finishScript = keyspace.NewScript(`
if ARGV[6] ~= '' and string.sub(redis.call('GET', KEYS[4]) or '', 1, #ARGV[6] + 1) == ARGV[6] .. '|' then
  redis.call('DEL', KEYS[4])
end
if redis.call('HEXISTS', KEYS[1], 'outcome') == 1 then return 0 end
local ttl = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HINCRBY', KEYS[2], 'total', 1)
end
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call('HSET', KEYS[1], 'state', 'final', 'outcome', ARGV[3], 'reason', ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('HINCRBY', KEYS[2], 'o:' .. ARGV[3], 1)
redis.call('HINCRBY', KEYS[2], 'r:' .. ARGV[3] .. ':' .. ARGV[4], 1)
redis.call('EXPIRE', KEYS[2], ttl)
if ARGV[5] == '1' then
  redis.call('RPUSH', KEYS[3], ARGV[2])
  redis.call('EXPIRE', KEYS[3], ttl)
end
return 1
`)

// withRef runs a script on the job's record (atomic with its campaign's
// counters) and sets the id -> campaign pointer, which lives in another
// slot, in one round trip.
func (s *OutcomeStore) withRef(ctx context.Context, sc *keyspace.Script, j Ref, keys []string, args []any) (*redis.Cmd, error) {
	var cmd *redis.Cmd
	_, err := keyspace.Pipelined(ctx, s.rdb, func(p keyspace.Pipe) error {
		cmd = sc.Queue(ctx, p, keys, args...)
		p.Set(ctx, s.ks.JobRef(j.ID), j.Campaign, s.retention)
		return nil
	})
	return cmd, err
}

func (s *OutcomeStore) ttlSeconds() int64 { return int64(s.retention / time.Second) }

// Accept records a newly enqueued job as pending. created is false when the
// job is already on record (pending or final): a duplicate; digest is then
// the digest of the message it was first recorded with ("" for a record
// kept before digests were).
func (s *OutcomeStore) Accept(ctx context.Context, j Ref) (created bool, digest string, err error) {
	args := []any{s.ttlSeconds(), j.Seller,
		"id", j.ID, "seller_id", j.Seller, "order_id", j.Order, "type", j.Type,
		"campaign", j.Campaign, "enqueued_at", s.now().UTC().Format(time.RFC3339Nano), "digest", j.Digest}
	keys := []string{s.ks.Job(j.Campaign, j.ID), s.ks.Campaign(j.Campaign), s.ks.CampaignSellers(j.Campaign)}
	accept, err := s.withRef(ctx, acceptScript, j, keys, args)
	if err != nil {
		return false, "", fmt.Errorf("record job %s: %w", j.ID, err)
	}
	reply, err := accept.Slice()
	if err != nil || len(reply) != 2 {
		return false, "", fmt.Errorf("record job %s: unexpected script reply %v (%v)", j.ID, reply, err)
	}
	n, _ := reply[0].(int64)
	digest, _ = reply[1].(string)
	return n == 1, digest, nil
}

// DigestOf returns the message digest a job was recorded with, under the
// given campaign ("" when it has none or is not on record).
func (s *OutcomeStore) DigestOf(ctx context.Context, campaign, id string) (string, error) {
	d, err := s.rdb.HGet(ctx, s.ks.Job(campaign, id), "digest").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return d, err
}

// CampaignSellers returns the sellers that have jobs recorded in a
// campaign, sorted; none for a campaign nothing was recorded for (or
// whose jobs were all recorded before the sellers were kept).
func (s *OutcomeStore) CampaignSellers(ctx context.Context, name string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.ks.CampaignSellers(name)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the sellers of campaign %q: %w", name, err)
	}
	sort.Strings(ids)
	return ids, nil
}

// Finish records a job's final outcome. first is false when the job already
// had one (a redelivered job): the earlier outcome stands.
func (s *OutcomeStore) Finish(ctx context.Context, j Ref, r Result) (first bool, err error) {
	return s.finish(ctx, j, r, "")
}

// finish is Finish; it also deletes the job's send mark, in the same
// script, when the mark holds nonce.
func (s *OutcomeStore) finish(ctx context.Context, j Ref, r Result, nonce string) (first bool, err error) {
	problem := "0"
	if r.Outcome == OutcomeFailed || r.Outcome == OutcomeUnconfirmed {
		problem = "1"
	}
	reason := string(r.Reason)
	if reason == "" {
		reason = string(r.Outcome)
	}
	args := []any{s.ttlSeconds(), j.ID, string(r.Outcome), reason, problem, nonce,
		"id", j.ID, "seller_id", j.Seller, "order_id", j.Order, "type", j.Type, "campaign", j.Campaign,
		"code", r.Code, "message", r.Message, "request_id", r.RequestID,
		"finished_at", s.now().UTC().Format(time.RFC3339Nano)}
	keys := []string{s.ks.Job(j.Campaign, j.ID), s.ks.Campaign(j.Campaign), s.ks.Problems(j.Campaign), s.ks.SendMark(j.Campaign, j.ID)}
	cmd, err := s.withRef(ctx, finishScript, j, keys, args)
	if err != nil {
		return false, fmt.Errorf("record outcome of job %s: %w", j.ID, err)
	}
	n, err := cmd.Int()
	if err != nil {
		return false, fmt.Errorf("record outcome of job %s: %w", j.ID, err)
	}
	return n == 1, nil
}

// rollbackScript undoes acceptScript for a job that could not be queued.
// KEYS[1] job hash, KEYS[2] campaign hash.
var rollbackScript = keyspace.NewScript(`
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HINCRBY', KEYS[2], 'total', -1)
return 1
`)

// Rollback undoes Accept for a job that could not be queued.
func (s *OutcomeStore) Rollback(ctx context.Context, j Ref) error {
	return rollbackScript.Run(ctx, s.rdb, []string{s.ks.Job(j.Campaign, j.ID), s.ks.Campaign(j.Campaign)}).Err()
}

// CampaignOf returns the campaign a job id is recorded under, if any.
func (s *OutcomeStore) CampaignOf(ctx context.Context, id string) (string, bool, error) {
	c, ok, err := s.CampaignsOf(ctx, id)
	if err != nil {
		return "", false, err
	}
	return c[0], ok[0], nil
}

// CampaignsOf is CampaignOf for several ids in one round trip.
func (s *OutcomeStore) CampaignsOf(ctx context.Context, ids ...string) (campaigns []string, ok []bool, err error) {
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.ks.JobRef(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, err
	}
	campaigns, ok = make([]string, len(ids)), make([]bool, len(ids))
	for i, c := range cmds {
		v, err := c.Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, nil, err
		default:
			campaigns[i], ok[i] = v, true
		}
	}
	return campaigns, ok, nil
}

// Get returns a job's record.
func (s *OutcomeStore) Get(ctx context.Context, id string) (*Record, error) {
	campaign, err := s.rdb.Get(ctx, s.ks.JobRef(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("job %s: %w", id, ErrNoRecord)
	}
	if err != nil {
		return nil, err
	}
	return s.get(ctx, campaign, id)
}

func (s *OutcomeStore) get(ctx context.Context, campaign, id string) (*Record, error) {
	m, err := s.rdb.HGetAll(ctx, s.ks.Job(campaign, id)).Result()
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("job %s: %w", id, ErrNoRecord)
	}
	r := &Record{ID: id, State: m["state"], Outcome: Outcome(m["outcome"]), Reason: Reason(m["reason"]), Code: m["code"],
		Message: m["message"], RequestID: m["request_id"], SellerID: m["seller_id"], OrderID: m["order_id"],
		Type: m["type"], Campaign: m["campaign"]}
	r.EnqueuedAt, _ = time.Parse(time.RFC3339Nano, m["enqueued_at"])
	r.FinishedAt, _ = time.Parse(time.RFC3339Nano, m["finished_at"])
	return r, nil
}

// Campaign returns a campaign's counts by outcome and by reason, and up to
// maxProblems failed or unconfirmed jobs with Amazon's code and message.
func (s *OutcomeStore) Campaign(ctx context.Context, name string, maxProblems int) (*CampaignReport, error) {
	m, err := s.rdb.HGetAll(ctx, s.ks.Campaign(name)).Result()
	if err != nil {
		return nil, err
	}
	rep := &CampaignReport{Campaign: name, Outcomes: map[Outcome]int64{}, Reasons: map[string]int64{}, Problems: []Record{}}
	for _, o := range Outcomes() {
		rep.Outcomes[o] = 0
	}
	var final int64
	for k, v := range m {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case k == "total":
			rep.Total = n
		case strings.HasPrefix(k, "o:"):
			rep.Outcomes[Outcome(k[2:])] = n
			final += n
		case strings.HasPrefix(k, "r:"):
			rep.Reasons[k[2:]] = n
		}
	}
	rep.Pending = rep.Total - final
	if rep.Pending < 0 {
		rep.Pending = 0
	}
	if maxProblems > 0 {
		ids, err := s.rdb.LRange(ctx, s.ks.Problems(name), 0, int64(maxProblems-1)).Result()
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if r, err := s.get(ctx, name, id); err == nil {
				rep.Problems = append(rep.Problems, *r)
			}
		}
		sort.SliceStable(rep.Problems, func(i, k int) bool { return rep.Problems[i].FinishedAt.Before(rep.Problems[k].FinishedAt) })
	}
	return rep, nil
}
