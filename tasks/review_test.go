package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/tasks"
)

const review = "productReviewAndSellerFeedback"

func reviewJob(order, campaign string, delivered *time.Time) *tasks.Job {
	j := job(sellerNA, order, "requestReview", "")
	j.Campaign = campaign
	j.DeliveredAt = delivered
	return j
}

func daysAgo(d float64) *time.Time {
	t := time.Now().Add(-time.Duration(d * float64(24*time.Hour))).UTC().Truncate(time.Second)
	return &t
}

// A campaign of review requests for orders inside, before and after
// Amazon's 5-30 day window: sent inside, waiting in line before, expired or
// skipped after; a re-run is all duplicates; each order gets at most one
// request.
func TestReviewRequestCampaign(t *testing.T) {
	const (
		inside      = "111-0000001-0000001"
		insideNoDay = "111-0000001-0000002"
		before      = "111-0000001-0000003"
		after       = "111-0000001-0000004"
		afterNoDay  = "111-0000001-0000005"
	)
	deliv := func(d float64) *sandbox.Delivery { return &sandbox.Delivery{Earliest: *daysAgo(d)} }
	s := newStack(t, sandbox.Config{Orders: []sandbox.Order{
		{ID: inside, Delivery: deliv(10)}, {ID: insideNoDay, Delivery: deliv(12)},
		{ID: before, Delivery: deliv(1)}, {ID: after, Delivery: deliv(40)}, {ID: afterNoDay, Delivery: deliv(40)},
	}})
	rows := []*tasks.Job{
		reviewJob(inside, "reviews", daysAgo(10)),
		reviewJob(insideNoDay, "reviews", nil),
		reviewJob(before, "reviews", daysAgo(1)),
		reviewJob(after, "reviews", daysAgo(40)),
		reviewJob(afterNoDay, "reviews", nil),
	}
	var ids []string
	for _, j := range rows {
		ids = append(ids, s.enqueue(j))
	}
	got := s.wait(20*time.Second, ids[0], ids[1], ids[3], ids[4])
	assert.Equal(t, jobstate.OutcomeSent, got[ids[0]].Outcome, got[ids[0]].Message)
	assert.Equal(t, jobstate.OutcomeSent, got[ids[1]].Outcome, got[ids[1]].Message)
	assert.Equal(t, review, got[ids[0]].Type)
	assert.Equal(t, jobstate.OutcomeExpired, got[ids[3]].Outcome)
	assert.Equal(t, jobstate.Reason("review_window_closed"), got[ids[3]].Reason)
	assert.Equal(t, jobstate.OutcomeSkippedUnavailable, got[ids[4]].Outcome)
	assert.Equal(t, jobstate.Reason("not_offered"), got[ids[4]].Reason)

	// Before the window: the job waits in its line until 5 days after
	// delivery, without calling Amazon.
	rec, err := s.outcomes.Get(context.Background(), ids[2])
	require.NoError(t, err)
	assert.Equal(t, "pending", rec.State)
	waiting, err := s.producer.Lines.Waiting(context.Background(), rows[2].SellerID, ids[2])
	require.NoError(t, err)
	assert.True(t, waiting, "still in its seller's line")

	for _, o := range []string{inside, insideNoDay} {
		assert.Equal(t, 1, s.sentTo(o, review), o)
	}
	for _, o := range []string{before, after, afterNoDay} {
		assert.Zero(t, s.sentTo(o, review), o)
	}

	// Re-running the campaign: every row is a duplicate.
	for _, j := range rows {
		res, err := s.producer.Enqueue(context.Background(), j)
		require.NoError(t, err)
		assert.Equal(t, tasks.StatusDuplicate, res.Status, j.OrderID)
	}
	// Another campaign for the same order: the ledger allows one request
	// per order, ever (refused at enqueue once the first is sent).
	res, err := s.producer.Enqueue(context.Background(), reviewJob(inside, "reviews-again", nil))
	require.NoError(t, err)
	assert.Equal(t, tasks.StatusDuplicate, res.Status)
	assert.Equal(t, 1, s.sentTo(inside, review))
}

// Two review requests for one order, at once: one request reaches Amazon.
func TestReviewRequestTwoJobsOneOrder(t *testing.T) {
	const order = "111-0000002-0000001"
	s := newStack(t, sandbox.Config{})
	a := s.enqueue(reviewJob(order, "", nil))
	b := s.enqueue(reviewJob(order, "other", nil))
	got := s.wait(15*time.Second, a, b)
	outcomes := []jobstate.Outcome{got[a].Outcome, got[b].Outcome}
	assert.ElementsMatch(t, []jobstate.Outcome{jobstate.OutcomeSent, jobstate.OutcomeSkippedDuplicate}, outcomes)
	assert.Equal(t, 1, s.sentTo(order, review))
}

