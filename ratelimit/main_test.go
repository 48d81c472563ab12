package ratelimit_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/ratelimit"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// messaging is Amazon's default plan for Messaging operations.
var messaging = ratelimit.Limit{Rate: 1, Burst: 5} //nolint:gochecknoglobals // immutable test fixture

// mustReserve reserves and fails the test on error.
func mustReserve(tb testing.TB, l *ratelimit.Limiter, k ratelimit.Key, c ratelimit.Class, job string, lim ratelimit.Limit) ratelimit.Reservation {
	tb.Helper()
	r, err := l.Reserve(context.Background(), k, c, job, lim)
	require.NoError(tb, err)
	return r
}

// startCluster starts a private single-node Redis Cluster (all 16384 slots
// on one node) and returns a cluster client for it. Scripts that touch keys
// of several slots fail there with CROSSSLOT.
func startCluster(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	return redistest.NewClusterClient(tb, redistest.StartCluster(tb, 1))
}

func keySlot(key string) uint16 { return redistest.KeySlot(key) }
