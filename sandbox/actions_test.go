package sandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
)

// liveActions is the live getMessagingActionsForOrder shape.
type liveActions struct {
	Links struct {
		Self    struct{ Href string } `json:"self"`
		Actions []struct {
			Href string `json:"href"`
			Name string `json:"name"`
		} `json:"actions"`
	} `json:"_links"`
	Embedded struct {
		Actions []struct {
			Links struct {
				Self   struct{ Href string } `json:"self"`
				Schema struct{ Href string } `json:"schema"`
			} `json:"_links"`
			Embedded struct {
				Schema map[string]any `json:"schema"`
			} `json:"_embedded"`
			Name           string  `json:"name"`
			Title          string  `json:"title"`
			Disabled       *bool   `json:"disabled"`
			DisabledReason *string `json:"disabledReason"`
		} `json:"actions"`
	} `json:"_embedded"`
}

func getActions(t *testing.T, e *env, tok, order string) liveActions {
	t.Helper()
	r := e.spapi(http.MethodGet, actionsPath(order), tok, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
	assert.NotEmpty(t, r.header.Get("x-amzn-RequestId"))
	var out liveActions
	require.NoError(t, json.Unmarshal(r.body, &out), "%s", r.body)
	return out
}

func TestActionsLiveShape(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	a := getActions(t, e, e.token("Atzr|A1"), orderID)

	base := "/messaging/v1/orders/" + orderID
	assert.Equal(t, base+"?marketplaceIds="+mpUS, a.Links.Self.Href)
	var names []string
	for _, l := range a.Links.Actions {
		names = append(names, l.Name)
		assert.Equal(t, base+"/messages/"+l.Name+"?marketplaceIds="+mpUS, l.Href)
	}
	assert.Equal(t, sandbox.DefaultAvailableTypes(), names)
	assert.Equal(t, []string{
		"confirmCustomizationDetails", "confirmDeliveryDetails", "legalDisclosure", "confirmOrderDetails",
		"confirmServiceDetails", "warranty", "digitalAccessKey", "unexpectedProblem", "sendInvoice", "updateFeedback",
	}, names, "live names, no removed amazonMotors")

	require.Len(t, a.Embedded.Actions, len(names))
	byName := map[string]map[string]any{}
	for i, act := range a.Embedded.Actions {
		assert.Equal(t, names[i], act.Name)
		assert.NotEmpty(t, act.Title)
		assert.Equal(t, base+"/messages/"+act.Name+"?marketplaceIds="+mpUS, act.Links.Self.Href)
		assert.NotEmpty(t, act.Links.Schema.Href)
		require.NotNil(t, act.Disabled)
		assert.False(t, *act.Disabled)
		assert.Nil(t, act.DisabledReason)
		sc := act.Embedded.Schema
		assert.Equal(t, "http://json-schema.org/draft-04/schema#", sc["$schema"])
		assert.Equal(t, "object", sc["type"])
		assert.Equal(t, act.Name, sc["name"])
		assert.Equal(t, act.Title, sc["title"])
		assert.Contains(t, sc, "x-ui-hidden")
		assert.Contains(t, sc, "required")
		assert.Contains(t, sc, "properties")
		byName[act.Name] = sc
	}
	assert.Equal(t, "Send Invoice Message Template", a.Embedded.Actions[8].Title)
	assert.Equal(t, "Request to update negative feedback", a.Embedded.Actions[9].Title)

	prop := func(action, p string) map[string]any {
		props := byName[action]["properties"].(map[string]any)
		v, _ := props[p].(map[string]any)
		return v
	}
	for action, max := range map[string]float64{"confirmCustomizationDetails": 800, "confirmOrderDetails": 2000, "digitalAccessKey": 400, "unexpectedProblem": 2000} {
		body := prop(action, "rawMessageBody")
		require.NotNil(t, body, action)
		assert.Equal(t, "string", body["type"], action)
		assert.EqualValues(t, 1, body["minLength"], action)
		assert.Equal(t, max, body["maxLength"], action)
		assert.Contains(t, body["description"], "character limit. Only links related to order completion are allowed, no HTML or email addresses.")
		assert.Contains(t, byName[action]["required"], "rawMessageBody", action)
	}
	assert.Equal(t, "800 character limit. Only links related to order completion are allowed, no HTML or email addresses.",
		prop("confirmCustomizationDetails", "rawMessageBody")["description"])

	inv := prop("sendInvoice", "attachments")
	require.NotNil(t, inv)
	assert.Equal(t, "array", inv["type"])
	assert.EqualValues(t, 5, inv["maxItems"])
	assert.EqualValues(t, 1, inv["minItems"])
	assert.Contains(t, inv["description"], "text files, PDF, Word documents and .jpg/.gif/.png images")
	assert.Contains(t, inv["description"], "less than 10 MB")
	items := inv["items"].(map[string]any)["properties"].(map[string]any)
	assert.Contains(t, items, "uploadDestinationId")
	assert.Contains(t, items, "name")
	assert.Equal(t, []any{"attachments"}, byName["sendInvoice"]["required"])
	assert.Nil(t, prop("sendInvoice", "rawMessageBody"))

	cust := prop("confirmCustomizationDetails", "attachments")
	assert.EqualValues(t, 5, cust["maxItems"])
	assert.NotContains(t, cust, "minItems")
	assert.Empty(t, byName["updateFeedback"]["properties"])
	assert.Empty(t, byName["updateFeedback"]["required"])
}

func TestActionsConfiguredOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{
		Orders: []sandbox.Order{
			{ID: orderID, Available: []string{"invoice", "CONFIRMORDERDETAILS"}, Disabled: map[string]string{"updateFeedback": "Buyer has not left feedback."}},
			{ID: orderID, Seller: "A9", Available: []string{"warranty"}},
			{ID: otherID, Available: []string{}},
		},
	})
	a := getActions(t, e, e.token("Atzr|A1"), orderID)
	require.Len(t, a.Embedded.Actions, 3)
	got := a.Embedded.Actions
	assert.Equal(t, "invoice", got[0].Name, "the configured spelling is shown")
	assert.Equal(t, "confirmOrderDetails", got[1].Name, "names are matched case-insensitively")
	assert.Equal(t, "updateFeedback", got[2].Name)
	assert.True(t, *got[2].Disabled)
	require.NotNil(t, got[2].DisabledReason)
	assert.Equal(t, "Buyer has not left feedback.", *got[2].DisabledReason)

	// A seller-specific entry wins for that seller.
	assert.Equal(t, []string{"warranty"}, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), e.token("Atzr|A9"), nil)))
	// An empty list offers nothing.
	assert.Empty(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(otherID), e.token("Atzr|A1"), nil)))
}

func TestDefaultAvailableOverride(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{DefaultAvailable: []string{"confirmOrderDetails", "amazonMotors"}})
	assert.Equal(t, []string{"confirmOrderDetails", "amazonMotors"},
		actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), e.token("Atzr|A1"), nil)))
}

func TestGetAttributes(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{Orders: []sandbox.Order{{ID: otherID, Locale: "es-US"}}})
	tok := e.token("Atzr|A1")
	for _, tc := range []struct{ order, mp, locale string }{
		{orderID, mpUS, "en-US"},
		{orderID, "A1PA6795UKMFR9", "de-DE"},
		{orderID, "A1F83G8C2ARO7P", "en-GB"},
		{otherID, mpUS, "es-US"},
	} {
		r := e.spapi(http.MethodGet, ordersPath(tc.order)+"/attributes?marketplaceIds="+tc.mp, tok, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, map[string]any{"buyer": map[string]any{"locale": tc.locale}}, r.json(t))
	}
}
