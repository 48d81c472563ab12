package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
)

const internalFailure = `{"errors":[{"code":"InternalFailure","message":"We encountered an internal error. Please try again."}]}`

func TestSendThen500MessagingRecordsOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	e.sb.AddSendThen500(sandbox.SendThen500Rule{Count: 1})

	r := e.spapi(http.MethodPost, sendPath(orderID, "negativeFeedbackRemoval"), tok, nil)
	require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	assert.JSONEq(t, internalFailure, string(r.body))
	assert.Empty(t, r.header.Get("x-amzn-RateLimit-Limit"), "Messaging declares no rate header on 500")

	// Processed: recorded once, and the once-per-order type is used up.
	sent := e.sb.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, "negativeFeedbackRemoval", sent[0].Type)
	assert.True(t, sent[0].Answered500)
	assert.False(t, sent[0].Lost)
	assert.Equal(t, r.header.Get("x-amzn-RequestId"), sent[0].RequestID)
	assert.NotContains(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)), "updateFeedback")
	assertUnavailable(t, e.spapi(http.MethodPost, sendPath(orderID, "negativeFeedbackRemoval"), tok, nil))
	st := e.sb.Stats()
	assert.EqualValues(t, 1, st.Sent)
	assert.EqualValues(t, 1, st.SendThen500)
	assert.Zero(t, st.Faults5xx)

	// The rule is spent; non-send operations never count against it.
	assert.Empty(t, e.sb.SendThen500Rules())
	assert.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)
	assert.Len(t, e.sb.Sent(), 2)
}

func TestSendThen500Review(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true, Faults: sandbox.Faults{SendThen500Rules: []sandbox.SendThen500Rule{{Order: orderID}}}})
	tok := e.token("Atzr|A1")
	r := e.spapi(http.MethodPost, reviewPath(orderID), tok, nil)
	require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	assert.JSONEq(t, internalFailure, string(r.body))
	assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"), "Solicitations declare the header on 500")
	sent := e.sb.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, review, sent[0].Type)
	assert.True(t, sent[0].Answered500)
	assert.Empty(t, e.solNames(tok, orderID))
	r = e.spapi(http.MethodPost, reviewPath(orderID), tok, nil)
	require.Equal(t, http.StatusForbidden, r.status)
	assert.JSONEq(t, reviewSent, string(r.body))

	// A rule without a count stays for every send of its order.
	for range 2 {
		assert.Equal(t, http.StatusInternalServerError, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)
	}
	assert.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, reviewPath(otherID), tok, nil).status)
	assert.Equal(t, []sandbox.SendThen500Rule{{Order: orderID}}, e.sb.SendThen500Rules())
	assert.EqualValues(t, 3, e.sb.Stats().SendThen500)
	assert.EqualValues(t, 4, e.sb.Stats().Sent)

	// A refused send does not use up a rule.
	e.sb.ClearSendThen500()
	e.sb.AddSendThen500(sandbox.SendThen500Rule{Seller: "A1", Count: 1})
	assertUnavailable(t, e.spapi(http.MethodPost, sendPath(otherID, "amazonMotors"), tok, map[string]any{"attachments": []any{attachment("x", "m.txt")}}))
	assert.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(otherID, "confirmOrderDetails"), e.token("Atzr|A2"), map[string]any{"text": "hi"}).status, "other seller")
	assert.Equal(t, []sandbox.SendThen500Rule{{Seller: "A1", Count: 1}}, e.sb.SendThen500Rules())
	assert.Equal(t, http.StatusInternalServerError, e.spapi(http.MethodPost, sendPath(otherID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)

	// Reset brings back the configured rule.
	e.sb.Reset()
	assert.Equal(t, []sandbox.SendThen500Rule{{Order: orderID}}, e.sb.SendThen500Rules())
}

func TestSendThen500Fraction(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true, Faults: sandbox.Faults{SendThen500: 1}})
	tok := e.token("Atzr|A1")
	assert.Equal(t, http.StatusOK, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil).status, "only sends")
	assert.Equal(t, http.StatusInternalServerError, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)
	assert.Equal(t, http.StatusInternalServerError, e.spapi(http.MethodPost, reviewPath(orderID), tok, nil).status)
	assert.Len(t, e.sb.Sent(), 2)

	run := func() []bool {
		e := setup(t, sandbox.Config{Seed: 5, NoRateLimits: true, Faults: sandbox.Faults{SendThen500: 0.5}})
		tok := e.token("Atzr|A1")
		for range 20 {
			r := e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"})
			require.Contains(t, []int{http.StatusCreated, http.StatusInternalServerError}, r.status)
		}
		var out []bool
		for _, m := range e.sb.Sent() {
			out = append(out, m.Answered500)
		}
		return out
	}
	a, b := run(), run()
	require.Len(t, a, 20)
	assert.Equal(t, a, b)
	assert.Contains(t, a, true)
	assert.Contains(t, a, false)
}

