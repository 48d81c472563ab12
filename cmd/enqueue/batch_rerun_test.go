package main

import (
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

	// End every job as a worker would: record the outcome, drop the task.
	opt, err := redis.ParseURL(f.env["REDIS_URL"])
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	outcomes := tasks.NewOutcomeStore(rdb, "", 0)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ended := 0
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){insp.ListPendingTasks, insp.ListScheduledTasks} {
		ts, err := list(tasks.QueueCampaign)
		require.NoError(t, err)
		for _, ti := range ts {
			j, err := tasks.DecodeJob(ti.Payload)
			require.NoError(t, err)
			_, err = outcomes.Finish(ctx, ti.ID, j, tasks.Result{Outcome: tasks.OutcomeSent})
			require.NoError(t, err)
			require.NoError(t, insp.DeleteTask(tasks.QueueCampaign, ti.ID))
			ended++
		}
	}
	require.Equal(t, 3, ended)

	code, sum = f.batchJSON("", f.write("spring-again.jsonl", goodJSONL))
	require.Equal(t, 0, code, sum)
	assert.Equal(t, 0, sum.Accepted)
	assert.Equal(t, 3, sum.Duplicates)
	assert.Empty(t, f.queued())
}
