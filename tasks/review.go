package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
)

// DefaultReviewRecheck is how long a review request waits before asking
// Amazon again when its order is inside the review window but Amazon does
// not offer the request yet (its list can stay empty for a while).
const DefaultReviewRecheck = 6 * time.Hour

// reviewNotOffered ends or defers a review request that Amazon does not
// offer for its order now. Inside a known delivery window it is asked
// again later (until the window closes, when it ends expired); without a
// delivery date nothing says it will be offered later, so it is skipped.
func (a *attempt) reviewNotOffered(resp *spapi.Response) error {
	j, now := a.job, a.h.c.Now()
	opens, closes, ok := j.ReviewWindow()
	if !ok {
		return end(jobstate.Result{Outcome: jobstate.OutcomeSkippedUnavailable, Reason: jobstate.ReasonNotOffered, RequestID: requestID(resp),
			Message: "Amazon does not offer a review request for this order now (no delivery date given, so it is not asked again)"})
	}
	if now.Before(opens) {
		return deferFor(opens.Sub(now), DeferReviewWindowNotOpen)
	}
	last := closes
	if dl := j.EffectiveDeadline(); dl != nil && dl.Before(last) {
		last = *dl
	}
	if now.Before(last) {
		return deferFor(min(a.h.c.ReviewRecheck, max(last.Sub(now), time.Second)), DeferReviewNotOfferedYet)
	}
	return end(jobstate.Result{Outcome: jobstate.OutcomeSkippedUnavailable, Reason: jobstate.ReasonNotOffered, RequestID: requestID(resp),
		Message: fmt.Sprintf("Amazon does not offer a review request for this order (its window closed %s)", closes.UTC().Format(time.RFC3339))})
}

// expiredResult is the outcome of a job whose deadline dl passed: its own,
// or the close of its review window.
func expiredResult(j *Job, dl time.Time) jobstate.Result {
	if j.Deadline == nil {
		if _, closes, ok := j.ReviewWindow(); ok && closes.Equal(dl) {
			return jobstate.Result{Outcome: jobstate.OutcomeExpired, Reason: jobstate.ReasonReviewWindowClosed,
				Message: "Amazon allows review requests until 30 days after delivery; the window closed " + dl.UTC().Format(time.RFC3339)}
		}
	}
	return jobstate.Result{Outcome: jobstate.OutcomeExpired, Reason: jobstate.ReasonDeadlinePassed,
		Message: "deadline " + dl.Format(time.RFC3339) + " passed before the message was sent"}
}

// rollingUpdate reports a validation error whose only problems are a
// seller missing from this worker's sellers file or a type this worker does
// not know: what a newer producer or sellers file gives during a rolling
// update. step names it for the outcome.
func rollingUpdate(err error) (step jobstate.Step, ok bool) {
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) == 0 {
		return "", false
	}
	for _, p := range ve.Problems {
		switch {
		case p.Field == "seller_id" && p.unknownSeller:
			step = jobstate.StepUnknownSeller
		case p.Field == "type" && p.unknownType:
			if step == "" {
				step = jobstate.StepUnknownType
			}
		default:
			return "", false
		}
	}
	return step, true
}

// ageFrom is when a job's age starts for the maximum age: its enqueue, or
// the time it was meant to wait for, whichever is later (zero when unknown).
func ageFrom(j *Job, enqueued time.Time) time.Time {
	if enqueued.IsZero() {
		return enqueued
	}
	if nb := j.EffectiveNotBefore(); nb != nil && nb.After(enqueued) {
		return *nb
	}
	return enqueued
}

// decodeLenient reads what it can of a payload DecodeJob refused (unknown
// fields, a newer version), so its outcome lands in the job's campaign.
func decodeLenient(payload []byte) *Job {
	var j Job
	if json.Unmarshal(payload, &j) != nil {
		var c struct {
			Campaign string `json:"campaign"`
			SellerID string `json:"seller_id"`
			OrderID  string `json:"order_id"`
			Type     string `json:"type"`
		}
		_ = json.Unmarshal(payload, &c)
		return &Job{Campaign: c.Campaign, SellerID: c.SellerID, OrderID: c.OrderID, Type: c.Type}
	}
	return &j
}
