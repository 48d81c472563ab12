package sandbox_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
)

func assertUnavailable(t *testing.T, r resp) {
	t.Helper()
	require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	assert.JSONEq(t, `{"errors":[{"code":"Unauthorized","message":"Invalid amazonOrderId and template combination.","details":""}]}`, string(r.body))
	assert.Empty(t, r.header.Get("x-amzn-RateLimit-Limit"))
}

func TestSendSuccessIsRecorded(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	r := e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), e.token("Atzr|A1"), map[string]any{"text": "Your order is ready."})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.JSONEq(t, `{}`, string(r.body))
	assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
	sent := e.sb.Sent()
	require.Len(t, sent, 1)
	m := sent[0]
	assert.Equal(t, "A1", m.Seller)
	assert.Equal(t, mpUS, m.Marketplace)
	assert.Equal(t, orderID, m.Order)
	assert.Equal(t, "confirmOrderDetails", m.Type)
	assert.Equal(t, "createConfirmOrderDetails", m.Operation)
	assert.Equal(t, "Your order is ready.", m.Text)
	assert.Equal(t, r.header.Get("x-amzn-RequestId"), m.RequestID)
	assert.Equal(t, e.clock.Now(), m.Time)
	assert.EqualValues(t, 1, m.Seq)
	assert.EqualValues(t, 1, e.sb.Stats().Sent)
}

func TestSendUnavailableType(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{Orders: []sandbox.Order{{
		ID: orderID, Available: []string{"confirmOrderDetails"}, Disabled: map[string]string{"unexpectedProblem": "Order already delivered."},
	}}})
	tok := e.token("Atzr|A1")
	assertUnavailable(t, e.spapi(http.MethodPost, sendPath(orderID, "confirmDeliveryDetails"), tok, map[string]any{"text": "hi"}))
	assertUnavailable(t, e.spapi(http.MethodPost, sendPath(orderID, "unexpectedProblem"), tok, map[string]any{"text": "hi"}))
	// Removed operations are refused unless offered.
	assertUnavailable(t, e.spapi(http.MethodPost, sendPath(otherID, "amazonMotors"), tok, map[string]any{"attachments": []any{attachment("x", "m.txt")}}))
	assert.EqualValues(t, 3, e.sb.Stats().Unavailable)
	assert.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)
}

func TestOncePerOrderDisappearsAfterSend(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	require.Contains(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)), "updateFeedback")

	// The removed operation still works while the order offers it.
	r := e.spapi(http.MethodPost, sendPath(orderID, "negativeFeedbackRemoval"), tok, nil)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	sent := e.sb.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, "negativeFeedbackRemoval", sent[0].Type)
	assert.Equal(t, "createNegativeFeedbackRemoval", sent[0].Operation)

	assert.NotContains(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)), "updateFeedback")
	assertUnavailable(t, e.spapi(http.MethodPost, sendPath(orderID, "negativeFeedbackRemoval"), tok, nil))
	// Other orders and other sellers are unaffected; repeatable types stay.
	assert.Contains(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(otherID), tok, nil)), "updateFeedback")
	assert.Contains(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), e.token("Atzr|A2"), nil)), "updateFeedback")
	for range 2 {
		assert.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)
	}
}

func TestOncePerOrderUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+sendPath(orderID, "negativeFeedbackRemoval"), nil)
			req.Header.Set("User-Agent", "test/1.0")
			req.Header.Set("x-amz-access-token", tok)
			res, err := e.srv.Client().Do(req)
			if !assert.NoError(t, err) {
				return
			}
			_ = res.Body.Close()
			codes[i] = res.StatusCode
		})
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		if c == http.StatusCreated {
			created++
		} else {
			assert.Equal(t, http.StatusForbidden, c)
		}
	}
	assert.Equal(t, 1, created)
	assert.Len(t, e.sb.Sent(), 1)
}

