package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/wait"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
)

// phase is how far an attempt got. It alone says what the attempt holds in
// Redis, and so what leaving it gives back (exit.go). A send that Amazon
// refused moves it back from sending to marked: nothing went.
type phase int

const (
	// phaseBegun: it read what earlier attempts left; it holds nothing.
	phaseBegun phase = iota
	// phaseReserved: its quota slot came; nothing to give back.
	phaseReserved
	// phaseClaimed: it holds the job's ledger claims.
	phaseClaimed
	// phaseMarked: it holds the claims, and the job's send mark if the mark
	// is its own (the nonce says; a twin's mark is never touched).
	phaseMarked
	// phaseSending: the request may have reached Amazon. Nothing is given
	// back: a redelivery finds the claims and the mark and settles the
	// job in doubt, never sending it again.
	phaseSending
	// phaseSettled: the job's outcome is recorded.
	phaseSettled
)

// attempt is one attempt at one job. Its steps run in order; each either
// moves it to the next phase or returns an exit (exit.go).
type attempt struct {
	h       *Handler
	job     *Job
	ref     jobstate.Ref
	typ     spapi.MessageType // zero when the job's type is unknown
	keys    []jobstate.Key    // its ledger keys; none when the ledger does not cover it
	badKeys error             // why the job cannot have its ledger keys (then it has none)
	start   time.Time
	log     *slog.Logger
	retried int    // failed attempts before this one, crashes and timeouts included
	nonce   string // this attempt's send mark owner
	phase   phase
}

func (h *Handler) newAttempt(ctx context.Context, id string, j *Job, start time.Time) *attempt {
	n, _ := asynq.GetRetryCount(ctx)
	a := &attempt{h: h, job: j, ref: j.Ref(id), start: start, retried: n + j.Retried,
		log: h.log.With("job_id", id, "seller", j.SellerID, "order", j.OrderID, "type", j.Type)}
	if t, ok := lookupType(j.Type); ok && j.SellerID != "" {
		a.typ, a.keys = t, ledgerKeys(j, t)
		if a.badKeys = jobstate.CheckKeys(a.keys); a.badKeys != nil {
			a.keys = nil // never sent: begin ends it invalid
		}
	}
	return a
}

// do runs the attempt's steps and leaves it.
func (a *attempt) do(ctx context.Context) error {
	return a.exit(ctx, a.steps(ctx))
}

func (a *attempt) steps(ctx context.Context) error {
	if err := a.begin(ctx); err != nil {
		return err
	}
	if err := a.reserve(ctx); err != nil {
		return err
	}
	if err := a.check(ctx); err != nil {
		return err
	}
	req, err := a.request(ctx)
	if err != nil {
		return err
	}
	if err := a.claim(ctx); err != nil {
		return err
	}
	return a.send(ctx, req)
}

// begin looks at what earlier attempts left and at the job itself: it may
// have ended already, been interrupted while sending, have expired, not be
// due yet, be invalid, or have been sent by another job.
func (a *attempt) begin(ctx context.Context) error {
	j, c := a.job, a.h.c
	prior, err := c.State.Begin(ctx, a.ref, a.keys)
	if err != nil {
		return err
	}
	if err := a.prior(ctx, prior); err != nil {
		return err
	}
	now := c.Now()
	if dl := j.EffectiveDeadline(); dl != nil && now.After(*dl) {
		return end(expiredResult(j, *dl))
	}
	if nb := j.EffectiveNotBefore(); nb != nil && now.Before(*nb) {
		// A line releases a job up to its lead early; asynq may hand a
		// scheduled task (queued by an earlier release) over a second early.
		d := nb.Sub(now)
		if d > c.MaxInlineWait {
			return deferFor(max(d-time.Second, time.Second), DeferNotBefore)
		}
		if err := wait.Sleep(ctx, d); err != nil {
			return err
		}
	}
	if err := (Validation{Sellers: c.Sellers}).Validate(j); err != nil {
		if step, ok := rollingUpdate(err); ok {
			// A producer knows a seller or a type this worker does not yet:
			// another (or this, updated) worker may know it.
			return retry(step, err)
		}
		return end(jobstate.Result{Outcome: jobstate.OutcomeFailed, Reason: jobstate.ReasonInvalidJob, Message: err.Error()})
	}
	if a.badKeys != nil {
		return end(jobstate.Result{Outcome: jobstate.OutcomeFailed, Reason: jobstate.ReasonInvalidJob, Message: a.badKeys.Error()})
	}
	if prior.HasEntry && prior.Entry.State != jobstate.EntryClaimed {
		return a.fromLedger(prior.Entry)
	}
	if since := ageFrom(j, prior.Enqueued); j.EffectiveDeadline() == nil && !since.IsZero() && now.Sub(since) > c.MaxAge {
		return end(jobstate.Result{Outcome: jobstate.OutcomeExpired, Reason: jobstate.ReasonMaxAge,
			Message: fmt.Sprintf("not sent within the maximum age of %s (counted from %s; give a deadline to choose another)", c.MaxAge, since.UTC().Format(time.RFC3339))})
	}
	return nil
}

