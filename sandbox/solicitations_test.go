package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/spapi"
)

const (
	review     = "productReviewAndSellerFeedback"
	reviewOp   = "createProductReviewAndSellerFeedbackSolicitation"
	day        = 24 * time.Hour
	reviewSent = `{"errors":[{"code":"Unauthorized","message":"The requested solicitation is not available for this amazonOrderId.","details":""}]}`
	// Amazon's text, with its curly apostrophe.
	reviewWindow = `{"errors":[{"code":"Unauthorized","message":"You can’t use this feature to request a review outside the 5-30 day range after the order delivery date.","details":""}]}`
)

func solActionsPath(order string) string {
	return "/solicitations/v1/orders/" + order + "?marketplaceIds=" + mpUS
}

func reviewPath(order string) string {
	return "/solicitations/v1/orders/" + order + "/solicitations/" + review + "?marketplaceIds=" + mpUS
}

// solActions is the model's GetSolicitationActionsForOrderResponse (plus
// the top-level name the sandbox adds as live Messaging answers do).
type solActions struct {
	Links *struct {
		Self    *struct{ Href string } `json:"self"`
		Actions []struct {
			Href string `json:"href"`
			Name string `json:"name"`
		} `json:"actions"`
	} `json:"_links"`
	Embedded *struct {
		Actions []struct {
			Links struct {
				Self   *struct{ Href string }       `json:"self"`
				Schema *struct{ Href, Name string } `json:"schema"`
			} `json:"_links"`
			Embedded struct {
				Schema struct {
					Links struct {
						Self struct{ Href string } `json:"self"`
					} `json:"_links"`
					Payload map[string]any `json:"payload"`
				} `json:"schema"`
			} `json:"_embedded"`
			Payload struct{ Name string } `json:"payload"`
			Name    string                `json:"name"`
		} `json:"actions"`
	} `json:"_embedded"`
}

// solNames returns the names in _links.actions of a 200 answer.
func (e *env) solNames(tok, order string) []string {
	e.t.Helper()
	r := e.spapi(http.MethodGet, solActionsPath(order), tok, nil)
	require.Equal(e.t, http.StatusOK, r.status, "%s", r.body)
	var a solActions
	require.NoError(e.t, json.Unmarshal(r.body, &a), "%s", r.body)
	require.NotNil(e.t, a.Links)
	names := []string{}
	for _, l := range a.Links.Actions {
		names = append(names, l.Name)
	}
	require.NotNil(e.t, a.Embedded)
	require.Len(e.t, a.Embedded.Actions, len(names))
	return names
}

func TestSolicitationActionsShape(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	r := e.spapi(http.MethodGet, solActionsPath(orderID), e.token("Atzr|A1"), nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "application/hal+json", r.header.Get("Content-Type"))
	assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
	assert.NotEmpty(t, r.header.Get("x-amzn-RequestId"))

	var a solActions
	require.NoError(t, json.Unmarshal(r.body, &a), "%s", r.body)
	base := "/solicitations/v1/orders/" + orderID
	self := base + "/solicitations/" + review + "?marketplaceIds=" + mpUS
	schema := base + "/solicitations/" + review + "/schema?marketplaceIds=" + mpUS
	require.NotNil(t, a.Links)
	require.NotNil(t, a.Links.Self)
	assert.Equal(t, base+"?marketplaceIds="+mpUS, a.Links.Self.Href)
	require.Len(t, a.Links.Actions, 1)
	assert.Equal(t, review, a.Links.Actions[0].Name)
	assert.Equal(t, self, a.Links.Actions[0].Href)
	require.NotNil(t, a.Embedded)
	require.Len(t, a.Embedded.Actions, 1)
	act := a.Embedded.Actions[0]
	require.NotNil(t, act.Links.Self)
	require.NotNil(t, act.Links.Schema)
	assert.Equal(t, self, act.Links.Self.Href)
	assert.Equal(t, schema, act.Links.Schema.Href)
	assert.Equal(t, review, act.Links.Schema.Name, "the model's example names the action in the schema link")
	assert.Equal(t, review, act.Name)
	assert.Equal(t, review, act.Payload.Name)
	assert.Equal(t, schema, act.Embedded.Schema.Links.Self.Href)
	sc := act.Embedded.Schema.Payload
	assert.Equal(t, "http://json-schema.org/draft-04/schema#", sc["$schema"])
	assert.Equal(t, "object", sc["type"])
	assert.Empty(t, sc["properties"], "the request has no body")

	// Messaging never offers the solicitation.
	assert.NotContains(t, actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), e.token("Atzr|A1"), nil)), review)
	assert.NotContains(t, sandbox.DefaultAvailableTypes(), review)
}

