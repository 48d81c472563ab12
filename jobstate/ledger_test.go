package jobstate_test

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
)

const (
	seller = "A2EUQ1WTGCTBG2"
	order  = "111-2222222-3333333"
	stale  = 10 * time.Minute
)

// mustClaim claims and fails the test on error.
func mustClaim(tb testing.TB, l *jobstate.Ledger, keys []jobstate.Key, job string) jobstate.ClaimResult {
	tb.Helper()
	res, err := l.Claim(context.Background(), keys, job, stale)
	require.NoError(tb, err)
	return res
}

// mustGet reads an entry that must exist.
func mustGet(tb testing.TB, l *jobstate.Ledger, k jobstate.Key) jobstate.Entry {
	tb.Helper()
	e, ok, err := l.Get(context.Background(), k)
	require.NoError(tb, err)
	require.True(tb, ok, "entry %v must exist", k)
	return e
}

// assertPermanent checks that no ledger key has a TTL.
func assertPermanent(tb testing.TB, rdb *redis.Client) {
	tb.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(tb, err)
	for _, k := range keys {
		ttl, err := rdb.TTL(ctx, k).Result()
		require.NoError(tb, err)
		assert.Equal(tb, time.Duration(-1), ttl, "%s must not expire", k)
	}
}

// Ensure claim -> commit, with redelivery and other jobs along the way.
func TestClaimThenCommit(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	l := jobstate.NewLedger(rdb, "")
	keys := []jobstate.Key{jobstate.OrderKey(seller, order, "negativeFeedbackRemoval")}

	_, ok, err := l.Get(ctx, keys[0])
	require.NoError(t, err)
	require.False(t, ok)

	res := mustClaim(t, l, keys, "job-1")
	require.Equal(t, jobstate.Claimed, res.Status)
	e := mustGet(t, l, keys[0])
	assert.Equal(t, jobstate.EntryClaimed, e.State)
	assert.Equal(t, "job-1", e.JobID)
	assert.WithinDuration(t, time.Now(), e.ClaimedAt, 5*time.Second)
	assert.Equal(t, e.ClaimedAt, e.UpdatedAt)

	res = mustClaim(t, l, keys, "job-1")
	assert.Equal(t, jobstate.Mine, res.Status, "a redelivery of the same job")
	assert.Equal(t, keys[0], res.Key)
	assert.Equal(t, "job-1", res.Entry.JobID)

	res = mustClaim(t, l, keys, "job-2")
	assert.Equal(t, jobstate.Busy, res.Status)
	assert.Equal(t, "job-1", res.Entry.JobID)

	require.NoError(t, l.Commit(ctx, keys, "job-1", "req-abc"))
	e = mustGet(t, l, keys[0])
	assert.Equal(t, jobstate.EntrySent, e.State)
	assert.Equal(t, "req-abc", e.RequestID)
	assert.False(t, e.UpdatedAt.Before(e.ClaimedAt))

	res = mustClaim(t, l, keys, "job-2")
	assert.Equal(t, jobstate.Done, res.Status)
	assert.Equal(t, jobstate.EntrySent, res.Entry.State)
	assert.Equal(t, "job-1", res.Entry.JobID)
	assert.Equal(t, "req-abc", res.Entry.RequestID)

	res = mustClaim(t, l, keys, "job-1")
	assert.Equal(t, jobstate.Done, res.Status, "a redelivery after commit")
	assert.Equal(t, "job-1", res.Entry.JobID, "the caller sees it sent it itself")

	// Permanent: Release and MarkInDoubt change nothing.
	require.NoError(t, l.Release(ctx, keys, "job-1"))
	require.NoError(t, l.MarkInDoubt(ctx, keys, "job-1"))
	assert.Equal(t, jobstate.EntrySent, mustGet(t, l, keys[0]).State)
	assertPermanent(t, rdb)
}

// Ensure claim -> release frees the key, and a release by another job is a
// no-op.
func TestClaimThenRelease(t *testing.T) {
	ctx := context.Background()
	l := jobstate.NewLedger(redistest.Client(t), "")
	keys := []jobstate.Key{jobstate.IdemKey(seller, "campaign-7/row-12")}

	require.Equal(t, jobstate.Claimed, mustClaim(t, l, keys, "job-1").Status)
	require.NoError(t, l.Release(ctx, keys, "job-2"))
	e := mustGet(t, l, keys[0])
	assert.Equal(t, jobstate.EntryClaimed, e.State, "release by a non-owner is a no-op")
	assert.Equal(t, "job-1", e.JobID)

	require.NoError(t, l.Release(ctx, keys, "job-1"))
	_, ok, err := l.Get(ctx, keys[0])
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, jobstate.Claimed, mustClaim(t, l, keys, "job-2").Status, "free again")
}

