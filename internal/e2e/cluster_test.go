package e2e_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/sandbox"
)

// Ensure the multi-process scenario works on a 3-node Redis Cluster, with
// REDIS_URL=redis-cluster://host:port,... for the workers and the
// producer: every job sent once, within quota, and no CROSSSLOT error
// anywhere (asynq's queues, the limiter, the ledger and the outcome store
// each keep one hash tag per script; the outcome store's id->campaign
// pointer lives in another slot and is written in the same pipeline), also
// after every node dropped its script cache mid-run.
func TestRedisCluster(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	d := newDeployment(t, redistest.ClusterURL(addrs), 10, sandbox.Config{Seed: 3})
	cc, ok := d.rdb.(*redis.ClusterClient)
	require.True(t, ok, "REDIS_URL %s must give a cluster client, got %T", d.redisURL, d.rdb)

	ctx := context.Background()
	runAllSentScenario(t, d, "cluster", 20, 3, func() {
		// Every node forgets its scripts (as after a restart or a
		// failover to a fresh replica): pipelined EVALSHA calls get
		// NOSCRIPT and must fall back, on every node.
		require.NoError(t, cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.ScriptFlush(ctx).Err()
		}))
	})

	assert.Empty(t, d.grepLogs("CROSSSLOT"), "CROSSSLOT errors in the workers' logs")
	assert.Empty(t, d.grepLogs("MOVED"), "redirections surfaced as errors")
	// The pipeline that records an accepted job really spans nodes: the
	// job's record (campaign hash tag) and its id pointer (untagged) live
	// on different masters for some jobs.
	spans := 0
	for _, j := range d.mixedJobs("cluster", 20) {
		rec, err := cc.MasterForKey(ctx, "spmsg:{c:"+j.Campaign+"}:job:"+j.ID())
		require.NoError(t, err)
		ref, err := cc.MasterForKey(ctx, "spmsg:jobref:"+j.ID())
		require.NoError(t, err)
		if rec.Options().Addr != ref.Options().Addr {
			spans++
		}
		n, err := cc.Exists(ctx, "spmsg:jobref:"+j.ID()).Result()
		require.NoError(t, err)
		assert.EqualValues(t, 1, n, "the id pointer of %s must be written", j.ID())
	}
	assert.Positive(t, spans, "no job's record and pointer were on different nodes")
}
