package spapi_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

// hangUp hijacks the connection after reading the whole request and closes
// it without answering.
func hangUp(w http.ResponseWriter, _ *http.Request, _ int) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func answer(status int, body string, headers map[string]string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func apiErr(code, message, details string) string {
	return `{"errors":[{"code":"` + code + `","message":"` + message + `","details":"` + details + `"}]}`
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	rid := map[string]string{"x-amzn-RequestId": "rid-1", "x-amzn-RateLimit-Limit": "0.5", "Content-Type": "application/json"}
	type want struct {
		status                                                       int
		code, message, details                                       string
		throttled, retryable, unavailable, token, unknown, permanent bool
		written, window, sendServer                                  bool
		calls                                                        int
	}
	tests := []struct {
		name    string
		post    bool
		typ     string // the type a post sends; "" is invoice
		handler func(http.ResponseWriter, *http.Request, int)
		refused bool
		want    want
	}{
		{name: "400", post: true, handler: answer(400, apiErr("InvalidInput", "Invalid Input", ""), rid),
			want: want{status: 400, code: "InvalidInput", message: "Invalid Input", permanent: true, written: true, calls: 1}},
		{name: "403Unavailable", post: true, handler: answer(403, apiErr("Unauthorized", "Invalid amazonOrderId and template combination.", ""), rid),
			want: want{status: 403, code: "Unauthorized", message: "Invalid amazonOrderId and template combination.", unavailable: true, permanent: true, written: true, calls: 1}},
		{name: "403SolicitationUnavailable", post: true, typ: "productReviewAndSellerFeedback",
			handler: answer(403, apiErr("Unauthorized", "The requested solicitation is not available for this amazonOrderId.", ""), rid),
			want:    want{status: 403, code: "Unauthorized", message: "The requested solicitation is not available for this amazonOrderId.", unavailable: true, permanent: true, written: true, calls: 1}},
		{name: "403OutsideReviewWindow", post: true, typ: "productReviewAndSellerFeedback",
			handler: answer(403, apiErr("Unauthorized", "You can’t use this feature to request a review outside the 5-30 day range after the order delivery date.", ""), rid),
			want:    want{status: 403, code: "Unauthorized", message: "You can’t use this feature to request a review outside the 5-30 day range after the order delivery date.", unavailable: true, window: true, permanent: true, written: true, calls: 1}},
		{name: "403OutsideReviewWindowStraightApostrophe", post: true, typ: "requestReview",
			handler: answer(403, apiErr("Unauthorized", "YOU CAN'T USE THIS FEATURE TO REQUEST A REVIEW OUTSIDE THE 5-30 DAY RANGE AFTER THE ORDER DELIVERY DATE.", ""), rid),
			want:    want{status: 403, code: "Unauthorized", message: "YOU CAN'T USE THIS FEATURE TO REQUEST A REVIEW OUTSIDE THE 5-30 DAY RANGE AFTER THE ORDER DELIVERY DATE.", unavailable: true, window: true, permanent: true, written: true, calls: 1}},
		{name: "403Denied", post: false, handler: answer(403, apiErr("Unauthorized", "Access to requested resource is denied.", ""), rid),
			want: want{status: 403, code: "Unauthorized", message: "Access to requested resource is denied.", permanent: true, written: true, calls: 1}},
		{name: "403Token", post: false, handler: answer(403, apiErr("Unauthorized", "Access to requested resource is denied.", "The access token you provided is revoked, malformed or invalid."), rid),
			want: want{status: 403, code: "Unauthorized", message: "Access to requested resource is denied.", details: "The access token you provided is revoked, malformed or invalid.", token: true, written: true, calls: 2}},
		{name: "403TokenMissing", post: true, handler: answer(403, apiErr("Unauthorized", "Access token is missing in the request header.", ""), rid),
			want: want{status: 403, code: "Unauthorized", message: "Access token is missing in the request header.", token: true, written: true, calls: 2}},
		{name: "404", post: false, handler: answer(404, apiErr("NotFound", "Order not found", ""), rid),
			want: want{status: 404, code: "NotFound", message: "Order not found", permanent: true, written: true, calls: 1}},
		{name: "413", post: true, handler: answer(413, apiErr("RequestEntityTooLarge", "Too big", ""), rid),
			want: want{status: 413, code: "RequestEntityTooLarge", message: "Too big", permanent: true, written: true, calls: 1}},
		{name: "415", post: true, handler: answer(415, apiErr("UnsupportedMediaType", "Bad media", ""), rid),
			want: want{status: 415, code: "UnsupportedMediaType", message: "Bad media", permanent: true, written: true, calls: 1}},
		{name: "429", post: true, handler: answer(429, apiErr("QuotaExceeded", "You exceeded your quota for the requested resource.", ""), map[string]string{"x-amzn-RequestId": "rid-1"}),
			want: want{status: 429, code: "QuotaExceeded", message: "You exceeded your quota for the requested resource.", throttled: true, written: true, calls: 1}},
		{name: "500Send", post: true, handler: answer(500, apiErr("InternalFailure", "We encountered an internal error. Please try again.", ""), rid),
			want: want{status: 500, code: "InternalFailure", message: "We encountered an internal error. Please try again.", unknown: true, sendServer: true, written: true, calls: 1}},
		{name: "503ReviewRequest", post: true, typ: "requestReview", handler: answer(503, apiErr("ServiceUnavailable", "Service temporarily unavailable.", ""), rid),
			want: want{status: 503, code: "ServiceUnavailable", message: "Service temporarily unavailable.", unknown: true, sendServer: true, written: true, calls: 1}},
		{name: "500GET", post: false, handler: answer(500, apiErr("InternalFailure", "We encountered an internal error. Please try again.", ""), rid),
			want: want{status: 500, code: "InternalFailure", message: "We encountered an internal error. Please try again.", retryable: true, written: true, calls: 1}},
		{name: "503NonJSON", post: false, handler: answer(503, "  Service\n Unavailable  ", map[string]string{"x-amzn-RequestId": "rid-1", "x-amzn-ErrorType": "ServiceUnavailableException:http://internal"}),
			want: want{status: 503, code: "ServiceUnavailableException", message: "Service Unavailable", retryable: true, written: true, calls: 1}},
		{name: "DroppedAfterWritePOST", post: true, handler: hangUp,
			want: want{unknown: true, written: true, calls: 1}},
		{name: "DroppedAfterWriteGET", post: false, handler: hangUp,
			want: want{retryable: true, written: true}},
		{name: "ConnectionRefusedPOST", post: true, refused: true,
			want: want{retryable: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lwa := newLWA(t)
			var srv *scripted
			apiURL := ""
			if tc.refused {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				apiURL = "http://" + ln.Addr().String()
				require.NoError(t, ln.Close())
			} else {
				srv = newScripted(t, tc.handler)
				apiURL = srv.URL
			}
			c := mustClient(t, testConfig(lwa, apiURL))
			var resp *spapi.Response
			var err error
			switch {
			case tc.post && tc.typ != "":
				resp, err = c.Send(ctxT(t), sellerOne, orderID, mpUS, mustType(t, tc.typ), spapi.SendRequest{})
			case tc.post:
				resp, err = c.Send(ctxT(t), sellerOne, orderID, mpUS, mustType(t, "invoice"),
					spapi.SendRequest{Attachments: []spapi.Attachment{{UploadDestinationID: "u", FileName: "i.pdf"}}})
			default:
				_, resp, err = c.GetAttributes(ctxT(t), sellerOne, orderID, mpUS)
			}
			require.Error(t, err)
			var e *spapi.Error
			require.True(t, errors.As(err, &e), "%T", err)
			w := tc.want
			assert.Equal(t, w.status, e.StatusCode)
			assert.Equal(t, w.code, e.Code)
			assert.Equal(t, w.message, e.Message)
			assert.Equal(t, w.details, e.Details)
			assert.Equal(t, w.written, e.Written, "written")
			assert.Equal(t, w.throttled, spapi.IsThrottled(err), "IsThrottled")
			assert.Equal(t, w.retryable, spapi.IsRetryable(err), "IsRetryable")
			assert.Equal(t, w.unavailable, spapi.IsUnavailable(err), "IsUnavailable")
			assert.Equal(t, w.window, spapi.IsOutsideReviewWindow(err), "IsOutsideReviewWindow")
			assert.Equal(t, w.token, spapi.IsTokenError(err), "IsTokenError")
			assert.Equal(t, w.unknown, spapi.IsOutcomeUnknown(err), "IsOutcomeUnknown")
			assert.Equal(t, w.sendServer, spapi.IsSendServerError(err), "IsSendServerError")
			assert.Equal(t, w.permanent, spapi.IsPermanent(err), "IsPermanent")
			if w.status != 0 {
				require.NotNil(t, resp, "the response comes back with the error")
				assert.Equal(t, w.status, resp.StatusCode)
				assert.Equal(t, "rid-1", e.RequestID)
				assert.Equal(t, "rid-1", resp.RequestID)
				assert.Contains(t, err.Error(), "(request id rid-1)")
			} else {
				assert.Nil(t, resp)
				assert.Error(t, e.Err)
			}
			if w.calls > 0 {
				// A written POST is never resent; only a gateway token
				// rejection is repeated once.
				assert.Len(t, srv.requests(), w.calls, "server saw the request this often")
			}
		})
	}
}

func TestErrorRateLimitAndText(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, answer(400, apiErr("InvalidInput", "Invalid Input", "bad marketplace"),
		map[string]string{"x-amzn-RequestId": "rid-9", "x-amzn-RateLimit-Limit": "0.5"}))
	c := mustClient(t, testConfig(newLWA(t), srv.URL))
	resp, err := c.Send(ctxT(t), sellerOne, orderID, mpUS, mustType(t, "invoice"),
		spapi.SendRequest{Attachments: []spapi.Attachment{{UploadDestinationID: "u", FileName: "i.pdf"}}})
	var e *spapi.Error
	require.ErrorAs(t, err, &e)
	assert.InDelta(t, 0.5, e.RateLimit, 0)
	assert.InDelta(t, 0.5, resp.RateLimit, 0)
	assert.Equal(t, "sendInvoice", e.Operation)
	assert.Equal(t, "POST /messaging/v1/orders/"+orderID+"/messages/invoice: 400 InvalidInput: Invalid Input: bad marketplace (request id rid-9)", err.Error())
	body, rerr := io.ReadAll(resp.Body)
	require.NoError(t, rerr)
	assert.Contains(t, string(body), "InvalidInput", "the body stays readable")
}

