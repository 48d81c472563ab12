package tasks_test

import (
	"context"
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
	settle := func(id string, o jobstate.Outcome, drop bool) {
		first, err := st.Settle(ctx, ref(id), keys, jobstate.Result{Outcome: o, Reason: "r"}, drop)
		require.NoError(t, err)
		say("settle %s %s: first=%v", id, o, first)
	}

	begin("j1")
	claim("j1")
	claim("j2")
	mark("j1", "n1")
	mark("j1", "n2")
	begin("j1")
	require.NoError(t, st.Undo(ctx, ref("j1"), keys, true))
	begin("j1")
	claim("j1")
	mark("j1", "n3")
	claim("j1") // a redelivery of the same job
	settle("j1", jobstate.OutcomeSent, true)
	begin("j1")
	settle("j1", jobstate.OutcomeFailed, false)
	mark("j1", "n4")
	begin("j2")
	claim("j2")
	settle("j2", jobstate.OutcomeSkippedDuplicate, false)
	begin("j2")
	settle("j3", jobstate.OutcomeUnconfirmed, false) // a key j1 holds stays j1's
	begin("j3")
	return out
}

const stale = 10 * time.Minute