func TestSolicitationIsNotAMessagingType(t *testing.T) {
	t.Parallel()
	for _, name := range []string{review, "requestReview"} {
		_, err := sandbox.New(sandbox.Config{DefaultAvailable: []string{name}})
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "default available")
		assert.Contains(t, err.Error(), name)
	}
	e := setup(t, sandbox.Config{})
	err := e.sb.SetOrder(sandbox.Order{ID: orderID, Available: []string{"confirmOrderDetails"}, Disabled: map[string]string{review: "no"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), review)
}

// The send path of spapi's table entry is the one the sandbox serves.
func TestReviewTypeMatchesSpapiTable(t *testing.T) {
	t.Parallel()
	ty, ok := spapi.LookupType("requestReview")
	require.True(t, ok)
	assert.Equal(t, review, ty.Name)
	assert.Equal(t, reviewOp, ty.OperationID)
	assert.Equal(t, spapi.APISolicitations, ty.API)
	e := setup(t, sandbox.Config{})
	r := e.spapi(http.MethodPost, ty.Path(orderID)+"?marketplaceIds="+mpUS, e.token("Atzr|A1"), nil)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.JSONEq(t, `{}`, string(r.body))
	assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
}

func TestReviewWindowEdges(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	now := e.clock.Now()
	tests := []struct {
		name             string
		earliest, latest time.Time
		open             bool
	}{
		{"Day4.9", now.Add(-49 * day / 10), time.Time{}, false},
		{"Day5.1", now.Add(-51 * day / 10), time.Time{}, true},
		{"ExactlyDay5", now.Add(-5 * day), now.Add(-5 * day), true},
		{"EarliestCountsForTheStart", now.Add(-6 * day), now.Add(-2 * day), true},
		{"Day30AfterLatestMinusAMinute", now.Add(-60 * day), now.Add(-30*day + time.Minute), true},
		{"ExactlyDay30AfterLatest", now.Add(-40 * day), now.Add(-30 * day), true},
		{"Day30AfterLatestPlusAMinute", now.Add(-40 * day), now.Add(-30*day - time.Minute), false},
		{"NotYetDelivered", now.Add(2 * day), now.Add(4 * day), false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			order := "111-0000000-00000" + string(rune('0'+i/10)) + string(rune('0'+i%10))
			require.NoError(t, e.sb.SetDelivery(order, tc.earliest, tc.latest))
			names := e.solNames(tok, order)
			r := e.spapi(http.MethodPost, reviewPath(order), tok, nil)
			if tc.open {
				assert.Equal(t, []string{review}, names)
				require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
				assert.JSONEq(t, `{}`, string(r.body))
				return
			}
			assert.Empty(t, names)
			require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
			assert.JSONEq(t, reviewWindow, string(r.body))
			assert.Empty(t, r.header.Get("x-amzn-RateLimit-Limit"), "no rate header on 403")
		})
	}
}

