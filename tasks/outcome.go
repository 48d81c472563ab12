package tasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
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
	Reason    string // short machine word, e.g. not_offered, content_invalid
	Code      string // Amazon's error code, when Amazon answered one
	Message   string // Amazon's or spmsg's message
	RequestID string // Amazon's x-amzn-RequestId of the deciding call
}

// Record is a job's stored state, readable by `enqueue status`.
type Record struct {
	ID         string    `json:"id"`
	State      string    `json:"state"` // pending or final
	Outcome    Outcome   `json:"outcome,omitempty"`
	Reason     string    `json:"reason,omitempty"`
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
	rdb          redis.UniversalClient
	prefix       string
	retention    time.Duration
	now          func() time.Time
	loaded       atomic.Bool // acceptScript is cached on the server
	finishLoaded atomic.Bool // finishScript is cached on the server
}

// NewOutcomeStore returns a store; prefix "" means "spmsg", retention 0
// means DefaultRetention.
func NewOutcomeStore(rdb redis.UniversalClient, prefix string, retention time.Duration) *OutcomeStore {
	if prefix == "" {
		prefix = "spmsg"
	}
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &OutcomeStore{rdb: rdb, prefix: prefix, retention: retention, now: time.Now}
}

func (s *OutcomeStore) tag(campaign string) string { return s.prefix + ":{c:" + campaign + "}" }
func (s *OutcomeStore) jobKey(campaign, id string) string {
	return s.tag(campaign) + ":job:" + id
}
func (s *OutcomeStore) refKey(id string) string { return s.prefix + ":jobref:" + id }

// sellersKey is the set of sellers with jobs in a campaign.
func (s *OutcomeStore) sellersKey(campaign string) string { return s.tag(campaign) + ":sellers" }

// acceptScript records an accepted job unless it is on record already,
// and adds its seller to the campaign's sellers (which GET
// /v1/campaigns/{name} checks a seller-bound token against). KEYS[1] job
// hash, KEYS[2] campaign hash, KEYS[3] campaign sellers set. ARGV[1]
// retention seconds, ARGV[2] seller id, then field/value pairs (the job's
// message digest among them). Returns {1, ""} when created, {0, digest}
// when the job existed ("" for a record written before digests were kept).
var acceptScript = redis.NewScript(`
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
// KEYS[4] (optional) the job's send mark, deleted: the outcome is on record
// once the script ends either way. ARGV[1] retention seconds, ARGV[2] job id, ARGV[3] outcome, ARGV[4]
// reason, ARGV[5] problem flag ("1" for failed/unconfirmed), then
// field/value pairs. Returns 1 when this call set the outcome, 0 when the
// job already had one.
var finishScript = redis.NewScript(`
if KEYS[4] then redis.call('DEL', KEYS[4]) end
if redis.call('HEXISTS', KEYS[1], 'outcome') == 1 then return 0 end
local ttl = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HINCRBY', KEYS[2], 'total', 1)
end
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
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

func (s *OutcomeStore) ttlSeconds() int64 { return int64(s.retention / time.Second) }

// Accept records a newly enqueued job as pending. created is false when the
// job is already on record (pending or final): a duplicate.
func (s *OutcomeStore) Accept(ctx context.Context, id string, j *Job) (created bool, err error) {
	created, _, err = s.accept(ctx, id, j)
	return created, err
}

// accept is Accept, also returning the digest of the message the job was
// first recorded with when it was on record already ("" when created, or
// for a record kept before digests were).
func (s *OutcomeStore) accept(ctx context.Context, id string, j *Job) (created bool, digest string, err error) {
	if !s.loaded.Load() {
		if err := acceptScript.Load(ctx, s.rdb).Err(); err != nil {
			return false, "", fmt.Errorf("record job %s: %w", id, err)
		}
		s.loaded.Store(true)
	}
	args := []any{s.ttlSeconds(), j.SellerID,
		"id", id, "seller_id", j.SellerID, "order_id", j.OrderID, "type", canonicalType(j.Type),
		"campaign", j.Campaign, "enqueued_at", s.now().UTC().Format(time.RFC3339Nano), "digest", messageDigest(j)}
	keys := []string{s.jobKey(j.Campaign, id), s.tag(j.Campaign) + ":campaign", s.sellersKey(j.Campaign)}
	// One round trip: the record (atomic with the campaign count and
	// sellers) and the id -> campaign pointer, which lives in another slot.
	var accept *redis.Cmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		accept = acceptScript.EvalSha(ctx, p, keys, args...)
		p.Set(ctx, s.refKey(id), j.Campaign, s.retention)
		return nil
	})
	if err != nil && !isNoScript(err) {
		return false, "", fmt.Errorf("record job %s: %w", id, err)
	}
	if err != nil {
		// The server lost its script cache (a restart): run unpipelined,
		// which loads the script again.
		s.loaded.Store(false)
		accept = acceptScript.Run(ctx, s.rdb, keys, args...)
		if err := s.rdb.Set(ctx, s.refKey(id), j.Campaign, s.retention).Err(); err != nil {
			return false, "", fmt.Errorf("record job %s: %w", id, err)
		}
	}
	reply, err := accept.Slice()
	if err != nil {
		return false, "", fmt.Errorf("record job %s: %w", id, err)
	}
	if len(reply) != 2 {
		return false, "", fmt.Errorf("record job %s: unexpected script reply %v", id, reply)
	}
	n, _ := reply[0].(int64)
	digest, _ = reply[1].(string)
	return n == 1, digest, nil
}

