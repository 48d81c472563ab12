package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/ledger"
	"github.com/spmsg/spmsg/spapi"
)

// Amazon is what the worker needs from the SP-API client; *spapi.Client
// implements it.
type Amazon interface {
	// GetActions lists what Amazon offers for the order now, from the API
	// of type t (getMessagingActionsForOrder or
	// getSolicitationActionsForOrder).
	GetActions(ctx context.Context, sellerID, orderID, marketplaceID string, t spapi.MessageType) (*spapi.Actions, *spapi.Response, error)
	CreateUploadDestination(ctx context.Context, sellerID, resource, marketplaceID, contentMD5, contentType string) (*spapi.UploadDestination, *spapi.Response, error)
	Upload(ctx context.Context, dest *spapi.UploadDestination, body io.Reader, size int64) error
	Send(ctx context.Context, sellerID, orderID, marketplaceID string, t spapi.MessageType, req spapi.SendRequest) (*spapi.Response, error)
}

var _ Amazon = (*spapi.Client)(nil)

// Durability confirms that the writes Redis has already acknowledged are
// durable: on disk (appendfsync always, or WAITAOF) and on the replicas the
// deployment has. Confirm returns an error when that cannot be confirmed in
// time; the caller must then not act on those writes.
type Durability interface {
	Confirm(ctx context.Context) error
}

// DefaultMaxAge is how long a job without a deadline may wait to be sent
// before it ends expired.
const DefaultMaxAge = 7 * 24 * time.Hour

// Handler processes message jobs: availability, schema and policy checks,
// attachments, rate limits, the dedup ledger, the send, and one final
// outcome per job. Every field but Metrics and Logger is required.
type Handler struct {
	Amazon Amazon
	Store  attachstore.Store
	// Lines are the sellers' lines the jobs are released from (package
	// dispatch); the handler books slots there for jobs that hold none and
	// reports Amazon's rates and 429s to them.
	Lines    *dispatch.Dispatcher
	Ledger   *ledger.Ledger
	Outcomes *OutcomeStore
	Sellers  *Sellers
	Metrics  *Metrics
	Logger   *slog.Logger

	// MaxInlineWait is the longest quota wait slept inside the handler by a
	// job that holds no slot from its line (a retry, a redelivery); such a
	// job with a longer wait goes back to its seller's line. Default 1 s.
	MaxInlineWait time.Duration
	// StaleClaim is how old another job's ledger claim must be before it is
	// treated as in doubt. Default 10 min.
	StaleClaim time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	// Durable confirms, after a send's ledger claim and send mark are
	// written and before the send, that Redis has them on disk (and on its
	// replicas). A send that cannot be confirmed is not made; the job is
	// deferred. nil sends without confirmation (--dev, or a deployment
	// that accepted the risk).
	Durable Durability
	// ResendAfter5xx retries a send that Amazon answered with a 5xx
	// instead of ending it unconfirmed. Amazon may have processed such a
	// send, so the buyer can get the message twice. Off by default.
	ResendAfter5xx bool
	// MaxAge ends a job that has no deadline as expired once it is this
	// old (from enqueue). Default DefaultMaxAge.
	MaxAge time.Duration
	// ReviewRecheck is how long a review request waits before asking
	// again when its order is inside the review window but Amazon does not
	// offer it yet. Default DefaultReviewRecheck.
	ReviewRecheck time.Duration

	schemas  schemaCache
	observed sync.Map // dispatch.Key -> observation
}

