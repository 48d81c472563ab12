package ratelimit_test

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/ratelimit"
)

// Ensure an idle seller gets Burst slots at once, then one per interval.
func TestReserveBurstThenRate(t *testing.T) {
	l := ratelimit.New(redistest.Client(t), ratelimit.Options{})
	k := ratelimit.Key{Seller: "A1", Operation: "createLegalDisclosure"}
	iv := l.Interval(messaging)
	require.Equal(t, 1020*time.Millisecond, iv, "1 req/s with the 2% margin")

	var slots []ratelimit.Reservation
	for i := range 10 {
		slots = append(slots, mustReserve(t, l, k, ratelimit.Transactional, fmt.Sprint("job-", i), messaging))
	}
	for i := range 5 {
		assert.Zero(t, slots[i].Wait, "burst slot %d must be immediate", i)
		assert.True(t, slots[i].Ready())
	}
	for i := 5; i < 10; i++ {
		assert.Equal(t, time.Duration(i-4)*iv, slots[i].At.Sub(slots[0].At), "slot %d", i)
		assert.Greater(t, slots[i].Wait, time.Duration(i-5)*iv, "slot %d waits", i)
		assert.False(t, slots[i].Ready())
	}
}

// Ensure a job that comes back for its slot gets the same slot, and that a
// job's reservation is its own.
func TestReserveIsIdempotentPerJob(t *testing.T) {
	ctx := context.Background()
	l := ratelimit.New(redistest.Client(t), ratelimit.Options{})
	k := ratelimit.Key{Seller: "A1", Operation: "sendInvoice"}
	lim := ratelimit.Limit{Rate: 1, Burst: 1}

	first := mustReserve(t, l, k, ratelimit.Transactional, "a", lim)
	b := mustReserve(t, l, k, ratelimit.Transactional, "b", lim)
	require.Zero(t, first.Wait)
	require.Positive(t, b.Wait)

	for range 3 {
		again := mustReserve(t, l, k, ratelimit.Transactional, "b", lim)
		assert.Equal(t, b.At, again.At, "same job, same slot")
		assert.LessOrEqual(t, again.Wait, b.Wait)
	}
	c := mustReserve(t, l, k, ratelimit.Transactional, "c", lim)
	assert.Equal(t, l.Interval(lim), c.At.Sub(b.At), "re-reserving b booked nothing")

	// After Done the job's next Reserve is a new booking (a retry).
	require.NoError(t, l.Done(ctx, k, "b"))
	b2 := mustReserve(t, l, k, ratelimit.Transactional, "b", lim)
	assert.Equal(t, l.Interval(lim), b2.At.Sub(c.At))
	require.NoError(t, l.Done(ctx, k, "never-reserved"), "Done without a record is a no-op")
}

// Ensure a job that comes back long after its slot (past Grace) books
// again instead of using a stale slot.
func TestReserveAfterGraceBooksAgain(t *testing.T) {
	l := ratelimit.New(redistest.Client(t), ratelimit.Options{Grace: 30 * time.Millisecond})
	k := ratelimit.Key{Seller: "A1", Operation: "op"}
	lim := ratelimit.Limit{Rate: 1, Burst: 5}
	r1 := mustReserve(t, l, k, ratelimit.Transactional, "j", lim)
	require.Zero(t, r1.Wait)
	time.Sleep(60 * time.Millisecond)
	r2 := mustReserve(t, l, k, ratelimit.Transactional, "j", lim)
	assert.Zero(t, r2.Wait)
	assert.True(t, r2.At.After(r1.At), "a new slot was booked")
}