func TestTextLengthCountsCodePoints(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	tests := []struct {
		name, segment, text string
		status              int
	}{
		{"400TwoByteRunes", "digitalAccessKey", text(400, "é"), http.StatusCreated},
		{"400FourByteRunes", "digitalAccessKey", text(400, "😀"), http.StatusCreated},
		{"401TwoByteRunes", "digitalAccessKey", text(401, "é"), http.StatusBadRequest},
		{"800ThreeByteRunes", "confirmCustomizationDetails", text(800, "日"), http.StatusCreated},
		{"801Runes", "confirmCustomizationDetails", text(801, "a"), http.StatusBadRequest},
		{"2000ThreeByteRunes", "confirmOrderDetails", text(2000, "日"), http.StatusCreated},
		{"2001Runes", "unexpectedProblem", text(2001, "ü"), http.StatusBadRequest},
		{"Empty", "confirmOrderDetails", "", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.spapi(http.MethodPost, sendPath(orderID, tc.segment), tok, map[string]any{"text": tc.text})
			require.Equal(t, tc.status, r.status, "%s", r.body)
			if tc.status == http.StatusBadRequest {
				code, _, _ := r.apiError(t)
				assert.Equal(t, "InvalidInput", code)
			}
		})
	}
	t.Run("MissingText", func(t *testing.T) {
		r := e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{})
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		_, msg, _ := r.apiError(t)
		assert.Contains(t, msg, "text must be 1 to 2000 characters")
	})
}

func TestTextPolicy(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	tests := []struct {
		name, text, rule string
	}{
		{"HTMLTag", "Your order <b>shipped</b>.", "HTML"},
		{"HTMLLink", `See <a href="https://example.com">here</a>`, "HTML"},
		{"SelfClosingTag", "Line one<br/>line two", "HTML"},
		{"Email", "Questions? Write to help@example.com today.", "email"},
		{"EmailUppercase", "Contact SHOP.Support@Example.CO.UK", "email"},
		{"ComparisonIsNotHTML", "Size 3 < 5 and 7 > 2", ""},
		{"AtSignIsNotEmail", "Meet @ the store at 5", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": tc.text})
			if tc.rule == "" {
				assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
				return
			}
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			code, msg, _ := r.apiError(t)
			assert.Equal(t, "InvalidInput", code)
			assert.Contains(t, msg, tc.rule)
		})
	}
	assert.EqualValues(t, 5, e.sb.Stats().Rejected)
}

func TestLostAnswerRecordsTheSend(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{Faults: sandbox.Faults{Lost: 1}})
	tok := e.token("Atzr|A1")

	// Non-send operations are never lost.
	require.Contains(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)), "updateFeedback")

	req, err := http.NewRequest(http.MethodPost, e.srv.URL+sendPath(orderID, "negativeFeedbackRemoval"), nil)
	require.NoError(t, err)
	req.Header.Set("User-Agent", "test/1.0")
	req.Header.Set("x-amz-access-token", tok)
	res, err := e.srv.Client().Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		t.Fatalf("got an answer (%d), want none", res.StatusCode)
	}
	require.Error(t, err)

	sent := e.sb.Sent()
	require.Len(t, sent, 1)
	assert.True(t, sent[0].Lost)
	assert.Equal(t, "negativeFeedbackRemoval", sent[0].Type)
	st := e.sb.Stats()
	assert.EqualValues(t, 1, st.Lost)
	assert.EqualValues(t, 1, st.Sent)
	// The once-per-order type was used up although the client never heard.
	assert.NotContains(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)), "updateFeedback")
}

func TestLostIsDeterministic(t *testing.T) {
	t.Parallel()
	run := func() []bool {
		e := setup(t, sandbox.Config{Seed: 3, NoRateLimits: true, Faults: sandbox.Faults{Lost: 0.5}})
		tok := e.token("Atzr|A1")
		for range 20 {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+sendPath(orderID, "confirmOrderDetails"), nil)
			req.Header.Set("User-Agent", "test/1.0")
			req.Header.Set("x-amz-access-token", tok)
			req.Header.Set("Content-Type", "application/json")
			req.Body = io.NopCloser(strings.NewReader(`{"text":"hi"}`))
			req.ContentLength = int64(len(`{"text":"hi"}`))
			if res, err := e.srv.Client().Do(req); err == nil {
				_ = res.Body.Close()
			}
		}
		var out []bool
		for _, m := range e.sb.Sent() {
			out = append(out, m.Lost)
		}
		return out
	}
	a, b := run(), run()
	require.Len(t, a, 20)
	assert.Equal(t, a, b)
	assert.Contains(t, a, true)
	assert.Contains(t, a, false)
}
