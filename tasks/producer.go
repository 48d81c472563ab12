package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/ledger"
)

// Producer validates and enqueues message jobs. Order pipelines (through
// the Go API, `enqueue send` or the HTTP API) and batch campaigns all go
// through it, so they share one validation and one duplicate check.
type Producer struct {
	// Lines takes each job into its seller's line; required.
	Lines *dispatch.Dispatcher
	// Outcomes records accepted jobs; required.
	Outcomes *OutcomeStore
	// Ledger, when set, refuses a once-per-order job or an idempotency key
	// that the ledger says went already.
	Ledger *ledger.Ledger
	// Validation is the same validation the worker runs.
	Validation Validation
	// Inspector, when set, lets Enqueue re-queue a job that is on record
	// but neither in its line nor queued (its producer died between the two
	// steps).
	Inspector *asynq.Inspector
}

// Enqueue statuses.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
)

// EnqueueResult says what happened to one job.
type EnqueueResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// DuplicateOf names the job this one duplicates (its own id when the
	// same job is already queued or finished), and Reason says how it was
	// recognised.
	DuplicateOf string `json:"duplicate_of,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Queue       string `json:"queue,omitempty"`
	// Conflict is set on a duplicate whose idempotency key was first used
	// with a different message (another text, order, attachments...): the
	// new message was NOT enqueued, and the first one stands. Reason says
	// so. The HTTP API answers it 422; a caller should report it as an
	// error rather than a harmless duplicate.
	Conflict bool `json:"conflict,omitempty"`
}

// Enqueue validates j and puts it on the queue. A job that is already
// queued, already finished (within the outcome retention), or already in
// the ledger is reported as a duplicate, not an error. Invalid jobs return
// a *ValidationError naming every bad field. A job whose idempotency key
// was first used with a different message (see EnqueueResult.Conflict) is
// a duplicate with Conflict set.
//
// The job's record is created first (one round trip that also tells a
// duplicate), then the job joins its seller's line (package dispatch),
// from which a worker process releases it to the queue when the seller's
// quota has a slot for it. If the job cannot join its line the record is
// rolled back; if the process dies in between, the record is pending
// without a job, and the next Enqueue of the same job finds that out (with
// Inspector set) and queues it, so a job is never lost.
func (p *Producer) Enqueue(ctx context.Context, j *Job) (EnqueueResult, error) {
	if err := p.Validation.Validate(j); err != nil {
		return EnqueueResult{}, err
	}
	id := j.ID()
	res := EnqueueResult{ID: id, Queue: QueueFor(j)}
	if p.Ledger != nil {
		t, _ := lookupType(j.Type)
		for _, k := range ledgerKeys(j, t) {
			e, ok, err := p.Ledger.Get(ctx, k)
			if err != nil {
				return EnqueueResult{}, err
			}
			if ok && (e.State == ledger.StateSent || e.State == ledger.StateInDoubt) {
				res.Status, res.DuplicateOf = StatusDuplicate, e.JobID
				res.Reason = fmt.Sprintf("the ledger says %s already went (%s)", describeKey(k), e.State)
				if k.IdempotencyKey != "" {
					c, ok, err := p.Outcomes.campaignOf(ctx, id)
					if err != nil {
						return EnqueueResult{}, err
					}
					if ok {
						if err := p.checkDigest(ctx, c, id, j, &res); err != nil {
							return EnqueueResult{}, err
						}
					}
				}
				return res, nil
			}
		}
	}
	// One round trip for the records the job may already have: under its
	// id when that leaves the campaign out (an idempotency key, a
	// batch-chosen campaign), and, while records from before the id became
	// length-prefixed are kept, under its legacy id.
	var lookup []string
	if j.IdempotencyKey != "" || j.AutoCampaign {
		lookup = append(lookup, id)
	}
	legacy := ""
	if legacyIDsKept(time.Now()) {
		legacy = j.legacyID()
		lookup = append(lookup, legacy)
	}
	var found []string
	var ok []bool
	if len(lookup) > 0 {
		var err error
		if found, ok, err = p.Outcomes.campaignsOf(ctx, lookup...); err != nil {
			return EnqueueResult{}, err
		}
	}
	if legacy != "" && ok[len(ok)-1] {
		res.Status, res.DuplicateOf = StatusDuplicate, legacy
		res.Reason = "the same job was accepted before this release (under its earlier id)"
		return res, nil
	}
	if j.IdempotencyKey != "" || j.AutoCampaign {
		// The id of a job with an idempotency key does not depend on its
		// campaign: the same key in another campaign is the same job.
		if c := found[0]; ok[0] && c != j.Campaign {
			res.Status, res.DuplicateOf = StatusDuplicate, id
			res.Reason = fmt.Sprintf("idempotency key %q was already used (campaign %q)", j.IdempotencyKey, c)
			if j.IdempotencyKey == "" {
				res.Reason = fmt.Sprintf("the same job was already accepted (campaign %q)", c)
			}
			if err := p.checkDigest(ctx, c, id, j, &res); err != nil {
				return EnqueueResult{}, err
			}
			return res, nil
		}
	}
	created, digest, err := p.Outcomes.accept(ctx, id, j)
	if err != nil {
		return EnqueueResult{}, err
	}
	if !created && j.IdempotencyKey != "" && digest != "" && digest != messageDigest(j) {
		res.Status, res.DuplicateOf = StatusDuplicate, id
		res.Conflict, res.Reason = true, conflictReason(j)
		return res, nil
	}
	if !created {
		rec, err := p.Outcomes.Get(ctx, id)
		if err != nil {
			return EnqueueResult{}, err
		}
		res.Status, res.DuplicateOf = StatusDuplicate, id
		if rec.Outcome != "" {
			res.Reason = "the same job already ended: " + string(rec.Outcome)
			return res, nil
		}
		res.Reason = "the same job is already queued"
		if p.Inspector == nil {
			return res, nil
		}
		if waiting, err := p.Lines.Waiting(ctx, j.SellerID, id); err != nil || waiting {
			return res, nil // in its line (or unknown: do not risk a second copy)
		}
		_, err = p.Inspector.GetTaskInfo(res.Queue, id)
		if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			return res, nil // queued (or unknown: do not risk a second copy)
		}
		// On record but not queued: an earlier Enqueue died in between.
	}
	fresh := *j
	fresh.Retried = 0 // a worker's count, never a producer's
	payload, err := fresh.Encode()
	if err != nil {
		return EnqueueResult{}, err
	}
	t, _ := lookupType(j.Type)
	added, err := p.Lines.Push(ctx, lineEntry(id, j, t, payload))
	if err != nil || !added {
		if created {
			_ = p.Outcomes.rollback(context.WithoutCancel(ctx), id, j)
		}
		if err != nil {
			return EnqueueResult{}, fmt.Errorf("enqueue job %s: %w", id, err)
		}
		res.Status, res.DuplicateOf, res.Reason = StatusDuplicate, id, "the same job is already queued"
		return res, nil
	}
	res.Status, res.DuplicateOf, res.Reason = StatusAccepted, "", ""
	return res, nil
}

// checkDigest marks res, a duplicate by idempotency key, as a conflict
// when the job on record under campaign was first enqueued with another
// message. A record without a digest (kept before digests were) is no
// conflict.
func (p *Producer) checkDigest(ctx context.Context, campaign, id string, j *Job, res *EnqueueResult) error {
	d, err := p.Outcomes.digestOf(ctx, campaign, id)
	if err != nil {
		return err
	}
	if d != "" && d != messageDigest(j) {
		res.Conflict, res.Reason = true, conflictReason(j)
	}
	return nil
}

func conflictReason(j *Job) string {
	return fmt.Sprintf("idempotency key %q was first used with a different message; the new message was not enqueued", j.IdempotencyKey)
}

func describeKey(k ledger.Key) string {
	if k.IdempotencyKey != "" {
		return "idempotency key " + k.IdempotencyKey
	}
	return k.Type + " for order " + k.Order
}

// NewProducer returns a Producer on a Redis client, validating against the
// given sellers (the same sellers file the workers use).
func NewProducer(rdb redis.UniversalClient, sellers *Sellers) *Producer {
	return &Producer{
		Lines:      NewDispatcher(rdb, dispatch.Options{}),
		Inspector:  asynq.NewInspectorFromRedisClient(rdb),
		Outcomes:   NewOutcomeStore(rdb, "", 0),
		Ledger:     ledger.New(rdb, ""),
		Validation: Validation{Sellers: sellers},
	}
}
