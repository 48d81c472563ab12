package ratelimit_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/ratelimit"
)

// Ensure every key carries the seller's hash tag, so one seller's keys share
// one cluster slot, and that records expire.
func TestKeysCarryHashTags(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	l := ratelimit.New(rdb, ratelimit.Options{})
	for _, op := range []string{"createLegalDisclosure", "createUploadDestinationForResource"} {
		k := ratelimit.Key{Seller: "A2EUQ1WTGCTBG2", Operation: op}
		mustReserve(t, l, k, ratelimit.Transactional, "t1", messaging)
		mustReserve(t, l, k, ratelimit.Campaign, "c1", messaging)
		require.NoError(t, l.Observe(ctx, k, 2))
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 6)
	re := regexp.MustCompile(`^spmsg:\{A2EUQ1WTGCTBG2\}:rl:[A-Za-z]+(:job:[a-z0-9]+)?$`)
	want := keySlot("spmsg:{A2EUQ1WTGCTBG2}:rl:x")
	for _, key := range keys {
		assert.Regexp(t, re, key)
		assert.Equal(t, want, keySlot(key), key)
		ttl, err := rdb.PTTL(ctx, key).Result()
		require.NoError(t, err)
		assert.Positive(t, ttl, "%s must expire", key)
	}
}

// Ensure the limiter works on Redis Cluster: every script touches keys of
// one slot only (else Redis answers CROSSSLOT).
func TestReserveOnCluster(t *testing.T) {
	ctx := context.Background()
	cc := startCluster(t)
	l := ratelimit.New(cc, ratelimit.Options{})
	for s := range 5 {
		k := ratelimit.Key{Seller: fmt.Sprint("SELLER", s), Operation: "op"}
		for i := range 8 {
			class := ratelimit.Class(i % 2)
			_, err := l.Reserve(ctx, k, class, fmt.Sprint("j", i), messaging)
			require.NoError(t, err)
		}
		require.NoError(t, l.Observe(ctx, k, 2))
		_, err := l.Effective(ctx, k, messaging)
		require.NoError(t, err)
		require.NoError(t, l.Throttled(ctx, k))
		require.NoError(t, l.Done(ctx, k, "j0"))
		slot, err := cc.ClusterKeySlot(ctx, "spmsg:{SELLER0}:rl:op:job:j1").Result()
		require.NoError(t, err)
		assert.EqualValues(t, keySlot("spmsg:{SELLER0}:rl:op"), slot, "test CRC16 agrees with Redis")
	}
}