// Ensure claim -> in_doubt is permanent and blocks every other job.
func TestClaimThenMarkInDoubt(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	l := jobstate.NewLedger(rdb, "")
	keys := []jobstate.Key{jobstate.OrderKey(seller, order, "negativeFeedbackRemoval"), jobstate.IdemKey(seller, "k1")}

	require.Equal(t, jobstate.Claimed, mustClaim(t, l, keys, "job-1").Status)
	require.NoError(t, l.MarkInDoubt(ctx, keys, "job-1"))
	for _, k := range keys {
		assert.Equal(t, jobstate.EntryInDoubt, mustGet(t, l, k).State)
	}
	res := mustClaim(t, l, keys[1:], "job-2")
	assert.Equal(t, jobstate.Done, res.Status)
	assert.Equal(t, jobstate.EntryInDoubt, res.Entry.State)
	require.NoError(t, l.Release(ctx, keys, "job-1"))
	assert.Equal(t, jobstate.EntryInDoubt, mustGet(t, l, keys[0]).State, "in_doubt is never released")

	// A late 2xx for the same job still upgrades it to sent.
	require.NoError(t, l.Commit(ctx, keys, "job-1", "req-late"))
	assert.Equal(t, jobstate.EntrySent, mustGet(t, l, keys[0]).State)
	assertPermanent(t, rdb)
}

// Ensure a claim older than staleAfter is reported in_doubt, never taken
// over, and stays usable by its owner.
func TestStaleClaimCountsAsInDoubt(t *testing.T) {
	ctx := context.Background()
	l := jobstate.NewLedger(redistest.Client(t), "")
	keys := []jobstate.Key{jobstate.IdemKey(seller, "k")}
	require.Equal(t, jobstate.Claimed, mustClaim(t, l, keys, "job-1").Status)

	res, err := l.Claim(ctx, keys, "job-2", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, jobstate.Busy, res.Status, "young claim")

	time.Sleep(30 * time.Millisecond)
	res, err = l.Claim(ctx, keys, "job-2", 10*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, jobstate.Done, res.Status)
	assert.Equal(t, jobstate.EntryInDoubt, res.Entry.State)
	assert.Equal(t, "job-1", res.Entry.JobID)

	e := mustGet(t, l, keys[0])
	assert.Equal(t, jobstate.EntryClaimed, e.State, "stored entry unchanged")
	assert.Equal(t, "job-1", e.JobID, "not taken over")
	require.NoError(t, l.Commit(ctx, keys, "job-1", "r"))
	assert.Equal(t, jobstate.EntrySent, mustGet(t, l, keys[0]).State)
}

// Ensure a job's keys are claimed together and the strongest answer wins.
func TestClaimSeveralKeys(t *testing.T) {
	ctx := context.Background()
	l := jobstate.NewLedger(redistest.Client(t), "")
	ord := jobstate.OrderKey(seller, order, "negativeFeedbackRemoval")
	idem := jobstate.IdemKey(seller, "k1")

	require.Equal(t, jobstate.Claimed, mustClaim(t, l, []jobstate.Key{ord, idem}, "job-1").Status)
	res := mustClaim(t, l, []jobstate.Key{jobstate.IdemKey(seller, "k2"), ord}, "job-2")
	assert.Equal(t, jobstate.Busy, res.Status)
	assert.Equal(t, ord, res.Key)
	_, ok, err := l.Get(ctx, jobstate.IdemKey(seller, "k2"))
	require.NoError(t, err)
	assert.False(t, ok, "a busy claim writes nothing")

	// Redelivered with one more key: Mine, and the new key is held too.
	extra := jobstate.IdemKey(seller, "k3")
	res = mustClaim(t, l, []jobstate.Key{ord, idem, extra}, "job-1")
	assert.Equal(t, jobstate.Mine, res.Status)
	assert.Equal(t, "job-1", mustGet(t, l, extra).JobID)

	require.NoError(t, l.Commit(ctx, []jobstate.Key{ord}, "job-1", "r1"))
	res = mustClaim(t, l, []jobstate.Key{idem, ord}, "job-2")
	assert.Equal(t, jobstate.Done, res.Status, "sent wins over busy")
	assert.Equal(t, ord, res.Key)

	// The same key twice in one call is one key.
	twice := jobstate.IdemKey(seller, "k4")
	assert.Equal(t, jobstate.Claimed, mustClaim(t, l, []jobstate.Key{twice, twice}, "job-3").Status)
}

