package spapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

// TestConformance runs every operation against a server that validates each
// request with Amazon's models (internal/spapimodel) and answers like
// Amazon, and requires zero violations.
func TestConformance(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t)
	c := mustClient(t, f.config())
	ctx := ctxT(t)

	actions, resp, err := c.GetMessagingActionsForOrder(ctx, sellerOne, orderID, mpUS)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.InDelta(t, 1.0, resp.RateLimit, 0)
	assert.NotEmpty(t, resp.RequestID)
	review := mustType(t, "productReviewAndSellerFeedback")
	for _, mt := range spapi.Types() {
		if mt.API != spapi.APIMessaging {
			_, ok := actions.Find(mt)
			assert.False(t, ok, "the Messaging answer never lists %s", mt.Name)
			continue
		}
		a, ok := actions.Find(mt)
		require.True(t, ok, "live answer lists %s", mt.Name)
		assert.NotEmpty(t, a.Schema, mt.Name)
		assert.Contains(t, string(a.Schema), `"$schema"`, mt.Name)
	}

	sol, resp, err := c.GetSolicitationActionsForOrder(ctx, sellerOne, orderID, mpUS)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	a, ok := sol.Find(review)
	require.True(t, ok, "the Solicitations answer lists the review request")
	assert.Equal(t, "productReviewAndSellerFeedback", a.Name)
	assert.Contains(t, a.Href, "/solicitations/v1/orders/"+orderID+"/solicitations/productReviewAndSellerFeedback")
	assert.JSONEq(t, `{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","properties":{}}`, string(a.Schema))
	_, ok = sol.Find(mustType(t, "invoice"))
	assert.False(t, ok)

	// GetActions picks the API by type: one call to each listing operation.
	for _, name := range []string{"requestReview", "confirmOrderDetails"} {
		mt := mustType(t, name)
		got, _, err := c.GetActions(ctx, sellerOne, orderID, mpUS, mt)
		require.NoError(t, err, name)
		_, ok := got.Find(mt)
		assert.True(t, ok, name)
	}

	attrs, _, err := c.GetAttributes(ctx, sellerOne, orderID, mpUS)
	require.NoError(t, err)
	assert.Equal(t, "en-US", attrs.BuyerLocale)

	// createUploadDestination + a real upload, so sends reference stored bytes.
	content := []byte("%PDF-1.4 invoice")
	invoice := mustType(t, "invoice")
	dest, resp, err := c.CreateUploadDestination(ctx, sellerOne, invoice.UploadResource(orderID), mpUS, spapi.ContentMD5(content), "application/pdf")
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	assert.InDelta(t, 10.0, resp.RateLimit, 0)
	require.NoError(t, c.Upload(ctx, dest, bytes.NewReader(content), int64(len(content))))
	att := []spapi.Attachment{{UploadDestinationID: dest.ID, FileName: "invoice.pdf"}}

	start := time.Date(2004, 12, 13, 21, 39, 45, 0, time.FixedZone("PST", -8*3600))
	end := start.AddDate(1, 0, 0)
	sends := []struct {
		name string
		req  spapi.SendRequest
	}{
		{"confirmCustomizationDetails", spapi.SendRequest{Text: "Please confirm the engraving: “Émilie”", Attachments: append(att, att...)}},
		{"confirmDeliveryDetails", spapi.SendRequest{Text: "When can we deliver?"}},
		{"legalDisclosure", spapi.SendRequest{Attachments: att}},
		{"confirmOrderDetails", spapi.SendRequest{Text: "Which colour?"}},
		{"confirmServiceDetails", spapi.SendRequest{Text: "The technician comes Monday."}},
		{"warranty", spapi.SendRequest{Attachments: att, CoverageStartDate: &start, CoverageEndDate: &end}},
		{"digitalAccessKey", spapi.SendRequest{Text: "Your key is below.", Attachments: att}},
		{"unexpectedProblem", spapi.SendRequest{Text: "Your parcel is delayed."}},
		{"invoice", spapi.SendRequest{Attachments: att}},
		{"negativeFeedbackRemoval", spapi.SendRequest{}},
		{"amazonMotors", spapi.SendRequest{Attachments: att}},
		{"productReviewAndSellerFeedback", spapi.SendRequest{}},
	}
	require.Len(t, sends, len(spapi.Types()), "every type is exercised")
	for _, s := range sends {
		mt := mustType(t, s.name)
		resp, err := c.Send(ctx, sellerOne, orderID, mpUS, mt, s.req)
		require.NoError(t, err, s.name)
		assert.Equal(t, 201, resp.StatusCode, s.name)
	}

	violations, ops, reqs := f.snapshot()
	assert.Empty(t, violations, "requests that break Amazon's model")
	for _, mt := range spapi.Types() {
		assert.Equal(t, 1, ops[mt.OperationID], mt.OperationID)
	}
	assert.Equal(t, 2, ops[spapi.OpGetMessagingActionsForOrder])
	assert.Equal(t, 2, ops[spapi.OpGetSolicitationActionsForOrder])
	assert.Equal(t, 1, ops[spapi.OpGetAttributes])
	assert.Equal(t, 1, ops[spapi.OpCreateUploadDestinationForResource])
	assert.Len(t, reqs, 18)
	for _, r := range reqs {
		if strings.HasPrefix(r.Path, "/solicitations/") {
			assert.False(t, r.HasBody, "Solicitations calls carry no body: %s %s", r.Method, r.Path)
			assert.Empty(t, r.Header.Get("Content-Type"), r.Path)
			assert.Equal(t, "marketplaceIds="+mpUS, r.RawQuery, r.Path)
		}
	}
	assert.Equal(t, 1, f.lwa.exchangesFor(refreshOne), "one token for all calls")
}

// TestConformanceValidatorIsStrict guards against a vacuous check: the same
// fake flags a request that breaks the model.
func TestConformanceValidatorIsStrict(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t)
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost,
		f.api.URL+basePath+"/messaging/v1/orders/"+orderID+"/messages/sendInvoice?marketplaceIds="+mpUS, strings.NewReader(`{}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	violations, _, _ := f.snapshot()
	assert.NotEmpty(t, violations)
}
