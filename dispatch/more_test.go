package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/redistest"
)

// A seller's lines for two APIs are independent: each has its own actions
// operation and schedules.
func TestLinesPerAPI(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{Defaults: plans,
		Operations: []string{actions, send, "getSolicitationActionsForOrder", "createProductReviewAndSellerFeedbackSolicitation"}})
	ctx := context.Background()
	for i, id := range ids("m", 7) {
		_, err := d.Push(ctx, dispatch.Entry{ID: id, Seller: "S4", ActionsOp: actions, SendOp: send, Campaign: true, Payload: []byte{byte(i)}})
		require.NoError(t, err)
	}
	for i, id := range ids("r", 7) {
		_, err := d.Push(ctx, dispatch.Entry{ID: id, Seller: "S4", ActionsOp: "getSolicitationActionsForOrder",
			SendOp: "createProductReviewAndSellerFeedbackSolicitation", Campaign: true, Payload: []byte{byte(i)}})
		require.NoError(t, err)
	}
	start := time.Now()
	got := collect(t, d, 10, 5*time.Second)
	assert.Less(t, time.Since(start), 900*time.Millisecond, "both lines' bursts go at once")
	n := map[byte]int{}
	for _, h := range got {
		n[h.ID[0]]++
	}
	assert.Equal(t, map[byte]int{'m': 5, 'r': 5}, n)
}

// The sellers file's override wins over the rate Amazon reported and the
// default, from the next release; SetOverrides replaces earlier ones.
func TestOverrides(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{})
	ctx := context.Background()
	key := dispatch.Key{Seller: "S5", Operation: actions}
	p, err := d.Effective(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, dispatch.Plan{Rate: 1, Burst: 5}, p, "the default")
	require.NoError(t, d.Observe(ctx, key, 3))
	p, _ = d.Effective(ctx, key)
	assert.Equal(t, dispatch.Plan{Rate: 3, Burst: 5}, p, "the reported rate")
	over := map[dispatch.Key]dispatch.Plan{key: {Rate: 8, Burst: 2}, {Seller: "S5", Operation: send}: {Rate: 8, Burst: 2}}
	require.NoError(t, d.SetOverrides(ctx, over))
	p, _ = d.Effective(ctx, key)
	assert.Equal(t, dispatch.Plan{Rate: 8, Burst: 2}, p, "the override")

	push(t, d, "S5", true, ids("j", 18)...)
	got := bySlot(collect(t, d, 18, 10*time.Second))
	span := got[17].Slot.Sub(got[0].Slot)
	assert.InDelta(t, 16.0/8, span.Seconds(), 0.3, "burst 2, then 8/s: %s", span)

	require.NoError(t, d.SetOverrides(ctx, nil))
	p, _ = d.Effective(ctx, key)
	assert.Equal(t, dispatch.Plan{Rate: 3, Burst: 5}, p, "override removed: the reported rate again")
	require.ErrorIs(t, d.SetOverrides(ctx, map[dispatch.Key]dispatch.Plan{key: {Rate: 0, Burst: 1}}), dispatch.ErrInvalid)
}

// A 429 empties the seller's bucket: its next jobs go one interval apart,
// not as a burst.
func TestThrottledPausesSeller(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{Defaults: func(string) dispatch.Plan { return dispatch.Plan{Rate: 5, Burst: 2} },
		Operations: []string{actions, send}})
	push(t, d, "S6", true, ids("a", 2)...)
	first := collect(t, d, 2, 5*time.Second)
	require.NoError(t, d.Throttled(context.Background(), dispatch.Key{Seller: "S6", Operation: send}))
	push(t, d, "S6", true, "b1", "b2", "b3")
	got := bySlot(collect(t, d, 3, 5*time.Second))
	iv := d.Interval(dispatch.Plan{Rate: 5, Burst: 2})
	assert.GreaterOrEqual(t, got[0].Slot.Sub(bySlot(first)[1].Slot), iv-time.Millisecond, "an interval after the 429")
	assert.GreaterOrEqual(t, got[2].Slot.Sub(got[0].Slot), 2*iv-time.Millisecond, "then at the rate: the burst was spent")
}

