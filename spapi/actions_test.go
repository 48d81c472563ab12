package spapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

// liveShape mirrors the 2025 live answer (spapi-notes §1.5).
const liveShape = `{
  "_links": {
    "actions": [
      {"href": "/messaging/v1/orders/701-2312323-4427400/messages/sendInvoice?marketplaceIds=A2Q3Y263D00KWC", "name": "sendInvoice"},
      {"href": "/messaging/v1/orders/701-2312323-4427400/messages/updateFeedback?marketplaceIds=A2Q3Y263D00KWC", "name": "updateFeedback"},
      {"href": "/messaging/v1/orders/701-2312323-4427400/messages/unexpectedProblem?marketplaceIds=A2Q3Y263D00KWC", "name": "unexpectedProblem"}
    ],
    "self": {"href": "/messaging/v1/orders/701-2312323-4427400?marketplaceIds=A2Q3Y263D00KWC"}
  },
  "_embedded": {
    "actions": [
      {
        "_links": {
          "schema": {"href": "/messaging/v1/orders/701-2312323-4427400/schemas/sendInvoice", "name": "sendInvoice"},
          "self": {"href": "/messaging/v1/orders/701-2312323-4427400/messages/sendInvoice?marketplaceIds=A2Q3Y263D00KWC", "name": "sendInvoice"}
        },
        "_embedded": {
          "schema": {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "type": "object", "name": "sendInvoice", "title": "Send Invoice",
            "properties": {"attachments": {"type": "array", "minItems": 1, "maxItems": 5}},
            "required": ["attachments"], "x-ui-hidden": false,
            "_links": {"self": {"href": "/messaging/v1/orders/701-2312323-4427400/schemas/sendInvoice"}}
          }
        },
        "name": "sendInvoice", "title": "Send Invoice Message Template", "disabled": false, "disabledReason": null
      },
      {
        "_links": {
          "schema": {"href": "/messaging/v1/orders/701-2312323-4427400/schemas/updateFeedback", "name": "updateFeedback"},
          "self": {"href": "/messaging/v1/orders/701-2312323-4427400/messages/updateFeedback?marketplaceIds=A2Q3Y263D00KWC", "name": "updateFeedback"}
        },
        "_embedded": {"schema": {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "properties": {}}},
        "name": "updateFeedback", "title": "Request to update negative feedback", "disabled": true,
        "disabledReason": "You may only send this once per order"
      },
      {
        "_links": {"self": {"href": "/messaging/v1/orders/701-2312323-4427400/messages/unexpectedProblem?marketplaceIds=A2Q3Y263D00KWC"}},
        "_embedded": {"schema": {"type": "object", "properties": {"rawMessageBody": {"type": "string", "minLength": 1, "maxLength": 2000}}}},
        "name": "unexpectedProblem", "title": "Notify of a problem with shipping your order"
      }
    ]
  }
}`

// modelShape follows the model's definitions: payload.name and the schema
// wrapped in _embedded.schema.payload.
const modelShape = `{
  "_links": {"self": {"href": "/messaging/v1/orders/123-1234567-1234567?marketplaceIds=ATVPDKIKX0DER"},
    "actions": [{"href": "/messaging/v1/orders/123-1234567-1234567/messages/confirmOrderDetails?marketplaceIds=ATVPDKIKX0DER", "name": "confirmOrderDetails"}]},
  "_embedded": {"actions": [{
    "_links": {"self": {"href": "/messaging/v1/orders/123-1234567-1234567/messages/confirmOrderDetails?marketplaceIds=ATVPDKIKX0DER"},
               "schema": {"href": "/messaging/v1/orders/123-1234567-1234567/schemas/confirmOrderDetails"}},
    "_embedded": {"schema": {"_links": {"self": {"href": "/x"}}, "payload": {"type": "object", "properties": {"rawMessageBody": {"type": "string", "maxLength": 2000}}}}},
    "payload": {"name": "confirmOrderDetails"}
  }]}
}`

// sandboxShape is the static sandbox answer: links only, no _embedded.
const sandboxShape = `{
  "_links": {
    "self": {"href": "/messaging/v1/orders/123-1234567-1234567?marketplaceIds=ATVPDKIKX0DER"},
    "actions": [
      {"href": "/messaging/v1/orders/123-1234567-1234567/messages/confirmCustomizationDetails?marketplaceIds=ATVPDKIKX0DER", "name": "confirmCustomizationDetails"},
      {"href": "/messaging/v1/orders/123-1234567-1234567/messages/negativeFeedbackRemoval?marketplaceIds=ATVPDKIKX0DER", "name": "negativeFeedbackRemoval"},
      {"href": "/messaging/v1/orders/123-1234567-1234567/messages/amazonMotors?marketplaceIds=ATVPDKIKX0DER"},
      {"href": "/messaging/v1/orders/123-1234567-1234567/attributes?marketplaceIds=ATVPDKIKX0DER", "name": "attributes"}
    ]
  }
}`

