package redistest_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// Ensure the shared helper hands out a real, empty Redis.
func TestClientIsRealAndFlushed(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	info, err := c.Info(ctx, "server").Result()
	require.NoError(t, err)
	require.Contains(t, info, "redis_version:")

	c2 := redistest.Client(t)
	n, err := c2.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Zero(t, n, "second Client must start from a flushed database")
}

// Ensure a private AOF server keeps its data across a restart.
func TestPrivateServerRestartKeepsAOFData(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	opt, err := redis.ParseURL(srv.URL())
	require.NoError(t, err)
	c := redis.NewClient(opt)
	defer c.Close()
	require.NoError(t, c.Set(ctx, "ledger", "sent", 0).Err())

	srv.Kill()
	require.NoError(t, srv.Restart())
	got, err := c.Get(ctx, "ledger").Result()
	require.NoError(t, err)
	require.Equal(t, "sent", got)
}