func TestReviewDefaultDeliveryAndClock(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true, TokenLifetime: 60 * day})
	tok := e.token("Atzr|A1")
	// Unconfigured orders were delivered 10 days before New: open now,
	// still open 20 days later, closed after that.
	assert.Equal(t, []string{review}, e.solNames(tok, orderID))
	e.clock.Advance(20 * day)
	assert.Equal(t, []string{review}, e.solNames(tok, orderID))
	e.clock.Advance(time.Minute)
	assert.Empty(t, e.solNames(tok, orderID))
	r := e.spapi(http.MethodPost, reviewPath(orderID), tok, nil)
	require.Equal(t, http.StatusForbidden, r.status)
	assert.JSONEq(t, reviewWindow, string(r.body))
	assert.EqualValues(t, 1, e.sb.Stats().Unavailable)
	assert.Empty(t, e.sb.Sent())
}

func TestReviewOncePerOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	r := e.spapi(http.MethodPost, reviewPath(orderID), tok, nil)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Equal(t, "application/hal+json", r.header.Get("Content-Type"))

	r = e.spapi(http.MethodPost, reviewPath(orderID), tok, nil)
	require.Equal(t, http.StatusForbidden, r.status)
	assert.JSONEq(t, reviewSent, string(r.body))
	assert.Empty(t, r.header.Get("x-amzn-RateLimit-Limit"), "no rate header on 403")
	assert.Empty(t, e.solNames(tok, orderID))

	// Sent exactly once, visible in the Go and HTTP inspection.
	sent := e.sb.Sent()
	require.Len(t, sent, 1)
	m := sent[0]
	assert.Equal(t, "A1", m.Seller)
	assert.Equal(t, orderID, m.Order)
	assert.Equal(t, mpUS, m.Marketplace)
	assert.Equal(t, review, m.Type)
	assert.Equal(t, reviewOp, m.Operation)
	assert.Equal(t, e.clock.Now(), m.Time)
	var viaHTTP []sandbox.SentMessage
	require.NoError(t, json.Unmarshal(e.request(http.MethodGet, "/_sandbox/sent?type="+review, nil, nil).body, &viaHTTP))
	assert.Equal(t, sent, viaHTTP)
	st := e.sb.Stats()
	assert.EqualValues(t, 1, st.Sent)
	assert.EqualValues(t, 1, st.Unavailable)
	assert.EqualValues(t, 2, st.Requests[reviewOp])

	// Other sellers and orders are unaffected, and Messaging is untouched.
	assert.Equal(t, []string{review}, e.solNames(e.token("Atzr|A2"), orderID))
	assert.Equal(t, []string{review}, e.solNames(tok, otherID))
	assert.Equal(t, sandbox.DefaultAvailableTypes(), actionNames(t, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil)))

	// SetOrder forgets the request, as it does once-per-order sends; Reset too.
	require.NoError(t, e.sb.SetOrder(sandbox.Order{ID: orderID}))
	assert.Equal(t, []string{review}, e.solNames(tok, orderID))
	require.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, reviewPath(orderID), tok, nil).status)
	e.sb.Reset()
	assert.Equal(t, []string{review}, e.solNames(tok, orderID))
}

