package quota_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/quota"
	"github.com/spmsg/spmsg/internal/redistest"
)

func TestUse(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var times []time.Time
	for i := range 25 { // 5 at once, then 20 at 10/s: exactly the bucket
		at := t0
		if i >= 5 {
			at = t0.Add(time.Duration(i-4) * 100 * time.Millisecond)
		}
		times = append(times, at)
	}
	times[0], times[24] = times[24], times[0] // order does not matter
	u := quota.Use(times, 10, 5)
	assert.Equal(t, 25, u.Sent)
	assert.Equal(t, 2*time.Second, u.Elapsed)
	assert.InDelta(t, 25, u.Allowed, 1e-9)
	assert.InDelta(t, 1, u.Ratio, 1e-9)
	assert.Equal(t, quota.Usage{}, quota.Use(nil, 10, 5))
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 50; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 50*time.Millisecond, quota.Percentile(ds, 99), "nearest rank: p99 of 50 is the largest")
	assert.Equal(t, 25*time.Millisecond, quota.Percentile(ds, 50))
	assert.Equal(t, 1*time.Millisecond, quota.Percentile(ds, 1))
	assert.Equal(t, 50*time.Millisecond, ds[0], "input left unsorted")
	assert.Zero(t, quota.Percentile(nil, 99))
}

// Ensure the command counts agree with what was sent: the hook counts the
// client's commands (a pipeline's one by one), INFO commandstats the
// server's.
func TestCommandCounts(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	c := &quota.Counter{}
	rdb.AddHook(c)
	round := func() {
		require.NoError(t, rdb.Set(ctx, "quota:k", "1", 0).Err())
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, "quota:k")
			p.Incr(ctx, "quota:k")
			return nil
		})
		require.NoError(t, err)
	}
	round() // opens the connections (their handshakes count too)
	before, err := quota.CommandStats(ctx, rdb)
	require.NoError(t, err)
	n0 := c.Load()
	round()
	assert.Equal(t, int64(3), c.Load()-n0)
	after, err := quota.CommandStats(ctx, rdb)
	require.NoError(t, err)
	d, total := quota.Delta(before, after)
	assert.Equal(t, map[string]int64{"set": 1, "incr": 2, "info": 1}, d, "the first INFO counts itself")
	assert.Equal(t, int64(4), total)
}
