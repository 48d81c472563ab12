package redisguard_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redisguard"
	"github.com/spmsg/spmsg/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// client returns a go-redis client on srv, closed when the test ends.
func client(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Ensure each unsafe setting refuses the server with a message naming the
// setting and its fix, and that AcceptRisk turns the same findings into
// warnings and a working Guard.
func TestCheckRefusesUnsafeSettings(t *testing.T) {
	tests := []struct {
		name    string
		opts    redistest.Options
		setting string
		want    []string
	}{
		{"AOFOff", redistest.Options{}, "appendonly",
			[]string{"AOF is off: set appendonly yes, appendfsync always (or everysec on Redis >= 7.2)"}},
		{"AppendfsyncNo", redistest.Options{AppendOnly: true, Args: []string{"--appendfsync", "no"}}, "appendfsync",
			[]string{"appendfsync is no", "set appendfsync always (or everysec on Redis >= 7.2)"}},
		{"EverysecBefore72", redistest.Options{AppendOnly: true, Args: []string{"--appendfsync", "everysec"}}, "appendfsync",
			[]string{"appendfsync everysec on Redis 7.0", "no WAITAOF", "set appendfsync always, or use Redis >= 7.2"}},
		{"Eviction", redistest.Options{AppendOnly: true, Args: []string{"--maxmemory-policy", "allkeys-lru"}}, "maxmemory-policy",
			[]string{"maxmemory-policy is allkeys-lru", "set maxmemory-policy noeviction"}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, tc.opts)
			c := client(t, srv)
			if tc.name == "EverysecBefore72" {
				v, err := c.Info(ctx, "server").Result()
				require.NoError(t, err)
				require.Contains(t, v, "redis_version:7.0.", "this case assumes the Redis 7.0 of the test machine")
			}
			g, _, err := redisguard.Check(ctx, c, redisguard.Options{})
			require.Error(t, err)
			assert.Nil(t, g)
			var re *redisguard.RiskError
			require.ErrorAs(t, err, &re)
			require.Len(t, re.Problems, 1, "%v", err)
			assert.Equal(t, tc.setting, re.Problems[0].Setting)
			assert.Equal(t, srv.Addr, re.Problems[0].Addr)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}

			g, warnings, err := redisguard.Check(ctx, c, redisguard.Options{AcceptRisk: true})
			require.NoError(t, err)
			require.Len(t, warnings, 1)
			assert.Equal(t, re.Problems[0], warnings[0])
			assert.NoError(t, g.Confirm(ctx), "an accepted risk confirms nothing and never blocks")
		})
	}
}

// Ensure every problem of a server is named at once, not one per restart.
func TestCheckNamesEveryProblem(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory-policy", "volatile-lru"}})
	_, _, err := redisguard.Check(ctx, client(t, srv), redisguard.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AOF is off")
	assert.Contains(t, err.Error(), "maxmemory-policy is volatile-lru")
}

// Ensure a server that forbids CONFIG (renamed away, as managed services
// do) gives a warning naming CONFIG, not a failure, and a Guard that still
// works.
func TestCheckConfigForbiddenIsAWarning(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true, Args: []string{"--rename-command", "CONFIG", ""}})
	c := client(t, srv)
	require.ErrorContains(t, c.ConfigGet(ctx, "appendonly").Err(), "unknown command", "CONFIG must really be gone")
	g, warnings, err := redisguard.Check(ctx, c, redisguard.Options{})
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	assert.Equal(t, "CONFIG", warnings[0].Setting)
	assert.Contains(t, warnings[0].Message, "CONFIG GET is not allowed")
	assert.Contains(t, warnings[0].Message, "no WAITAOF", "Redis 7.0: nothing can confirm the disk")
	require.NoError(t, g.Confirm(ctx))
}

// Ensure Confirm on an appendfsync always server without replicas does
// nothing (Redis answered every write after its fsync) and says so.
func TestConfirmAlwaysIsNoop(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	c := client(t, srv)
	g, warnings, err := redisguard.Check(ctx, c, redisguard.Options{})
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.False(t, g.Needed())
	assert.Contains(t, g.String(), "appendfsync always")
	require.NoError(t, g.Confirm(ctx))
	n, err := c.Exists(ctx, redisguard.DefaultProbeKey).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the no-op path writes nothing")
}

// startReplica starts a replica of master and waits until master counts it.
func startReplica(t *testing.T, master *redistest.Server) *redistest.Server {
	t.Helper()
	host, port, _ := strings.Cut(master.Addr, ":")
	r := redistest.Start(t, redistest.Options{AppendOnly: true, Args: []string{"--replicaof", host, port}})
	mc := client(t, master)
	require.Eventually(t, func() bool {
		info, err := mc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online")
	}, 20*time.Second, 20*time.Millisecond, "replica of %s never came online", master.Addr)
	return r
}