// Ensure Commit and MarkInDoubt never overwrite another job's entry, and
// record a send even when the claim is gone.
func TestCommitOwnership(t *testing.T) {
	ctx := context.Background()
	l := jobstate.NewLedger(redistest.Client(t), "")
	a, b := jobstate.IdemKey(seller, "a"), jobstate.IdemKey(seller, "b")
	require.Equal(t, jobstate.Claimed, mustClaim(t, l, []jobstate.Key{a}, "job-1").Status)

	err := l.Commit(ctx, []jobstate.Key{a, b}, "job-2", "r2")
	require.ErrorIs(t, err, jobstate.ErrNotHeld)
	assert.Equal(t, "job-1", mustGet(t, l, a).JobID)
	assert.Equal(t, jobstate.EntryClaimed, mustGet(t, l, a).State)
	eb := mustGet(t, l, b)
	assert.Equal(t, jobstate.EntrySent, eb.State, "a key without a claim is still recorded")
	assert.Equal(t, "job-2", eb.JobID)
	assert.Equal(t, "r2", eb.RequestID)

	require.ErrorIs(t, l.MarkInDoubt(ctx, []jobstate.Key{a}, "job-2"), jobstate.ErrNotHeld)
	assert.Equal(t, jobstate.EntryClaimed, mustGet(t, l, a).State)
}

