package tasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/tasks"
)

// Fields are length-prefixed in the id: text holding the old NUL separator
// cannot make two different jobs share an id.
func TestJobIDFieldsCannotCollide(t *testing.T) {
	a := job(sellerNA, "111-0000010-0000001", "confirmOrderDetails", "c")
	a.Campaign = "a\x00b"
	b := job(sellerNA, "111-0000010-0000001", "confirmOrderDetails", "b\x00c")
	b.Campaign = "a"
	assert.NotEqual(t, a.ID(), b.ID())
}

// A campaign a producer chose (batch's file name) is not part of the id; a
// campaign the user named is.
func TestJobIDAutoCampaign(t *testing.T) {
	a := job(sellerNA, "111-0000010-0000002", "confirmOrderDetails", "hello")
	a.Campaign, a.AutoCampaign = "orders-monday", true
	b := *a
	b.Campaign = "orders-renamed"
	assert.Equal(t, a.ID(), b.ID())
	c := *a
	c.AutoCampaign = false
	d := c
	d.Campaign = "spring"
	assert.NotEqual(t, c.ID(), d.ID())
}

// A job without a deadline that is older than MaxAge ends expired.
func TestMaxAgeExpiresJobsWithoutDeadline(t *testing.T) {
	s := newStack(t, sandbox.Config{})
	s.handler.MaxAge = time.Hour
	s.handler.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	id := s.enqueue(job(sellerNA, "111-0000011-0000001", "confirmOrderDetails", "Your order ships Monday."))
	rec := s.wait(10*time.Second, id)[id]
	assert.Equal(t, tasks.OutcomeExpired, rec.Outcome)
	assert.Equal(t, "max_age", rec.Reason)
	assert.Zero(t, s.sentTo("111-0000011-0000001", "confirmOrderDetails"))
}

// A payload of a newer format (a rolling update) is retried, then ends
// failed under its own campaign, so that campaign's counts add up.
func TestNewerPayloadVersionRetriedThenFailedInItsCampaign(t *testing.T) {
	s := newStack(t, sandbox.Config{})
	_, err := s.outcomes.Accept(context.Background(), "j_newer", &tasks.Job{SellerID: sellerNA, OrderID: "111-0000012-0000001", Type: "confirmOrderDetails", Campaign: "rollout"})
	require.NoError(t, err)
	payload := []byte(`{"v":99,"seller_id":"` + sellerNA + `","marketplace_id":"` + mktUS + `","order_id":"111-0000012-0000001","type":"confirmOrderDetails","text":"hi","campaign":"rollout","new_field":1}`)
	_, err = s.client.Enqueue(asynq.NewTask(tasks.TypeMessage, payload), asynq.TaskID("j_newer"), asynq.Queue(tasks.QueueCampaign), asynq.MaxRetry(10_000))
	require.NoError(t, err)
	rec := s.wait(30*time.Second, "j_newer")["j_newer"]
	assert.Equal(t, tasks.OutcomeFailed, rec.Outcome)
	assert.Equal(t, "newer_version", rec.Reason)
	assert.Equal(t, "rollout", rec.Campaign)
	rep, err := s.outcomes.Campaign(context.Background(), "rollout", 10)
	require.NoError(t, err)
	assert.EqualValues(t, 1, rep.Total)
	assert.Zero(t, rep.Pending, "the campaign's pending count drops")
}

// A seller missing from this worker's sellers file, or a type it does not
// know (a rolling update), is retried with back-off before the job fails,
// recorded under its own campaign so that campaign's counts add up.
func TestRollingUpdateRetriedThenFailedInItsCampaign(t *testing.T) {
	s := newStack(t, sandbox.Config{})
	seller := job("A9NOTINFILE", "111-0000013-0000001", "confirmOrderDetails", "hi")
	seller.Campaign = "rollout"
	typ := job(sellerNA, "111-0000013-0000002", "someFutureType", "")
	typ.Campaign = "rollout"
	a, b := s.enqueueRaw(seller), s.enqueueRaw(typ)
	got := s.wait(40*time.Second, a, b)
	assert.Equal(t, tasks.OutcomeFailed, got[a].Outcome)
	assert.Equal(t, "unknown_seller_retries_exhausted", got[a].Reason)
	assert.Equal(t, "unknown_type_retries_exhausted", got[b].Reason)
	rep, err := s.outcomes.Campaign(context.Background(), "rollout", 10)
	require.NoError(t, err)
	assert.EqualValues(t, 2, rep.Outcomes[tasks.OutcomeFailed])
}

// The maximum age counts from a job's not_before when that is later than
// its enqueue: a job scheduled far ahead is tried, not expired on arrival.
func TestMaxAgeCountsFromNotBefore(t *testing.T) {
	s := newStack(t, sandbox.Config{})
	s.handler.MaxAge = time.Hour
	s.handler.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	j := job(sellerNA, "111-0000014-0000001", "confirmOrderDetails", "Your order ships Monday.")
	nb := time.Now().Add(90 * time.Minute) // due by the handler's clock, an hour and a half after enqueue
	j.NotBefore = &nb
	task, err := tasks.NewTask(j)
	require.NoError(t, err)
	_, err = s.client.Enqueue(task, asynq.ProcessIn(0))
	require.NoError(t, err)
	_, err = s.outcomes.Accept(context.Background(), j.ID(), j)
	require.NoError(t, err)
	rec := s.wait(10*time.Second, j.ID())[j.ID()]
	assert.Equal(t, tasks.OutcomeSent, rec.Outcome, rec.Message)
}
