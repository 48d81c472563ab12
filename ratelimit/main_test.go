package ratelimit_test

import (
	"context"
	"os"
	"strings"
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

// keySlot is Redis Cluster's key-to-slot mapping: CRC16 (XMODEM) of the
// hash tag (the part between the first '{' and the next '}', when not
// empty) or of the whole key, modulo 16384.
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
