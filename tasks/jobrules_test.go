package tasks_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/jobstate"
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
	s := newStack(t, sandbox.Config{}, func(_ *stack, c *tasks.Config) {
		c.MaxAge = time.Hour
		c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	})
	id := s.enqueue(job(sellerNA, "111-0000011-0000001", "confirmOrderDetails", "Your order ships Monday."))
	rec := s.wait(10*time.Second, id)[id]
	assert.Equal(t, jobstate.OutcomeExpired, rec.Outcome)
	assert.Equal(t, jobstate.Reason("max_age"), rec.Reason)
	assert.Zero(t, s.sentTo("111-0000011-0000001", "confirmOrderDetails"))
}

// A payload of a newer format (a rolling update) is retried, then ends
// failed under its own campaign, so that campaign's counts add up.
func TestNewerPayloadVersionRetriedThenFailedInItsCampaign(t *testing.T) {
	s := newStack(t, sandbox.Config{})
	_, _, err := s.outcomes.Accept(context.Background(), (&tasks.Job{SellerID: sellerNA, OrderID: "111-0000012-0000001", Type: "confirmOrderDetails", Campaign: "rollout"}).Ref("j_newer"))
	require.NoError(t, err)
	payload := []byte(`{"v":99,"seller_id":"` + sellerNA + `","marketplace_id":"` + mktUS + `","order_id":"111-0000012-0000001","type":"confirmOrderDetails","text":"hi","campaign":"rollout","new_field":1}`)
	_, err = s.client.Enqueue(asynq.NewTask(tasks.TypeMessage, payload), asynq.TaskID("j_newer"), asynq.Queue(tasks.QueueCampaign), asynq.MaxRetry(10_000))
	require.NoError(t, err)
	rec := s.wait(30*time.Second, "j_newer")["j_newer"]
	assert.Equal(t, jobstate.OutcomeFailed, rec.Outcome)
	assert.Equal(t, jobstate.Reason("newer_version"), rec.Reason)
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
	assert.Equal(t, jobstate.OutcomeFailed, got[a].Outcome)
	assert.Equal(t, jobstate.Reason("unknown_seller_retries_exhausted"), got[a].Reason)
	assert.Equal(t, jobstate.Reason("unknown_type_retries_exhausted"), got[b].Reason)
	rep, err := s.outcomes.Campaign(context.Background(), "rollout", 10)
	require.NoError(t, err)
	assert.EqualValues(t, 2, rep.Outcomes[jobstate.OutcomeFailed])
}

// The maximum age counts from a job's not_before when that is later than
// its enqueue: a job scheduled far ahead is tried, not expired on arrival.
func TestMaxAgeCountsFromNotBefore(t *testing.T) {
	s := newStack(t, sandbox.Config{}, func(_ *stack, c *tasks.Config) {
		c.MaxAge = time.Hour
		c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	})
	j := job(sellerNA, "111-0000014-0000001", "confirmOrderDetails", "Your order ships Monday.")
	nb := time.Now().Add(90 * time.Minute) // due by the handler's clock, an hour and a half after enqueue
	j.NotBefore = &nb
	task, err := tasks.NewTask(j)
	require.NoError(t, err)
	_, err = s.client.Enqueue(task, asynq.ProcessIn(0))
	require.NoError(t, err)
	_, _, err = s.outcomes.Accept(context.Background(), j.Ref(j.ID()))
	require.NoError(t, err)
	rec := s.wait(10*time.Second, j.ID())[j.ID()]
	assert.Equal(t, jobstate.OutcomeSent, rec.Outcome, rec.Message)
}

// legacyID is the id releases before the length-prefixed one gave a job
// without an idempotency key (fields joined with NUL).
func legacyID(j *tasks.Job) string {
	h := sha256.New()
	fmt.Fprintf(h, "job\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", j.SellerID, j.MarketplaceID, j.OrderID, "confirmOrderDetails", j.Campaign, j.Text)
	fmt.Fprint(h, "\x00-\x00-")
	return "j_" + hex.EncodeToString(h.Sum(nil))[:32]
}

// A job enqueued before the upgrade (its record under the earlier id) is a
// duplicate of the same job enqueued after it; the new ids are pinned so
// a change to them is a decision, not an accident.
func TestJobsFromBeforeTheIDChangeAreDuplicates(t *testing.T) {
	s := newStack(t, sandbox.Config{})
	j := job(sellerNA, "111-0000015-0000001", "confirmOrderDetails", "Which size?")
	j.Campaign = "spring"
	_, _, err := s.outcomes.Accept(context.Background(), j.Ref(legacyID(j)))
	require.NoError(t, err)
	res, err := s.producer.Enqueue(context.Background(), j)
	require.NoError(t, err)
	assert.Equal(t, tasks.StatusDuplicate, res.Status)
	assert.Equal(t, legacyID(j), res.DuplicateOf)

	assert.Equal(t, "j_14ff4dc63f9697fcd12326dc7d9c1ea3", j.ID(), "named campaign")
	j.AutoCampaign = true
	assert.Equal(t, "j_3569f1d846a894394e1aa32e766fc2e0", j.ID(), "batch-chosen campaign")
}

// A job without the fields version 2 added is written as version 1, so a
// worker that predates them takes it during a rolling update.
func TestEncodeWritesTheOldestVersionThatHoldsTheJob(t *testing.T) {
	j := job(sellerNA, "111-0000016-0000001", "confirmOrderDetails", "Which size?")
	b, err := j.Encode()
	require.NoError(t, err)
	assert.Contains(t, string(b), `"v":1,`)
	r := reviewJob("111-0000016-0000002", "", daysAgo(3))
	b, err = r.Encode()
	require.NoError(t, err)
	assert.Contains(t, string(b), `"v":2,`)
	back, err := tasks.DecodeJob(b)
	require.NoError(t, err)
	assert.Equal(t, r.DeliveredAt.Unix(), back.DeliveredAt.Unix())
}

// A job that went back to its line keeps its count of failed attempts: the
// attempt after it ends the job when the count is spent, instead of
// starting a fresh budget in the new task.
func TestRetriedCountSurvivesTheLine(t *testing.T) {
	s := newStack(t, sandbox.Config{})
	ctx := context.Background()
	for _, c := range []struct {
		retried int
		final   bool
	}{{0, false}, {tasks.DefaultMaxAttempts - 1, true}} {
		j := job("A9NOTINFILE", fmt.Sprintf("111-0000014-%07d", c.retried), "confirmOrderDetails", "hi")
		j.Retried = c.retried
		payload, err := j.Encode()
		require.NoError(t, err)
		err = s.handler.ProcessTask(ctx, asynq.NewTask(tasks.TypeMessage, payload))
		rec, gerr := s.outcomes.Get(ctx, j.ID())
		if !c.final {
			require.Error(t, err, "retried by asynq")
			continue
		}
		require.NoError(t, err)
		require.NoError(t, gerr)
		assert.Equal(t, jobstate.OutcomeFailed, rec.Outcome)
		assert.Equal(t, jobstate.Reason("unknown_seller_retries_exhausted"), rec.Reason)
	}
}