func TestErrorUnavailableText(t *testing.T) {
	t.Parallel()
	e := &spapi.Error{Operation: "sendInvoice", Method: "POST", Path: "/messaging/v1/orders/1/messages/invoice",
		StatusCode: 403, Code: "Unauthorized", Message: "Invalid amazonOrderId and template combination.", RequestID: "r"}
	assert.Equal(t, "POST /messaging/v1/orders/1/messages/invoice: 403 Unauthorized: Invalid amazonOrderId and template combination. (request id r)", e.Error())
	assert.True(t, spapi.IsUnavailable(e))
	assert.True(t, spapi.IsPermanent(e))
	// Errors built by hand (as fakes in other packages do) classify by their fields.
	unknown := &spapi.Error{Operation: "sendInvoice", Method: "POST", Err: io.ErrUnexpectedEOF, Written: true}
	assert.True(t, spapi.IsOutcomeUnknown(unknown))
	assert.False(t, spapi.IsRetryable(unknown))
	assert.Contains(t, unknown.Error(), "request written, no answer")
	notSent := &spapi.Error{Operation: "sendInvoice", Method: "POST", Err: io.ErrUnexpectedEOF}
	assert.True(t, spapi.IsRetryable(notSent))
	assert.False(t, spapi.IsOutcomeUnknown(notSent))
	assert.False(t, spapi.IsRetryable(errors.New("plain")))
	assert.False(t, spapi.IsPermanent(nil))
}

