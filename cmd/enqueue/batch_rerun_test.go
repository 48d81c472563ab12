package main

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

// Ensure the same rows from a renamed file are duplicates also once their
// jobs have ended (asynq no longer holds their tasks, only spmsg's records
// say they ran).
func TestBatchDefaultCampaignRerunAfterTheJobsEnded(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	code, sum := f.batchJSON("", f.write("spring.jsonl", goodJSONL))
	require.Equal(t, 0, code, sum)
	require.Equal(t, 3, sum.Accepted)

	// End every job's record as a worker would (no worker runs here).
	opt, err := redis.ParseURL(f.env["REDIS_URL"])
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	outcomes := jobstate.NewOutcomeStore(rdb, "", 0)
	jobs, err := tasks.NewDispatcher(rdb, dispatch.Options{}).Jobs(ctx)
	require.NoError(t, err)
	ended := 0
	for id, p := range jobs {
		j, err := tasks.DecodeJob(p)
		require.NoError(t, err)
		_, err = outcomes.Finish(ctx, j.Ref(id), jobstate.Result{Outcome: jobstate.OutcomeSent})
		require.NoError(t, err)
		ended++
	}
	require.Equal(t, 3, ended)

	code, sum = f.batchJSON("", f.write("spring-again.jsonl", goodJSONL))
	require.Equal(t, 0, code, sum)
	assert.Equal(t, 0, sum.Accepted)
	assert.Equal(t, 3, sum.Duplicates)
	assert.Len(t, f.queued(), 3, "nothing new joined the lines")
}
