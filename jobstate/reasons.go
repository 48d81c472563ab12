package jobstate

// Reason is the short machine word a job's record gives for its outcome.
// Every reason is listed here and in README's "Final outcomes" table (a
// test checks the two agree).
type Reason string

// The reasons, by outcome.
const (
	// sent
	ReasonSent                  Reason = "sent"
	ReasonSettledByAvailability Reason = "settled_by_availability"
	ReasonRecoveredFromLedger   Reason = "recovered_from_ledger"
	// skipped_unavailable
	ReasonNotOffered          Reason = "not_offered"
	ReasonDisabled            Reason = "disabled"
	ReasonOutsideReviewWindow Reason = "outside_review_window"
	// skipped_duplicate
	ReasonLedgerSent    Reason = "ledger_sent"
	ReasonLedgerInDoubt Reason = "ledger_in_doubt"
	// expired
	ReasonDeadlinePassed     Reason = "deadline_passed"
	ReasonReviewWindowClosed Reason = "review_window_closed"
	ReasonMaxAge             Reason = "max_age"
	// failed (and Step.Rejected, Step.Exhausted)
	ReasonInvalidJob        Reason = "invalid_job"
	ReasonContentInvalid    Reason = "content_invalid"
	ReasonAttachmentInvalid Reason = "attachment_invalid"
	ReasonUploadRejected    Reason = "upload_rejected"
	ReasonCredentials       Reason = "credentials"
	ReasonBadPayload        Reason = "bad_payload"
	ReasonNewerVersion      Reason = "newer_version"
	// unconfirmed
	ReasonAnswerLost Reason = "answer_lost"
)

// Step is a step of an attempt whose errors may be retried. A step's error
// that Amazon refused for good ends the job failed with Rejected (for the
// steps that call Amazon); one still failing when the job's attempts are
// spent ends it failed with Exhausted.
type Step string

// The steps.
const (
	StepAvailability      Step = "availability"
	StepSend              Step = "send"
	StepUploadDestination Step = "upload_destination"
	StepUpload            Step = "upload"
	StepAttachmentRead    Step = "attachment_read"
	// StepUnknownSeller and StepUnknownType: the job names a seller or a
	// type this worker does not know (a rolling update).
	StepUnknownSeller Step = "unknown_seller"
	StepUnknownType   Step = "unknown_type"
)

// Rejected is the reason of a job whose step Amazon refused for good.
func (s Step) Rejected() Reason { return Reason(s) + "_rejected" }

// Exhausted is the reason of a job whose step still failed at its last
// attempt.
func (s Step) Exhausted() Reason { return Reason(s) + "_retries_exhausted" }

// Reasons lists every reason with the outcome it ends a job in.
func Reasons() map[Reason]Outcome {
	m := map[Reason]Outcome{
		ReasonSent: OutcomeSent, ReasonSettledByAvailability: OutcomeSent, ReasonRecoveredFromLedger: OutcomeSent,
		ReasonNotOffered: OutcomeSkippedUnavailable, ReasonDisabled: OutcomeSkippedUnavailable,
		ReasonOutsideReviewWindow: OutcomeSkippedUnavailable,
		ReasonLedgerSent:          OutcomeSkippedDuplicate, ReasonLedgerInDoubt: OutcomeSkippedDuplicate,
		ReasonDeadlinePassed: OutcomeExpired, ReasonReviewWindowClosed: OutcomeExpired, ReasonMaxAge: OutcomeExpired,
		ReasonInvalidJob: OutcomeFailed, ReasonContentInvalid: OutcomeFailed, ReasonAttachmentInvalid: OutcomeFailed,
		ReasonUploadRejected: OutcomeFailed, ReasonCredentials: OutcomeFailed, ReasonBadPayload: OutcomeFailed,
		ReasonNewerVersion: OutcomeFailed,
		ReasonAnswerLost:   OutcomeUnconfirmed,
	}
	for _, s := range []Step{StepAvailability, StepSend, StepUploadDestination} {
		m[s.Rejected()] = OutcomeFailed
	}
	for _, s := range []Step{StepAvailability, StepSend, StepUploadDestination, StepUpload, StepAttachmentRead, StepUnknownSeller, StepUnknownType} {
		m[s.Exhausted()] = OutcomeFailed
	}
	return m
}
