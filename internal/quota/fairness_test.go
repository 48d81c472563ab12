package quota_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/quota"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/tasks"
)

// Ensure that while seller A has a 5,000-job campaign backlog, seller B's
// transactional jobs are each sent within 2 s of enqueue (p99 over 50
// tries, one enqueued every 0.5-1 s, the first while A's backlog is still
// being enqueued).
//
// A's backlog goes through Producer.Enqueue in a loop, the way the order
// pipeline, the HTTP API and the batch command without pacing enqueue;
// nothing spreads it with not_before. A runs at the fast test plan
// (10/s, burst 5) so its backlog keeps the workers busy; B's plan (2/s,
// burst 5) is above the pace of its tries, so B never waits for its own
// quota and any delay comes from A's backlog.
func TestTransactionalBesideCampaignBacklog(t *testing.T) {
	const (
		backlog = 5000
		tries   = 50
		a, b    = "A1FAIRCAMPAIGN", "A2FAIRORDERS"
	)
	bGrant := sandbox.Rate{PerSecond: 2, Burst: 5}
	s := newStack(t, fastGrant,
		seller{ID: a, Grant: fastGrant, File: fastFile},
		seller{ID: b, Grant: bGrant, File: tasks.Rate{Rate: bGrant.PerSecond, Burst: bGrant.Burst}})
	s.start(0)

	jobs := make([]*tasks.Job, backlog)
	for i := range jobs {
		jobs[i] = campaignJob(a, orderID(0, i))
	}
	// B's tries start while A's backlog is still being enqueued and swept
	// (each of A's jobs books its slot and is deferred to it), the busiest
	// moment for the workers.
	enqueuedA := make(chan time.Duration, 1)
	go func() {
		t0 := time.Now()
		s.enqueue(jobs, 1)
		enqueuedA <- time.Since(t0)
	}()
	time.Sleep(500 * time.Millisecond)

	// B's tries: enqueue one, note the time, poll the sandbox for its send.
	ctx := context.Background()
	enqueued := map[string]time.Time{}
	sentAt := map[string]time.Time{}
	poll := func() {
		for _, m := range s.sb.Sent() {
			if m.Seller == b {
				sentAt[m.Order] = m.Time
			}
		}
	}
	for i := range tries {
		order := orderID(1, i)
		at := time.Now()
		res, err := s.producer.Enqueue(ctx, transactionalJob(b, order))
		require.NoError(t, err)
		require.Equal(t, tasks.StatusAccepted, res.Status, res.Reason)
		enqueued[order] = at
		time.Sleep(500*time.Millisecond + rand.N(500*time.Millisecond))
		poll()
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(sentAt) < tries && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		poll()
	}
	require.Len(t, sentAt, tries, "every B job sent")
	t.Logf("enqueued A's %d campaign jobs in %s", backlog, (<-enqueuedA).Round(time.Millisecond))

	var lat []time.Duration
	for order, at := range enqueued {
		lat = append(lat, sentAt[order].Sub(at))
	}
	slices.Sort(lat)
	aSent := len(s.sentTimes()[a])
	_, deferrals, reasons := s.defers.snapshot()
	t.Logf("B enqueue->sent: p50 %s, p90 %s, p99 %s, max %s; A sent %d meanwhile; %d deferrals %v; sandbox throttled %d",
		quota.Percentile(lat, 50).Round(time.Millisecond), quota.Percentile(lat, 90).Round(time.Millisecond),
		quota.Percentile(lat, 99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond),
		aSent, deferrals, reasons, s.sb.Stats().Throttled)
	assert.LessOrEqual(t, quota.Percentile(lat, 99), 2*time.Second, "p99 of B's enqueue->sent")
	assert.Positive(t, aSent, "A's campaign was sending meanwhile")
}
