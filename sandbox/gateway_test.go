package sandbox_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
)

func TestModelViolationIsCounted(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	tests := []struct {
		name, method, path string
		body               any
		problem            string
	}{
		{"MissingMarketplace", http.MethodGet, ordersPath(orderID), nil, "marketplaceIds"},
		{"UnknownBodyProperty", http.MethodPost, sendPath(orderID, "confirmOrderDetails"), map[string]any{"text": "hi", "subject": "x"}, `"subject"`},
		{"TextWrongType", http.MethodPost, sendPath(orderID, "confirmOrderDetails"), map[string]any{"text": 5}, "text"},
		{"MissingContentMD5", http.MethodPost, "/uploads/2020-11-01/uploadDestinations/messaging/v1/orders/" + orderID + "/messages/invoice?marketplaceIds=" + mpUS, nil, "contentMD5"},
	}
	for i, tc := range tests {
		r := e.spapi(tc.method, tc.path, tok, tc.body)
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", tc.name, r.body)
		code, msg, details := r.apiError(t)
		assert.Equal(t, "InvalidInput", code, tc.name)
		assert.Contains(t, msg, tc.problem, tc.name)
		assert.NotEmpty(t, details, tc.name)
		assert.NotEmpty(t, r.header.Get("x-amzn-RateLimit-Limit"), "rate header on 400")
		assert.EqualValues(t, i+1, e.sb.Stats().Violations, tc.name)
	}
	assert.Empty(t, e.sb.Sent())
}

func TestUnknownMarketplace(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	r := e.spapi(http.MethodGet, ordersPath(orderID)+"?marketplaceIds=NOPE", e.token("Atzr|A1"), nil)
	require.Equal(t, http.StatusBadRequest, r.status)
	code, _, _ := r.apiError(t)
	assert.Equal(t, "InvalidInput", code)
}

func TestUnknownRouteIs404(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	// The live action name is not an operation path.
	r := e.spapi(http.MethodPost, sendPath(orderID, "sendInvoice"), tok, map[string]any{"attachments": []any{}})
	require.Equal(t, http.StatusNotFound, r.status)
	code, _, _ := r.apiError(t)
	assert.Equal(t, "NotFound", code)
	assert.NotEmpty(t, r.header.Get("x-amzn-RequestId"))
	assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
	r = e.spapi(http.MethodPost, sendPath(orderID, "updateFeedback"), tok, nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.EqualValues(t, 2, e.sb.Stats().Requests["unknown"])
}

func TestRateLimitBurstThen429(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	for i := range 5 {
		r := e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)
		require.Equal(t, http.StatusOK, r.status, "request %d", i)
		assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
	}
	r := e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	code, msg, _ := r.apiError(t)
	assert.Equal(t, "QuotaExceeded", code)
	assert.Equal(t, "You exceeded your quota for the requested resource.", msg)
	assert.Empty(t, r.header.Get("x-amzn-RateLimit-Limit"), "no rate header on 429")
	assert.NotEmpty(t, r.header.Get("x-amzn-RequestId"))

	// Buckets are per operation: sends still have their own burst.
	assert.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"}).status)
	// And per seller.
	assert.Equal(t, http.StatusOK, e.spapi(http.MethodGet, actionsPath(orderID), e.token("Atzr|A2"), nil).status)

	// One token per second comes back.
	e.clock.Advance(time.Second)
	assert.Equal(t, http.StatusOK, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil).status)
	assert.Equal(t, http.StatusTooManyRequests, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil).status)
	assert.EqualValues(t, 2, e.sb.Stats().Throttled)
}

func TestRateLimitUploadsDefault(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	path := uploadPath("messaging/v1/orders/"+orderID+"/messages/invoice", md5b64([]byte("x")))
	for i := range 10 {
		r := e.spapi(http.MethodPost, path, tok, nil)
		require.Equal(t, http.StatusCreated, r.status, "request %d: %s", i, r.body)
		assert.Equal(t, "10.0", r.header.Get("x-amzn-RateLimit-Limit"))
	}
	assert.Equal(t, http.StatusTooManyRequests, e.spapi(http.MethodPost, path, tok, nil).status)
}

func TestRateLimitSellerGrantOnlyInHeader(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{
		Sellers: []sandbox.Seller{
			{ID: "A1BIG", RefreshToken: "Atzr|big", Rates: map[string]sandbox.Rate{"getMessagingActionsForOrder": {PerSecond: 5, Burst: 10}}},
			{ID: "A1SMALL", RefreshToken: "Atzr|small"},
		},
	})
	big, small := e.token("Atzr|big"), e.token("Atzr|small")
	for i := range 10 {
		r := e.spapi(http.MethodGet, actionsPath(orderID), big, nil)
		require.Equal(t, http.StatusOK, r.status, "request %d", i)
		assert.Equal(t, "5.0", r.header.Get("x-amzn-RateLimit-Limit"))
	}
	assert.Equal(t, http.StatusTooManyRequests, e.spapi(http.MethodGet, actionsPath(orderID), big, nil).status)
	r := e.spapi(http.MethodGet, actionsPath(orderID), small, nil)
	assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
}

