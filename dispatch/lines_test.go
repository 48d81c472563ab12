package dispatch_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/redistest"
)

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// A backlog is released at burst, then one slot per interval, in order,
// each job carrying its slot.
func TestReleaseAtRate(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{})
	push(t, d, "S1", true, ids("j", 9)...)
	got := bySlot(collect(t, d, 9, 10*time.Second))
	iv := d.Interval(dispatch.Plan{Rate: 1, Burst: 5})
	for i, h := range got {
		require.Equal(t, fmt.Sprintf("j-%03d", i), h.ID, "release order")
		require.Equal(t, "payload of "+h.ID, string(h.Payload))
		require.False(t, h.Slot.IsZero())
		if i > 0 {
			require.False(t, h.Slot.Before(got[i-1].Slot), "slots in order")
		}
		// handed off no later than its slot and at most lead + a poll early
		require.WithinDuration(t, d.Local(h.Slot), h.at, dispatch.DefaultLead+50*time.Millisecond, "job %d", i)
	}
	span := got[8].Slot.Sub(got[0].Slot)
	// 5 at once (spread over the slack), then 4 intervals.
	require.InDelta(t, (4 * iv).Seconds(), span.Seconds(), 0.2, "span %s", span)
	ok, err := d.Waiting(context.Background(), "S1", "j-000")
	require.NoError(t, err)
	require.False(t, ok, "confirmed jobs leave the records")
}

// A transactional job goes ahead of the seller's campaign backlog.
func TestTransactionalFirst(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{})
	push(t, d, "S2", true, ids("c", 20)...)
	got := bySlot(collect(t, d, 7, 10*time.Second)) // the burst and two more
	require.Equal(t, "c-006", got[6].ID)
	push(t, d, "S2", false, "tx")
	start := time.Now()
	got = collect(t, d, 1, 5*time.Second)
	require.Equal(t, "tx", got[0].ID, "the next release is the transactional job")
	require.Less(t, time.Since(start), 1500*time.Millisecond)
}

// Sellers do not wait on each other: each has its own bucket.
func TestSellersIndependent(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{})
	for s := range 20 {
		push(t, d, fmt.Sprintf("SELLER%02d", s), true, ids(fmt.Sprintf("s%02d", s), 5)...)
	}
	start := time.Now()
	got := collect(t, d, 100, 5*time.Second)
	require.Len(t, got, 100)
	require.Less(t, time.Since(start), 2*time.Second, "every seller's burst goes at once")
}

// A rate Amazon reports applies to the seller's next release, for jobs
// already waiting.
func TestObservedRateAppliesToQueued(t *testing.T) {
	rdb := redistest.Client(t)
	d := newDispatcher(t, rdb, dispatch.Options{})
	push(t, d, "S3", true, ids("j", 25)...)
	got := collect(t, d, 5, 5*time.Second)
	require.NoError(t, d.Observe(context.Background(), dispatch.Key{Seller: "S3", Operation: actions}, 4))
	require.NoError(t, d.Observe(context.Background(), dispatch.Key{Seller: "S3", Operation: send}, 4))
	got = bySlot(collect(t, d, 20, 10*time.Second))
	span := got[19].Slot.Sub(got[0].Slot)
	require.InDelta(t, 19.0/4, span.Seconds(), 0.5, "20 jobs at 4/s, not 1/s: %s", span)
}

// bySlot sorts hand-offs by slot, then id (hand-offs of one step run
// concurrently; jobs of one burst share a slot).
func bySlot(hs []handed) []handed {
	sort.SliceStable(hs, func(i, j int) bool {
		if !hs[i].Slot.Equal(hs[j].Slot) {
			return hs[i].Slot.Before(hs[j].Slot)
		}
		return hs[i].ID < hs[j].ID
	})
	return hs
}