// prior ends or defers a job that an earlier attempt ended, or left while
// it may have been sending.
func (a *attempt) prior(ctx context.Context, p jobstate.Prior) error {
	mine := p.HasEntry && p.Entry.JobID == a.ref.ID
	switch {
	case p.Final:
		a.log.Info("job already has its final outcome; redelivery ignored")
		return errAck
	case mine && p.Entry.State != jobstate.EntryClaimed:
		// An earlier attempt sent (or lost the answer) and died before
		// recording the outcome.
		return a.fromLedger(p.Entry)
	case mine && p.Mark == jobstate.MarkBusy:
		// An earlier attempt of this job may still be sending (asynq
		// requeues a running task at shutdown or at its timeout): let it
		// settle the job.
		return deferFor(max(jobstate.MarkStaleAfter-p.MarkAge, time.Second), DeferSendInProgress)
	case mine:
		// This job claimed before and died before settling: the send may
		// have reached Amazon. Never resend; settle it.
		return a.inDoubt(ctx, "redelivered after an interrupted send", nil)
	case p.HasEntry:
		// Another job holds or took the pair, so no earlier attempt of
		// this one can have sent: the ledger decides, below and at the
		// claim.
		return nil
	case p.Mark == jobstate.MarkStale:
		return a.inDoubt(ctx, "an earlier attempt of this job was interrupted while sending", nil)
	case p.Mark == jobstate.MarkBusy:
		return deferFor(max(jobstate.MarkStaleAfter-p.MarkAge, time.Second), DeferSendInProgress)
	}
	return nil
}

// check asks Amazon whether it offers the job's type for the order now,
// and checks the job against the schema Amazon gives.
func (a *attempt) check(ctx context.Context) error {
	j, c := a.job, a.h.c
	key := dispatch.Key{Seller: j.SellerID, Operation: a.typ.ActionsOperation()}
	t0 := time.Now()
	acts, resp, err := c.Amazon.GetActions(ctx, j.SellerID, j.OrderID, j.MarketplaceID, a.typ)
	c.Metrics.call(key.Operation, t0, resp, err)
	a.observe(ctx, key, resp, err)
	if err != nil {
		return a.amazonError(ctx, jobstate.StepAvailability, key, err)
	}
	action, ok := acts.Find(a.typ)
	if !ok {
		return a.notOffered(ctx, resp)
	}
	if action.Disabled {
		return end(jobstate.Result{Outcome: jobstate.OutcomeSkippedUnavailable, Reason: jobstate.ReasonDisabled, RequestID: requestID(resp),
			Message: "Amazon offers " + a.typ.Name + " for this order but disabled it: " + action.DisabledReason})
	}
	problems, err := a.h.schemas.check(action.Schema, j.OrderID, a.typ, j)
	if err != nil {
		a.log.Warn("could not use the live schema; checked against the type table only", "error", err)
	}
	if len(problems) > 0 {
		return end(jobstate.Result{Outcome: jobstate.OutcomeFailed, Reason: jobstate.ReasonContentInvalid, Message: (&ValidationError{Problems: problems}).Error()})
	}
	return nil
}

// notOffered ends a job whose type Amazon does not offer for the order.
// A once-per-order type is no longer offered once sent: if another job
// sent it while this one waited for its slot, the job is a duplicate.
func (a *attempt) notOffered(ctx context.Context, resp *spapi.Response) error {
	c := a.h.c
	if len(a.keys) > 0 {
		p, err := c.State.Begin(ctx, a.ref, a.keys)
		switch {
		case err != nil || !p.HasEntry:
		case p.Entry.State != jobstate.EntryClaimed:
			return a.fromLedger(p.Entry)
		case p.Entry.JobID != a.ref.ID && c.Now().Sub(p.Entry.ClaimedAt) < c.StaleClaim:
			// Another job is sending it right now: wait for its outcome so
			// this one ends a duplicate, not unavailable.
			return deferFor(2*time.Second, DeferLedgerBusy)
		}
	}
	if a.typ.API == spapi.APISolicitations {
		return a.reviewNotOffered(resp)
	}
	return end(jobstate.Result{Outcome: jobstate.OutcomeSkippedUnavailable, Reason: jobstate.ReasonNotOffered, RequestID: requestID(resp),
		Message: "Amazon does not offer " + a.typ.Name + " for this order now"})
}

