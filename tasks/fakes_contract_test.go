package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

// The fake store that TestAttemptPhases runs on answers like the real one
// (jobstate.Store on Redis): the same script of calls gives the same
// answers on both.
func TestFakeStoreAnswersLikeJobstate(t *testing.T) {
	rdb := redistest.Client(t)
	real := jobstate.New(rdb, dispatch.New(rdb, dispatch.Options{}), 0)
	assert.Equal(t, storeScript(t, newFakeStore()), storeScript(t, real))
}

// storeScript runs one attempt's calls, and its twins', on st and
// returns what st answered, a line per call.
func storeScript(t *testing.T, st tasks.Store) []string {
	ctx := context.Background()
	var out []string
	say := func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) }
	ref := func(id string) jobstate.Ref {
		return jobstate.Ref{ID: id, Seller: sellerNA, Order: "111-0000001-0000001", Type: "productReviewAndSellerFeedback"}
	}
	keys := []jobstate.Key{orderKey("111-0000001-0000001")}
	begin := func(id string) {
		p, err := st.Begin(ctx, ref(id), keys)
		require.NoError(t, err)
		say("begin %s: final=%v mark=%v entry=%v %s/%s", id, p.Final, p.Mark, p.HasEntry, p.Entry.State, p.Entry.JobID)
	}
	claim := func(id string) {
		r, err := st.Claim(ctx, ref(id), keys, stale)
		require.NoError(t, err)
		say("claim %s: %v %s/%s", id, r.Status, r.Entry.State, r.Entry.JobID)
	}
	mark := func(id, nonce string) {
		m, _, err := st.MarkSending(ctx, ref(id), nonce)
		require.NoError(t, err)
		say("mark %s %s: %v", id, nonce, m)
	}
	settle := func(id string, o jobstate.Outcome, nonce string) {
		first, err := st.Settle(ctx, ref(id), keys, jobstate.Result{Outcome: o, Reason: "r"}, nonce)
		require.NoError(t, err)
		say("settle %s %s: first=%v", id, o, first)
	}

	begin("j1")
	claim("j1")
	claim("j2")
	mark("j1", "n1")
	mark("j1", "n2")
	begin("j1")
	require.NoError(t, st.Undo(ctx, ref("j1"), keys, "n2")) // not j1's mark: it stays
	begin("j1")
	require.NoError(t, st.Undo(ctx, ref("j1"), keys, "n1"))
	begin("j1")
	claim("j1")
	mark("j1", "n3")
	claim("j1") // a redelivery of the same job
	settle("j1", jobstate.OutcomeSent, "n3")
	begin("j1")
	settle("j1", jobstate.OutcomeFailed, "")
	mark("j1", "n4")
	begin("j2")
	claim("j2")
	settle("j2", jobstate.OutcomeSkippedDuplicate, "")
	begin("j2")
	settle("j3", jobstate.OutcomeUnconfirmed, "") // a key j1 holds stays j1's
	begin("j3")

	// Another order: a claim given back by a failed job, one settled in
	// doubt, and one older than staleAfter seen by another job.
	keys = []jobstate.Key{orderKey("111-0000002-0000001")}
	claim("k1")
	settle("k1", jobstate.OutcomeFailed, "")
	begin("k1")
	claim("k2")
	mark("k2", "m1")
	settle("k2", jobstate.OutcomeUnconfirmed, "m1")
	begin("k2")
	keys = []jobstate.Key{orderKey("111-0000003-0000001")}
	claim("k3")
	r, err := st.Claim(ctx, ref("k4"), keys, time.Nanosecond)
	require.NoError(t, err)
	say("claim k4, stale after 1ns: %v %s/%s", r.Status, r.Entry.State, r.Entry.JobID)
	_, err = st.Begin(ctx, ref("k5"), []jobstate.Key{{Seller: sellerNA, Order: "111:1", Type: "x"}})
	say("begin with a bad key: invalid=%v", errors.Is(err, jobstate.ErrInvalid))
	return out
}

const stale = 10 * time.Minute
