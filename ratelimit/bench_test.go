package ratelimit_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/ratelimit"
)

// roundTrips is a go-redis hook counting commands sent by the client.
type roundTrips struct{ n atomic.Int64 }

var _ redis.Hook = (*roundTrips)(nil)

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// serverCommands sums the calls in INFO commandstats (commands run by Lua
// scripts included), leaving out INFO itself.
func serverCommands(tb testing.TB, rdb *redis.Client) int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	require.NoError(tb, err)
	var total int64
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		require.NoError(tb, err)
		total += n
	}
	return total
}

// backlog books n more jobs (half campaign, half transactional) for k.
func backlog(tb testing.TB, l *ratelimit.Limiter, k ratelimit.Key, from, n int) {
	tb.Helper()
	for i := from; i < from+n; i++ {
		_, err := l.Reserve(context.Background(), k, ratelimit.Class(i%2), fmt.Sprint("backlog-", i), messaging)
		require.NoError(tb, err)
	}
}

// cost measures n fresh reservations: Redis commands (server side) and
// client round trips per reservation.
func cost(tb testing.TB, rdb *redis.Client, hook *roundTrips, l *ratelimit.Limiter, k ratelimit.Key, tag string, n int) (cmds, trips float64) {
	tb.Helper()
	before, rt := serverCommands(tb, rdb), hook.n.Load()
	for i := range n {
		_, err := l.Reserve(context.Background(), k, ratelimit.Class(i%2), fmt.Sprint(tag, "-", i), messaging)
		require.NoError(tb, err)
	}
	trips = float64(hook.n.Load()-rt) / float64(n)
	cmds = float64(serverCommands(tb, rdb)-before) / float64(n)
	return cmds, trips
}

// Ensure Redis work per reservation does not grow with the backlog.
func TestReserveCostIsFlat(t *testing.T) {
	rdb := redistest.Client(t)
	hook := &roundTrips{}
	rdb.AddHook(hook)
	l := ratelimit.New(rdb, ratelimit.Options{})
	k := ratelimit.Key{Seller: "A1", Operation: "op"}

	backlog(t, l, k, 0, 1000)
	cmds1k, trips1k := cost(t, rdb, hook, l, k, "at1k", 200)
	backlog(t, l, k, 1000, 19000)
	cmds20k, trips20k := cost(t, rdb, hook, l, k, "at20k", 200)
	t.Logf("per reservation: %.2f Redis commands, %.2f round trips at 1,000 booked; %.2f and %.2f at 20,000",
		cmds1k, trips1k, cmds20k, trips20k)
	assert.InDelta(t, cmds1k, cmds20k, 0.001)
	assert.InDelta(t, 1, trips1k, 0.001)
	assert.InDelta(t, 1, trips20k, 0.001)
}

// BenchmarkReserve books fresh reservations (alternating transactional and
// campaign) on a seller that already holds 1,000 or 20,000 reserved jobs,
// and reports Redis commands (INFO commandstats, Lua calls included) and
// client round trips per reservation. Both must stay flat.
func BenchmarkReserve(b *testing.B) {
	rdb := redistest.Client(b)
	hook := &roundTrips{}
	rdb.AddHook(hook)
	l := ratelimit.New(rdb, ratelimit.Options{})
	booked, seq := 0, 0
	for _, size := range []int{1000, 20000} {
		k := ratelimit.Key{Seller: "A1", Operation: "op"}
		backlog(b, l, k, booked, size-booked)
		booked = size
		b.Run(fmt.Sprint("Backlog", size), func(b *testing.B) {
			cmds0, rt0 := serverCommands(b, rdb), hook.n.Load()
			b.ResetTimer()
			for i := range b.N {
				seq++
				_, err := l.Reserve(context.Background(), k, ratelimit.Class(i%2), fmt.Sprint("bench-", seq), messaging)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			trips := float64(hook.n.Load()-rt0) / float64(b.N)
			cmds := float64(serverCommands(b, rdb)-cmds0) / float64(b.N)
			b.ReportMetric(cmds, "rediscmds/op")
			b.ReportMetric(trips, "roundtrips/op")
		})
	}
}
