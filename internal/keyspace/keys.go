// Package keyspace names every key spmsg keeps in Redis, and runs every
// Lua script spmsg sends to it (script.go). It is the one place to read
// what a job leaves in Redis; the packages that own the records (jobstate
// for a job's outcome, send mark and ledger entries; dispatch for the
// sellers' lines and schedules) build their keys here and nowhere else.
//
// # Keys
//
// <p> is the prefix, DefaultPrefix ("spmsg") unless a test picks another.
// The part in braces is the Redis Cluster hash tag: every script touches
// keys of one tag (one slot) only, which Script.Run checks.
//
// A job's record, by campaign (tag {c:<campaign>}; "" for a job without
// one). Kept for the outcome retention (30 days), then expired by Redis:
//
//	<p>:{c:<campaign>}:job:<id>      hash: the job's record (state pending|final, outcome,
//	                                  reason, code, message, request_id, seller_id, order_id,
//	                                  type, campaign, enqueued_at, finished_at, digest)
//	<p>:{c:<campaign>}:sending:<id>  string "<nonce>|<µs>": an attempt is sending the job
//	                                  (the send mark; expires after 7 days if left behind)
//	<p>:{c:<campaign>}:campaign      hash: total, o:<outcome> and r:<outcome>:<reason> counts
//	<p>:{c:<campaign>}:problems      list: ids of the campaign's failed and unconfirmed jobs
//	<p>:{c:<campaign>}:sellers       set: the sellers with jobs in the campaign
//	<p>:jobref:<id>                  string: the campaign a job id is recorded under
//
// The dedup ledger, by seller (tag {<seller>}). Permanent: no entry ever
// expires (run Redis with AOF and maxmemory-policy noeviction):
//
//	<p>:{<seller>}:ledger:order:<order>:<type>  hash: state claimed|sent|in_doubt, job,
//	                                             req, claimed, updated (µs, Redis's clock)
//	<p>:{<seller>}:ledger:idem:<key>            the same, for an idempotency key
//
// The sellers' lines and schedules (package dispatch), by shard (tag
// {dNN}, NN = the seller's shard of 16):
//
//	<p>:{dNN}:due                          sorted set "<seller>\n<actions op>" -> next due (µs)
//	<p>:{dNN}:jobs                         hash id -> "<send op>\n<deadline µs>\n<t|c>\n<payload>":
//	                                       every job waiting in a line or being handed off
//	<p>:{dNN}:handoff                      sorted set id -> released at (ms), until the queue has it
//	<p>:{dNN}:plans                        hash "<seller>\n<op>" -> "<rate> <burst>" (sellers-file overrides)
//	<p>:{dNN}:line:<seller>:<actions op>:t sorted set id -> eligible (µs), transactional jobs
//	<p>:{dNN}:line:<seller>:<actions op>:c sorted set id -> eligible (µs), campaign jobs
//	<p>:{dNN}:rl:<seller>:<op>             hash tat, ctat, obs, iv, b: one operation's GCRA
//	                                       schedule (expires a day after its last slot)
//	<p>:dispatch:wake                      pub/sub channel: a shard whose idle line got a job
//
// Released jobs are asynq tasks (type spmsg:message, task id = job id) in
// asynq's own keys, asynq:{<queue>}:..., which asynq owns; spmsg reads only
// the length of asynq:{<queue>}:pending (AsynqPending). The worker's
// durability probe writes spmsg:durable:probe (package redisguard).
package keyspace

import (
	"fmt"
	"strings"
)

// DefaultPrefix starts every key.
const DefaultPrefix = "spmsg"

// Space builds the key names under one prefix.
type Space struct{ prefix string }

// New returns the key space under prefix; "" means DefaultPrefix.
func New(prefix string) Space {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Space{prefix: prefix}
}

// Prefix is the prefix every key starts with.
func (s Space) Prefix() string { return s.prefix }

// Check refuses a prefix that would break the hash tags.
func (s Space) Check() error {
	if strings.ContainsAny(s.prefix, "{}") {
		return fmt.Errorf("key prefix %q contains a brace", s.prefix)
	}
	return nil
}

func (s Space) campaign(c string) string { return s.prefix + ":{c:" + c + "}:" }

// Job is a job's record.
func (s Space) Job(campaign, id string) string { return s.campaign(campaign) + "job:" + id }

// SendMark is the mark of an attempt that is sending the job.
func (s Space) SendMark(campaign, id string) string { return s.campaign(campaign) + "sending:" + id }

// Campaign is a campaign's counters.
func (s Space) Campaign(campaign string) string { return s.campaign(campaign) + "campaign" }

// Problems lists a campaign's failed and unconfirmed jobs.
func (s Space) Problems(campaign string) string { return s.campaign(campaign) + "problems" }

// CampaignSellers is the set of sellers with jobs in a campaign.
func (s Space) CampaignSellers(campaign string) string { return s.campaign(campaign) + "sellers" }

// JobRef names the campaign a job id is recorded under.
func (s Space) JobRef(id string) string { return s.prefix + ":jobref:" + id }

// LedgerOrder is the ledger entry of a once-per-order type for an order.
func (s Space) LedgerOrder(seller, order, typ string) string {
	return s.prefix + ":{" + seller + "}:ledger:order:" + order + ":" + typ
}

// LedgerIdem is the ledger entry of an idempotency key.
func (s Space) LedgerIdem(seller, key string) string {
	return s.prefix + ":{" + seller + "}:ledger:idem:" + key
}

// WakeChannel is the pub/sub channel on which a push to an idle line wakes
// the release loops.
func (s Space) WakeChannel() string { return s.prefix + ":dispatch:wake" }

// Shard is the key space of one dispatch shard.
func (s Space) Shard(n int) Shard { return Shard{base: fmt.Sprintf("%s:{d%02d}:", s.prefix, n)} }

// Shard builds the keys of one dispatch shard; they all carry its tag.
type Shard struct{ base string }

// Due is the shard's due index.
func (k Shard) Due() string { return k.base + "due" }

// Jobs holds every job waiting in the shard's lines or being handed off.
func (k Shard) Jobs() string { return k.base + "jobs" }

// Handoff holds the jobs released to the queue and not yet confirmed there.
func (k Shard) Handoff() string { return k.base + "handoff" }

// Plans holds the sellers-file overrides of the shard's sellers.
func (k Shard) Plans() string { return k.base + "plans" }

// Line is one seller's line for one API, class "t" or "c".
func (k Shard) Line(seller, actionsOp, class string) string {
	return k.base + "line:" + seller + ":" + actionsOp + ":" + class
}

// Sched is one seller's schedule for one operation.
func (k Shard) Sched(seller, op string) string { return k.base + "rl:" + seller + ":" + op }

// AsynqPending is asynq's list of a queue's pending tasks (asynq's layout,
// stable since v0.18).
func AsynqPending(queue string) string { return "asynq:{" + queue + "}:pending" }

// Base is the start of every key of the shard; the dispatch scripts derive
// the Line and Sched keys of the lines they visit from it.
func (k Shard) Base() string { return k.base }
