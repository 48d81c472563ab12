package e2e_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

// accepted is a job the producer accepted, with its id.
type accepted struct {
	job *tasks.Job
	id  string
}

// orderID is seller s's n-th order (3-7-7 digits).
func orderID(s, n int) string { return fmt.Sprintf("%03d-%07d-%07d", 100+s, n, 4242) }

// mixedJob is seller s's k-th job in a mix of what order pipelines and
// campaigns send: transactional texts (one in five with an idempotency
// key), a campaign text, a campaign invoice with a PDF from the attachment
// store, and a once-per-order feedback request.
func mixedJob(prefix, seller string, s, k int) *tasks.Job {
	j := &tasks.Job{SellerID: seller, MarketplaceID: marketplaceUS, OrderID: orderID(s, k)}
	switch k % 5 {
	case 0:
		j.Type, j.Text = "confirmOrderDetails", "Which colour would you like for order "+j.OrderID+"?"
		j.IdempotencyKey = "details-" + j.OrderID
	case 1:
		j.Type, j.Text = "unexpectedProblem", "Your parcel is delayed by two days. We are sorry."
	case 2:
		j.Type, j.Text, j.Campaign = "confirmDeliveryDetails", "Which day suits you for delivery?", prefix+"-delivery"
	case 3:
		j.Type, j.Campaign = "sendInvoice", prefix+"-invoices"
		j.Attachments = []tasks.Attachment{{Source: invoiceFile, FileName: "invoice-" + j.OrderID + ".pdf"}}
	case 4:
		j.Type, j.Campaign = "negativeFeedbackRemoval", prefix+"-feedback"
	}
	return j
}

// mixedJobs is perSeller mixed jobs for each seller, interleaved across
// sellers the way a pipeline's events arrive.
func (d *deployment) mixedJobs(prefix string, perSeller int) []*tasks.Job {
	var out []*tasks.Job
	for k := range perSeller {
		for s, seller := range d.sellers {
			out = append(out, mixedJob(prefix, seller, s, k))
		}
	}
	return out
}

// enqueue puts jobs through the producer and requires each to be accepted.
func (d *deployment) enqueue(jobs ...*tasks.Job) []accepted {
	d.t.Helper()
	out := make([]accepted, 0, len(jobs))
	for _, j := range jobs {
		res, err := d.producer.Enqueue(context.Background(), j)
		require.NoError(d.t, err, "enqueue %s %s %s", j.SellerID, j.OrderID, j.Type)
		require.Equal(d.t, tasks.StatusAccepted, res.Status, "enqueue %s %s %s: %s", j.SellerID, j.OrderID, j.Type, res.Reason)
		out = append(out, accepted{job: j, id: res.ID})
	}
	return out
}

// campaigns lists the campaign names of jobs ("" for transactional jobs,
// which the outcome store counts under the empty campaign).
func campaigns(jobs []accepted) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range jobs {
		if !seen[a.job.Campaign] {
			seen[a.job.Campaign] = true
			out = append(out, a.job.Campaign)
		}
	}
	sort.Strings(out)
	return out
}

// progress is the outcome store's view of a set of campaigns.
type progress struct {
	total, pending int64
	outcomes       map[jobstate.Outcome]int64
	reasons        map[string]int64
	reports        []*jobstate.CampaignReport
}

func (p progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "total %d pending %d outcomes %v reasons %v", p.total, p.pending, p.outcomes, p.reasons)
	for _, r := range p.reports {
		for _, pr := range r.Problems {
			fmt.Fprintf(&b, "\n  problem %s %s %s: %s/%s %s %s", pr.SellerID, pr.OrderID, pr.Type, pr.Outcome, pr.Reason, pr.Code, pr.Message)
		}
	}
	return b.String()
}

// progressOf reads every campaign's counts; ok is false when Redis did not
// answer (it may be restarting).
func (d *deployment) progressOf(names []string, maxProblems int) (progress, bool) {
	p := progress{outcomes: map[jobstate.Outcome]int64{}, reasons: map[string]int64{}}
	for _, c := range names {
		ctx, cancel := withTimeout()
		rep, err := d.outcomes.Campaign(ctx, c, maxProblems)
		cancel()
		if err != nil {
			return p, false
		}
		p.reports = append(p.reports, rep)
		p.total += rep.Total
		p.pending += rep.Pending
		for o, n := range rep.Outcomes {
			p.outcomes[o] += n
		}
		for r, n := range rep.Reasons {
			p.reasons[r] += n
		}
	}
	return p, true
}

// waitFinal polls the outcome store until the campaigns count want jobs,
// none pending, failing the test (with the sandbox's stats, asynq's queues
// and the workers' logs) after timeout or when a worker dies on its own.
func (d *deployment) waitFinal(names []string, want int64, timeout time.Duration) progress {
	d.t.Helper()
	var last atomic.Pointer[progress] // the last counts read
	require.Eventually(d.t, func() bool {
		if d.deadWorker() != nil {
			return true // checkWorkers fails below
		}
		p, ok := d.progressOf(names, 0)
		if !ok {
			return false // Redis did not answer (it may be restarting)
		}
		last.Store(&p)
		return p.total == want && p.pending == 0
	}, timeout, 250*time.Millisecond, "jobs final within %s: want %d jobs; %s", timeout, want, lazy(func() string {
		open, archived, _ := d.queueState()
		var logs []string
		for _, w := range d.workers {
			logs = append(logs, w.logTail(15))
		}
		var p progress
		if l := last.Load(); l != nil {
			p = *l
		}
		return fmt.Sprintf("%s\nasynq: %d open, %d archived\nsandbox: %+v\n%s", p, open, archived, d.sb.Stats(), strings.Join(logs, "\n"))
	}))
	d.checkWorkers()
	return *last.Load()
}

// waitSent waits until the sandbox recorded at least n messages.
func (d *deployment) waitSent(n int64, timeout time.Duration) {
	d.t.Helper()
	require.Eventually(d.t, func() bool { return d.deadWorker() != nil || d.sb.Stats().Sent >= n }, timeout, 50*time.Millisecond,
		"the sandbox sees %d sends within %s (it saw %s)", n, timeout, lazy(func() string { return fmt.Sprint(d.sb.Stats().Sent) }))
	d.checkWorkers()
}

// records reads every job's record; a job without one is reported by id.
func (d *deployment) records(jobs []accepted) (map[string]*jobstate.Record, []string) {
	recs := map[string]*jobstate.Record{}
	var missing []string
	for _, a := range jobs {
		ctx, cancel := withTimeout()
		rec, err := d.outcomes.Get(ctx, a.id)
		cancel()
		if err != nil {
			missing = append(missing, a.id+" ("+err.Error()+")")
			continue
		}
		recs[a.id] = rec
	}
	return recs, missing
}

// msgKey identifies a message to a buyer: seller, order and canonical type.
type msgKey struct{ seller, order, typ string }

func keyOf(j *tasks.Job) msgKey {
	t, _ := spapi.LookupType(j.Type)
	return msgKey{j.SellerID, j.OrderID, t.Name}
}

func canonical(name string) string {
	t, _ := spapi.LookupType(name)
	return t.Name
}