// Ensure that with a replica, Confirm waits for it (WAIT), its probe
// write reaches the replica, and a stopped replica makes Confirm fail with
// a timeout error naming WAIT instead of confirming.
func TestConfirmWaitsForReplica(t *testing.T) {
	ctx := context.Background()
	master := redistest.Start(t, redistest.Options{AppendOnly: true})
	replica := startReplica(t, master)
	// A generous timeout for the confirming half: a busy machine's replica
	// (appendfsync always) may take a while, and speed is not the point.
	c := redis.NewClient(&redis.Options{Addr: master.Addr, ReadTimeout: time.Minute})
	t.Cleanup(func() { _ = c.Close() })
	g, warnings, err := redisguard.Check(ctx, c, redisguard.Options{Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Empty(t, warnings)
	require.True(t, g.Needed())
	assert.Contains(t, g.String(), "WAIT 1")

	require.NoError(t, c.Set(ctx, "ledger", "claimed", 0).Err())
	require.NoError(t, g.Confirm(ctx))
	// WAIT returned, so the replica has the write made before Confirm.
	got, err := client(t, replica).Get(ctx, "ledger").Result()
	require.NoError(t, err)
	assert.Equal(t, "claimed", got)

	replica.Stop()
	short, _, err := redisguard.Check(ctx, client(t, master), redisguard.Options{Timeout: 300 * time.Millisecond, Replicas: 1})
	require.NoError(t, err)
	err = short.Confirm(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WAIT on "+master.Addr)
	assert.Contains(t, err.Error(), "0 of 1 replicas")
}

// Ensure Options.Replicas asks for more replicas than are connected, and
// Confirm then refuses.
func TestConfirmReplicasOption(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	g, _, err := redisguard.Check(ctx, client(t, srv), redisguard.Options{Replicas: 1, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	require.ErrorContains(t, g.Confirm(ctx), "0 of 1 replicas")
}

// Ensure a Timeout the client's read timeout cannot hold is refused with a
// message naming Options.Timeout.
func TestCheckTimeoutAboveReadTimeout(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: time.Second})
	defer c.Close()
	_, _, err := redisguard.Check(ctx, c, redisguard.Options{Timeout: time.Second})
	require.ErrorContains(t, err, "Options.Timeout 1s")
}

// Ensure a cluster is checked on every master: one unsafe master refuses
// the whole cluster, and Confirm (with a replica count asked for) runs on
// every master with a probe key in that master's slots.
func TestCheckCluster(t *testing.T) {
	ctx := context.Background()
	addrs := redistest.StartCluster(t, 3)
	cc := redistest.NewClusterClient(t, addrs)
	_, _, err := redisguard.Check(ctx, cc, redisguard.Options{})
	var re *redisguard.RiskError
	require.ErrorAs(t, err, &re)
	var where []string
	for _, p := range re.Problems {
		if p.Setting == "appendonly" {
			where = append(where, p.Addr)
		}
	}
	assert.ElementsMatch(t, addrs, where, "every master is checked")

	g, warnings, err := redisguard.Check(ctx, cc, redisguard.Options{AcceptRisk: true, Replicas: 1, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.Len(t, warnings, 3)
	err = g.Confirm(ctx)
	require.Error(t, err, "no master has a replica")
	assert.Contains(t, err.Error(), "0 of 1 replicas")
	assert.NotContains(t, err.Error(), "MOVED", "each probe key lives on its own master")
	for _, a := range addrs {
		keys, err := redis.NewClient(&redis.Options{Addr: a}).Keys(ctx, redisguard.DefaultProbeKey+"*").Result()
		require.NoError(t, err)
		assert.Len(t, keys, 1, "master %s got its probe write", a)
	}
}

// BenchmarkConfirm measures one Confirm per path that Redis 7.0 can run:
// appendfsync always without replicas (no-op) and with one replica (probe
// write and WAIT 1, pipelined on one connection). WAITAOF (everysec on
// Redis >= 7.2) cannot run here.
func BenchmarkConfirm(b *testing.B) {
	ctx := context.Background()
	for _, replicas := range []int{0, 1} {
		b.Run("always_replicas="+strconv.Itoa(replicas), func(b *testing.B) {
			master := redistest.Start(b, redistest.Options{AppendOnly: true})
			if replicas > 0 {
				host, port, _ := strings.Cut(master.Addr, ":")
				redistest.Start(b, redistest.Options{AppendOnly: true, Args: []string{"--replicaof", host, port}})
			}
			c := client(b, master)
			require.Eventually(b, func() bool {
				info, err := c.Info(ctx, "replication").Result()
				return err == nil && strings.Contains(info, "connected_slaves:"+strconv.Itoa(replicas)) && (replicas == 0 || strings.Contains(info, "state=online"))
			}, 20*time.Second, 20*time.Millisecond)
			g, _, err := redisguard.Check(ctx, c, redisguard.Options{})
			require.NoError(b, err)
			b.Run("serial", func(b *testing.B) {
				for b.Loop() {
					if err := g.Confirm(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			// As in the worker: many jobs confirm at once, and Redis
			// answers all WAITs pending when a replica acknowledges.
			b.Run("parallel", func(b *testing.B) {
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := g.Confirm(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
