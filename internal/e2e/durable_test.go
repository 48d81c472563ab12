package e2e_test

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
)

// Ensure a burst of sends through worker processes that accept no Redis
// risk, on Redis with appendfsync always (what Redis 7.0 can make durable),
// survives Redis being SIGKILLed mid-burst and restarted from its AOF: no
// message reaches the sandbox twice, every accepted job has one final
// outcome, nothing is left in asynq, and the workers ran with the durability
// check passed (no warning, "redis durability" logged).
//
// Jobs whose asynq acknowledgement was lost in the crash come back only when
// asynq's recoverer looks (up to about 2 minutes; see
// TestCrashAndRedisRestart), hence the long deadline.
func TestRedisKilledMidBurstAlways(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	d := newDeployment(t, srv.URL(), 5, sandbox.Config{Seed: 11,
		// 100 ms per call keeps sends in flight when Redis dies.
		Faults: sandbox.Faults{Latency: 100 * time.Millisecond}})
	d.strictRedis = true
	for range 2 {
		d.startWorker(40)
	}
	require.Len(t, d.grepLogs(`"msg":"redis durability"`), 2, "each worker logs what it confirms")
	require.Empty(t, d.grepLogs(`"level":"WARN"`), "an appendfsync always Redis gives no warning")

	all := d.enqueue(d.mixedJobs("durable", 24)...)
	d.waitSent(int64(len(all))/3, 60*time.Second)
	srv.Kill()
	killedAt := d.sb.Stats().Sent
	require.NoError(t, srv.Restart())
	d.waitHealthy(30 * time.Second)
	t.Logf("Redis SIGKILLed after %d of %d sends and restarted from its AOF", killedAt, len(all))

	p := d.waitFinal(campaigns(all), int64(len(all)), 170*time.Second)
	t.Logf("all %d jobs final: %s", len(all), p)
	recs, missing := d.records(all)
	require.Empty(t, missing, "jobs lost in the crash")
	d.assertEveryJobFinal(t, all, recs)

	counts := sentCounts(d.sb.Sent())
	assertNoneTwice(t, counts)
	for _, a := range all {
		r := recs[a.id]
		if r == nil {
			continue
		}
		switch r.Outcome {
		case jobstate.OutcomeSent:
			assert.Equal(t, 1, counts[keyOf(a.job)], "job %s ended sent, so the sandbox must have it once", a.id)
		case jobstate.OutcomeUnconfirmed:
			assert.LessOrEqual(t, counts[keyOf(a.job)], 1, a.id)
		default:
			t.Errorf("job %s ended %s/%s: %s (only sent or unconfirmed are possible here)", a.id, r.Outcome, r.Reason, r.Message)
		}
	}
	assert.Zero(t, d.sb.Stats().Violations, "requests that break Amazon's models")
}

// Ensure a worker refuses to start on appendfsync everysec with this
// machine's Redis 7.0 (no WAITAOF: nothing can confirm a write is on
// disk), exiting 1 with an error naming appendfsync, its fix and the flag
// that overrides it, and starts when that risk is accepted.
func TestWorkerRefusesEverysecWithoutWAITAOF(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true, Args: []string{"--appendfsync", "everysec"}})
	d := newDeployment(t, srv.URL(), 1, sandbox.Config{Seed: 12})
	d.strictRedis = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBin)
	cmd.Env = d.workerEnv(5)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the worker must exit on its own: %v\n%s", err, out)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, string(out), "appendfsync everysec on Redis 7.0")
	assert.Contains(t, string(out), "set appendfsync always, or use Redis >= 7.2")
	assert.Contains(t, string(out), "--accept-redis-risk")
	assert.NotContains(t, string(out), lwaClientSecret)
	assert.NotContains(t, string(out), "worker started")

	d.strictRedis = false
	d.startWorker(5)
	assert.NotEmpty(t, d.grepLogs("appendfsync everysec on Redis 7.0"), "the accepted risk is logged as a warning")
}
