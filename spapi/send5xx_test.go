package spapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

// TestSendAnswered5xxIsOutcomeUnknown: Amazon processes the send (the
// server reads and records the whole request) and then answers a server
// error. The client must not call it retryable: the buyer may already have
// the message.
func TestSendAnswered5xxIsOutcomeUnknown(t *testing.T) {
	t.Parallel()
	att := []spapi.Attachment{{UploadDestinationID: "u1", FileName: "a.pdf"}}
	for _, status := range []int{500, 502, 503, 504} {
		for _, tc := range []struct {
			typ  string
			req  spapi.SendRequest
			body string // what the server must have processed; "" = no body
		}{
			{"invoice", spapi.SendRequest{Attachments: att}, `{"attachments":[{"uploadDestinationId":"u1","fileName":"a.pdf"}]}`},
			{"confirmOrderDetails", spapi.SendRequest{Text: "Which colour?"}, `{"text":"Which colour?"}`},
			{"requestReview", spapi.SendRequest{}, ""},
		} {
			t.Run(fmt.Sprintf("%s/%d", tc.typ, status), func(t *testing.T) {
				t.Parallel()
				var processed atomic.Int32
				srv := newScripted(t, func(w http.ResponseWriter, r *http.Request, _ int) {
					processed.Add(1) // the message "went out" before the failure
					writeAPIError(w, status, "InternalFailure", "We encountered an internal error. Please try again.", "")
				})
				c := mustClient(t, testConfig(newLWA(t), srv.URL))
				mt := mustType(t, tc.typ)
				resp, err := c.Send(ctxT(t), sellerOne, orderID, mpUS, mt, tc.req)
				require.Error(t, err)
				require.NotNil(t, resp)
				assert.Equal(t, status, resp.StatusCode)
				assert.True(t, spapi.IsOutcomeUnknown(err), "IsOutcomeUnknown")
				assert.True(t, spapi.IsSendServerError(err), "IsSendServerError")
				assert.False(t, spapi.IsRetryable(err), "IsRetryable")
				assert.False(t, spapi.IsPermanent(err), "IsPermanent")
				assert.False(t, spapi.IsThrottled(err), "IsThrottled")
				assert.False(t, spapi.IsUnavailable(err), "IsUnavailable")
				var e *spapi.Error
				require.ErrorAs(t, err, &e)
				assert.True(t, e.Written)
				assert.Equal(t, mt.OperationID, e.Operation)
				assert.Equal(t, int32(1), processed.Load(), "the client never repeats the send")
				reqs := srv.requests()
				require.Len(t, reqs, 1)
				assert.Equal(t, http.MethodPost, reqs[0].Method)
				assert.Equal(t, mt.Path(orderID), reqs[0].Path)
				if tc.body == "" {
					assert.False(t, reqs[0].HasBody)
				} else {
					assert.JSONEq(t, tc.body, string(reqs[0].Body), "the whole request reached the server")
				}
			})
		}
	}
}

