package jobstate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/keyspace"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
)

// One attempt's calls on a real Redis: what Begin reads back of each
// thing an earlier attempt can leave, and what Settle and Undo leave.
func TestStoreAttempt(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	st := jobstate.New(rdb, dispatch.New(rdb, dispatch.Options{}), 0)
	job := jobstate.Ref{ID: "j_1", Campaign: "spring", Seller: seller, Order: order, Type: "productReviewAndSellerFeedback"}
	keys := []jobstate.Key{jobstate.OrderKey(seller, order, job.Type)}

	_, _, err := st.Outcomes.Accept(ctx, job)
	require.NoError(t, err)
	p, err := st.Begin(ctx, job, keys)
	require.NoError(t, err)
	assert.False(t, p.Final)
	assert.Equal(t, jobstate.MarkNone, p.Mark)
	assert.False(t, p.HasEntry)
	assert.WithinDuration(t, time.Now(), p.Enqueued, time.Minute)

	// Claimed and marked: a twin attempt sees both; the mark is busy.
	res, err := st.Claim(ctx, job, keys, stale)
	require.NoError(t, err)
	require.Equal(t, jobstate.Claimed, res.Status)
	m, _, err := st.MarkSending(ctx, job, "n1")
	require.NoError(t, err)
	require.Equal(t, jobstate.MarkAcquired, m)
	m, _, err = st.MarkSending(ctx, job, "n2")
	require.NoError(t, err)
	assert.Equal(t, jobstate.MarkBusy, m, "another attempt's mark")
	p, err = st.Begin(ctx, job, keys)
	require.NoError(t, err)
	assert.Equal(t, jobstate.MarkBusy, p.Mark)
	assert.True(t, p.HasEntry)
	assert.Equal(t, jobstate.EntryClaimed, p.Entry.State)
	assert.Equal(t, job.ID, p.Entry.JobID)

	// Undo gives both back; the mark only to its own attempt.
	require.NoError(t, st.Undo(ctx, job, keys, "n2"))
	p, err = st.Begin(ctx, job, keys)
	require.NoError(t, err)
	assert.Equal(t, jobstate.MarkBusy, p.Mark, "another attempt's undo leaves the mark")
	assert.False(t, p.HasEntry, "the claims are given back")
	require.NoError(t, st.Undo(ctx, job, keys, "n1"))
	p, err = st.Begin(ctx, job, keys)
	require.NoError(t, err)
	assert.Equal(t, jobstate.MarkNone, p.Mark)
	assert.False(t, p.HasEntry)

	// A mark older than MarkStaleAfter is stale: its attempt died.
	ks := keyspace.New("")
	old := time.Now().Add(-2 * jobstate.MarkStaleAfter).UnixMicro()
	require.NoError(t, rdb.Set(ctx, ks.SendMark(job.Campaign, job.ID), fmt.Sprintf("dead|%d", old), time.Hour).Err())
	p, err = st.Begin(ctx, job, keys)
	require.NoError(t, err)
	assert.Equal(t, jobstate.MarkStale, p.Mark)
	m, _, err = st.MarkSending(ctx, job, "n3")
	require.NoError(t, err)
	assert.Equal(t, jobstate.MarkStale, m)
	require.NoError(t, rdb.Del(ctx, ks.SendMark(job.Campaign, job.ID)).Err())

	// Sent: the ledger is committed, the record final, the mark gone.
	_, err = st.Claim(ctx, job, keys, stale)
	require.NoError(t, err)
	_, _, err = st.MarkSending(ctx, job, "n4")
	require.NoError(t, err)
	first, err := st.Settle(ctx, job, keys, jobstate.Result{Outcome: jobstate.OutcomeSent, Reason: jobstate.ReasonSent, RequestID: "req-1"}, "n4")
	require.NoError(t, err)
	assert.True(t, first)
	p, err = st.Begin(ctx, job, keys)
	require.NoError(t, err)
	assert.True(t, p.Final)
	assert.Equal(t, jobstate.EntrySent, p.Entry.State)
	assert.Equal(t, "req-1", p.Entry.RequestID)
	n, err := rdb.Exists(ctx, ks.SendMark(job.Campaign, job.ID)).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the mark went with the record")
	first, err = st.Settle(ctx, job, keys, jobstate.Result{Outcome: jobstate.OutcomeFailed, Reason: jobstate.ReasonInvalidJob}, "")
	require.NoError(t, err)
	assert.False(t, first, "the outcome is written once")
	m, _, err = st.MarkSending(ctx, job, "n5")
	require.NoError(t, err)
	assert.Equal(t, jobstate.MarkFinal, m)

	// Another job of the same order reads the sent entry first, above its
	// own claim on another key.
	twin := jobstate.Ref{ID: "j_2", Seller: seller, Order: order, Type: job.Type}
	idem := jobstate.IdemKey(seller, "k-2")
	_, err = st.Claim(ctx, twin, []jobstate.Key{idem}, stale)
	require.NoError(t, err)
	p, err = st.Begin(ctx, twin, []jobstate.Key{idem, keys[0]})
	require.NoError(t, err)
	assert.Equal(t, jobstate.EntrySent, p.Entry.State)
	assert.Equal(t, job.ID, p.Entry.JobID)

	// Unconfirmed marks the keys in doubt; any other outcome gives the
	// job's claims back.
	_, err = st.Settle(ctx, twin, []jobstate.Key{idem}, jobstate.Result{Outcome: jobstate.OutcomeFailed, Reason: jobstate.StepSend.Rejected()}, "")
	require.NoError(t, err)
	_, ok, err := st.Ledger.Get(ctx, idem)
	require.NoError(t, err)
	assert.False(t, ok, "a failed job's claim is given back")
	third := jobstate.Ref{ID: "j_3", Seller: seller, Order: "111-0000000-0000003", Type: job.Type}
	k3 := []jobstate.Key{jobstate.OrderKey(seller, third.Order, third.Type)}
	_, err = st.Claim(ctx, third, k3, stale)
	require.NoError(t, err)
	_, err = st.Settle(ctx, third, k3, jobstate.Result{Outcome: jobstate.OutcomeUnconfirmed, Reason: jobstate.ReasonAnswerLost}, "")
	require.NoError(t, err)
	e, _, err := st.Ledger.Get(ctx, k3[0])
	require.NoError(t, err)
	assert.Equal(t, jobstate.EntryInDoubt, e.State)
}