// ProcessTask implements asynq.Handler.
func (h *Handler) ProcessTask(ctx context.Context, task *asynq.Task) error {
	start := time.Now()
	id, _ := asynq.GetTaskID(ctx)
	j, err := DecodeJob(task.Payload())
	if err != nil {
		if id == "" {
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		return h.badPayload(ctx, id, task.Payload(), start, err)
	}
	if id == "" {
		id = j.ID()
	}
	r := &run{h: h, id: id, job: j, start: start, log: h.logger().With("job_id", id, "seller", j.SellerID, "order", j.OrderID, "type", j.Type)}
	return r.process(ctx)
}

// badPayload handles a payload this worker cannot decode. One of a newer
// format version comes from a newer producer during a rolling update: it is
// retried with back-off (a newer worker may take it) and, when its attempts
// are spent, ends failed. Anything else is failed at once. Either way the
// outcome is recorded under the job's own campaign when the payload names
// one, so that campaign's pending count drops.
func (h *Handler) badPayload(ctx context.Context, id string, payload []byte, start time.Time, derr error) error {
	j := decodeLenient(payload)
	res := Result{Outcome: OutcomeFailed, Reason: "bad_payload", Message: derr.Error()}
	if errors.Is(derr, ErrNewerVersion) {
		retried, _ := asynq.GetRetryCount(ctx)
		if retried+1 < DefaultMaxAttempts {
			h.logger().Warn("job of a newer format; will retry (a newer worker may take it)", "job_id", id, "error", derr)
			return derr
		}
		res.Reason = "newer_version"
	}
	return h.finish(ctx, id, j, start, res, false)
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) maxInlineWait() time.Duration {
	if h.MaxInlineWait > 0 {
		return h.MaxInlineWait
	}
	return time.Second
}

func (h *Handler) maxAge() time.Duration {
	if h.MaxAge > 0 {
		return h.MaxAge
	}
	return DefaultMaxAge
}

func (h *Handler) staleClaim() time.Duration {
	if h.StaleClaim > 0 {
		return h.StaleClaim
	}
	return 10 * time.Minute
}

// finish records the final outcome (once) and ends the task successfully:
// the outcome record, not asynq's archive, is the job's result.
// dropMark also deletes the job's send mark, atomically with the record.
func (h *Handler) finish(ctx context.Context, id string, j *Job, start time.Time, res Result, dropMark bool) error {
	// Bookkeeping must survive a cancelled handler context.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	first, err := h.Outcomes.finish(wctx, id, j, res, dropMark)
	if err != nil {
		return err // retried by asynq; the outcome is written exactly once
	}
	if first {
		h.Metrics.job(res.Outcome, canonicalType(j.Type), start)
		lvl := slog.LevelInfo
		if res.Outcome == OutcomeFailed || res.Outcome == OutcomeUnconfirmed {
			lvl = slog.LevelWarn
		}
		h.logger().Log(wctx, lvl, "job finished", "job_id", id, "seller", j.SellerID, "order", j.OrderID,
			"type", j.Type, "outcome", res.Outcome, "reason", res.Reason, "code", res.Code, "message", res.Message,
			"request_id", res.RequestID)
	}
	return nil
}

// run is one attempt at one job.
type run struct {
	h       *Handler
	id      string
	job     *Job
	typ     spapi.MessageType
	start   time.Time
	log     *slog.Logger
	nonce   string // this attempt's send-guard owner
	guarded bool   // this attempt holds the send mark

	// The send mark may be dropped only if no send was attempted, the send
	// was answered with an error (or never left), or the outcome is
	// recorded; otherwise it stays, so a retry settles the job in doubt
	// instead of sending again.
	sendAttempted, sendRefused, settled bool
}

func (r *run) finish(ctx context.Context, res Result) error {
	err := r.h.finish(ctx, r.id, r.job, r.start, res, r.guarded)
	if err == nil {
		r.settled = true
		r.guarded = false // the record's script dropped the mark
	}
	return err
}

// settlePriorAttempt looks, before a job is ended as expired or invalid,
// for signs that an earlier attempt of it may have sent: its own ledger
// claim, or a send mark. Then the job is settled in doubt instead. done
// reports that it handled the job.
func (r *run) settlePriorAttempt(ctx context.Context) (done bool, err error) {
	t, ok := lookupType(r.job.Type)
	if !ok || r.job.SellerID == "" {
		return false, nil
	}
	r.typ = t
	keys := ledgerKeys(r.job, r.typ)
	for _, k := range keys {
		e, found, err := r.h.Ledger.Get(ctx, k)
		if err != nil {
			return true, err
		}
		if found && e.JobID == r.id && e.State == ledger.StateClaimed {
			return true, r.inDoubt(ctx, keys, "redelivered after an interrupted send", nil)
		}
	}
	st, age, err := r.acquireGuard(ctx)
	switch {
	case err != nil:
		return true, err
	case st == guardAcquired:
		r.release(ctx) // no earlier attempt was sending: drop the mark again
		return false, nil
	case st == guardFinal:
		return true, nil // an earlier attempt ended the job
	case st == guardBusy:
		return true, r.deferFor(max(guardStale-age, time.Second), "send_in_progress")
	}
	return true, r.inDoubt(ctx, keys, "an earlier attempt of this job was interrupted while sending", nil)
}

func (r *run) deferFor(d time.Duration, reason string) error {
	r.h.Metrics.deferred(reason)
	r.log.Debug("job deferred", "for", d, "reason", reason)
	return &DeferError{RetryIn: d, Reason: reason}
}

// transient returns err for asynq to retry with back-off, or ends the job
// as failed when its attempts are spent.
func (r *run) transient(ctx context.Context, reason string, err error) error {
	// Retried counts every failed attempt (crashes and timeouts too), also
	// those before the job went back to its line; waits for quota never
	// count.
	retried := r.retried(ctx)
	if retried+1 >= DefaultMaxAttempts {
		return r.finish(ctx, amazonResult(OutcomeFailed, reason+"_retries_exhausted", err))
	}
	r.log.Info("transient error, will retry", "attempt", retried+1, "error", err)
	return fmt.Errorf("%s: %w", reason, err)
}

// retried is the number of failed attempts of the job so far.
func (r *run) retried(ctx context.Context) int {
	n, _ := asynq.GetRetryCount(ctx)
	return n + r.job.Retried
}

func (r *run) process(ctx context.Context) error {
	h, j := r.h, r.job
	now := h.now()
	if dl := j.EffectiveDeadline(); dl != nil && now.After(*dl) {
		if done, err := r.settlePriorAttempt(ctx); done || err != nil {
			return err
		}
		return r.finish(ctx, expiredResult(j, *dl))
	}
	if nb := j.EffectiveNotBefore(); nb != nil && now.Before(*nb) {
		// A line releases a job up to its lead early; asynq may hand a
		// scheduled task (queued by an earlier release) over a second early.
		d := nb.Sub(now)
		if d > h.maxInlineWait() {
			return r.deferFor(max(d-time.Second, time.Second), "not_before")
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if err := (Validation{Sellers: h.Sellers}).Validate(j); err != nil {
		if reason, ok := rollingUpdate(err); ok {
			// A rolling update: a producer knows a seller or a type this
			// worker does not yet. Retry; another (or this, updated)
			// worker may know it.
			return r.transient(ctx, reason, err)
		}
		if done, err := r.settlePriorAttempt(ctx); done || err != nil {
			return err
		}
		return r.finish(ctx, Result{Outcome: OutcomeFailed, Reason: "invalid_job", Message: err.Error()})
	}
	r.typ, _ = lookupType(j.Type)

	keys := ledgerKeys(j, r.typ)
	for _, k := range keys {
		e, ok, err := h.Ledger.Get(ctx, k)
		if err != nil {
			return err
		}
		if ok && (e.State == ledger.StateSent || e.State == ledger.StateInDoubt) {
			return r.finishFromLedger(ctx, e)
		}
		if ok && e.State == ledger.StateClaimed && e.JobID == r.id {
			// This job claimed before and died before settling: the send
			// may have reached Amazon. Never resend; settle it.
			return r.inDoubt(ctx, keys, "redelivered after an interrupted send", nil)
		}
	}
	// A redelivery of a job that already ended is only acknowledged.
	final, enqueued, err := h.Outcomes.state(ctx, j.Campaign, r.id)
	if err != nil {
		return err
	}
	if final {
		r.log.Info("job already has its final outcome; redelivery ignored")
		return nil
	}
	if since := ageFrom(j, enqueued); j.EffectiveDeadline() == nil && !since.IsZero() && h.now().Sub(since) > h.maxAge() {
		if done, err := r.settlePriorAttempt(ctx); done || err != nil {
			return err
		}
		return r.finish(ctx, Result{Outcome: OutcomeExpired, Reason: "max_age",
			Message: fmt.Sprintf("not sent within the maximum age of %s (counted from %s; give a deadline to choose another)", h.maxAge(), since.UTC().Format(time.RFC3339))})
	}
	if requeued, err := r.acquire(ctx); err != nil || requeued {
		return err
	}
	defer r.release(ctx)
	actionsKey := dispatch.Key{Seller: j.SellerID, Operation: r.typ.ActionsOperation()}
	sendKey := dispatch.Key{Seller: j.SellerID, Operation: r.typ.OperationID}
	return r.checkAndSend(ctx, keys, actionsKey, sendKey)
}

func (r *run) checkAndSend(ctx context.Context, keys []ledger.Key, actionsKey, sendKey dispatch.Key) error {
	h, j := r.h, r.job
	t0 := time.Now()
	acts, resp, err := h.Amazon.GetActions(ctx, j.SellerID, j.OrderID, j.MarketplaceID, r.typ)
	h.Metrics.call(r.typ.ActionsOperation(), t0, resp, err)
	r.observe(ctx, actionsKey, resp, err)
	if err != nil {
		return r.amazonError(ctx, "availability", actionsKey, err)
	}
	action, ok := acts.Find(r.typ)
	if !ok {
		// A once-per-order type is no longer offered once sent: if another
		// job sent it while this one waited for its slot, say so.
		for _, k := range keys {
			e, ok, err := h.Ledger.Get(ctx, k)
			switch {
			case err != nil || !ok:
			case e.State == ledger.StateSent || e.State == ledger.StateInDoubt:
				return r.finishFromLedger(ctx, e)
			case e.State == ledger.StateClaimed && e.JobID != r.id && h.now().Sub(e.ClaimedAt) < h.staleClaim():
				// Another job is sending it right now: wait for its outcome
				// so this one ends a duplicate, not unavailable.
				return r.deferFor(2*time.Second, "ledger_busy")
			}
		}
		if r.typ.API == spapi.APISolicitations {
			return r.reviewNotOffered(ctx, resp)
		}
		return r.finish(ctx, Result{Outcome: OutcomeSkippedUnavailable, Reason: "not_offered", RequestID: requestID(resp),
			Message: "Amazon does not offer " + r.typ.Name + " for this order now"})
	}
	if action.Disabled {
		return r.finish(ctx, Result{Outcome: OutcomeSkippedUnavailable, Reason: "disabled", RequestID: requestID(resp),
			Message: "Amazon offers " + r.typ.Name + " for this order but disabled it: " + action.DisabledReason})
	}
	problems, err := h.schemas.check(action.Schema, j.OrderID, r.typ, j)
	if err != nil {
		r.log.Warn("could not use the live schema; checked against the type table only", "error", err)
	}
	if len(problems) > 0 {
		return r.finish(ctx, Result{Outcome: OutcomeFailed, Reason: "content_invalid", Message: (&ValidationError{Problems: problems}).Error()})
	}

	req := spapi.SendRequest{Text: j.Text, CoverageStartDate: j.CoverageStart, CoverageEndDate: j.CoverageEnd}
	if !r.typ.Has(spapi.FieldText) {
		req.Text = ""
	}
	if len(j.Attachments) > 0 {
		atts, err := r.uploadAll(ctx)
		if err != nil {
			return err
		}
		if atts == nil {
			return nil // finished inside uploadAll
		}
		req.Attachments = atts
	}
	return r.send(ctx, keys, sendKey, req)
}

func (r *run) send(ctx context.Context, keys []ledger.Key, sendKey dispatch.Key, req spapi.SendRequest) error {
	h, j := r.h, r.job
	if len(keys) > 0 {
		res, err := h.Ledger.Claim(ctx, keys, r.id, h.staleClaim())
		if err != nil {
			return err
		}
		switch res.Status {
		case ledger.Done:
			return r.finishFromLedger(ctx, res.Entry)
		case ledger.Busy:
			return r.deferFor(5*time.Second, "ledger_busy")
		case ledger.Mine:
			// This job claimed before and did not finish: a crash may have
			// happened after the send reached Amazon.
			return r.inDoubt(ctx, keys, "redelivered after an interrupted send", nil)
		}
	}
	// Mark the job as being sent, so a redelivery while (or after) this
	// attempt sends cannot send again.
	switch st, age, err := r.acquireGuard(ctx); {
	case err != nil:
		r.releaseLedger(ctx, keys)
		return err
	case st == guardBusy:
		r.releaseLedger(ctx, keys)
		return r.deferFor(max(guardStale-age, time.Second), "send_in_progress")
	case st == guardFinal:
		// Another attempt finished the job after the redelivery check.
		r.releaseLedger(ctx, keys)
		return nil
	case st == guardExpired:
		// An earlier attempt died after it may have sent.
		return r.inDoubt(ctx, keys, "an earlier attempt of this job was interrupted while sending", nil)
	}
	// The claim and the mark must survive a Redis crash before the send:
	// lost, they would let the job be sent again.
	if h.Durable != nil {
		if err := h.Durable.Confirm(ctx); err != nil {
			r.sendRefused = true // nothing was sent: the mark may go
			r.releaseLedger(ctx, keys)
			r.log.Warn("Redis did not confirm the claim durable; send deferred", "error", err)
			return r.deferFor(5*time.Second, "durability")
		}
	}
	// (process's deferred release removes the mark after the outcome is
	// recorded.) The send's slot was booked with the availability check's.
	t0 := time.Now()
	r.sendAttempted = true
	resp, err := h.Amazon.Send(ctx, j.SellerID, j.OrderID, j.MarketplaceID, r.typ, req)
	resend := r.resends(err)
	if err != nil && (!spapi.IsOutcomeUnknown(err) || resend) {
		// Amazon answered with an error, or the request never left (or the
		// deployment chose to resend after a 5xx).
		r.sendRefused = true
	}
	h.Metrics.call(r.typ.OperationID, t0, resp, err)
	r.observe(ctx, sendKey, resp, err)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil {
		if len(keys) > 0 {
			if err := h.Ledger.Commit(wctx, keys, r.id, requestID(resp)); err != nil {
				return err
			}
		}
		return r.finish(ctx, Result{Outcome: OutcomeSent, Reason: "sent", RequestID: requestID(resp)})
	}
	if spapi.IsOutcomeUnknown(err) && !resend {
		why := "the send reached Amazon but its answer was lost"
		if spapi.IsSendServerError(err) {
			why = "Amazon answered the send with a server error after receiving it"
		}
		return r.inDoubt(wctx, keys, why, err)
	}
	if len(keys) > 0 {
		if rerr := h.Ledger.Release(wctx, keys, r.id); rerr != nil {
			return rerr
		}
	}
	return r.amazonError(ctx, "send", sendKey, err)
}

// releaseLedger gives the job's ledger claims back (nothing was sent).
func (r *run) releaseLedger(ctx context.Context, keys []ledger.Key) {
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = r.h.Ledger.Release(ctx, keys, r.id)
}

// finishFromLedger ends a job whose ledger entry is already sent or in
// doubt. Another job's entry makes this one a duplicate; this job's own
// entry means it got that far before a crash kept it from recording its
// outcome.
func (r *run) finishFromLedger(ctx context.Context, e ledger.Entry) error {
	if e.JobID == r.id {
		if e.State == ledger.StateSent {
			return r.finish(ctx, Result{Outcome: OutcomeSent, Reason: "recovered_from_ledger", RequestID: e.RequestID,
				Message: "sent by an earlier attempt of this job"})
		}
		return r.finish(ctx, Result{Outcome: OutcomeUnconfirmed, Reason: "answer_lost",
			Message: "an earlier attempt of this job lost Amazon's answer; not resent, to avoid messaging the buyer twice"})
	}
	return r.finish(ctx, Result{Outcome: OutcomeSkippedDuplicate, Reason: "ledger_" + string(e.State),
		Message: fmt.Sprintf("already %s by job %s", e.State, e.JobID), RequestID: e.RequestID})
}

// inDoubt settles a send whose answer never came. It is never resent: for
// a once-per-order type, availability is checked again and a vanished
// action settles it as sent; otherwise the job ends unconfirmed and the
// ledger keeps the pair in doubt.
func (r *run) inDoubt(ctx context.Context, keys []ledger.Key, why string, cause error) error {
	h, j := r.h, r.job
	res := amazonResult(OutcomeUnconfirmed, "answer_lost", cause)
	res.Message = why + "; not resent, to avoid messaging the buyer twice"
	if r.typ.OncePerOrder {
		acts, resp, err := h.Amazon.GetActions(ctx, j.SellerID, j.OrderID, j.MarketplaceID, r.typ)
		if err == nil {
			if _, still := acts.Find(r.typ); !still {
				if len(keys) > 0 {
					if err := h.Ledger.Commit(ctx, keys, r.id, requestID(resp)); err != nil {
						return err
					}
				}
				return r.finish(ctx, Result{Outcome: OutcomeSent, Reason: "settled_by_availability", RequestID: requestID(resp),
					Message: why + "; Amazon no longer offers this once-per-order type for the order, so it was sent"})
			}
		}
	}
	if len(keys) > 0 {
		if err := h.Ledger.MarkInDoubt(ctx, keys, r.id); err != nil {
			return err
		}
	}
	return r.finish(ctx, res)
}

// amazonError classifies an SP-API error: 429 puts the job back in its
// line without spending an attempt, 5xx and network errors before the wire retry with back-off,
// an unavailable type is skipped, everything else fails for good.
func (r *run) amazonError(ctx context.Context, step string, key dispatch.Key, err error) error {
	switch {
	case spapi.IsThrottled(err):
		// The seller's bucket is empty: its next release waits, and the
		// job goes back in its line behind that wait.
		_ = r.h.Lines.Throttled(ctx, key)
		r.h.Metrics.deferred("throttled")
		return r.requeue(ctx, time.Now())
	case spapi.IsOutsideReviewWindow(err):
		return r.finish(ctx, amazonResult(OutcomeSkippedUnavailable, "outside_review_window", err))
	case spapi.IsUnavailable(err):
		return r.finish(ctx, amazonResult(OutcomeSkippedUnavailable, "not_offered", err))
	case r.resends(err), spapi.IsRetryable(err), spapi.IsTokenError(err) && !isLWAPermanent(err), errors.Is(err, context.DeadlineExceeded):
		return r.transient(ctx, step, err)
	default:
		reason := step + "_rejected"
		if isLWAPermanent(err) {
			reason = "credentials"
		}
		return r.finish(ctx, amazonResult(OutcomeFailed, reason, err))
	}
}

// resends reports a send answered 5xx that the deployment chose to resend
// (ResendAfter5xx). A once-per-order type is never resent, even then:
// Amazon has usually used the type up, and availability settles it exactly.
func (r *run) resends(err error) bool {
	return err != nil && r.h.ResendAfter5xx && !r.typ.OncePerOrder && spapi.IsSendServerError(err)
}

func isLWAPermanent(err error) bool {
	var le *spapi.LWAError
	if errors.As(err, &le) {
		switch le.Code {
		case "invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "invalid_scope":
			return true
		}
	}
	return false
}

func amazonResult(o Outcome, reason string, err error) Result {
	res := Result{Outcome: o, Reason: reason}
	if err == nil {
		return res
	}
	res.Message = err.Error()
	var e *spapi.Error
	if errors.As(err, &e) {
		res.Code, res.RequestID = e.Code, e.RequestID
		if e.Message != "" {
			res.Message = e.Message
			if e.Details != "" {
				res.Message += " (" + e.Details + ")"
			}
		}
	}
	var le *spapi.LWAError
	if errors.As(err, &le) {
		res.Code = le.Code
	}
	return res
}

func requestID(resp *spapi.Response) string {
	if resp == nil {
		return ""
	}
	return resp.RequestID
}

func ledgerKeys(j *Job, t spapi.MessageType) []ledger.Key {
	var keys []ledger.Key
	if t.OncePerOrder {
		keys = append(keys, ledger.OrderKey(j.SellerID, j.OrderID, t.Name))
	}
	if j.IdempotencyKey != "" {
		keys = append(keys, ledger.IdemKey(j.SellerID, j.IdempotencyKey))
	}
	return keys
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