// TestNonSend5xxIsRetryable: calls without side effects keep retrying on
// 5xx and are never outcome-unknown.
func TestNonSend5xxIsRetryable(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				writeAPIError(w, status, "InternalFailure", "We encountered an internal error. Please try again.", "")
			})
			c := mustClient(t, testConfig(newLWA(t), srv.URL))
			ctx := ctxT(t)
			invoice := mustType(t, "invoice")
			calls := map[string]func() error{
				spapi.OpGetMessagingActionsForOrder: func() error {
					_, _, err := c.GetMessagingActionsForOrder(ctx, sellerOne, orderID, mpUS)
					return err
				},
				spapi.OpGetSolicitationActionsForOrder: func() error {
					_, _, err := c.GetSolicitationActionsForOrder(ctx, sellerOne, orderID, mpUS)
					return err
				},
				spapi.OpGetAttributes: func() error {
					_, _, err := c.GetAttributes(ctx, sellerOne, orderID, mpUS)
					return err
				},
				spapi.OpCreateUploadDestinationForResource: func() error {
					_, _, err := c.CreateUploadDestination(ctx, sellerOne, invoice.UploadResource(orderID), mpUS, spapi.ContentMD5([]byte("x")), "")
					return err
				},
				spapi.OpUpload: func() error {
					dest := &spapi.UploadDestination{ID: "u1", URL: srv.URL + basePath + "/bucket/u1?X-Amz-Signature=sig",
						Headers: map[string]string{"Content-MD5": spapi.ContentMD5([]byte("x"))}}
					return c.Upload(ctx, dest, bytes.NewReader([]byte("x")), 1)
				},
			}
			for op, call := range calls {
				err := call()
				require.Error(t, err, op)
				var e *spapi.Error
				require.ErrorAs(t, err, &e, op)
				assert.Equal(t, op, e.Operation)
				assert.Equal(t, status, e.StatusCode, op)
				assert.True(t, spapi.IsRetryable(err), "%s: IsRetryable", op)
				assert.False(t, spapi.IsOutcomeUnknown(err), "%s: IsOutcomeUnknown", op)
				assert.False(t, spapi.IsSendServerError(err), "%s: IsSendServerError", op)
				assert.False(t, spapi.IsPermanent(err), "%s: IsPermanent", op)
			}
			assert.Len(t, srv.requests(), len(calls), "one request per call, none repeated")
		})
	}
}

// TestLWA5xxBeforeSendIsRetryable: when the token exchange fails with a
// server error nothing was sent, so the send stays retryable.
func TestLWA5xxBeforeSendIsRetryable(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	lwa.set(func(l *lwaServer) {
		l.errStatus, l.errBody = http.StatusServiceUnavailable, `{"error":"temporarily_unavailable","error_description":"try later"}`
	})
	srv := newScripted(t, created)
	c := mustClient(t, testConfig(lwa, srv.URL))
	_, err := c.Send(ctxT(t), sellerOne, orderID, mpUS, mustType(t, "requestReview"), spapi.SendRequest{})
	require.Error(t, err)
	assert.True(t, spapi.IsRetryable(err))
	assert.False(t, spapi.IsOutcomeUnknown(err))
	assert.False(t, spapi.IsSendServerError(err))
	assert.Empty(t, srv.requests(), "the send never left")
}

func TestSendServerErrorHandBuilt(t *testing.T) {
	t.Parallel()
	// Errors built by hand (as fakes in other packages do) classify by their fields.
	send := &spapi.Error{Operation: "createProductReviewAndSellerFeedbackSolicitation", Method: http.MethodPost, StatusCode: 500, Written: true}
	assert.True(t, spapi.IsSendServerError(send))
	assert.True(t, spapi.IsOutcomeUnknown(send))
	assert.False(t, spapi.IsRetryable(send))
	dest := &spapi.Error{Operation: spapi.OpCreateUploadDestinationForResource, Method: http.MethodPost, StatusCode: 500, Written: true}
	assert.False(t, spapi.IsSendServerError(dest))
	assert.True(t, spapi.IsRetryable(dest))
	send429 := &spapi.Error{Operation: "sendInvoice", Method: http.MethodPost, StatusCode: 429, Written: true}
	assert.False(t, spapi.IsSendServerError(send429))
	assert.False(t, spapi.IsOutcomeUnknown(send429))
	assert.False(t, spapi.IsSendServerError(fmt.Errorf("wrapped: %w", &spapi.Error{Operation: "sendInvoice", Method: http.MethodPost, Err: http.ErrHandlerTimeout, Written: true})),
		"no answer at all is outcome-unknown but not a server error")
	assert.True(t, spapi.IsSendServerError(fmt.Errorf("wrapped: %w", send)))
	assert.False(t, spapi.IsSendServerError(nil))
}
