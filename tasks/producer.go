package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/jobstate"
)

// Producer validates and enqueues message jobs. Order pipelines (through
// the Go API, `enqueue send` or the HTTP API) and batch campaigns all go
// through it, so they share one validation and one duplicate check.
type Producer struct {
	// Lines takes each job into its seller's line; required.
	Lines *dispatch.Dispatcher
	// Outcomes records accepted jobs; required.
	Outcomes *jobstate.OutcomeStore
	// Ledger, when set, refuses a once-per-order job or an idempotency key
	// that the ledger says went already.
	Ledger *jobstate.Ledger
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
	steps := []func(context.Context, string, *Job, *EnqueueResult) (bool, error){p.sentBefore, p.recordedBefore, p.accept}
	for _, step := range steps {
		done, err := step(ctx, id, j, &res)
		if err != nil {
			return EnqueueResult{}, err
		}
		if done {
			break
		}
	}
	return res, nil
}

// sentBefore reports a job whose once-per-order type or idempotency key
// the ledger says went already (or may have) as a duplicate.
func (p *Producer) sentBefore(ctx context.Context, id string, j *Job, res *EnqueueResult) (bool, error) {
	t, _ := lookupType(j.Type)
	keys := ledgerKeys(j, t)
	if p.Ledger == nil || len(keys) == 0 {
		return false, nil
	}
	k, e, ok, err := p.Ledger.First(ctx, keys, id)
	if err != nil || !ok || e.State == jobstate.EntryClaimed {
		return false, err
	}
	res.Status, res.DuplicateOf = StatusDuplicate, e.JobID
	res.Reason = fmt.Sprintf("the ledger says %s already went (%s)", describeKey(k), e.State)
	if k.IdempotencyKey == "" {
		return true, nil
	}
	c, ok, err := p.Outcomes.CampaignOf(ctx, id)
	if err != nil || !ok {
		return true, err
	}
	return true, p.checkDigest(ctx, c, id, j, res)
}

// recordedBefore reports a job already on record under another campaign
// (an idempotency key, a batch-chosen campaign) or under its legacy id as
// a duplicate, in one round trip.
func (p *Producer) recordedBefore(ctx context.Context, id string, j *Job, res *EnqueueResult) (bool, error) {
	var lookup []string
	byID := j.IdempotencyKey != "" || j.AutoCampaign
	if byID {
		lookup = append(lookup, id)
	}
	legacy := ""
	if legacyIDsKept(time.Now()) {
		legacy = j.legacyID()
		lookup = append(lookup, legacy)
	}
	if len(lookup) == 0 {
		return false, nil
	}
	found, ok, err := p.Outcomes.CampaignsOf(ctx, lookup...)
	if err != nil {
		return false, err
	}
	if legacy != "" && ok[len(ok)-1] {
		res.Status, res.DuplicateOf = StatusDuplicate, legacy
		res.Reason = "the same job was accepted before this release (under its earlier id)"
		return true, nil
	}
	// The id of a job with an idempotency key does not depend on its
	// campaign: the same key in another campaign is the same job.
	c := found[0]
	if !byID || !ok[0] || c == j.Campaign {
		return false, nil
	}
	res.Status, res.DuplicateOf = StatusDuplicate, id
	res.Reason = fmt.Sprintf("idempotency key %q was already used (campaign %q)", j.IdempotencyKey, c)
	if j.IdempotencyKey == "" {
		res.Reason = fmt.Sprintf("the same job was already accepted (campaign %q)", c)
	}
	return true, p.checkDigest(ctx, c, id, j, res)
}

// accept records the job and puts it in its seller's line. A job already
// on record is a duplicate, unless it is on record but neither in its line
// nor queued (its producer died in between): then it joins its line now.
func (p *Producer) accept(ctx context.Context, id string, j *Job, res *EnqueueResult) (bool, error) {
	ref := j.Ref(id)
	ref.Digest = messageDigest(j)
	created, digest, err := p.Outcomes.Accept(ctx, ref)
	if err != nil {
		return false, err
	}
	if !created {
		if dup, err := p.onRecord(ctx, id, j, digest, res); err != nil || dup {
			return true, err
		}
	}
	fresh := *j
	fresh.Retried = 0 // a worker's count, never a producer's
	payload, err := fresh.Encode()
	if err != nil {
		return false, err
	}
	t, _ := lookupType(j.Type)
	added, err := p.Lines.Push(ctx, lineEntry(id, j, t, payload))
	if err != nil || !added {
		if created {
			_ = p.Outcomes.Rollback(context.WithoutCancel(ctx), ref)
		}
		if err != nil {
			return false, fmt.Errorf("enqueue job %s: %w", id, err)
		}
		res.Status, res.DuplicateOf, res.Reason = StatusDuplicate, id, "the same job is already queued"
		return true, nil
	}
	res.Status = StatusAccepted
	return true, nil
}

// onRecord says whether a job already on record is a duplicate (its
// message conflicts, it ended, or it waits in its line or queue), and
// false for one an earlier Enqueue recorded but never queued.
func (p *Producer) onRecord(ctx context.Context, id string, j *Job, digest string, res *EnqueueResult) (bool, error) {
	res.Status, res.DuplicateOf = StatusDuplicate, id
	if j.IdempotencyKey != "" && digest != "" && digest != messageDigest(j) {
		res.Conflict, res.Reason = true, conflictReason(j)
		return true, nil
	}
	rec, err := p.Outcomes.Get(ctx, id)
	if err != nil {
		return true, err
	}
	if rec.Outcome != "" {
		res.Reason = "the same job already ended: " + string(rec.Outcome)
		return true, nil
	}
	res.Reason = "the same job is already queued"
	if p.Inspector == nil {
		return true, nil
	}
	if waiting, err := p.Lines.Waiting(ctx, j.SellerID, id); err != nil || waiting {
		return true, nil // in its line (or unknown: do not risk a second copy)
	}
	_, err = p.Inspector.GetTaskInfo(res.Queue, id)
	if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		return true, nil // queued (or unknown: do not risk a second copy)
	}
	*res = EnqueueResult{ID: id, Queue: res.Queue} // on record but not queued: queue it
	return false, nil
}

// checkDigest marks res, a duplicate by idempotency key, as a conflict
// when the job on record under campaign was first enqueued with another
// message. A record without a digest (kept before digests were) is no
// conflict.
func (p *Producer) checkDigest(ctx context.Context, campaign, id string, j *Job, res *EnqueueResult) error {
	d, err := p.Outcomes.DigestOf(ctx, campaign, id)
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

func describeKey(k jobstate.Key) string {
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
		Outcomes:   jobstate.NewOutcomeStore(rdb, "", 0),
		Ledger:     jobstate.NewLedger(rdb, ""),
		Validation: Validation{Sellers: sellers},
	}
}
