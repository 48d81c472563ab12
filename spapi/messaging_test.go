package spapi_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

func created(w http.ResponseWriter, _ *http.Request, _ int) {
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{}`)
}

func TestSendBodies(t *testing.T) {
	t.Parallel()
	start := time.Date(2004, 12, 13, 21, 39, 45, 0, time.FixedZone("", -8*3600))
	end := time.Date(2005, 12, 13, 21, 39, 45, 0, time.UTC)
	att := []spapi.Attachment{{UploadDestinationID: "u1", FileName: "a.pdf"}}
	tests := []struct {
		name, typ string
		req       spapi.SendRequest
		path      string
		body      string // "" = no body at all
	}{
		{"CustomizationTextOnly", "confirmCustomizationDetails", spapi.SendRequest{Text: "hi"},
			"/messages/confirmCustomizationDetails", `{"text":"hi"}`},
		{"CustomizationTextAndFiles", "confirmCustomizationDetails", spapi.SendRequest{Text: "hi", Attachments: att},
			"/messages/confirmCustomizationDetails", `{"text":"hi","attachments":[{"uploadDestinationId":"u1","fileName":"a.pdf"}]}`},
		{"LegalDisclosureNoFiles", "legalDisclosure", spapi.SendRequest{}, "/messages/legalDisclosure", `{}`},
		{"WarrantyDates", "warranty", spapi.SendRequest{Attachments: att, CoverageStartDate: &start, CoverageEndDate: &end},
			"/messages/warranty", `{"attachments":[{"uploadDestinationId":"u1","fileName":"a.pdf"}],"coverageStartDate":"2004-12-13T21:39:45-08:00","coverageEndDate":"2005-12-13T21:39:45Z"}`},
		{"InvoiceByAliasGoesToModelPath", "sendInvoice", spapi.SendRequest{Attachments: att},
			"/messages/invoice", `{"attachments":[{"uploadDestinationId":"u1","fileName":"a.pdf"}]}`},
		{"NegativeFeedbackRemovalNoBody", "updateFeedback", spapi.SendRequest{}, "/messages/negativeFeedbackRemoval", ""},
		{"ReviewRequestNoBody", "requestReview", spapi.SendRequest{}, "/solicitations/productReviewAndSellerFeedback", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, created)
			c := mustClient(t, testConfig(newLWA(t), srv.URL))
			resp, err := c.Send(ctxT(t), sellerOne, orderID, mpUS, mustType(t, tc.typ), tc.req)
			require.NoError(t, err)
			assert.Equal(t, http.StatusCreated, resp.StatusCode)
			reqs := srv.requests()
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, http.MethodPost, r.Method)
			base := "/messaging/v1/orders/"
			if strings.HasPrefix(tc.path, "/solicitations/") {
				base = "/solicitations/v1/orders/"
			}
			assert.Equal(t, base+orderID+tc.path, r.Path)
			assert.Equal(t, []string{mpUS}, r.Query["marketplaceIds"])
			assert.Equal(t, "marketplaceIds="+mpUS, r.RawQuery)
			assert.True(t, strings.HasPrefix(r.Header.Get("x-amz-access-token"), accessPrefix))
			assert.True(t, strings.HasPrefix(r.Header.Get("User-Agent"), "spmsg/"))
			assert.NotEmpty(t, r.Header.Get("Accept"))
			if tc.body == "" {
				assert.Empty(t, r.Body)
				assert.False(t, r.HasBody)
				assert.Empty(t, r.Header.Get("Content-Type"))
				return
			}
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.JSONEq(t, tc.body, string(r.Body))
		})
	}
}

func TestSendRefusesBadRequestsBeforeAnyCall(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	srv := newScripted(t, created)
	c := mustClient(t, testConfig(lwa, srv.URL))
	now := time.Now()
	att := spapi.Attachment{UploadDestinationID: "u", FileName: "f.pdf"}
	tests := []struct {
		name, typ, order, mp string
		req                  spapi.SendRequest
		want                 string
	}{
		{"TextOnAttachmentType", "invoice", orderID, mpUS, spapi.SendRequest{Text: "x", Attachments: []spapi.Attachment{att}}, "takes no text"},
		{"FilesOnTextType", "confirmOrderDetails", orderID, mpUS, spapi.SendRequest{Text: "x", Attachments: []spapi.Attachment{att}}, "takes no attachments"},
		{"DatesOnNonWarranty", "legalDisclosure", orderID, mpUS, spapi.SendRequest{CoverageStartDate: &now}, "takes no coverageStartDate"},
		{"AnythingOnNoBodyType", "negativeFeedbackRemoval", orderID, mpUS, spapi.SendRequest{Text: "please"}, "takes no text"},
		{"MissingText", "unexpectedProblem", orderID, mpUS, spapi.SendRequest{}, "text is required"},
		{"TextTooLong", "digitalAccessKey", orderID, mpUS, spapi.SendRequest{Text: strings.Repeat("é", 401)}, "more than 400"},
		{"InvoiceWithoutFiles", "invoice", orderID, mpUS, spapi.SendRequest{}, "at least 1"},
		{"SixFiles", "legalDisclosure", orderID, mpUS, spapi.SendRequest{Attachments: []spapi.Attachment{att, att, att, att, att, att}}, "at most 5"},
		{"FileWithoutName", "invoice", orderID, mpUS, spapi.SendRequest{Attachments: []spapi.Attachment{{UploadDestinationID: "u"}}}, "fileName"},
		{"NoOrder", "invoice", "", mpUS, spapi.SendRequest{Attachments: []spapi.Attachment{att}}, "order id is required"},
		{"NoMarketplace", "invoice", orderID, "", spapi.SendRequest{Attachments: []spapi.Attachment{att}}, "marketplace id is required"},
		{"TextOnReviewRequest", "requestReview", orderID, mpUS, spapi.SendRequest{Text: "please review"}, "takes no text"},
		{"FilesOnReviewRequest", "productReviewAndSellerFeedback", orderID, mpUS, spapi.SendRequest{Attachments: []spapi.Attachment{att}}, "takes no attachments"},
		{"ReviewRequestNoMarketplace", "productReviewAndSellerFeedback", orderID, "", spapi.SendRequest{}, "marketplace id is required"},
		{"MarketplaceOfOtherRegion", "invoice", orderID, "A1PA6795UKMFR9", spapi.SendRequest{Attachments: []spapi.Attachment{att}}, "not the seller's region"},
	}
	for _, tc := range tests {
		_, err := c.Send(ctxT(t), sellerOne, tc.order, tc.mp, mustType(t, tc.typ), tc.req)
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
		assert.ErrorIs(t, err, spapi.ErrInvalidRequest, tc.name)
		assert.True(t, spapi.IsPermanent(err), tc.name)
		assert.False(t, spapi.IsRetryable(err), tc.name)
		assert.False(t, spapi.IsOutcomeUnknown(err), tc.name)
	}
	_, err := c.Send(ctxT(t), sellerOne, orderID, mpUS, spapi.MessageType{Name: "bogus"}, spapi.SendRequest{})
	assert.ErrorIs(t, err, spapi.ErrInvalidRequest)
	_, err = c.Send(ctxT(t), sellerOne, orderID, mpUS, spapi.MessageType{Name: "x", OperationID: "x", PathSegment: "x", API: "orders"}, spapi.SendRequest{})
	assert.ErrorIs(t, err, spapi.ErrInvalidRequest)
	assert.Contains(t, err.Error(), `unknown API "orders"`)
	review := mustType(t, "requestReview")
	_, _, err = c.CreateUploadDestination(ctxT(t), sellerOne, review.UploadResource(orderID), mpUS, spapi.ContentMD5([]byte("x")), "")
	assert.ErrorIs(t, err, spapi.ErrInvalidRequest, "review requests take no attachments, so no upload resource")
	assert.Empty(t, srv.requests(), "no request may be sent")
	assert.Zero(t, lwa.calls.Load(), "not even a token exchange")
}

func TestUnknownSeller(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, created)
	c := mustClient(t, testConfig(newLWA(t), srv.URL))
	_, _, err := c.GetAttributes(ctxT(t), "ANOBODY", orderID, mpUS)
	require.Error(t, err)
	assert.True(t, errors.Is(err, spapi.ErrUnknownSeller))
	assert.True(t, spapi.IsPermanent(err))
	assert.Contains(t, err.Error(), "ANOBODY")
	assert.Empty(t, srv.requests())
}

func TestOrderIDIsEscaped(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		_, _ = io.WriteString(w, `{"buyer":{"locale":"de-DE"}}`)
	})
	c := mustClient(t, testConfig(newLWA(t), srv.URL))
	attrs, _, err := c.GetAttributes(ctxT(t), sellerOne, "12/3?x=1", mpUS)
	require.NoError(t, err)
	assert.Equal(t, "de-DE", attrs.BuyerLocale)
	r := srv.requests()[0]
	assert.Equal(t, "/messaging/v1/orders/12%2F3%3Fx=1/attributes", r.RawPath)
	assert.Equal(t, "marketplaceIds="+mpUS, r.RawQuery)
}
