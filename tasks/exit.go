package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
)

// An attempt's steps return one of these exits (any other error, a Redis
// outage say, is retried by asynq with back-off, without ending the job when
// its attempts are spent: the outcome could not be recorded anyway):
//
//   - nil: the step went through, on to the next (an attempt never ends
//     with nil: exit treats it as a bug, and asynq retries the job);
//   - *endJob: the job ends with its final outcome;
//   - *DeferError: the job comes back later, no attempt spent;
//   - *requeueJob: the job goes back in its seller's line, no attempt spent;
//   - *retryErr: a transient failure of a step, an attempt spent;
//   - errAck: nothing to do (an earlier attempt ended the job).
type (
	endJob     struct{ res jobstate.Result }
	requeueJob struct{ at time.Time }
	retryErr   struct {
		step jobstate.Step
		err  error
	}
)

func (e *endJob) Error() string {
	return "job ends " + string(e.res.Outcome) + ": " + string(e.res.Reason)
}
func (e *requeueJob) Error() string { return "job goes back in its line" }
func (e *retryErr) Error() string   { return string(e.step) + ": " + e.err.Error() }
func (e *retryErr) Unwrap() error   { return e.err }

var (
	errAck    = errors.New("nothing to do")
	errNoExit = errors.New("tasks: attempt ended without an exit")
)

func end(res jobstate.Result) error { return &endJob{res: res} }

func retry(step jobstate.Step, err error) error { return &retryErr{step: step, err: err} }

func deferFor(d time.Duration, reason DeferReason) error {
	return &DeferError{RetryIn: d, Reason: reason}
}

// exit leaves the attempt with err, the exit of its last step, and returns
// what asynq gets. What the attempt gives back follows from its phase
// alone: a job that does not end gives back its ledger claims and send
// mark, unless its send may have reached Amazon.
func (a *attempt) exit(ctx context.Context, err error) error {
	// Bookkeeping must survive a cancelled handler context.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var e *endJob
	var r *retryErr
	if errors.As(err, &r) && a.retried+1 >= DefaultMaxAttempts {
		e = &endJob{res: amazonResult(jobstate.OutcomeFailed, r.step.Exhausted(), r.err)}
	}
	if e != nil || errors.As(err, &e) {
		return a.settle(wctx, e.res)
	}
	a.undo(wctx)
	var q *requeueJob
	var d *DeferError
	switch {
	case errors.Is(err, errAck):
		return nil
	case err == nil:
		a.log.Error("bug: an attempt ended without an exit; the job will be retried")
		return errNoExit
	case errors.As(err, &q):
		return a.requeue(wctx, q.at)
	case errors.As(err, &d):
		a.h.c.Metrics.deferred(d.Reason)
		a.log.Debug("job deferred", "for", d.RetryIn, "reason", d.Reason)
		return d
	case r != nil:
		a.log.Info("transient error, will retry", "attempt", a.retried+1, "error", r.err)
	}
	return err
}

// undo gives back what the attempt holds when the job does not end.
func (a *attempt) undo(ctx context.Context) {
	switch a.phase {
	case phaseClaimed, phaseMarked:
		if err := a.h.c.State.Undo(ctx, a.ref, a.keys, a.nonce); err != nil {
			a.log.Warn("could not give back the ledger claims and send mark", "error", err)
		}
		a.phase = phaseReserved
	}
}

// settle records the job's final outcome, once. Its ledger entries follow
// the outcome (sent, in doubt, or its claims given back); its send mark
// goes with the record.
func (a *attempt) settle(ctx context.Context, res jobstate.Result) error {
	keys := a.keys
	if a.phase < phaseClaimed && res.Outcome != jobstate.OutcomeSent && res.Outcome != jobstate.OutcomeUnconfirmed {
		keys = nil // no claims to give back
	}
	first, err := a.h.c.State.Settle(ctx, a.ref, keys, res, a.nonce)
	if err != nil {
		// Retried by asynq; the outcome is written exactly once. When it
		// says nothing went, give back what the attempt holds; claims that
		// stand for a possible send stay, so no other job sends the pair.
		if res.Outcome != jobstate.OutcomeSent && res.Outcome != jobstate.OutcomeUnconfirmed {
			a.undo(ctx)
		}
		return err
	}
	a.phase = phaseSettled
	if first {
		a.h.c.Metrics.job(res.Outcome, canonicalType(a.job.Type), a.start)
		lvl := slog.LevelInfo
		if res.Outcome == jobstate.OutcomeFailed || res.Outcome == jobstate.OutcomeUnconfirmed {
			lvl = slog.LevelWarn
		}
		a.log.Log(ctx, lvl, "job finished", "outcome", res.Outcome, "reason", res.Reason, "code", res.Code,
			"message", res.Message, "request_id", res.RequestID)
	}
	return nil
}

