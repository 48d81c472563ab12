package quota

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Usage is how much of a token-bucket quota a run of calls used.
type Usage struct {
	// Sent is the number of calls.
	Sent int
	// Elapsed is the time from the first call to the last.
	Elapsed time.Duration
	// Allowed is the most calls the bucket admits in Elapsed when it starts
	// full: Burst + Rate x Elapsed.
	Allowed float64
	// Ratio is Sent / Allowed (0 when nothing was sent).
	Ratio float64
}

func (u Usage) String() string {
	return fmt.Sprintf("%d sent in %.2fs of %.1f allowed (%.1f%%)", u.Sent, u.Elapsed.Seconds(), u.Allowed, 100*u.Ratio)
}

// Use measures the calls made at times against a bucket of rate per second
// and burst. times need not be sorted.
func Use(times []time.Time, rate float64, burst int) Usage {
	if len(times) == 0 {
		return Usage{}
	}
	first, last := times[0], times[0]
	for _, t := range times[1:] {
		if t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	u := Usage{Sent: len(times), Elapsed: last.Sub(first)}
	u.Allowed = float64(burst) + rate*u.Elapsed.Seconds()
	u.Ratio = float64(u.Sent) / u.Allowed
	return u
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of ds:
// the smallest value with at least p% of the values at or below it. With
// 50 values, p99 is the largest. It returns 0 for no values.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// CommandStats returns Redis's per-command call counts (INFO
// commandstats): every command the server executed, those run inside Lua
// scripts included, keyed by command name ("evalsha", "hset", ...).
func CommandStats(ctx context.Context, rdb redis.UniversalClient) (map[string]int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("info commandstats: %w", err)
	}
	return parseCommandStats(info)
}

// parseCommandStats parses lines such as
// "cmdstat_evalsha:calls=12,usec=340,usec_per_call=28.33,...".
func parseCommandStats(info string) (map[string]int64, error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(f, "=")
			if k != "calls" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("commandstats %s: %v", name, err)
			}
			out[strings.TrimPrefix(name, "cmdstat_")] = n
		}
	}
	return out, sc.Err()
}

// Delta returns after - before per command and the total of the deltas.
func Delta(before, after map[string]int64) (map[string]int64, int64) {
	d := map[string]int64{}
	var total int64
	for k, v := range after {
		if n := v - before[k]; n != 0 {
			d[k] = n
			total += n
		}
	}
	return d, total
}

// Counter is a go-redis hook that counts the commands a client sends (a
// pipeline counts each command in it; a script call counts once; a new
// connection's handshake, HELLO and CLIENT SETINFO, counts too). Add it
// with AddHook to the client that the worker, asynq and the producer share
// to count their round trips' commands.
type Counter struct{ n atomic.Int64 }

var _ redis.Hook = (*Counter)(nil)

// Load returns the number of commands sent so far.
func (c *Counter) Load() int64 { return c.n.Load() }

// DialHook implements redis.Hook.
func (c *Counter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (c *Counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (c *Counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}