// solicitationsModelExample is the model's 200 example of
// getSolicitationActionsForOrder: the embedded action names itself only in
// _links.schema.name and has no self link.
const solicitationsModelExample = `{
  "_links": {
    "actions": [{"href": "/solicitations/v1/orders/903-1671087-0812628/solicitations/productReviewAndSellerFeedback?marketplaceIds=ATVPDKIKX0DER", "name": "productReviewAndSellerFeedback"}],
    "self": {"href": "/solicitations/v1/orders/903-1671087-0812628?marketplaceIds=ATVPDKIKX0DER"}
  },
  "_embedded": {
    "actions": [{"_links": {"schema": {"href": "/solicitations/v1/orders/903-1671087-0812628/solicitations/productReviewAndSellerFeedback/schema", "name": "productReviewAndSellerFeedback"}}}]
  }
}`

// solicitationsSandboxExample is the static sandbox answer of
// getSolicitationActionsForOrder (spapi-notes §8): links only.
const solicitationsSandboxExample = `{
  "_links": {
    "actions": [{"href": "/solicitations/v1/orders/123-1234567-1234567/solicitations/productReviewAndSellerFeedback?marketplaceIds=ATVPDKIKX0DER", "name": "productReviewAndSellerFeedback"}],
    "self": {"href": "/solicitations/v1/orders/123-1234567-1234567?marketplaceIds=ATVPDKIKX0DER"}
  }
}`

// solicitationsEmpty is the answer while the order is not eligible.
const solicitationsEmpty = `{"_links": {"actions": [], "self": {"href": "/solicitations/v1/orders/123-1234567-1234567?marketplaceIds=ATVPDKIKX0DER"}}, "_embedded": {"actions": []}}`

func actionsFrom(t *testing.T, body string) *spapi.Actions {
	t.Helper()
	srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/hal+json")
		_, _ = io.WriteString(w, body)
	})
	c := mustClient(t, testConfig(newLWA(t), srv.URL))
	a, resp, err := c.GetMessagingActionsForOrder(ctxT(t), sellerOne, orderID, mpUS)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	r := srv.requests()[0]
	assert.Equal(t, http.MethodGet, r.Method)
	assert.Equal(t, "/messaging/v1/orders/"+orderID, r.Path)
	assert.Equal(t, []string{mpUS}, r.Query["marketplaceIds"])
	assert.False(t, r.HasBody)
	return a
}

func TestActionsLiveShape(t *testing.T) {
	t.Parallel()
	a := actionsFrom(t, liveShape)
	require.Len(t, a.Actions, 3)

	inv, ok := a.Find(mustType(t, "invoice"))
	require.True(t, ok, "invoice is offered under its live name sendInvoice")
	assert.Equal(t, "sendInvoice", inv.Name)
	assert.Equal(t, "Send Invoice Message Template", inv.Title)
	assert.False(t, inv.Disabled)
	assert.Empty(t, inv.DisabledReason)
	assert.Contains(t, inv.Href, "/messages/sendInvoice")
	var schema map[string]any
	require.NoError(t, json.Unmarshal(inv.Schema, &schema))
	assert.Equal(t, "http://json-schema.org/draft-04/schema#", schema["$schema"])
	assert.Contains(t, schema, "properties")
	// The schema is passed through as Amazon sent it (its HAL _links member included).

	fb, ok := a.Find(mustType(t, "negativeFeedbackRemoval"))
	require.True(t, ok, "updateFeedback maps to negativeFeedbackRemoval")
	assert.True(t, fb.Disabled)
	assert.Equal(t, "You may only send this once per order", fb.DisabledReason)

	up, ok := a.Find(mustType(t, "unexpectedProblem"))
	require.True(t, ok)
	assert.JSONEq(t, `{"type":"object","properties":{"rawMessageBody":{"type":"string","minLength":1,"maxLength":2000}}}`, string(up.Schema))

	_, ok = a.Find(mustType(t, "warranty"))
	assert.False(t, ok, "a type the answer does not list is not found")
}

func TestActionsModelShape(t *testing.T) {
	t.Parallel()
	a := actionsFrom(t, modelShape)
	require.Len(t, a.Actions, 1)
	act, ok := a.Find(mustType(t, "confirmOrderDetails"))
	require.True(t, ok)
	assert.Equal(t, "confirmOrderDetails", act.Name)
	assert.JSONEq(t, `{"type":"object","properties":{"rawMessageBody":{"type":"string","maxLength":2000}}}`, string(act.Schema))
}

