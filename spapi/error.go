package spapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// ErrInvalidRequest is wrapped by the *Error returned when the client
// refuses a request before sending it (a body field the message type does
// not take, a missing argument, a bad upload destination ...). Such errors
// are permanent and nothing reached Amazon.
var ErrInvalidRequest = errors.New("spapi: invalid request")

// maxErrorText caps a non-JSON error body used as the message.
const maxErrorText = 1000

// Error is every failure of an SP-API or upload call: an error answer
// (StatusCode set, with Amazon's code, message and details), a network
// failure (Err set, StatusCode 0, Written telling whether the request
// reached the wire), or a request refused before sending (Err wraps
// ErrInvalidRequest or ErrUnknownSeller). Classify it with IsThrottled,
// IsRetryable, IsUnavailable, IsOutsideReviewWindow, IsTokenError,
// IsOutcomeUnknown, IsSendServerError and IsPermanent rather than by hand.
// Its text never contains credentials.
type Error struct {
	// Operation is the model operationId (e.g. "sendInvoice"), OpUpload
	// for the presigned PUT, or OpLWAToken for the token exchange.
	Operation string
	// Method and Path are the HTTP method and URL path (never the query).
	Method, Path string
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int
	// Code, Message and Details come from the first entries of SP-API's
	// {"errors":[{"code","message","details"}]} (several messages are
	// joined with "; "), or S3's <Code>/<Message> for uploads. Message is
	// the trimmed body text when the body is not in that shape.
	Code, Message, Details string
	// RequestID is x-amzn-RequestId (x-amz-request-id for uploads).
	RequestID string
	// RateLimit is the parsed x-amzn-RateLimit-Limit header, 0 if absent.
	RateLimit float64
	// Err is the underlying error: the network error, or a sentinel for
	// a request refused before sending.
	Err error
	// Written is true when the whole request was written to the
	// connection, so the server may have acted on it.
	Written bool
}

// Error implements error, e.g.
// "POST /messaging/v1/orders/123-1234567-1234567/messages/invoice: 403
// Unauthorized: Invalid amazonOrderId and template combination. (request
// id abc)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Method)
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	if b.Len() == 0 {
		b.WriteString(e.Operation)
	}
	b.WriteString(": ")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "%d", e.StatusCode)
		code := e.Code
		if code == "" {
			code = http.StatusText(e.StatusCode)
		}
		if code != "" {
			b.WriteString(" " + code)
		}
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
		if e.Details != "" {
			b.WriteString(": " + e.Details)
		}
		if e.Err != nil {
			b.WriteString(": " + e.Err.Error())
		}
	} else if e.Err != nil {
		b.WriteString(e.Err.Error())
		switch {
		case e.local():
		case e.Written:
			b.WriteString(" (request written, no answer)")
		default:
			b.WriteString(" (request not sent)")
		}
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// local reports a request refused before sending.
func (e *Error) local() bool {
	return errors.Is(e.Err, ErrInvalidRequest) || errors.Is(e.Err, ErrUnknownSeller)
}

// sideEffect reports whether the request, once written, may have changed
// something at Amazon: every POST (the Messaging sends and
// createProductReviewAndSellerFeedbackSolicitation) except
// createUploadDestinationForResource (which only reserves an upload slot)
// and the LWA token exchange.
func (e *Error) sideEffect() bool {
	return e.Method == http.MethodPost && e.Operation != OpCreateUploadDestinationForResource && e.Operation != OpLWAToken
}

// redact replaces any of the secrets found in the message texts.
func (e *Error) redact(secrets ...string) {
	e.Message = redact(e.Message, secrets...)
	e.Details = redact(e.Details, secrets...)
	e.Code = redact(e.Code, secrets...)
}

func invalid(op, method, path, format string, args ...any) *Error {
	return &Error{Operation: op, Method: method, Path: path,
		Err: fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))}
}

// apiErrors is SP-API's error body (and a gateway {"message": ...}).
type apiErrors struct {
	Errors []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details string `json:"details"`
	} `json:"errors"`
	Message string `json:"message"`
}

// errorFromResponse maps an SP-API error answer to *Error.
func errorFromResponse(op, method, path string, resp *Response, body []byte) *Error {
	e := &Error{Operation: op, Method: method, Path: path, StatusCode: resp.StatusCode,
		RequestID: resp.RequestID, RateLimit: resp.RateLimit, Written: true}
	var env apiErrors
	switch {
	case json.Unmarshal(body, &env) == nil && len(env.Errors) > 0:
		var msgs, details []string
		for _, x := range env.Errors {
			if e.Code == "" {
				e.Code = x.Code
			}
			if m := strings.TrimSpace(x.Message); m != "" {
				msgs = append(msgs, m)
			}
			if d := strings.TrimSpace(x.Details); d != "" {
				details = append(details, d)
			}
		}
		e.Message = strings.Join(msgs, "; ")
		e.Details = strings.Join(details, "; ")
	case env.Message != "":
		e.Message = strings.TrimSpace(env.Message)
	default:
		e.Message = trimText(body)
	}
	if e.Code == "" {
		// e.g. "AccessDeniedException:http://internal.amazon.com/..."
		if t := resp.Header.Get("x-amzn-ErrorType"); t != "" {
			e.Code, _, _ = strings.Cut(t, ":")
		}
	}
	return e
}

// trimText makes a short single-line message of a non-JSON body.
func trimText(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > maxErrorText {
		s = s[:maxErrorText]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}

// redact replaces every occurrence of each non-empty secret with
// [redacted].
func redact(s string, secrets ...string) string {
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}
