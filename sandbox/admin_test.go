package sandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
)

func TestAdminInspectionAndReset(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	require.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "one"}).status)
	require.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(otherID, "negativeFeedbackRemoval"), tok, nil).status)
	require.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(orderID, "unexpectedProblem"), e.token("Atzr|A2"), map[string]any{"text": "two"}).status)

	r := e.request(http.MethodGet, "/_sandbox/sent", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	var sent []sandbox.SentMessage
	require.NoError(t, json.Unmarshal(r.body, &sent))
	require.Len(t, sent, 3)
	assert.Equal(t, []string{"confirmOrderDetails", "negativeFeedbackRemoval", "unexpectedProblem"}, []string{sent[0].Type, sent[1].Type, sent[2].Type})
	assert.Equal(t, e.sb.Sent(), sent)

	r = e.request(http.MethodGet, "/_sandbox/sent?seller=A2", nil, nil)
	require.NoError(t, json.Unmarshal(r.body, &sent))
	require.Len(t, sent, 1)
	assert.Equal(t, "two", sent[0].Text)
	r = e.request(http.MethodGet, "/_sandbox/sent?order="+otherID, nil, nil)
	require.NoError(t, json.Unmarshal(r.body, &sent))
	require.Len(t, sent, 1)

	r = e.request(http.MethodGet, "/_sandbox/stats", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	var st sandbox.Stats
	require.NoError(t, json.Unmarshal(r.body, &st))
	assert.Equal(t, e.sb.Stats(), st)
	assert.EqualValues(t, 3, st.Sent)
	assert.EqualValues(t, 2, st.TokenExchanges)
	assert.EqualValues(t, 1, st.Requests["createConfirmOrderDetails"])

	assert.Equal(t, http.StatusMethodNotAllowed, e.request(http.MethodGet, "/_sandbox/reset", nil, nil).status)
	r = e.request(http.MethodPost, "/_sandbox/reset", nil, nil)
	require.Equal(t, http.StatusNoContent, r.status)
	assert.Empty(t, e.sb.Sent())
	assert.Zero(t, e.sb.Stats().Sent)
	r = e.request(http.MethodGet, "/_sandbox/sent", nil, nil)
	assert.JSONEq(t, `[]`, string(r.body))
	// Once-per-order state is gone; tokens stay valid.
	assert.Contains(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(otherID), tok, nil)), "updateFeedback")

	assert.Equal(t, http.StatusNotFound, e.request(http.MethodGet, "/_sandbox/nope", nil, nil).status)
}

func TestAdminSetOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	require.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(orderID, "negativeFeedbackRemoval"), tok, nil).status)

	body := []byte(`{"available":["sendInvoice","updateFeedback"],"disabled":{"confirmOrderDetails":"Order has shipped."}}`)
	r := e.request(http.MethodPut, "/_sandbox/orders/"+orderID, http.Header{"Content-Type": {"application/json"}}, body)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	assert.Equal(t, []string{"sendInvoice", "updateFeedback", "confirmOrderDetails"},
		actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)), "SetOrder also forgets once-per-order sends")
	assertUnavailable(t, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}))

	for _, bad := range []string{`{"available":["postcard"]}`, `{"availble":[]}`, `{"id":"other","available":[]}`, `nope`} {
		r = e.request(http.MethodPut, "/_sandbox/orders/"+orderID, nil, []byte(bad))
		assert.Equal(t, http.StatusBadRequest, r.status, bad)
		assert.Contains(t, r.json(t), "error")
	}

	// The Go method does the same, scoped to a seller.
	require.NoError(t, e.sb.SetOrder(sandbox.Order{ID: orderID, Seller: "A2", Available: []string{"warranty"}}))
	assert.Equal(t, []string{"warranty"}, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), e.token("Atzr|A2"), nil)))
	assert.Equal(t, []string{"sendInvoice", "updateFeedback", "confirmOrderDetails"}, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)))
	require.Error(t, e.sb.SetOrder(sandbox.Order{Available: []string{"warranty"}}))

	// Reset returns to the configuration.
	e.sb.Reset()
	assert.Equal(t, sandbox.DefaultAvailableTypes(), actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)))
}
