package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/ratelimit"
)

// Ensure a rate observed from x-amzn-RateLimit-Limit drives later
// reservations and wins over the default, with the burst kept.
func TestObserveRaisesRate(t *testing.T) {
	ctx := context.Background()
	l := ratelimit.New(redistest.Client(t), ratelimit.Options{})
	k := ratelimit.Key{Seller: "A1", Operation: "createWarranty"}

	eff, err := l.Effective(ctx, k, messaging)
	require.NoError(t, err)
	assert.Equal(t, messaging, eff, "nothing observed: the default")

	require.NoError(t, l.Observe(ctx, k, 2.0))
	eff, err = l.Effective(ctx, k, messaging)
	require.NoError(t, err)
	assert.Equal(t, ratelimit.Limit{Rate: 2, Burst: 5}, eff)

	var slots []ratelimit.Reservation
	for i := range 8 {
		slots = append(slots, mustReserve(t, l, k, ratelimit.Transactional, fmt.Sprint("j", i), messaging))
	}
	half := 510 * time.Millisecond // 0.5 s plus the 2% margin
	for i := 5; i < 8; i++ {
		assert.Equal(t, time.Duration(i-4)*half, slots[i].At.Sub(slots[0].At), "slot %d", i)
	}

	// A lower grant slows the schedule down again, and the 8 calls already
	// booked count as 8 tokens at the new rate, not as 4 s of debt.
	require.NoError(t, l.Observe(ctx, k, 0.5))
	a := mustReserve(t, l, k, ratelimit.Transactional, "slow-1", messaging)
	assert.Greater(t, a.Wait, 8*time.Second, "debt of 8 tokens at 2.04 s, less a tolerance of 4 tokens")
	b := mustReserve(t, l, k, ratelimit.Transactional, "slow-2", messaging)
	assert.Equal(t, 2040*time.Millisecond, b.At.Sub(a.At))
}

// Ensure a configured override wins over observed and default limits.
func TestOverrideWins(t *testing.T) {
	ctx := context.Background()
	over := ratelimit.Limit{Rate: 4, Burst: 2}
	l := ratelimit.New(redistest.Client(t), ratelimit.Options{
		Override: func(k ratelimit.Key) (ratelimit.Limit, bool) { return over, k.Seller == "VIP" },
	})
	vip := ratelimit.Key{Seller: "VIP", Operation: "op"}
	require.NoError(t, l.Observe(ctx, vip, 2))
	eff, err := l.Effective(ctx, vip, messaging)
	require.NoError(t, err)
	assert.Equal(t, over, eff)

	r := make([]ratelimit.Reservation, 4)
	for i := range r {
		r[i] = mustReserve(t, l, vip, ratelimit.Transactional, fmt.Sprint("j", i), messaging)
	}
	assert.Zero(t, r[1].Wait, "override burst 2")
	assert.Positive(t, r[2].Wait)
	assert.Equal(t, l.Interval(over), r[3].At.Sub(r[2].At))
}

// Ensure a 429 pushes the schedule back for every process: the next slot
// is one interval out, as if the bucket were empty.
func TestThrottledPushesBack(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	a := ratelimit.New(rdb, ratelimit.Options{})
	b := ratelimit.New(redistest.Client(t), ratelimit.Options{})
	k := ratelimit.Key{Seller: "A1", Operation: "op"}
	iv := a.Interval(messaging)

	first := mustReserve(t, a, k, ratelimit.Transactional, "j0", messaging)
	require.Zero(t, first.Wait, "an idle seller could send at once")
	require.NoError(t, a.Throttled(ctx, k))

	next := mustReserve(t, b, k, ratelimit.Transactional, "j1", messaging)
	assert.InDelta(t, iv, next.Wait, float64(20*time.Millisecond), "the other process waits one interval")
	after := mustReserve(t, b, k, ratelimit.Transactional, "j2", messaging)
	assert.Equal(t, iv, after.At.Sub(next.At), "then one per interval: no burst left")

	// A second 429 inside the pushed-back window does not push further
	// than an empty bucket.
	require.NoError(t, a.Throttled(ctx, k))
	require.NoError(t, a.Throttled(ctx, ratelimit.Key{Seller: "A1", Operation: "never-reserved"}))
}