// Ensure two limiters (two worker processes) on one Redis never book more
// than Burst + Rate*w slots in any window of length w.
func TestTwoLimitersNeverExceedRate(t *testing.T) {
	lim := ratelimit.Limit{Rate: 1, Burst: 5}
	k := ratelimit.Key{Seller: "A1", Operation: "confirmOrderDetails"}
	procs := []*ratelimit.Limiter{
		ratelimit.New(redistest.Client(t), ratelimit.Options{}),
		ratelimit.New(redistest.Client(t), ratelimit.Options{}),
	}

	var (
		mu    sync.Mutex
		slots []time.Time
		wg    sync.WaitGroup
	)
	for p, l := range procs {
		for g := range 4 {
			wg.Go(func() {
				for i := range 40 {
					job := fmt.Sprintf("p%d-g%d-%d", p, g, i)
					r, err := l.Reserve(context.Background(), k, ratelimit.Transactional, job, lim)
					if !assert.NoError(t, err) {
						return
					}
					// Coming back for the slot books nothing new.
					again, err := l.Reserve(context.Background(), k, ratelimit.Transactional, job, lim)
					if !assert.NoError(t, err) || !assert.Equal(t, r.At, again.At) {
						return
					}
					mu.Lock()
					slots = append(slots, r.At)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Len(t, slots, 2*4*40)
	assertWithinBucket(t, slots, lim)
}

// assertWithinBucket checks every window [slots[i], slots[j]] of the sorted
// slots: j-i+1 calls must fit in Burst + Rate*(slots[j]-slots[i]).
func assertWithinBucket(tb testing.TB, slots []time.Time, lim ratelimit.Limit) {
	tb.Helper()
	sort.Slice(slots, func(i, j int) bool { return slots[i].Before(slots[j]) })
	for i := range slots {
		for j := i; j < len(slots); j++ {
			w := slots[j].Sub(slots[i]).Seconds()
			allowed := float64(lim.Burst) + lim.Rate*w
			if float64(j-i+1) > allowed+1e-9 {
				tb.Fatalf("%d slots within %.6fs, at most %.3f allowed", j-i+1, w, allowed)
			}
		}
	}
}

// Ensure a backlog of 1,000 reserved campaign jobs does not push a
// transactional reservation out by more than one interval (here: not at
// all), and that the campaign schedule runs at CampaignShare * Rate.
func TestCampaignBacklogDoesNotDelayTransactional(t *testing.T) {
	for _, share := range []float64{1, 0.5} {
		t.Run(fmt.Sprint("Share", share), func(t *testing.T) {
			l := ratelimit.New(redistest.Client(t), ratelimit.Options{CampaignShare: share})
			k := ratelimit.Key{Seller: "A1", Operation: "confirmDeliveryDetails"}
			iv := l.Interval(messaging)

			var camp []ratelimit.Reservation
			for i := range 1000 {
				camp = append(camp, mustReserve(t, l, k, ratelimit.Campaign, fmt.Sprint("c", i), messaging))
			}
			// Burst 5 keeps 2 tokens for transactional traffic: the
			// campaign starts with 3 immediate calls, then one per T/share.
			for i := range 3 {
				assert.Zero(t, camp[i].Wait, "campaign job %d", i)
			}
			civ := time.Duration(math.Ceil(float64(iv.Microseconds())/share)) * time.Microsecond
			for i := 3; i < 10; i++ {
				assert.Equal(t, time.Duration(i-2)*civ, camp[i].At.Sub(camp[0].At), "campaign job %d", i)
			}
			last := camp[len(camp)-1]
			assert.Greater(t, last.Wait, 900*civ, "the backlog sits on the campaign schedule")

			tr := mustReserve(t, l, k, ratelimit.Transactional, "order-event", messaging)
			assert.LessOrEqual(t, tr.Wait, iv, "transactional job delayed by at most one interval")
			assert.Zero(t, tr.Wait)
			tr2 := mustReserve(t, l, k, ratelimit.Transactional, "order-event-2", messaging)
			assert.Zero(t, tr2.Wait, "the kept tokens serve a second transactional call too")
		})
	}
}

// Ensure a campaign job that comes back at its campaign slot gets a main
// slot when the main schedule is free, and only a short wait, booking
// nothing, when transactional traffic keeps it busy.
func TestCampaignSecondPhase(t *testing.T) {
	ctx := context.Background()
	l := ratelimit.New(redistest.Client(t), ratelimit.Options{})
	k := ratelimit.Key{Seller: "A1", Operation: "op"}
	lim := ratelimit.Limit{Rate: 20, Burst: 2} // T = 51 ms; 1 token kept for transactional
	iv := l.Interval(lim)

	c0 := mustReserve(t, l, k, ratelimit.Campaign, "c0", lim)
	c1 := mustReserve(t, l, k, ratelimit.Campaign, "c1", lim)
	require.Zero(t, c0.Wait, "idle seller: straight through both schedules")
	require.InDelta(t, iv, c1.Wait, float64(5*time.Millisecond))

	time.Sleep(c1.Wait)
	c1b := mustReserve(t, l, k, ratelimit.Campaign, "c1", lim)
	assert.Zero(t, c1b.Wait, "main schedule free: the campaign job goes at its slot")
	require.NoError(t, l.Done(ctx, k, "c0"))
	require.NoError(t, l.Done(ctx, k, "c1"))

	// Book the next campaign slot, then let transactional traffic fill the
	// main schedule before it arrives.
	c2 := mustReserve(t, l, k, ratelimit.Campaign, "c2", lim)
	require.Positive(t, c2.Wait)
	var tr ratelimit.Reservation
	for i := range 6 {
		tr = mustReserve(t, l, k, ratelimit.Transactional, fmt.Sprint("t", i), lim)
	}
	time.Sleep(c2.Wait)
	c2b := mustReserve(t, l, k, ratelimit.Campaign, "c2", lim)
	assert.Positive(t, c2b.Wait, "main schedule busy: a further wait")
	// Burst 2 keeps one token for transactional traffic, so the campaign job
	// may go once the bucket is full again: two intervals after the last
	// transactional slot.
	assert.Equal(t, 2*iv, c2b.At.Sub(tr.At))
	next := mustReserve(t, l, k, ratelimit.Transactional, "t-next", lim)
	assert.Equal(t, iv, next.At.Sub(tr.At), "the waiting campaign job booked nothing ahead of transactional jobs")

	// Coming back after its waits, it gets its main slot; it waits only
	// while transactional slots are due.
	var got ratelimit.Reservation
	for attempt := 0; ; attempt++ {
		require.Less(t, attempt, 3, "a campaign job is deferred at most a few short times")
		time.Sleep(c2b.Wait)
		got = mustReserve(t, l, k, ratelimit.Campaign, "c2", lim)
		if got.Ready() {
			break
		}
		assert.LessOrEqual(t, got.Wait, 2*iv)
		c2b = got
	}
	after := mustReserve(t, l, k, ratelimit.Transactional, "t-after", lim)
	assert.LessOrEqual(t, after.Wait, iv, "a transactional job right after it waits at most one interval")
}

// Ensure bad arguments are rejected before touching Redis.
func TestReserveRejectsBadArguments(t *testing.T) {
	ctx := context.Background()
	l := ratelimit.New(redistest.Client(t), ratelimit.Options{})
	good := ratelimit.Key{Seller: "A1", Operation: "op"}
	tests := []struct {
		desc  string
		key   ratelimit.Key
		class ratelimit.Class
		job   string
		lim   ratelimit.Limit
	}{
		{"EmptySeller", ratelimit.Key{Operation: "op"}, ratelimit.Transactional, "j", messaging},
		{"BraceInSeller", ratelimit.Key{Seller: "A{1}", Operation: "op"}, ratelimit.Transactional, "j", messaging},
		{"EmptyOperation", ratelimit.Key{Seller: "A1"}, ratelimit.Transactional, "j", messaging},
		{"ColonInOperation", ratelimit.Key{Seller: "A1", Operation: "a:b"}, ratelimit.Transactional, "j", messaging},
		{"EmptyJob", good, ratelimit.Transactional, "", messaging},
		{"ZeroRate", good, ratelimit.Transactional, "j", ratelimit.Limit{Rate: 0, Burst: 1}},
		{"ZeroBurst", good, ratelimit.Transactional, "j", ratelimit.Limit{Rate: 1, Burst: 0}},
		{"UnknownClass", good, ratelimit.Class(7), "j", messaging},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := l.Reserve(ctx, tc.key, tc.class, tc.job, tc.lim)
			require.ErrorIs(t, err, ratelimit.ErrInvalid)
		})
	}
	require.ErrorIs(t, l.Observe(ctx, good, 0), ratelimit.ErrInvalid)
	require.ErrorIs(t, l.Done(ctx, good, ""), ratelimit.ErrInvalid)
	bad := ratelimit.New(redistest.Client(t), ratelimit.Options{Prefix: "x{y}"})
	_, err := bad.Reserve(ctx, good, ratelimit.Transactional, "j", messaging)
	require.ErrorIs(t, err, ratelimit.ErrInvalid)
}

// Ensure mixed traffic from two processes keeps every main-schedule slot
// within the bucket, with jobs that sleep until their slot and reserve
// again as a worker would: a campaign backlog booked up front at
// CampaignShare 0.5, plus transactional events from each process. Under the
// quota campaign jobs are (almost) never sent back after their campaign
// slot; when transactional traffic alone uses about the whole rate, they
// wait and transactional jobs still barely wait.
func TestMixedTrafficStaysWithinBucket(t *testing.T) {
	tests := []struct {
		desc       string
		eventEvery int // intervals between one process's transactional events
		maxResends int // campaign Reserve calls beyond the first return
	}{
		{"UnderQuota", 6, 3}, // 0.33 R transactional + 0.5 R campaign
		// 1 R transactional + 0.5 R campaign: campaign jobs wait in the
		// overflow line, each coming back about twice, not once per interval.
		{"Overloaded", 2, 3 * 60},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			resends, maxWait := runMixedTraffic(t, tc.eventEvery)
			assert.Zero(t, resends[ratelimit.Transactional], "a transactional slot is never moved")
			assert.LessOrEqual(t, resends[ratelimit.Campaign], tc.maxResends)
			assert.LessOrEqual(t, maxWait, 2*ratelimit.New(nil, ratelimit.Options{}).Interval(mixedLimit),
				"transactional jobs barely wait")
		})
	}
}

// mixedLimit is the limit of runMixedTraffic: T = 20.4 ms.
var mixedLimit = ratelimit.Limit{Rate: 50, Burst: 5} //nolint:gochecknoglobals // immutable test fixture

// runMixedTraffic runs 60 campaign jobs and 2x20 transactional events (one
// every eventEvery intervals per process) through two limiters, checks the
// main-schedule slots against the bucket and returns the Reserve calls per
// class beyond each job's first return, and the longest transactional wait.
func runMixedTraffic(t *testing.T, eventEvery int) (map[ratelimit.Class]int, time.Duration) {
	t.Helper()
	lim := mixedLimit
	k := ratelimit.Key{Seller: "A1", Operation: "op"}
	procs := []*ratelimit.Limiter{
		ratelimit.New(redistest.Client(t), ratelimit.Options{CampaignShare: 0.5}),
		ratelimit.New(redistest.Client(t), ratelimit.Options{CampaignShare: 0.5}),
	}
	const campaignJobs, eventsPerProc = 60, 20
	var (
		mu      sync.Mutex
		slots   []time.Time
		resends = map[ratelimit.Class]int{}
		maxWait time.Duration
		wg      sync.WaitGroup
	)
	// run serves one job as a worker would and records its main slot.
	run := func(l *ratelimit.Limiter, class ratelimit.Class, job string, r ratelimit.Reservation) {
		ctx := context.Background()
		calls := 0
		for !r.Ready() {
			time.Sleep(r.Wait)
			var err error
			if r, err = l.Reserve(ctx, k, class, job, lim); !assert.NoError(t, err) {
				return
			}
			calls++
		}
		assert.NoError(t, l.Done(ctx, k, job))
		mu.Lock()
		defer mu.Unlock()
		slots = append(slots, r.At)
		if calls > 1 {
			resends[class] += calls - 1
		}
	}
	for i := range campaignJobs {
		l := procs[i%2]
		job := fmt.Sprint("c", i)
		r, err := l.Reserve(context.Background(), k, ratelimit.Campaign, job, lim)
		require.NoError(t, err)
		wg.Go(func() { run(l, ratelimit.Campaign, job, r) })
	}
	for p, l := range procs {
		wg.Go(func() {
			for i := range eventsPerProc {
				time.Sleep(time.Duration(eventEvery) * l.Interval(lim))
				job := fmt.Sprintf("t%d-%d", p, i)
				r, err := l.Reserve(context.Background(), k, ratelimit.Transactional, job, lim)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				maxWait = max(maxWait, r.Wait)
				mu.Unlock()
				run(l, ratelimit.Transactional, job, r)
			}
		})
	}
	wg.Wait()
	require.Len(t, slots, campaignJobs+2*eventsPerProc)
	assertWithinBucket(t, slots, lim)
	t.Logf("Reserve calls beyond the first return: %v; longest transactional wait: %v", resends, maxWait)
	return resends, maxWait
}

// Ensure DoneAll drops every record, so the next Reserve books anew.
func TestDoneAll(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	l := ratelimit.New(rdb, ratelimit.Options{})
	lim := ratelimit.Limit{Rate: 1, Burst: 1}
	a, b := ratelimit.Key{Seller: "S1", Operation: "opA"}, ratelimit.Key{Seller: "S1", Operation: "opB"}
	ra, err := l.Reserve(ctx, a, ratelimit.Transactional, "job", lim)
	require.NoError(t, err)
	_, err = l.Reserve(ctx, b, ratelimit.Transactional, "job", lim)
	require.NoError(t, err)
	require.NoError(t, l.DoneAll(ctx, []ratelimit.Key{a, b}, "job"))
	ra2, err := l.Reserve(ctx, a, ratelimit.Transactional, "job", lim)
	require.NoError(t, err)
	require.True(t, ra2.At.After(ra.At), "a new slot after DoneAll")
	require.ErrorIs(t, l.DoneAll(ctx, []ratelimit.Key{a, {Seller: "S2", Operation: "opA"}}, "job"), ratelimit.ErrInvalid)
}

// Ensure Slack spreads an idle seller's burst over the slack, and nothing
// else changes: the first four calls go at once, the fifth 150 ms later,
// the sixth one interval after the burst.
func TestSlackSpreadsTheBurst(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	l := ratelimit.New(rdb, ratelimit.Options{Slack: 150 * time.Millisecond, Margin: -1})
	key := ratelimit.Key{Seller: "S1", Operation: "op"}
	var waits []time.Duration
	for i := 0; i < 6; i++ {
		r, err := l.Reserve(ctx, key, ratelimit.Transactional, fmt.Sprintf("j%d", i), ratelimit.Limit{Rate: 1, Burst: 5})
		require.NoError(t, err)
		waits = append(waits, r.Wait)
	}
	for i := 0; i < 4; i++ {
		require.Zero(t, waits[i], "call %d", i)
	}
	require.InDelta(t, 150*time.Millisecond, waits[4], float64(20*time.Millisecond))
	require.InDelta(t, 1150*time.Millisecond, waits[5], float64(20*time.Millisecond))
}