// fromLedger ends a job whose ledger entry is already sent or in doubt.
// Another job's entry makes this one a duplicate; this job's own entry
// means it got that far before a crash kept it from recording its outcome.
func (a *attempt) fromLedger(e jobstate.Entry) error {
	if e.JobID == a.ref.ID {
		if e.State == jobstate.EntrySent {
			return end(jobstate.Result{Outcome: jobstate.OutcomeSent, Reason: jobstate.ReasonRecoveredFromLedger, RequestID: e.RequestID,
				Message: "sent by an earlier attempt of this job"})
		}
		return end(jobstate.Result{Outcome: jobstate.OutcomeUnconfirmed, Reason: jobstate.ReasonAnswerLost,
			Message: "an earlier attempt of this job lost Amazon's answer; not resent, to avoid messaging the buyer twice"})
	}
	reason := jobstate.ReasonLedgerSent
	if e.State != jobstate.EntrySent {
		reason = jobstate.ReasonLedgerInDoubt
	}
	return end(jobstate.Result{Outcome: jobstate.OutcomeSkippedDuplicate, Reason: reason,
		Message: fmt.Sprintf("already %s by job %s", e.State, e.JobID), RequestID: e.RequestID})
}

// inDoubt settles a send whose answer never came. It is never resent: for
// a once-per-order type, availability is checked again and a vanished
// action settles it as sent; otherwise the job ends unconfirmed and the
// ledger keeps the pair in doubt.
func (a *attempt) inDoubt(ctx context.Context, why string, cause error) error {
	j := a.job
	// The send's own context may have ended (a shutdown, the task's
	// timeout): the check still runs.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if a.typ.OncePerOrder {
		acts, resp, err := a.h.c.Amazon.GetActions(ctx, j.SellerID, j.OrderID, j.MarketplaceID, a.typ)
		if err == nil {
			if _, still := acts.Find(a.typ); !still {
				return end(jobstate.Result{Outcome: jobstate.OutcomeSent, Reason: jobstate.ReasonSettledByAvailability, RequestID: requestID(resp),
					Message: why + "; Amazon no longer offers this once-per-order type for the order, so it was sent"})
			}
		}
	}
	res := amazonResult(jobstate.OutcomeUnconfirmed, jobstate.ReasonAnswerLost, cause)
	res.Message = why + "; not resent, to avoid messaging the buyer twice"
	return end(res)
}

// amazonError classifies an SP-API error of a step: a 429 puts the job
// back in its line without spending an attempt, 5xx and network errors
// before the wire are retried with back-off, an unavailable type is
// skipped, everything else fails for good.
func (a *attempt) amazonError(ctx context.Context, step jobstate.Step, key dispatch.Key, err error) error {
	switch {
	case spapi.IsThrottled(err):
		// The seller's bucket is empty: its next release waits, and the
		// job goes back in its line behind that wait.
		_ = a.h.c.State.Throttled(ctx, key)
		a.h.c.Metrics.deferred(DeferThrottled)
		return &requeueJob{at: time.Now()}
	case spapi.IsOutsideReviewWindow(err):
		return end(amazonResult(jobstate.OutcomeSkippedUnavailable, jobstate.ReasonOutsideReviewWindow, err))
	case spapi.IsUnavailable(err):
		return end(amazonResult(jobstate.OutcomeSkippedUnavailable, jobstate.ReasonNotOffered, err))
	case a.resends(err), spapi.IsRetryable(err), spapi.IsTokenError(err) && !isLWAPermanent(err), errors.Is(err, context.DeadlineExceeded):
		return retry(step, err)
	case isLWAPermanent(err):
		return end(amazonResult(jobstate.OutcomeFailed, jobstate.ReasonCredentials, err))
	default:
		return end(amazonResult(jobstate.OutcomeFailed, step.Rejected(), err))
	}
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

func amazonResult(o jobstate.Outcome, reason jobstate.Reason, err error) jobstate.Result {
	res := jobstate.Result{Outcome: o, Reason: reason}
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
