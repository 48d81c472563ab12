package e2e_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/spapi"
)

// assertNoneTwice fails for every message the sandbox recorded more than
// once.
func assertNoneTwice(t testing.TB, counts map[msgKey]int) {
	t.Helper()
	var twice []string
	for k, n := range counts {
		if n > 1 {
			twice = append(twice, fmt.Sprintf("%s %s %s x%d", k.seller, k.order, k.typ, n))
		}
	}
	sort.Strings(twice)
	assert.Empty(t, twice, "messages sent more than once")
}

// assertEveryJobFinal fails for a job whose record is not final and for
// tasks left in asynq (open, or archived without an outcome).
func (d *deployment) assertEveryJobFinal(t testing.TB, all []accepted, recs map[string]*jobstate.Record) {
	t.Helper()
	for _, a := range all {
		if r := recs[a.id]; r != nil {
			assert.Equal(t, "final", r.State, a.id)
		}
	}
	open, archived, ok := d.queueState()
	assert.True(t, ok)
	assert.Zero(t, open, "asynq tasks still open")
	assert.Zero(t, archived, "asynq tasks archived without an outcome")
}

// sentCounts counts the sandbox's recorded messages per (seller, order,
// type).
func sentCounts(sent []sandbox.SentMessage) map[msgKey]int {
	n := map[msgKey]int{}
	for _, m := range sent {
		n[msgKey{m.Seller, m.Order, m.Type}]++
	}
	return n
}

// assertWithinQuota checks, from the sandbox's send timestamps, that no
// seller's operation exceeded Amazon's token bucket (Messaging: 1/s, burst
// 5): in every window [t_i, t_j], at most burst + rate*(t_j - t_i) sends.
// The window check is exact for a token bucket that starts full.
func assertWithinQuota(t testing.TB, sent []sandbox.SentMessage) {
	t.Helper()
	times := map[[2]string][]time.Time{}
	for _, m := range sent {
		k := [2]string{m.Seller, m.Operation}
		times[k] = append(times[k], m.Time)
	}
	const rate, burst = spapi.MessagingRate, spapi.MessagingBurst
	for k, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	window:
		for i := range ts {
			for j := i + burst; j < len(ts); j++ {
				n := float64(j - i + 1)
				if allowed := burst + rate*ts[j].Sub(ts[i]).Seconds(); n > allowed+1e-6 {
					assert.Failf(t, "seller above its quota", "seller %s %s: %.0f sends in %s, at most %.2f allowed",
						k[0], k[1], n, ts[j].Sub(ts[i]), allowed)
					break window
				}
			}
		}
	}
}

// assertFewThrottled checks that at most maxFrac of the SP-API calls were
// answered 429: the shared limiter keeps every worker process within each
// seller's quota. On failure it shows the first 429s with the same seller's
// earlier calls of that operation, which tells a burst after an idle
// stretch from a steady overrun.
func (d *deployment) assertFewThrottled(t testing.TB, maxFrac float64) {
	t.Helper()
	st := d.sb.Stats()
	var calls int64
	for op, n := range st.Requests {
		if op != "s3:PutObject" {
			calls += n
		}
	}
	assert.Positive(t, calls)
	if assert.LessOrEqual(t, float64(st.Throttled), maxFrac*float64(calls),
		"%d of %d SP-API calls were throttled (429)", st.Throttled, calls) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t0 := d.calls[0].at
	shown := 0
	for i, c := range d.calls {
		if c.code != http.StatusTooManyRequests || shown == 5 {
			continue
		}
		shown++
		var prev []string
		for k := i - 1; k >= 0 && len(prev) < 7; k-- {
			if sameSellerOp(d.calls[k].what, c.what) {
				prev = append(prev, fmt.Sprintf("-%s:%d", c.at.Sub(d.calls[k].at).Round(time.Millisecond), d.calls[k].code))
			}
		}
		t.Logf("429 at +%s for %s; the same seller's previous calls of it: %s", c.at.Sub(t0).Round(time.Millisecond), c.what, strings.Join(prev, " "))
	}
}

// sameSellerOp reports whether two request paths are the same operation for
// the same seller: the tests' order ids start with the seller's number.
func sameSellerOp(a, b string) bool {
	norm := func(p string) string {
		for _, part := range strings.Split(p, "/") {
			if len(part) == 19 && part[3] == '-' && part[11] == '-' {
				return part[:3] + " " + strings.ReplaceAll(p, part, "{order}")
			}
		}
		return p
	}
	return norm(a) == norm(b)
}