// request builds the send request, uploading the job's attachments.
func (a *attempt) request(ctx context.Context) (spapi.SendRequest, error) {
	j := a.job
	req := spapi.SendRequest{Text: j.Text, CoverageStartDate: j.CoverageStart, CoverageEndDate: j.CoverageEnd}
	if !a.typ.Has(spapi.FieldText) {
		req.Text = ""
	}
	if len(j.Attachments) > 0 {
		atts, err := a.uploadAll(ctx)
		if err != nil {
			return req, err
		}
		req.Attachments = atts
	}
	return req, nil
}

// claim takes the job's ledger keys and marks it as being sent, and has
// Redis confirm both durable: lost, they would let the job go twice.
func (a *attempt) claim(ctx context.Context) error {
	c := a.h.c
	if len(a.keys) > 0 {
		res, err := c.State.Claim(ctx, a.ref, a.keys, c.StaleClaim)
		if err != nil {
			return err
		}
		switch res.Status {
		case jobstate.Done:
			return a.fromLedger(res.Entry)
		case jobstate.Busy:
			return deferFor(5*time.Second, DeferLedgerBusy)
		}
		a.phase = phaseClaimed
		if res.Status == jobstate.Mine {
			// This job claimed before and did not finish: a crash may have
			// happened after the send reached Amazon.
			return a.inDoubt(ctx, "redelivered after an interrupted send", nil)
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	a.nonce = hex.EncodeToString(b[:])
	a.phase = phaseMarked // from the call on: its reply may be lost after the write
	st, age, err := c.State.MarkSending(ctx, a.ref, a.nonce)
	switch {
	case err != nil:
		return err
	case st == jobstate.MarkBusy:
		return deferFor(max(jobstate.MarkStaleAfter-age, time.Second), DeferSendInProgress)
	case st == jobstate.MarkFinal:
		return errAck // another attempt ended the job meanwhile
	case st == jobstate.MarkStale:
		return a.inDoubt(ctx, "an earlier attempt of this job was interrupted while sending", nil)
	}
	if c.Durable != nil {
		if err := c.Durable.Confirm(ctx); err != nil {
			a.log.Warn("Redis did not confirm the claim durable; send deferred", "error", err)
			return deferFor(5*time.Second, DeferDurability)
		}
	}
	return nil
}

// send makes the send. Its slot was booked with the availability check's.
func (a *attempt) send(ctx context.Context, req spapi.SendRequest) error {
	j, c := a.job, a.h.c
	key := dispatch.Key{Seller: j.SellerID, Operation: a.typ.OperationID}
	a.phase = phaseSending
	t0 := time.Now()
	resp, err := c.Amazon.Send(ctx, j.SellerID, j.OrderID, j.MarketplaceID, a.typ, req)
	c.Metrics.call(key.Operation, t0, resp, err)
	a.observe(ctx, key, resp, err)
	if err == nil {
		return end(jobstate.Result{Outcome: jobstate.OutcomeSent, Reason: jobstate.ReasonSent, RequestID: requestID(resp)})
	}
	if spapi.IsOutcomeUnknown(err) && !a.resends(err) {
		why := "the send reached Amazon but its answer was lost"
		if spapi.IsSendServerError(err) {
			why = "Amazon answered the send with a server error after receiving it"
		}
		return a.inDoubt(ctx, why, err)
	}
	// Amazon answered with an error, or the request never left (or the
	// deployment chose to resend after a 5xx): nothing went.
	a.phase = phaseMarked
	return a.amazonError(ctx, jobstate.StepSend, key, err)
}

// resends reports a send answered 5xx that the deployment chose to resend
// (ResendAfter5xx). A once-per-order type is never resent, even then:
// Amazon has usually used the type up, and availability settles it exactly.
func (a *attempt) resends(err error) bool {
	return err != nil && a.h.c.ResendAfter5xx && !a.typ.OncePerOrder && spapi.IsSendServerError(err)
}

func ledgerKeys(j *Job, t spapi.MessageType) []jobstate.Key {
	var keys []jobstate.Key
	if t.OncePerOrder {
		keys = append(keys, jobstate.OrderKey(j.SellerID, j.OrderID, t.Name))
	}
	if j.IdempotencyKey != "" {
		keys = append(keys, jobstate.IdemKey(j.SellerID, j.IdempotencyKey))
	}
	return keys
}

func requestID(resp *spapi.Response) string {
	if resp == nil {
		return ""
	}
	return resp.RequestID
}