func TestOutcomeUnknownOnTimeoutAfterWrite(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request, _ int) { <-release })
	t.Cleanup(func() { close(release) })
	cfg := testConfig(newLWA(t), srv.URL)
	cfg.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond}
	c := mustClient(t, cfg)
	_, err := c.Send(ctxT(t), sellerOne, orderID, mpUS, mustType(t, "confirmOrderDetails"), spapi.SendRequest{Text: "hi"})
	require.Error(t, err)
	assert.True(t, spapi.IsOutcomeUnknown(err))
	assert.False(t, spapi.IsRetryable(err))
	assert.Len(t, srv.requests(), 1)
}

func TestCreateUploadDestinationLostAnswerIsRetryable(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, hangUp)
	c := mustClient(t, testConfig(newLWA(t), srv.URL))
	invoice := mustType(t, "invoice")
	_, _, err := c.CreateUploadDestination(ctxT(t), sellerOne, invoice.UploadResource(orderID), mpUS, spapi.ContentMD5([]byte("x")), "")
	require.Error(t, err)
	assert.True(t, spapi.IsRetryable(err))
	assert.False(t, spapi.IsOutcomeUnknown(err))
	assert.Len(t, srv.requests(), 1)
}

func TestTokenMessagesAreRecognised(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		message, details string
		token            bool
	}{
		{"Access to requested resource is denied.", "The access token you provided is revoked, malformed or invalid.", true},
		{"Access to requested resource is denied.", "The access token you provided has expired.", true},
		{"Access token is missing in the request header.", "", true},
		{"The security token included in the request is invalid.", "", true},
		{"Access to requested resource is denied.", "", false},
		{"Invalid amazonOrderId and template combination.", "", false},
	} {
		e := &spapi.Error{Operation: "GetAttributes", Method: "GET", StatusCode: 403, Code: "Unauthorized", Message: tc.message, Details: tc.details}
		assert.Equal(t, tc.token, spapi.IsTokenError(e), tc.message+" "+tc.details)
		assert.Equal(t, !tc.token, spapi.IsPermanent(e), tc.message+" "+tc.details)
	}
	s3 := &spapi.Error{Operation: spapi.OpUpload, Method: "PUT", StatusCode: 403, Code: "InvalidToken", Message: "The provided token is malformed or otherwise invalid."}
	assert.False(t, spapi.IsTokenError(s3), "S3 answers never mean the LWA token")
}

func TestOutcomeUnknownOnCancelAfterWrite(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	got := make(chan struct{}, 1)
	srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		got <- struct{}{}
		<-release
	})
	t.Cleanup(func() { close(release) })
	c := mustClient(t, testConfig(newLWA(t), srv.URL))
	ctx, cancel := context.WithCancel(ctxT(t))
	go func() {
		<-got
		cancel()
	}()
	_, err := c.Send(ctx, sellerOne, orderID, mpUS, mustType(t, "confirmOrderDetails"), spapi.SendRequest{Text: "hi"})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, spapi.IsOutcomeUnknown(err))
	assert.False(t, spapi.IsRetryable(err))
	assert.Len(t, srv.requests(), 1)
}
