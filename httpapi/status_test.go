package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

// Ensure GET /v1/messages/{id} follows a job from pending to its final
// outcome, and 404s an unknown id.
func TestGetMessage(t *testing.T) {
	f := newFixture(t)
	a := f.post("/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x","campaign":"spring"`))
	require.Equal(t, http.StatusAccepted, a.status)
	var r itemResult
	a.decode(t, &r)
	assert.Equal(t, "campaign", r.Queue)

	a = f.get("/v1/messages/" + r.ID)
	require.Equal(t, http.StatusOK, a.status)
	m := a.fields(t)
	assert.Equal(t, "pending", m["state"])
	assert.Equal(t, r.ID, m["id"])
	assert.Equal(t, "spring", m["campaign"])
	assert.NotContains(t, m, "finished_at")
	assert.NotContains(t, m, "outcome")
	assert.Contains(t, m, "enqueued_at")

	j, errs := tasks.ParseJobJSON([]byte(jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x","campaign":"spring"`)))
	require.Empty(t, errs)
	_, err := f.outcomes.Finish(context.Background(), j.Ref(r.ID), jobstate.Result{Outcome: jobstate.OutcomeFailed, Reason: "amazon_rejected",
		Code: "InvalidInput", Message: "bad order", RequestID: "req-1"})
	require.NoError(t, err)
	a = f.get("/v1/messages/" + r.ID)
	require.Equal(t, http.StatusOK, a.status)
	m = a.fields(t)
	assert.Equal(t, "final", m["state"])
	assert.Equal(t, "failed", m["outcome"])
	assert.Equal(t, "InvalidInput", m["code"])
	assert.Equal(t, "req-1", m["request_id"])
	assert.Contains(t, m, "finished_at")

	a = f.get("/v1/messages/j_0000")
	assert.Equal(t, http.StatusNotFound, a.status)
	assert.Contains(t, a.fields(t)["error"], "not found")
}

// Ensure GET /v1/campaigns/{name} answers what `enqueue status --campaign
// NAME --json` prints (the OutcomeStore's report).
func TestGetCampaign(t *testing.T) {
	f := newFixture(t)
	a := f.post("/v1/messages", "["+jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x","campaign":"spring sale/2026"`)+","+
		jobJSON("111-1111111-0000002", "confirmOrderDetails", `"text":"x","campaign":"spring sale/2026"`)+","+
		jobJSON("111-1111111-0000003", "confirmOrderDetails", `"text":"x","campaign":"spring sale/2026"`)+"]")
	require.Equal(t, http.StatusMultiStatus, a.status)
	var ans batchAnswer
	a.decode(t, &ans)
	j, _ := tasks.ParseJobJSON([]byte(jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x","campaign":"spring sale/2026"`)))
	_, err := f.outcomes.Finish(context.Background(), j.Ref(ans.Results[0].ID), jobstate.Result{Outcome: jobstate.OutcomeSent})
	require.NoError(t, err)
	_, err = f.outcomes.Finish(context.Background(), j.Ref(ans.Results[1].ID), jobstate.Result{Outcome: jobstate.OutcomeUnconfirmed, Reason: "answer_lost"})
	require.NoError(t, err)

	a = f.get("/v1/campaigns/spring%20sale%2F2026")
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	rep, err := f.outcomes.Campaign(context.Background(), "spring sale/2026", 100)
	require.NoError(t, err)
	want, err := json.Marshal(rep)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(a.body))
	m := a.fields(t)
	assert.EqualValues(t, 3, m["total"])
	assert.EqualValues(t, 1, m["pending"])
	assert.EqualValues(t, 1, m["outcomes"].(map[string]any)["sent"])
	assert.Len(t, m["problems"], 1)

	a = f.get("/v1/campaigns/spring%20sale%2F2026?problems=0")
	require.Equal(t, http.StatusOK, a.status)
	assert.Empty(t, a.fields(t)["problems"])

	a = f.get("/v1/campaigns/nosuch")
	require.Equal(t, http.StatusOK, a.status)
	assert.EqualValues(t, 0, a.fields(t)["total"])

	for _, bad := range []string{"x", "-1", "1001"} {
		a = f.get("/v1/campaigns/spring?problems=" + bad)
		assert.Equal(t, http.StatusBadRequest, a.status, bad)
	}
}