// messageDigest is the digest of a job's message: what is sent, to whom,
// for which order (the content fields of Job.ID, without the campaign).
// Scheduling (campaign, not_before, deadline, delivery dates) is left out:
// a retried request paced anew, or re-run from a renamed batch file, is the
// same message. A later job with the same idempotency key and another
// digest is a conflict, not a duplicate.
func messageDigest(j *Job) string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	field("msg1")
	field(j.SellerID)
	j.hashMessage(field)
	return hex.EncodeToString(h.Sum(nil))
}

// digestOf returns the message digest a job was recorded with, under the
// given campaign ("" when it has none or is not on record).
func (s *OutcomeStore) digestOf(ctx context.Context, campaign, id string) (string, error) {
	d, err := s.rdb.HGet(ctx, s.jobKey(campaign, id), "digest").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return d, err
}

// CampaignSellers returns the sellers that have jobs recorded in a
// campaign, sorted; none for a campaign nothing was recorded for (or
// whose jobs were all recorded before the sellers were kept).
func (s *OutcomeStore) CampaignSellers(ctx context.Context, name string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.sellersKey(name)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the sellers of campaign %q: %w", name, err)
	}
	sort.Strings(ids)
	return ids, nil
}

// Finish records a job's final outcome. first is false when the job already
// had one (a redelivered job): the earlier outcome stands.
func (s *OutcomeStore) Finish(ctx context.Context, id string, j *Job, r Result) (first bool, err error) {
	return s.finish(ctx, id, j, r, false)
}

// finish is Finish; dropMark also deletes the job's send mark in the same
// script, once the outcome is on record.
func (s *OutcomeStore) finish(ctx context.Context, id string, j *Job, r Result, dropMark bool) (first bool, err error) {
	problem := "0"
	if r.Outcome == OutcomeFailed || r.Outcome == OutcomeUnconfirmed {
		problem = "1"
	}
	reason := r.Reason
	if reason == "" {
		reason = string(r.Outcome)
	}
	tag := s.tag(j.Campaign)
	args := []any{s.ttlSeconds(), id, string(r.Outcome), reason, problem,
		"id", id, "seller_id", j.SellerID, "order_id", j.OrderID, "type", canonicalType(j.Type), "campaign", j.Campaign,
		"code", r.Code, "message", r.Message, "request_id", r.RequestID,
		"finished_at", s.now().UTC().Format(time.RFC3339Nano)}
	keys := []string{s.jobKey(j.Campaign, id), tag + ":campaign", tag + ":problems"}
	if dropMark {
		keys = append(keys, s.guardKey(j.Campaign, id))
	}
	if !s.finishLoaded.Load() {
		if err := finishScript.Load(ctx, s.rdb).Err(); err != nil {
			return false, fmt.Errorf("record outcome of job %s: %w", id, err)
		}
		s.finishLoaded.Store(true)
	}
	// One round trip: the outcome (atomic with the counters) and the
	// id -> campaign pointer, which lives in another slot.
	var cmd *redis.Cmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmd = finishScript.EvalSha(ctx, p, keys, args...)
		p.Set(ctx, s.refKey(id), j.Campaign, s.retention)
		return nil
	})
	if err != nil && isNoScript(err) {
		s.finishLoaded.Store(false)
		cmd = finishScript.Run(ctx, s.rdb, keys, args...)
		err = s.rdb.Set(ctx, s.refKey(id), j.Campaign, s.retention).Err()
	}
	if err != nil {
		return false, fmt.Errorf("record outcome of job %s: %w", id, err)
	}
	n, err := cmd.Int()
	if err != nil {
		return false, fmt.Errorf("record outcome of job %s: %w", id, err)
	}
	return n == 1, nil
}