// Ensure 20 concurrent claims of the same keys give exactly one Claimed.
func TestConcurrentClaimsExactlyOneWins(t *testing.T) {
	l := jobstate.NewLedger(redistest.Client(t), "")
	for round := range 5 {
		keys := []jobstate.Key{
			jobstate.OrderKey(seller, fmt.Sprintf("111-0000000-%07d", round), "negativeFeedbackRemoval"),
			jobstate.IdemKey(seller, fmt.Sprint("round-", round)),
		}
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			counts = map[jobstate.Status]int{}
			winner string
		)
		start := make(chan struct{})
		for g := range 20 {
			wg.Go(func() {
				<-start
				job := fmt.Sprint("job-", g)
				res, err := l.Claim(context.Background(), keys, job, stale)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				counts[res.Status]++
				if res.Status == jobstate.Claimed {
					winner = job
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, map[jobstate.Status]int{jobstate.Claimed: 1, jobstate.Busy: 19}, counts, "round %d", round)
		for _, k := range keys {
			assert.Equal(t, winner, mustGet(t, l, k).JobID)
		}
	}
}

// Ensure committed entries survive a Redis crash (SIGKILL) with AOF on.
func TestEntriesSurviveRedisCrash(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	opt, err := redis.ParseURL(srv.URL())
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	l := jobstate.NewLedger(rdb, "")

	sent := []jobstate.Key{jobstate.OrderKey(seller, order, "negativeFeedbackRemoval"), jobstate.IdemKey(seller, "k1")}
	doubt := []jobstate.Key{jobstate.IdemKey(seller, "k2")}
	held := []jobstate.Key{jobstate.IdemKey(seller, "k3")}
	require.Equal(t, jobstate.Claimed, mustClaim(t, l, sent, "job-1").Status)
	require.NoError(t, l.Commit(ctx, sent, "job-1", "req-1"))
	require.Equal(t, jobstate.Claimed, mustClaim(t, l, doubt, "job-2").Status)
	require.NoError(t, l.MarkInDoubt(ctx, doubt, "job-2"))
	require.Equal(t, jobstate.Claimed, mustClaim(t, l, held, "job-3").Status)

	srv.Kill()
	require.NoError(t, srv.Restart())

	for _, k := range sent {
		e := mustGet(t, l, k)
		assert.Equal(t, jobstate.EntrySent, e.State)
		assert.Equal(t, "req-1", e.RequestID)
	}
	assert.Equal(t, jobstate.EntryInDoubt, mustGet(t, l, doubt[0]).State)
	assert.Equal(t, jobstate.Mine, mustClaim(t, l, held, "job-3").Status, "the claim survives too")
	assert.Equal(t, jobstate.Done, mustClaim(t, l, sent, "job-9").Status)
}

// Ensure one seller's keys share a hash tag, so one cluster slot.
func TestKeysShareTheSellersSlot(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	l := jobstate.NewLedger(rdb, "")
	keys := []jobstate.Key{
		jobstate.OrderKey(seller, order, "negativeFeedbackRemoval"),
		jobstate.OrderKey(seller, "222-2222222-2222222", "negativeFeedbackRemoval"),
		jobstate.IdemKey(seller, "k{weird}:key"),
	}
	require.Equal(t, jobstate.Claimed, mustClaim(t, l, keys, "job-1").Status)
	stored, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Len(t, stored, 3)
	re := regexp.MustCompile(`^spmsg:\{` + seller + `\}:ledger:(order:[0-9-]+:negativeFeedbackRemoval|idem:.+)$`)
	for _, k := range stored {
		assert.Regexp(t, re, k)
		assert.Equal(t, keySlot(stored[0]), keySlot(k), k)
	}
	assert.Equal(t, keySlot(seller), keySlot(stored[0]))
}

// Ensure the ledger works on Redis Cluster (no CROSSSLOT in any script).
func TestLedgerOnCluster(t *testing.T) {
	ctx := context.Background()
	cc := startCluster(t)
	l := jobstate.NewLedger(cc, "")
	for s := range 5 {
		sel := fmt.Sprint("SELLER", s)
		keys := []jobstate.Key{jobstate.OrderKey(sel, order, "negativeFeedbackRemoval"), jobstate.IdemKey(sel, "k")}
		res, err := l.Claim(ctx, keys, "job", stale)
		require.NoError(t, err)
		require.Equal(t, jobstate.Claimed, res.Status)
		require.NoError(t, l.Commit(ctx, keys[:1], "job", "r"))
		require.NoError(t, l.MarkInDoubt(ctx, keys[1:], "job"))
		require.NoError(t, l.Release(ctx, keys, "job"))
		e, ok, err := l.Get(ctx, keys[0])
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, jobstate.EntrySent, e.State)
		slot, err := cc.ClusterKeySlot(ctx, "spmsg:{"+sel+"}:ledger:idem:k").Result()
		require.NoError(t, err)
		assert.EqualValues(t, keySlot(sel), slot, "test CRC16 agrees with Redis")
	}
}

// Ensure bad arguments are rejected before touching Redis.
func TestRejectsBadArguments(t *testing.T) {
	ctx := context.Background()
	l := jobstate.NewLedger(redistest.Client(t), "")
	good := jobstate.IdemKey(seller, "k")
	tests := []struct {
		desc string
		keys []jobstate.Key
		job  string
	}{
		{"NoKeys", nil, "j"},
		{"EmptyJob", []jobstate.Key{good}, ""},
		{"TwoSellers", []jobstate.Key{good, jobstate.IdemKey("OTHER", "k")}, "j"},
		{"EmptySeller", []jobstate.Key{jobstate.IdemKey("", "k")}, "j"},
		{"BraceInSeller", []jobstate.Key{jobstate.IdemKey("A{1}", "k")}, "j"},
		{"NoOrder", []jobstate.Key{jobstate.OrderKey(seller, "", "t")}, "j"},
		{"NoType", []jobstate.Key{jobstate.OrderKey(seller, order, "")}, "j"},
		{"ColonInOrder", []jobstate.Key{jobstate.OrderKey(seller, "1:2", "t")}, "j"},
		{"BothKinds", []jobstate.Key{{Seller: seller, Order: order, Type: "t", IdempotencyKey: "k"}}, "j"},
		{"Empty", []jobstate.Key{{}}, "j"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := l.Claim(ctx, tc.keys, tc.job, stale)
			require.ErrorIs(t, err, jobstate.ErrInvalid)
			require.ErrorIs(t, l.Commit(ctx, tc.keys, tc.job, "r"), jobstate.ErrInvalid)
			require.ErrorIs(t, l.Release(ctx, tc.keys, tc.job), jobstate.ErrInvalid)
			require.ErrorIs(t, l.MarkInDoubt(ctx, tc.keys, tc.job), jobstate.ErrInvalid)
		})
	}
	_, err := l.Claim(ctx, []jobstate.Key{good}, "j", 0)
	require.ErrorIs(t, err, jobstate.ErrInvalid, "staleAfter must be positive")
	_, _, err = l.Get(ctx, jobstate.Key{})
	require.ErrorIs(t, err, jobstate.ErrInvalid)
}