// Inside the job's window but not offered by Amazon yet: asked again
// later, and sent once offered.
func TestReviewRequestNotOfferedYetIsAskedAgain(t *testing.T) {
	const order = "111-0000003-0000001"
	s := newStack(t, sandbox.Config{Orders: []sandbox.Order{{ID: order, Delivery: &sandbox.Delivery{Earliest: *daysAgo(2)}}}},
		func(_ *stack, c *tasks.Config) { c.ReviewRecheck = time.Second })
	id := s.enqueue(reviewJob(order, "", daysAgo(10)))
	require.Eventually(t, func() bool {
		return s.sb.Stats().Requests["getSolicitationActionsForOrder"] >= 2
	}, 10*time.Second, 20*time.Millisecond, "the worker did not ask Amazon again")
	rec, err := s.outcomes.Get(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "pending", rec.State, "not offered inside the window must wait, not end")
	require.NoError(t, s.sb.SetDelivery(order, *daysAgo(10), *daysAgo(10)))
	rec = s.wait(15*time.Second, id)[id]
	assert.Equal(t, jobstate.OutcomeSent, rec.Outcome, rec.Message)
	assert.Equal(t, 1, s.sentTo(order, review))
}

// A lost answer or a 500 after Amazon processed the request: settled by
// availability (the request is no longer offered), never requested again.
func TestReviewRequestLostAnswerOr500SettlesWithoutSecondRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults sandbox.Faults
	}{
		{"lost", sandbox.Faults{Lost: 1}},
		{"500", sandbox.Faults{SendThen500Rules: []sandbox.SendThen500Rule{{Count: 0}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const order = "111-0000004-0000001"
			s := newStack(t, sandbox.Config{Faults: tc.faults})
			id := s.enqueue(reviewJob(order, "", nil))
			rec := s.wait(20*time.Second, id)[id]
			assert.Equal(t, jobstate.OutcomeSent, rec.Outcome, rec.Message)
			assert.Equal(t, jobstate.Reason("settled_by_availability"), rec.Reason)
			assert.Equal(t, 1, s.sentTo(order, review))
		})
	}
}

// A worker died after claiming the order: the redelivered job is settled
// in doubt without a request.
func TestReviewRequestCrashAfterClaimIsNotResent(t *testing.T) {
	const order = "111-0000005-0000001"
	s := newStack(t, sandbox.Config{})
	j := reviewJob(order, "", nil)
	led := jobstate.NewLedger(s.rdb, "")
	res, err := led.Claim(context.Background(), []jobstate.Key{jobstate.OrderKey(sellerNA, order, review)}, j.ID(), time.Hour)
	require.NoError(t, err)
	require.Equal(t, jobstate.Claimed, res.Status)
	id := s.enqueue(j)
	rec := s.wait(15*time.Second, id)[id]
	assert.Equal(t, jobstate.OutcomeUnconfirmed, rec.Outcome, rec.Message)
	assert.Zero(t, s.sentTo(order, review))
}

// A send answered 500 after Amazon processed it is not resent: a type that
// may go more than once ends unconfirmed with Amazon's code. With
// ResendAfter5xx the deployment accepts the risk and the message goes again.
func TestSendAnswered500(t *testing.T) {
	for _, resend := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "resend"}[resend], func(t *testing.T) {
			const order = "111-0000006-0000001"
			s := newStack(t, sandbox.Config{Faults: sandbox.Faults{SendThen500Rules: []sandbox.SendThen500Rule{{Order: order, Count: 1}}}},
				func(_ *stack, c *tasks.Config) { c.ResendAfter5xx = resend })
			id := s.enqueue(job(sellerNA, order, "confirmOrderDetails", "Your order ships Monday."))
			rec := s.wait(20*time.Second, id)[id]
			if !resend {
				assert.Equal(t, jobstate.OutcomeUnconfirmed, rec.Outcome)
				assert.Equal(t, jobstate.Reason("answer_lost"), rec.Reason)
				assert.Equal(t, "InternalFailure", rec.Code)
				assert.Equal(t, 1, s.sentTo(order, "confirmOrderDetails"))
				return
			}
			assert.Equal(t, jobstate.OutcomeSent, rec.Outcome, rec.Message)
			assert.Equal(t, 2, s.sentTo(order, "confirmOrderDetails"), "the opt-in resends after a 5xx")
		})
	}
}