// Campaign jobs use at most CampaignShare of the rate.
func TestCampaignShare(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{Defaults: func(string) dispatch.Plan { return dispatch.Plan{Rate: 10, Burst: 1} },
		Operations: []string{actions, send}, CampaignShare: 0.5})
	push(t, d, "S7", true, ids("c", 11)...)
	got := bySlot(collect(t, d, 11, 10*time.Second))
	span := got[10].Slot.Sub(got[0].Slot)
	assert.InDelta(t, 10.0/5, span.Seconds(), 0.2, "half of 10/s: %s", span)
}

// A job whose deadline has passed is released without a slot (the worker
// ends it expired) and takes none from the jobs behind it.
func TestExpiredJobTakesNoSlot(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{})
	ctx := context.Background()
	for _, id := range ids("x", 5) {
		_, err := d.Push(ctx, dispatch.Entry{ID: id, Seller: "S8", ActionsOp: actions, SendOp: send,
			Deadline: time.Now().Add(-time.Minute), Payload: []byte("late")})
		require.NoError(t, err)
	}
	push(t, d, "S8", false, ids("y", 5)...)
	start := time.Now()
	got := collect(t, d, 10, 5*time.Second)
	assert.Less(t, time.Since(start), 900*time.Millisecond, "the five live jobs still get the whole burst")
	for _, h := range got {
		assert.Equal(t, h.ID[0] == 'x', h.Slot.IsZero(), h.ID)
	}
}

// A job not yet eligible (not_before) waits in its line without blocking
// the jobs behind it.
func TestEligibleLater(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{})
	ctx := context.Background()
	later := time.Now().Add(1500 * time.Millisecond)
	_, err := d.Push(ctx, dispatch.Entry{ID: "later", Seller: "S9", ActionsOp: actions, SendOp: send, Eligible: later})
	require.NoError(t, err)
	push(t, d, "S9", false, "now")
	got := collect(t, d, 2, 5*time.Second)
	assert.Equal(t, "now", got[0].ID)
	assert.Equal(t, "later", got[1].ID)
	assert.WithinDuration(t, later, got[1].at, 200*time.Millisecond)
}

// A job is in its line once; Waiting reports it until it is handed off.
func TestPushOnce(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{})
	ctx := context.Background()
	e := dispatch.Entry{ID: "j1", Seller: "S10", ActionsOp: actions, SendOp: send}
	ok, err := d.Push(ctx, e)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = d.Push(ctx, e)
	require.NoError(t, err)
	assert.False(t, ok, "already waiting")
	w, err := d.Waiting(ctx, "S10", "j1")
	require.NoError(t, err)
	assert.True(t, w)
	_, err = d.Push(ctx, dispatch.Entry{ID: "j2", Seller: "S{1}", ActionsOp: actions, SendOp: send})
	require.ErrorIs(t, err, dispatch.ErrInvalid, "a brace would break the hash tag")
	_, err = d.Push(ctx, dispatch.Entry{ID: "j3", Seller: "S10", ActionsOp: "a:b", SendOp: send})
	require.ErrorIs(t, err, dispatch.ErrInvalid)
}

// A hand-off that fails leaves the job to be handed off again after the
// handoff timeout, without a slot; one that succeeds is confirmed.
func TestHandoffRetried(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{HandoffTimeout: 300 * time.Millisecond})
	push(t, d, "S11", false, "h1")
	var tries atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan dispatch.Released, 2)
	go func() {
		_ = d.Run(ctx, func(_ context.Context, r dispatch.Released) error {
			if tries.Add(1) == 1 {
				return errors.New("queue unreachable")
			}
			got <- r
			return nil
		}, nil)
	}()
	select {
	case r := <-got:
		assert.Equal(t, "h1", r.ID)
		assert.True(t, r.Slot.IsZero(), "handed off again without its stale slot")
	case <-ctx.Done():
		t.Fatal("not handed off again")
	}
	require.Eventually(t, func() bool {
		w, err := d.Waiting(context.Background(), "S11", "h1")
		return err == nil && !w
	}, 2*time.Second, 10*time.Millisecond, "confirmed once handed off")
	assert.EqualValues(t, 2, tries.Load())
}