func TestRateLimitOverridesAndAdvertise(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{
		Rates:         map[string]sandbox.Rate{"sendInvoice": {PerSecond: 0.5, Burst: 2}},
		MessagingRate: sandbox.Rate{PerSecond: 2, Burst: 3, Advertise: 20},
	})
	tok := e.token("Atzr|A1")
	for range 3 {
		r := e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "20.0", r.header.Get("x-amzn-RateLimit-Limit"), "advertised, not enforced")
	}
	assert.Equal(t, http.StatusTooManyRequests, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil).status)
	// The per-operation override applies to sendInvoice (a 400 still reports the plan).
	r := e.spapi(http.MethodPost, sendPath(orderID, "invoice"), tok, map[string]any{"attachments": []any{attachment("nope", "i.pdf")}})
	assert.Equal(t, "0.5", r.header.Get("x-amzn-RateLimit-Limit"), "%s", r.body)
}

func TestNoRateLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	for i := range 30 {
		r := e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)
		require.Equal(t, http.StatusOK, r.status, "request %d", i)
		assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
	}
	assert.Zero(t, e.sb.Stats().Throttled)
}

// statuses sends n getMessagingActionsForOrder requests and returns the
// status codes.
func statuses(t *testing.T, e *env, n int) []int {
	t.Helper()
	tok := e.token("Atzr|A1")
	out := make([]int, n)
	for i := range out {
		out[i] = e.spapi(http.MethodGet, actionsPath(orderID), tok, nil).status
	}
	return out
}

func TestFaultsAreDeterministicPerSeed(t *testing.T) {
	t.Parallel()
	cfg := func(seed int64) sandbox.Config {
		return sandbox.Config{Seed: seed, NoRateLimits: true, Faults: sandbox.Faults{Error5xx: 0.4}}
	}
	e1, e2, e3 := setup(t, cfg(7)), setup(t, cfg(7)), setup(t, cfg(8))
	a, b, c := statuses(t, e1, 60), statuses(t, e2, 60), statuses(t, e3, 60)
	assert.Equal(t, a, b, "same seed, same faults")
	assert.NotEqual(t, a, c, "another seed, other faults")
	seen := map[int]int{}
	for _, s := range a {
		seen[s]++
	}
	assert.Positive(t, seen[http.StatusOK])
	assert.Positive(t, seen[http.StatusInternalServerError])
	assert.Positive(t, seen[http.StatusServiceUnavailable])
	assert.Len(t, seen, 3)
	assert.EqualValues(t, seen[500]+seen[503], e1.sb.Stats().Faults5xx)
	assert.EqualValues(t, 60, e1.sb.Stats().Requests["getMessagingActionsForOrder"])

	// Reset restarts the sequence.
	e1.sb.Reset()
	assert.Equal(t, a, statuses(t, e1, 60))
}

func TestFaultBodies(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{Faults: sandbox.Faults{Error5xx: 1}})
	tok := e.token("Atzr|A1")
	for range 20 {
		r := e.spapi(http.MethodPost, sendPath(orderID, "confirmOrderDetails"), tok, map[string]any{"text": "hi"})
		code, _, _ := r.apiError(t)
		switch r.status {
		case http.StatusInternalServerError:
			assert.Equal(t, "InternalFailure", code)
		case http.StatusServiceUnavailable:
			assert.Equal(t, "ServiceUnavailable", code)
		default:
			t.Fatalf("status %d", r.status)
		}
		assert.Empty(t, r.header.Get("x-amzn-RateLimit-Limit"))
	}
	assert.Empty(t, e.sb.Sent(), "a fault happens before anything is done")
	assert.Zero(t, e.sb.Stats().Throttled, "faults use no quota")
}

func TestLatency(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{Faults: sandbox.Faults{Latency: 60 * time.Millisecond}})
	tok := e.token("Atzr|A1")
	start := time.Now()
	assert.Equal(t, http.StatusOK, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil).status)
	assert.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]sandbox.Config{
		"UnknownDefaultType": {DefaultAvailable: []string{"postcard"}},
		"UnknownOrderType":   {Orders: []sandbox.Order{{ID: orderID, Available: []string{"postcard"}}}},
		"DuplicateType":      {Orders: []sandbox.Order{{ID: orderID, Available: []string{"invoice", "sendInvoice"}}}},
		"EmptyOrderID":       {Orders: []sandbox.Order{{Available: []string{"invoice"}}}},
		"DuplicateSeller":    {Sellers: []sandbox.Seller{{ID: "A", RefreshToken: "x"}, {ID: "A", RefreshToken: "y"}}},
		"SharedToken":        {Sellers: []sandbox.Seller{{ID: "A", RefreshToken: "x"}, {ID: "B", RefreshToken: "x"}}},
		"FaultFraction":      {Faults: sandbox.Faults{Error5xx: 1.5}},
		"NegativeRate":       {Rates: map[string]sandbox.Rate{"sendInvoice": {PerSecond: -1}}},
	} {
		_, err := sandbox.New(cfg)
		assert.Error(t, err, name)
	}
}
