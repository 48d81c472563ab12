package redistest_test

import (
	"context"
	"os"
	"strings"
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

// Ensure StartCluster forms a working cluster, with redis-cli for three
// nodes and without it for one, and that cross-slot commands are refused
// as on any Redis Cluster.
func TestStartCluster(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(map[int]string{1: "OneNode", 3: "ThreeNodesWithRedisCLI"}[n], func(t *testing.T) {
			ctx := context.Background()
			addrs := redistest.StartCluster(t, n)
			require.Len(t, addrs, n)
			cc := redistest.NewClusterClient(t, addrs)
			masters := map[string]bool{}
			for i := range 50 {
				key := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
				require.NoError(t, cc.Set(ctx, key, "v", 0).Err())
				m, err := cc.MasterForKey(ctx, key)
				require.NoError(t, err)
				masters[m.Options().Addr] = true
			}
			require.Len(t, masters, n, "keys must spread over every master")
			err := cc.Do(ctx, "MSET", "{a}x", "1", "{b}y", "2").Err()
			require.ErrorContains(t, err, "CROSSSLOT")
			require.Equal(t, "redis-cluster://"+strings.Join(addrs, ","), redistest.ClusterURL(addrs))
		})
	}
}
