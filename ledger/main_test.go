package ledger_test

import (
	"os"
	"strings"
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
