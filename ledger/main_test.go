package ledger_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// startCluster starts a private single-node Redis Cluster (all 16384 slots
// on one node) and returns a cluster client for it. Scripts that touch keys
// of several slots fail there with CROSSSLOT.
func startCluster(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	ctx := context.Background()
	srv := redistest.Start(tb, redistest.Options{Args: []string{"--cluster-enabled", "yes"}})
	node := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer node.Close()
	require.NoError(tb, node.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err())
	require.Eventually(tb, func() bool {
		info, err := node.ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	}, 10*time.Second, 20*time.Millisecond)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr}})
	tb.Cleanup(func() { _ = cc.Close() })
	require.NoError(tb, cc.Ping(ctx).Err())
	return cc
}

// keySlot is Redis Cluster's key-to-slot mapping: CRC16 (XMODEM) of the
// hash tag (between the first '{' and the next '}', when not empty) or of
// the whole key, modulo 16384.
func keySlot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}