// Releases pause while the workers are behind (Queued at MaxQueued).
func TestBackPressure(t *testing.T) {
	rdb := redistest.Client(t)
	var queued atomic.Int32
	queued.Store(10)
	d := newDispatcher(t, rdb, dispatch.Options{Defaults: plans, Operations: []string{actions, send}, MaxQueued: 10,
		Queued: func(context.Context) (int, error) { return int(queued.Load()), nil }})
	push(t, d, "S12", false, "p1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan time.Time, 1)
	go func() {
		_ = d.Run(ctx, func(context.Context, dispatch.Released) error {
			got <- time.Now()
			return nil
		}, nil)
	}()
	time.AfterFunc(500*time.Millisecond, func() { queued.Store(0) })
	start := time.Now()
	select {
	case at := <-got:
		assert.GreaterOrEqual(t, at.Sub(start), 450*time.Millisecond, "held while the workers were behind")
	case <-ctx.Done():
		t.Fatal("never released")
	}
}

// Reserve books a slot now on several operations of one seller, behind
// what releases booked.
func TestReserve(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{Defaults: func(string) dispatch.Plan { return dispatch.Plan{Rate: 2, Burst: 1} },
		Operations: []string{actions, send}})
	ctx := context.Background()
	w1, err := d.Reserve(ctx, "S13", actions, send)
	require.NoError(t, err)
	assert.Zero(t, w1)
	w2, err := d.Reserve(ctx, "S13", actions, send)
	require.NoError(t, err)
	assert.InDelta(t, 0.5, w2.Seconds(), 0.05, "one interval at 2/s")
}

// On Redis Cluster every script touches one slot: the release, push,
// reserve and plan scripts run without CROSSSLOT.
func TestCluster(t *testing.T) {
	rdb := redistest.NewClusterClient(t, redistest.StartCluster(t, 1))
	d := newDispatcher(t, rdb, dispatch.Options{})
	push(t, d, "SC1", false, ids("c", 6)...)
	push(t, d, "SC2", true, ids("d", 6)...)
	got := collect(t, d, 12, 10*time.Second)
	assert.Len(t, got, 12)
	ctx := context.Background()
	_, err := d.Reserve(ctx, "SC1", actions, send)
	require.NoError(t, err)
	require.NoError(t, d.Observe(ctx, dispatch.Key{Seller: "SC1", Operation: actions}, 2))
	require.NoError(t, d.Throttled(ctx, dispatch.Key{Seller: "SC1", Operation: actions}))
	require.NoError(t, d.SetOverrides(ctx, map[dispatch.Key]dispatch.Plan{{Seller: "SC2", Operation: send}: {Rate: 2, Burst: 2}}))
	jobs, err := d.Jobs(ctx)
	require.NoError(t, err)
	assert.Empty(t, jobs)
}

// A job pushed to an idle line wakes running release loops at once (pub/sub),
// not at their next idle poll.
func TestPushWakesIdleLoop(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{Defaults: plans, Operations: []string{actions, send}, IdlePoll: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A primer job, in another shard than S14's, is released by the loop's
	// first step, which polls every shard at once: its hand-off tells that
	// the first poll is over (the next idle poll is a minute away).
	primer := "P0"
	for i := 1; dispatch.Shard(primer) == dispatch.Shard("S14"); i++ {
		primer = fmt.Sprintf("P%d", i)
	}
	push(t, d, primer, false, "w0")
	got := make(chan time.Time, 1)
	go func() {
		_ = d.Run(ctx, func(context.Context, dispatch.Released) error {
			got <- time.Now()
			return nil
		}, nil)
	}()
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("the first poll did not release the primer job")
	}
	require.Eventually(t, func() bool {
		chans, err := rdb.PubSubChannels(ctx, "*:dispatch:wake").Result()
		return err == nil && len(chans) > 0
	}, 5*time.Second, 10*time.Millisecond, "the release loop subscribes to the wake channel")
	start := time.Now()
	push(t, d, "S14", false, "w1")
	select {
	case at := <-got:
		assert.Less(t, at.Sub(start), 2*time.Second, "woken by the push, not by the minute's poll")
	case <-ctx.Done():
		t.Fatal("the push did not wake the loop")
	}
}