func TestSendThen500Admin(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	const path = "/_sandbox/faults/send-then-500"
	r := e.request(http.MethodPost, path, nil, []byte(`{"order":"`+orderID+`","count":2}`))
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	r = e.request(http.MethodGet, path, nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `[{"order":"`+orderID+`","count":2}]`, string(r.body))

	assert.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(otherID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)
	assert.Equal(t, http.StatusInternalServerError, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)
	assert.JSONEq(t, `[{"order":"`+orderID+`","count":1}]`, string(e.request(http.MethodGet, path, nil, nil).body))
	assert.Equal(t, http.StatusInternalServerError, e.spapi(http.MethodPost, reviewPath(orderID), tok, nil).status)
	assert.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)
	assert.JSONEq(t, `[]`, string(e.request(http.MethodGet, path, nil, nil).body))

	require.Equal(t, http.StatusNoContent, e.request(http.MethodPost, path, nil, []byte(`{}`)).status)
	require.Equal(t, http.StatusNoContent, e.request(http.MethodDelete, path, nil, nil).status)
	assert.Empty(t, e.sb.SendThen500Rules())

	r = e.request(http.MethodPost, path, nil, []byte(`{"orders":"x"}`))
	require.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.json(t)["error"], `"orders"`)
	r = e.request(http.MethodPut, path, nil, []byte(`{}`))
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, POST, DELETE", r.header.Get("Allow"))
}

func TestDeliveryAdminAndConfig(t *testing.T) {
	t.Parallel()
	start := newClock().Now()
	e := setup(t, sandbox.Config{NoRateLimits: true, Orders: []sandbox.Order{
		{ID: orderID, Delivery: &sandbox.Delivery{Earliest: start.Add(-2 * day)}},
		{ID: otherID, Seller: "A2", Delivery: &sandbox.Delivery{Earliest: start.Add(-50 * day), Latest: start.Add(-40 * day)}},
	}})
	one, two := e.token("Atzr|A1"), e.token("Atzr|A2")
	assert.Empty(t, e.solNames(one, orderID), "configured: delivered 2 days ago")
	assert.Equal(t, []string{review}, e.solNames(one, otherID), "the other entry is A2's")
	assert.Empty(t, e.solNames(two, otherID))

	body := `{"earliest":"` + start.Add(-7*day).Format(time.RFC3339) + `","latest":"` + start.Add(-6*day).Format(time.RFC3339) + `"}`
	r := e.request(http.MethodPut, "/_sandbox/orders/"+orderID+"/delivery", http.Header{"Content-Type": {"application/json"}}, []byte(body))
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	assert.Equal(t, []string{review}, e.solNames(one, orderID))
	// SetDelivery replaces seller-specific dates too.
	require.NoError(t, e.sb.SetDelivery(otherID, start.Add(-8*day), time.Time{}))
	assert.Equal(t, []string{review}, e.solNames(two, otherID))
	// SetOrder with dates sets them; without, keeps them.
	require.NoError(t, e.sb.SetOrder(sandbox.Order{ID: orderID, Available: []string{"warranty"}}))
	assert.Equal(t, []string{review}, e.solNames(one, orderID))
	require.NoError(t, e.sb.SetOrder(sandbox.Order{ID: orderID, Delivery: &sandbox.Delivery{Earliest: start.Add(-90 * day)}}))
	assert.Empty(t, e.solNames(one, orderID))

	for bad, field := range map[string]string{
		`{"latest":"2026-01-01T00:00:00Z"}`:                                   "earliest",
		`{"earliest":"2026-02-01T00:00:00Z","latest":"2026-01-01T00:00:00Z"}`: "latest",
		`{"earliest":"yesterday"}`:                                            "delivery object",
		`{"earliest":"2026-01-01T00:00:00Z","seller":"A1"}`:                   `"seller"`,
	} {
		r := e.request(http.MethodPut, "/_sandbox/orders/"+orderID+"/delivery", nil, []byte(bad))
		require.Equal(t, http.StatusBadRequest, r.status, bad)
		assert.Contains(t, r.json(t)["error"], field, bad)
	}
	assert.Equal(t, http.StatusMethodNotAllowed, e.request(http.MethodGet, "/_sandbox/orders/"+orderID+"/delivery", nil, nil).status)
	require.Error(t, e.sb.SetDelivery("", start, start))

	// Reset returns to the configured dates.
	e.sb.Reset()
	assert.Empty(t, e.solNames(one, orderID))
	assert.Empty(t, e.solNames(two, otherID))

	_, err := sandbox.New(sandbox.Config{Orders: []sandbox.Order{{ID: orderID, Delivery: &sandbox.Delivery{}}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "orders[0] ("+orderID+"): delivery: earliest is empty")
	_, err = sandbox.New(sandbox.Config{Faults: sandbox.Faults{SendThen500: 1.5}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "send_then_500")
}

// A lost answer is never also a 500; a rule wins over the Lost draw.
func TestSendThen500AndLost(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true, Faults: sandbox.Faults{Lost: 1, SendThen500: 1}})
	tok := e.token("Atzr|A1")
	e.sb.AddSendThen500(sandbox.SendThen500Rule{Count: 1})
	assert.Equal(t, http.StatusInternalServerError, e.spapi(http.MethodPost, reviewPath(orderID), tok, nil).status)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+sendPath(orderID, "confirmOrderDetails"), strings.NewReader(`{"text":"hi"}`))
	require.NoError(t, err)
	req.Header.Set("x-amz-access-token", tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := e.srv.Client().Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
	}
	require.Error(t, err, "lost")
	sent := e.sb.Sent()
	require.Len(t, sent, 2)
	assert.Equal(t, []bool{true, false}, []bool{sent[0].Answered500, sent[1].Answered500})
	assert.Equal(t, []bool{false, true}, []bool{sent[0].Lost, sent[1].Lost})
	var st sandbox.Stats
	require.NoError(t, json.Unmarshal(e.request(http.MethodGet, "/_sandbox/stats", nil, nil).body, &st))
	assert.EqualValues(t, 1, st.SendThen500)
	assert.EqualValues(t, 1, st.Lost)
	assert.EqualValues(t, 2, st.Sent)
}