func TestReviewBodyIsModelViolation(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	for _, body := range []any{map[string]any{"text": "Please review us"}, map[string]any{}} {
		r := e.spapi(http.MethodPost, reviewPath(orderID), tok, body)
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		code, msg, details := r.apiError(t)
		assert.Equal(t, "InvalidInput", code)
		assert.Contains(t, msg, "body")
		assert.Contains(t, details, reviewOp)
		assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
	}
	r := e.spapi(http.MethodGet, "/solicitations/v1/orders/"+orderID, tok, nil)
	require.Equal(t, http.StatusBadRequest, r.status)
	_, msg, _ := r.apiError(t)
	assert.Contains(t, msg, "marketplaceIds")
	assert.EqualValues(t, 3, e.sb.Stats().Violations)
	assert.Empty(t, e.sb.Sent())
	// Unknown solicitation types are not operations.
	r = e.spapi(http.MethodPost, "/solicitations/v1/orders/"+orderID+"/solicitations/requestReview?marketplaceIds="+mpUS, tok, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"))
}

func TestSolicitationsQuota(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	for i := range 5 {
		r := e.spapi(http.MethodGet, solActionsPath(orderID), tok, nil)
		require.Equal(t, http.StatusOK, r.status, "request %d", i)
	}
	r := e.spapi(http.MethodGet, solActionsPath(orderID), tok, nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	code, msg, _ := r.apiError(t)
	assert.Equal(t, "QuotaExceeded", code)
	assert.Equal(t, "You exceeded your quota for the requested resource.", msg)
	assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"), "Solicitations declare the header on 429")

	// Own buckets per operation and seller: the review request, Messaging's
	// listing and another seller are unaffected.
	assert.Equal(t, http.StatusCreated, e.spapi(http.MethodPost, reviewPath(orderID), tok, nil).status)
	assert.Equal(t, http.StatusOK, e.spapi(http.MethodGet, actionsPath(orderID), tok, nil).status)
	assert.Equal(t, http.StatusOK, e.spapi(http.MethodGet, solActionsPath(orderID), e.token("Atzr|A2"), nil).status)
	e.clock.Advance(time.Second)
	assert.Equal(t, http.StatusOK, e.spapi(http.MethodGet, solActionsPath(orderID), tok, nil).status)
	assert.Equal(t, http.StatusTooManyRequests, e.spapi(http.MethodGet, solActionsPath(orderID), tok, nil).status)
	assert.EqualValues(t, 2, e.sb.Stats().Throttled)
}

func TestSolicitationsRateOverrides(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{
		SolicitationsRate: sandbox.Rate{PerSecond: 0.5, Burst: 2},
		Rates:             map[string]sandbox.Rate{reviewOp: {PerSecond: 3, Burst: 1}},
		Sellers: []sandbox.Seller{
			{ID: "A1", RefreshToken: "Atzr|one"},
			{ID: "A2", RefreshToken: "Atzr|two", Rates: map[string]sandbox.Rate{spapi.OpGetSolicitationActionsForOrder: {PerSecond: 4, Burst: 3}}},
		},
	})
	one, two := e.token("Atzr|one"), e.token("Atzr|two")
	for range 2 {
		r := e.spapi(http.MethodGet, solActionsPath(orderID), one, nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "0.5", r.header.Get("x-amzn-RateLimit-Limit"))
	}
	assert.Equal(t, http.StatusTooManyRequests, e.spapi(http.MethodGet, solActionsPath(orderID), one, nil).status)
	for range 3 {
		r := e.spapi(http.MethodGet, solActionsPath(orderID), two, nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "4.0", r.header.Get("x-amzn-RateLimit-Limit"))
	}
	assert.Equal(t, http.StatusTooManyRequests, e.spapi(http.MethodGet, solActionsPath(orderID), two, nil).status)
	r := e.spapi(http.MethodPost, reviewPath(orderID), one, nil)
	require.Equal(t, http.StatusCreated, r.status)
	assert.Equal(t, "3.0", r.header.Get("x-amzn-RateLimit-Limit"))
	r = e.spapi(http.MethodPost, reviewPath(otherID), one, nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "3.0", r.header.Get("x-amzn-RateLimit-Limit"))
}

func TestSolicitationsFaults(t *testing.T) {
	t.Parallel()
	t.Run("5xx", func(t *testing.T) {
		e := setup(t, sandbox.Config{Faults: sandbox.Faults{Error5xx: 1}})
		tok := e.token("Atzr|A1")
		for _, r := range []resp{
			e.spapi(http.MethodGet, solActionsPath(orderID), tok, nil),
			e.spapi(http.MethodPost, reviewPath(orderID), tok, nil),
		} {
			require.Contains(t, []int{http.StatusInternalServerError, http.StatusServiceUnavailable}, r.status)
			code, _, _ := r.apiError(t)
			assert.Contains(t, []string{"InternalFailure", "ServiceUnavailable"}, code)
			assert.Equal(t, "1.0", r.header.Get("x-amzn-RateLimit-Limit"), "Solicitations declare the header on 5xx")
		}
		assert.EqualValues(t, 2, e.sb.Stats().Faults5xx)
		assert.Empty(t, e.sb.Sent())
	})
	t.Run("Lost", func(t *testing.T) {
		e := setup(t, sandbox.Config{Faults: sandbox.Faults{Lost: 1}})
		tok := e.token("Atzr|A1")
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+reviewPath(orderID), nil)
		require.NoError(t, err)
		req.Header.Set("User-Agent", "test/1.0")
		req.Header.Set("x-amz-access-token", tok)
		res, err := e.srv.Client().Do(req)
		if err == nil {
			_ = res.Body.Close()
		}
		require.Error(t, err, "no answer")
		sent := e.sb.Sent()
		require.Len(t, sent, 1)
		assert.True(t, sent[0].Lost)
		assert.Equal(t, review, sent[0].Type)
		assert.Empty(t, e.solNames(tok, orderID), "the request was used up")
	})
	t.Run("Latency", func(t *testing.T) {
		e := setup(t, sandbox.Config{Faults: sandbox.Faults{Latency: time.Hour}})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+reviewPath(orderID), nil)
		require.NoError(t, err)
		req.Header.Set("x-amz-access-token", "anything")
		_, err = e.srv.Client().Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded, "the hour of latency holds the answer back")
		assert.Empty(t, e.sb.Sent())
	})
}

