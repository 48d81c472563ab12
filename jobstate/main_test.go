package jobstate_test

import (
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// startCluster starts a private single-node Redis Cluster (all 16384 slots
// on one node) and returns a cluster client for it. Scripts that touch keys
// of several slots fail there with CROSSSLOT.
func startCluster(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	return redistest.NewClusterClient(tb, redistest.StartCluster(tb, 1))
}

func keySlot(key string) uint16 { return redistest.KeySlot(key) }
