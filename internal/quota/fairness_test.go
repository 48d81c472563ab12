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

// Ensure that while seller A has a 5,000-job campaign backlog, A's own
// transactional jobs and seller B's are each sent within 2 s of enqueue
// (p99 over 50 tries each, one pair enqueued every 0.5-1 s, the first while
// A's backlog is still being enqueued). A's go ahead of its campaign line.
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
	// The tries start while A's backlog is still being enqueued, the
	// busiest moment for Redis: once A's campaign reaches Amazon.
	enqueuedA := make(chan time.Duration, 1)
	go func() {
		t0 := time.Now()
		s.enqueue(jobs, 1)
		enqueuedA <- time.Since(t0)
	}()
	require.Eventually(t, func() bool { return len(s.sentTimes()[a]) > 0 }, 10*time.Second, 10*time.Millisecond,
		"A's campaign starts sending while its backlog is enqueued")

	// The tries: enqueue one transactional job for A and one for B, note
	// the time, poll the sandbox for their sends.
	ctx := context.Background()
	type try struct{ seller, order string }
	enqueued := map[try]time.Time{}
	sentAt := map[try]time.Time{}
	poll := func() {
		for _, m := range s.sb.Sent() {
			k := try{m.Seller, m.Order}
			if _, ok := enqueued[k]; ok {
				sentAt[k] = m.Time
			}
		}
	}
	for i := range tries {
		for si, seller := range []string{a, b} {
			k := try{seller, orderID(10+si, i)}
			at := time.Now()
			res, err := s.producer.Enqueue(ctx, transactionalJob(seller, k.order))
			require.NoError(t, err)
			require.Equal(t, tasks.StatusAccepted, res.Status, res.Reason)
			enqueued[k] = at
		}
		// Not a barrier: the pause between an order pipeline's events, the
		// arrival pace this test simulates.
		time.Sleep(500*time.Millisecond + rand.N(500*time.Millisecond))
		poll()
	}
	require.Eventually(t, func() bool { poll(); return len(sentAt) == 2*tries }, 30*time.Second, 100*time.Millisecond,
		"every transactional job sent")
	t.Logf("enqueued A's %d campaign jobs in %s", backlog, (<-enqueuedA).Round(time.Millisecond))

	aSent := len(s.sentTimes()[a]) - tries
	for _, seller := range []string{a, b} {
		var lat []time.Duration
		for k, at := range enqueued {
			if k.seller == seller {
				lat = append(lat, sentAt[k].Sub(at))
			}
		}
		slices.Sort(lat)
		t.Logf("%s transactional enqueue->sent: p50 %s, p90 %s, p99 %s, max %s",
			seller, quota.Percentile(lat, 50).Round(time.Millisecond), quota.Percentile(lat, 90).Round(time.Millisecond),
			quota.Percentile(lat, 99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
		assert.LessOrEqual(t, quota.Percentile(lat, 99), 2*time.Second, "p99 of %s's transactional enqueue->sent", seller)
	}
	_, deferrals, reasons := s.defers.snapshot()
	t.Logf("A sent %d campaign jobs meanwhile; %d deferrals %v; sandbox throttled %d", aSent, deferrals, reasons, s.sb.Stats().Throttled)
	assert.Positive(t, aSent, "A's campaign was sending meanwhile")
}