// Delivery dates are for review requests, and must make a window.
func TestReviewRequestValidation(t *testing.T) {
	v := tasks.Validation{}
	j := job(sellerNA, "111-0000007-0000001", "confirmOrderDetails", "hi")
	j.DeliveredAt = daysAgo(3)
	assert.ErrorContains(t, v.Validate(j), "delivered_at: only review requests")
	j = reviewJob("111-0000007-0000001", "", daysAgo(3))
	j.DeliveryStart = daysAgo(4)
	assert.ErrorContains(t, v.Validate(j), "delivered_at: give delivered_at or delivery_start and delivery_end")
	j = reviewJob("111-0000007-0000001", "", nil)
	j.DeliveryStart = daysAgo(4)
	assert.ErrorContains(t, v.Validate(j), "delivery_end: is required")
	j.DeliveryEnd = daysAgo(5)
	assert.ErrorContains(t, v.Validate(j), "delivery_end: is before delivery_start")
	j.DeliveryEnd = daysAgo(2)
	require.NoError(t, v.Validate(j))
	opens, closes, ok := j.ReviewWindow()
	require.True(t, ok)
	assert.Equal(t, j.DeliveryStart.Add(5*24*time.Hour), opens)
	assert.Equal(t, j.DeliveryEnd.Add(30*24*time.Hour), closes)
	assert.Equal(t, opens, *j.EffectiveNotBefore())
	assert.Equal(t, closes, *j.EffectiveDeadline())
	text := `{"seller_id":"` + sellerNA + `","marketplace_id":"` + mktUS + `","order_id":"111-0000007-0000001","type":"requestReview","delivery_start":"2026-11-01T00:00:00Z","delivery_end":"2026-11-03T00:00:00Z"}`
	pj, errs := tasks.ParseJobJSON([]byte(text))
	require.Empty(t, errs)
	b, err := json.Marshal(pj)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"delivery_end":"2026-11-03T00:00:00Z"`)
}

// Even with ResendAfter5xx, a once-per-order type answered 5xx is not
// resent: availability settles it.
func TestResendAfter5xxNeverResendsOncePerOrder(t *testing.T) {
	const order = "111-0000008-0000001"
	s := newStack(t, sandbox.Config{Faults: sandbox.Faults{SendThen500Rules: []sandbox.SendThen500Rule{{Order: order, Count: 1}}}},
		func(_ *stack, c *tasks.Config) { c.ResendAfter5xx = true })
	id := s.enqueue(reviewJob(order, "", nil))
	rec := s.wait(20*time.Second, id)[id]
	assert.Equal(t, jobstate.OutcomeSent, rec.Outcome, rec.Message)
	assert.Equal(t, jobstate.Reason("settled_by_availability"), rec.Reason)
	assert.Equal(t, 1, s.sentTo(order, review))
}

// durability is a tasks.Durability that checks, when asked, that the
// job's ledger claim is already written, and fails the first calls.
type durability struct {
	led    *jobstate.Ledger
	key    jobstate.Key
	failN  atomic.Int32
	calls  atomic.Int32
	claims atomic.Int32
}

func (d *durability) Confirm(ctx context.Context) error {
	d.calls.Add(1)
	if e, ok, err := d.led.Get(ctx, d.key); err == nil && ok && e.State == jobstate.EntryClaimed {
		d.claims.Add(1)
	}
	if d.failN.Add(-1) >= 0 {
		return errors.New("WAITAOF: 0 of 1 local fsyncs in time")
	}
	return nil
}

// A send whose claim Redis cannot confirm durable is not made: the job is
// deferred, its claim released, and it is sent once when Redis confirms.
// Confirm runs after the claim is written.
func TestSendWaitsForDurableClaim(t *testing.T) {
	const order = "111-0000009-0000001"
	d := &durability{key: jobstate.OrderKey(sellerNA, order, review)}
	d.failN.Store(1)
	s := newStack(t, sandbox.Config{}, func(s *stack, c *tasks.Config) {
		d.led = jobstate.NewLedger(s.rdb, "")
		c.Durable = d
	})
	id := s.enqueue(reviewJob(order, "", nil))
	rec := s.wait(30*time.Second, id)[id]
	assert.Equal(t, jobstate.OutcomeSent, rec.Outcome, rec.Message)
	assert.Equal(t, 1, s.sentTo(order, review))
	assert.EqualValues(t, 2, d.calls.Load(), "one refused, one confirmed")
	assert.EqualValues(t, 2, d.claims.Load(), "the claim is written before each Confirm")
}