// The spapi client understands the sandbox's Solicitations answers.
func TestReviewWithSpapiClient(t *testing.T) {
	t.Parallel()
	const seller = "A1CLIENT"
	e := setup(t, sandbox.Config{NoRateLimits: true, ClientID: "cid", ClientSecret: "csecret",
		Sellers: []sandbox.Seller{{ID: seller, RefreshToken: "Atzr|" + seller}}})
	c, err := spapi.NewClient(spapi.Config{LWAClientID: "cid", LWAClientSecret: "csecret", Endpoint: e.srv.URL,
		LWAEndpoint: e.srv.URL + sandbox.TokenPath}, spapi.Seller{ID: seller, RefreshToken: "Atzr|" + seller, Region: spapi.RegionNA})
	require.NoError(t, err)
	ty, ok := spapi.LookupType(review)
	require.True(t, ok)
	ctx := context.Background()

	acts, _, err := c.GetActions(ctx, seller, orderID, mpUS, ty)
	require.NoError(t, err)
	_, ok = acts.Find(ty)
	require.True(t, ok, "offered: %+v", acts.Actions)
	_, err = c.Send(ctx, seller, orderID, mpUS, ty, spapi.SendRequest{})
	require.NoError(t, err)
	_, err = c.Send(ctx, seller, orderID, mpUS, ty, spapi.SendRequest{})
	assert.True(t, spapi.IsUnavailable(err), "%v", err)
	assert.False(t, spapi.IsOutsideReviewWindow(err), "%v", err)
	acts, _, err = c.GetActions(ctx, seller, orderID, mpUS, ty)
	require.NoError(t, err)
	_, ok = acts.Find(ty)
	assert.False(t, ok)

	require.NoError(t, e.sb.SetDelivery(otherID, e.clock.Now().Add(-day), time.Time{}))
	_, err = c.Send(ctx, seller, otherID, mpUS, ty, spapi.SendRequest{})
	assert.True(t, spapi.IsOutsideReviewWindow(err), "%v", err)

	var apiErr *spapi.Error
	require.True(t, errors.As(err, &apiErr))
	assert.Equal(t, http.StatusForbidden, apiErr.StatusCode)
	assert.Len(t, e.sb.Sent(), 1)
}

func TestReviewOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	codes := make([]int, 16)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+reviewPath(orderID), nil)
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
