package e2e_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
)

// Ensure three worker processes sharing one Redis send 30 sellers x 40
// jobs (order-pipeline and campaign mixes): every job ends sent, each
// message reaches the sandbox once, no seller goes above its quota (at
// most 1% of calls answered 429; every window of sends within burst +
// rate*w) and no request breaks Amazon's models.
func TestMultiProcess(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	d := newDeployment(t, srv.URL(), 30, sandbox.Config{Seed: 1})
	runAllSentScenario(t, d, "mp", 40, 3, nil)
}

// runAllSentScenario starts workers, enqueues perSeller mixed jobs for
// every seller, waits until all are final and checks that each was sent
// exactly once within quota. With midway set, half the jobs are enqueued
// first and midway runs once the sandbox has seen a sixth of the sends,
// before the other half goes in.
func runAllSentScenario(t *testing.T, d *deployment, prefix string, perSeller, workers int, midway func()) {
	t.Helper()
	t0 := time.Now()
	for range workers {
		d.startWorker(50)
	}
	tStarted := time.Now()
	all := d.mixedJobs(prefix, perSeller)
	var jobs []accepted
	if midway == nil {
		jobs = d.enqueue(all...)
	} else {
		jobs = d.enqueue(all[:len(all)/2]...)
		d.waitSent(int64(len(all)/6), 60*time.Second)
		midway()
		jobs = append(jobs, d.enqueue(all[len(all)/2:]...)...)
	}
	require.Len(t, jobs, perSeller*len(d.sellers))
	tEnqueued := time.Now()
	p := d.waitFinal(campaigns(jobs), int64(len(jobs)), 120*time.Second)
	tFinal := time.Now()
	st := d.sb.Stats()
	t.Logf("%d workers started in %s; %d jobs enqueued in %s; all final %s later (%.1f jobs/s); sandbox: %d requests %v, %d throttled, %d sent",
		workers, tStarted.Sub(t0).Round(time.Millisecond), len(jobs), tEnqueued.Sub(tStarted).Round(time.Millisecond),
		tFinal.Sub(tEnqueued).Round(time.Millisecond), float64(len(jobs))/tFinal.Sub(tEnqueued).Seconds(),
		sum(st.Requests), st.Requests, st.Throttled, st.Sent)

	assert.EqualValues(t, len(jobs), p.outcomes[jobstate.OutcomeSent], "every job must end sent: %s", p)
	recs, missing := d.records(jobs)
	assert.Empty(t, missing, "jobs without a record")
	var notSent []string
	for _, a := range jobs {
		if r := recs[a.id]; r != nil && (r.State != "final" || r.Outcome != jobstate.OutcomeSent) {
			notSent = append(notSent, a.id+" "+r.State+" "+string(r.Outcome)+"/"+string(r.Reason)+" "+r.Message)
		}
	}
	assert.Empty(t, notSent)

	sent := d.sb.Sent()
	assert.Len(t, sent, len(jobs), "the sandbox must see each message once")
	counts := sentCounts(sent)
	var wrong []string
	for _, a := range jobs {
		if n := counts[keyOf(a.job)]; n != 1 {
			wrong = append(wrong, a.job.SellerID+" "+a.job.OrderID+" "+a.job.Type+": sent "+strconv.Itoa(n)+" times")
		}
	}
	assert.Empty(t, wrong)
	assert.Zero(t, st.Violations, "requests that break Amazon's models")
	d.assertFewThrottled(t, 0.01)
	assertWithinQuota(t, sent)

	open, archived, ok := d.queueState()
	assert.True(t, ok)
	assert.Zero(t, open, "asynq tasks still open")
	assert.Zero(t, archived, "asynq tasks archived")
	assert.Empty(t, d.grepLogs(`"level":"ERROR"`), "errors in the workers' logs")
	for _, w := range d.workers {
		b, err := os.ReadFile(w.logPath)
		require.NoError(t, err)
		assert.Positive(t, strings.Count(string(b), `"msg":"job finished"`), "%s finished no job: the work must be shared", w.name)
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
