package spapi

import (
	"errors"
	"net/http"
	"strings"
)

// Lower-case substrings of SP-API's 403 messages when a type is not
// offered for the order now.
const (
	// unavailableMessage: Messaging's "Invalid amazonOrderId and template
	// combination."
	unavailableMessage = "invalid amazonorderid and template combination"
	// solicitationUnavailableMessage: Solicitations' "The requested
	// solicitation is not available for this amazonOrderId." (e.g. a
	// review already requested).
	solicitationUnavailableMessage = "requested solicitation is not available"
	// reviewWindowMessage: Solicitations' "You can’t use this feature to
	// request a review outside the 5-30 day range after the order delivery
	// date." The substring avoids the apostrophe (curly or straight).
	reviewWindowMessage = "request a review outside the"
)

// IsThrottled reports a 429 answer (SP-API's QuotaExceeded, or LWA's).
// Back off and retry later; the client itself never retries it.
func IsThrottled(err error) bool {
	if e, ok := asError(err); ok {
		return e.StatusCode == http.StatusTooManyRequests
	}
	var le *LWAError
	return errors.As(err, &le) && le.StatusCode == http.StatusTooManyRequests
}

// IsRetryable reports an error worth retrying later with back-off: a 5xx
// answer to a call that has no side effect (getMessagingActionsForOrder,
// getSolicitationActionsForOrder, GetAttributes,
// createUploadDestinationForResource, the upload PUT), a network error
// before the request was written, or a network error after writing a
// request that has no side effect. It is false for a send answered 5xx or
// left without answer (see IsOutcomeUnknown and IsSendServerError) and for
// 429 (see IsThrottled). LWA server_error / temporarily_unavailable / 5xx
// count.
func IsRetryable(err error) bool {
	if e, ok := asError(err); ok {
		switch {
		case e.local():
			return false
		case e.StatusCode >= 500:
			return !e.sideEffect()
		case e.StatusCode == 0 && e.Err != nil:
			return !e.Written || !e.sideEffect()
		}
		return false
	}
	var le *LWAError
	return errors.As(err, &le) && lwaTemporary(le)
}

// IsUnavailable reports a 403 saying the message type is not available for
// the order now: Messaging's "Invalid amazonOrderId and template
// combination.", or Solicitations' "The requested solicitation is not
// available for this amazonOrderId." (e.g. a review already requested) and
// "You can’t use this feature to request a review outside the 5-30 day
// range after the order delivery date." (see IsOutsideReviewWindow).
// Matching is case-insensitive on a stable part of each text.
func IsUnavailable(err error) bool {
	return forbiddenSays(err, unavailableMessage, solicitationUnavailableMessage, reviewWindowMessage)
}

// IsOutsideReviewWindow reports Solicitations' 403 "You can’t use this
// feature to request a review outside the 5-30 day range after the order
// delivery date.": the review request came too early or too late (Amazon
// allows it from 5 days after the earliest to 30 days after the latest
// delivery date). It implies IsUnavailable.
func IsOutsideReviewWindow(err error) bool {
	return forbiddenSays(err, reviewWindowMessage)
}

// forbiddenSays reports an SP-API 403 whose message or details contain any
// of the lower-case substrings.
func forbiddenSays(err error, substrings ...string) bool {
	e, ok := asError(err)
	if !ok || e.StatusCode != http.StatusForbidden || e.Operation == OpUpload {
		return false
	}
	text := strings.ToLower(e.Message + " " + e.Details)
	for _, sub := range substrings {
		if strings.Contains(text, sub) {
			return true
		}
	}
	return false
}

// IsTokenError reports an access-token problem: an SP-API 403 whose message
// or details blame the access token (missing, expired, invalid, revoked,
// malformed), or any *LWAError (the token could not be obtained; see also
// IsPermanent and IsRetryable for which LWA errors last).
func IsTokenError(err error) bool {
	var le *LWAError
	if errors.As(err, &le) {
		return true
	}
	e, ok := asError(err)
	if !ok || e.StatusCode != http.StatusForbidden || e.Operation == OpUpload {
		return false
	}
	return blamesAccessToken(e.Message + " " + e.Details)
}

// IsOutcomeUnknown reports a send whose request was fully written but
// whose outcome is not known: no answer came (connection closed, timeout,
// ctx cancelled after the write), or Amazon answered with a server error
// (any status >= 500; Amazon may fail after processing the send, see
// IsSendServerError). The message may or may not have gone to the buyer;
// resending could send it twice. It applies to side-effecting POSTs (the
// Messaging sends and createProductReviewAndSellerFeedbackSolicitation);
// createUploadDestinationForResource, the upload PUT, the GETs and the LWA
// exchange are IsRetryable instead.
func IsOutcomeUnknown(err error) bool {
	e, ok := asError(err)
	if !ok || e.local() || !e.sideEffect() {
		return false
	}
	return e.StatusCode >= 500 || (e.StatusCode == 0 && e.Err != nil && e.Written)
}

// IsSendServerError reports a send (a Messaging send or a review request)
// that Amazon answered with a status >= 500. Such a send is
// IsOutcomeUnknown, not IsRetryable: Amazon may have sent the message
// before failing. Callers that accept a possible duplicate can use this to
// resend after a 5xx on purpose.
func IsSendServerError(err error) bool {
	e, ok := asError(err)
	return ok && !e.local() && e.StatusCode >= 500 && e.sideEffect()
}

// IsPermanent reports an error that repeating the same request will not
// fix: 400, 403 (unless a token error), 404, 413, 415 and any other 4xx
// except 429; a request refused before sending; an LWA 4xx such as
// invalid_grant or invalid_client.
func IsPermanent(err error) bool {
	if e, ok := asError(err); ok {
		if e.local() {
			return true
		}
		if e.StatusCode < 400 || e.StatusCode > 499 || e.StatusCode == http.StatusTooManyRequests {
			return false
		}
		return !IsTokenError(e)
	}
	var le *LWAError
	return errors.As(err, &le) && le.StatusCode >= 400 && le.StatusCode <= 499 &&
		le.StatusCode != http.StatusTooManyRequests && !lwaTemporary(le)
}

// asError finds the *Error in err's chain.
func asError(err error) (*Error, bool) {
	var e *Error
	if !errors.As(err, &e) {
		return nil, false
	}
	return e, true
}

func lwaTemporary(le *LWAError) bool {
	return le.StatusCode >= 500 || le.Code == "server_error" || le.Code == "temporarily_unavailable"
}

// blamesAccessToken matches SP-API's token messages, e.g. "The access token
// you provided is revoked, malformed or invalid.", "Access token is missing
// in the request header.", "The access token you provided has expired."
func blamesAccessToken(s string) bool {
	s = strings.ToLower(s)
	if !strings.Contains(s, "token") {
		return false
	}
	if strings.Contains(s, "access token") || strings.Contains(s, "access_token") {
		return true
	}
	for _, w := range []string{"expired", "invalid", "revoked", "missing", "malformed"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
