package keyspace_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/keyspace"
	"github.com/spmsg/spmsg/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

var incr = keyspace.NewScript(`return redis.call('INCR', KEYS[1])`)

// A script Redis lost (a restart, SCRIPT FLUSH) runs again from its source,
// alone and in a pipeline, and the pipeline's other commands still answer.
func TestScriptSurvivesALostScriptCache(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	ks := keyspace.New("kstest")
	key := ks.Job("c1", "j1")
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	require.EqualValues(t, 1, incr.Run(ctx, rdb, []string{key}).Val())

	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	var got *redis.Cmd
	var missing *redis.StringCmd
	_, err := keyspace.Pipelined(ctx, rdb, func(p keyspace.Pipe) error {
		missing = p.Get(ctx, ks.JobRef("nobody"))
		got = incr.Queue(ctx, p, []string{key})
		return nil
	})
	require.NoError(t, err, "redis.Nil of a GET is no pipeline error")
	require.EqualValues(t, 2, got.Val())
	require.ErrorIs(t, missing.Err(), redis.Nil)
}

// Keys of two hash tags in one script are refused before Redis sees them
// (Redis Cluster would refuse them with CROSSSLOT).
func TestScriptRefusesKeysOfTwoSlots(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	ks := keyspace.New("")
	err := incr.Run(ctx, rdb, []string{ks.Job("a", "1"), ks.Job("b", "1")}).Err()
	require.ErrorContains(t, err, "different hash slots")
	require.NoError(t, incr.Run(ctx, rdb, []string{ks.Job("a", "1"), ks.SendMark("a", "1")}).Err())
	require.NoError(t, incr.Run(ctx, rdb, []string{ks.Shard(3).Due(), ks.Shard(3).Line("S", "op", "t")}).Err())
	require.Equal(t, "spmsg", ks.Prefix())
	require.Error(t, keyspace.New("a{b").Check())
}

// When Redis lost one script of a pipeline, only that script runs again:
// one that Redis still had ran once.
func TestPipelineRunsOnlyLostScriptsAgain(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	ks := keyspace.New("kstest2")
	other := keyspace.NewScript(`return redis.call('INCRBY', KEYS[1], 10)`)
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	require.EqualValues(t, 1, incr.Run(ctx, rdb, []string{ks.Job("a", "1")}).Val(), "incr is cached now; other is not")
	var a, b *redis.Cmd
	_, err := keyspace.Pipelined(ctx, rdb, func(p keyspace.Pipe) error {
		a = incr.Queue(ctx, p, []string{ks.Job("a", "1")})
		b = other.Queue(ctx, p, []string{ks.Job("b", "1")})
		return nil
	})
	require.NoError(t, err)
	assert.EqualValues(t, 2, a.Val(), "the cached script ran once")
	assert.EqualValues(t, 10, b.Val(), "the lost script ran from its source")
}
