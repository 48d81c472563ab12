package spapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

func TestTypeTableSetsAPI(t *testing.T) {
	t.Parallel()
	for _, mt := range spapi.Types() {
		assert.Contains(t, []spapi.API{spapi.APIMessaging, spapi.APISolicitations}, mt.API, mt.Name)
	}
	tt := spapi.Types()
	assert.Equal(t, "productReviewAndSellerFeedback", tt[len(tt)-1].Name, "the review request is the last entry")
}

func TestReviewRequestType(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"productReviewAndSellerFeedback", "requestReview", "REQUESTREVIEW"} {
		mt, ok := spapi.LookupType(name)
		require.True(t, ok, name)
		assert.Equal(t, "productReviewAndSellerFeedback", mt.Name)
		assert.Equal(t, []string{"requestReview"}, mt.Aliases)
		assert.Equal(t, "createProductReviewAndSellerFeedbackSolicitation", mt.OperationID)
		assert.Equal(t, spapi.APISolicitations, mt.API)
		assert.True(t, mt.OncePerOrder)
		assert.False(t, mt.Removed)
		assert.Empty(t, mt.Fields)
		assert.Equal(t, "/solicitations/v1/orders/123-1234567-1234567/solicitations/productReviewAndSellerFeedback", mt.Path("123-1234567-1234567"))
		assert.Equal(t, spapi.OpGetSolicitationActionsForOrder, mt.ActionsOperation())
		assert.Empty(t, mt.UploadResource("123-1234567-1234567"), "no attachments on solicitations")
	}
	assert.Equal(t, "getSolicitationActionsForOrder", spapi.OpGetSolicitationActionsForOrder)
	assert.InDelta(t, 1.0, spapi.SolicitationsRate, 0)
	assert.Equal(t, 5, spapi.SolicitationsBurst)
}

func TestMessagingTypePaths(t *testing.T) {
	t.Parallel()
	inv := mustType(t, "sendInvoice")
	assert.Equal(t, "/messaging/v1/orders/1/messages/invoice", inv.Path("1"))
	assert.Equal(t, "messaging/v1/orders/1/messages/invoice", inv.UploadResource("1"))
	assert.Equal(t, spapi.OpGetMessagingActionsForOrder, inv.ActionsOperation())
	byHand := spapi.MessageType{Name: "x", PathSegment: "x"}
	assert.Equal(t, "/messaging/v1/orders/1/messages/x", byHand.Path("1"), "an empty API means Messaging")
	assert.Equal(t, spapi.OpGetMessagingActionsForOrder, byHand.ActionsOperation())
}