func TestActionsSandboxLinksOnly(t *testing.T) {
	t.Parallel()
	a := actionsFrom(t, sandboxShape)
	require.Len(t, a.Actions, 4)
	for _, name := range []string{"confirmCustomizationDetails", "negativeFeedbackRemoval", "amazonMotors"} {
		act, ok := a.Find(mustType(t, name))
		require.True(t, ok, name)
		assert.Nil(t, act.Schema, name)
		assert.Equal(t, name, act.Name, "name from the link, or from the href's last segment")
	}
	_, ok := a.Find(mustType(t, "invoice"))
	assert.False(t, ok)
}

func TestActionsFindByHrefSegment(t *testing.T) {
	t.Parallel()
	a := &spapi.Actions{Actions: []spapi.Action{
		{Name: "Something Else", Href: "https://x/messaging/v1/orders/1/messages/SENDINVOICE/?marketplaceIds=X"},
	}}
	act, ok := a.Find(mustType(t, "invoice"))
	require.True(t, ok)
	assert.Equal(t, "Something Else", act.Name)
	var nilActions *spapi.Actions
	_, ok = nilActions.Find(mustType(t, "invoice"))
	assert.False(t, ok)
}

func TestActionsUndecodableAnswer(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request, _ int) { _, _ = io.WriteString(w, `<html>`) })
	c := mustClient(t, testConfig(newLWA(t), srv.URL))
	_, resp, err := c.GetMessagingActionsForOrder(ctxT(t), sellerOne, orderID, mpUS)
	require.Error(t, err)
	require.NotNil(t, resp)
	var e *spapi.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "InvalidResponse", e.Code)
	assert.False(t, spapi.IsOutcomeUnknown(err))
}

// solicitationsFrom serves body as a getSolicitationActionsForOrder answer
// and checks the request the client made.
func solicitationsFrom(t *testing.T, body string) *spapi.Actions {
	t.Helper()
	srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/hal+json")
		_, _ = io.WriteString(w, body)
	})
	c := mustClient(t, testConfig(newLWA(t), srv.URL))
	a, resp, err := c.GetActions(ctxT(t), sellerOne, orderID, mpUS, mustType(t, "requestReview"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	reqs := srv.requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, http.MethodGet, r.Method)
	assert.Equal(t, "/solicitations/v1/orders/"+orderID, r.Path)
	assert.Equal(t, "marketplaceIds="+mpUS, r.RawQuery)
	assert.False(t, r.HasBody)
	return a
}

func TestSolicitationActionsModelExample(t *testing.T) {
	t.Parallel()
	a := solicitationsFrom(t, solicitationsModelExample)
	require.Len(t, a.Actions, 1, "the embedded action and its link are one action")
	act, ok := a.Find(mustType(t, "productReviewAndSellerFeedback"))
	require.True(t, ok)
	assert.Equal(t, "productReviewAndSellerFeedback", act.Name)
	assert.Equal(t, "/solicitations/v1/orders/903-1671087-0812628/solicitations/productReviewAndSellerFeedback?marketplaceIds=ATVPDKIKX0DER", act.Href,
		"the href comes from the action link of the same name, never the schema link")
	assert.False(t, act.Disabled)
	assert.Nil(t, act.Schema)
	for _, mt := range spapi.Types() {
		if mt.API == spapi.APIMessaging {
			_, ok := a.Find(mt)
			assert.False(t, ok, mt.Name)
		}
	}
}

func TestSolicitationActionsSandboxExample(t *testing.T) {
	t.Parallel()
	a := solicitationsFrom(t, solicitationsSandboxExample)
	require.Len(t, a.Actions, 1)
	act, ok := a.Find(mustType(t, "requestReview"))
	require.True(t, ok)
	assert.Equal(t, "productReviewAndSellerFeedback", act.Name)
	assert.Contains(t, act.Href, "/solicitations/v1/orders/123-1234567-1234567/solicitations/productReviewAndSellerFeedback")
}

func TestSolicitationActionsEmpty(t *testing.T) {
	t.Parallel()
	a := solicitationsFrom(t, solicitationsEmpty)
	assert.Empty(t, a.Actions)
	_, ok := a.Find(mustType(t, "productReviewAndSellerFeedback"))
	assert.False(t, ok, "not eligible: nothing to find")
}

func TestSolicitationActionsFullShape(t *testing.T) {
	t.Parallel()
	a := solicitationsFrom(t, string(solicitationActionsBody(orderID, mpUS)))
	require.Len(t, a.Actions, 1)
	act, ok := a.Find(mustType(t, "productReviewAndSellerFeedback"))
	require.True(t, ok)
	assert.JSONEq(t, `{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","properties":{}}`, string(act.Schema))
}

func TestActionsNamelessEmbeddedEntryIsLeftOut(t *testing.T) {
	t.Parallel()
	a := actionsFrom(t, `{"_links":{"actions":[]},"_embedded":{"actions":[{"_links":{"schema":{"href":"/x/schema"}}},{"name":"confirmOrderDetails"}]}}`)
	require.Len(t, a.Actions, 1)
	assert.Equal(t, "confirmOrderDetails", a.Actions[0].Name)
}