// rollbackScript undoes acceptScript for a job that could not be queued.
// KEYS[1] job hash, KEYS[2] campaign hash.
var rollbackScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HINCRBY', KEYS[2], 'total', -1)
return 1
`)

func (s *OutcomeStore) rollback(ctx context.Context, id string, j *Job) error {
	return rollbackScript.Run(ctx, s.rdb, []string{s.jobKey(j.Campaign, id), s.tag(j.Campaign) + ":campaign"}).Err()
}

// campaignOf returns the campaign a job id is recorded under, if any.
func (s *OutcomeStore) campaignOf(ctx context.Context, id string) (string, bool, error) {
	c, ok, err := s.campaignsOf(ctx, id)
	if err != nil {
		return "", false, err
	}
	return c[0], ok[0], nil
}

// campaignsOf is campaignOf for several ids in one round trip.
func (s *OutcomeStore) campaignsOf(ctx context.Context, ids ...string) (campaigns []string, ok []bool, err error) {
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.refKey(id))
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
	campaign, err := s.rdb.Get(ctx, s.refKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("job %s: %w", id, ErrNoRecord)
	}
	if err != nil {
		return nil, err
	}
	return s.get(ctx, campaign, id)
}

func (s *OutcomeStore) get(ctx context.Context, campaign, id string) (*Record, error) {
	m, err := s.rdb.HGetAll(ctx, s.jobKey(campaign, id)).Result()
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("job %s: %w", id, ErrNoRecord)
	}
	r := &Record{ID: id, State: m["state"], Outcome: Outcome(m["outcome"]), Reason: m["reason"], Code: m["code"],
		Message: m["message"], RequestID: m["request_id"], SellerID: m["seller_id"], OrderID: m["order_id"],
		Type: m["type"], Campaign: m["campaign"]}
	r.EnqueuedAt, _ = time.Parse(time.RFC3339Nano, m["enqueued_at"])
	r.FinishedAt, _ = time.Parse(time.RFC3339Nano, m["finished_at"])
	return r, nil
}

// Campaign returns a campaign's counts by outcome and by reason, and up to
// maxProblems failed or unconfirmed jobs with Amazon's code and message.
func (s *OutcomeStore) Campaign(ctx context.Context, name string, maxProblems int) (*CampaignReport, error) {
	tag := s.tag(name)
	m, err := s.rdb.HGetAll(ctx, tag+":campaign").Result()
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
		ids, err := s.rdb.LRange(ctx, tag+":problems", 0, int64(maxProblems-1)).Result()
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

func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }

// state reads whether a job already has its final outcome and when it was
// accepted (zero when its record does not say), in one round trip.
func (s *OutcomeStore) state(ctx context.Context, campaign, id string) (final bool, enqueued time.Time, err error) {
	vals, err := s.rdb.HMGet(ctx, s.jobKey(campaign, id), "state", "enqueued_at").Result()
	if err != nil {
		return false, time.Time{}, fmt.Errorf("outcome record %s: %w", id, err)
	}
	if len(vals) == 2 {
		if v, ok := vals[1].(string); ok {
			enqueued, _ = time.Parse(time.RFC3339Nano, v)
		}
		final = vals[0] == "final"
	}
	return final, enqueued, nil
}
