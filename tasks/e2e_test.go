package tasks_test

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/tasks"
)

func md5b64(b []byte) string { s := md5.Sum(b); return base64.StdEncoding.EncodeToString(s[:]) }

// Ensure one job of every message type, with attachments from the file
// store and from S3, is sent exactly once, as the sandbox (which checks
// every request against Amazon's models) records it.
func TestEveryTypeEndToEnd(t *testing.T) {
	s := newStack(t, sandbox.Config{Orders: []sandbox.Order{
		{ID: "111-0000000-0000011", Available: []string{"amazonMotors"}},
	}})
	pdf := s.file("invoice.pdf", pdfBytes)
	png := s.file("proof.png", pngBytes)
	s3pdf := s.s3Object("warranty/w.pdf", pdfBytes)
	s3txt := s.s3Object("motors/m.txt", txtBytes)
	start, end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	warranty := job(sellerNA, "111-0000000-0000006", "warranty", "", att(s3pdf, "warranty.pdf"))
	warranty.CoverageStart, warranty.CoverageEnd = &start, &end
	jobs := []*tasks.Job{
		job(sellerNA, "111-0000000-0000001", "confirmCustomizationDetails", "Is this the engraving you want?", att(png, "proof.png")),
		job(sellerNA, "111-0000000-0000002", "confirmDeliveryDetails", "Which day suits you for delivery?"),
		job(sellerNA, "111-0000000-0000003", "legalDisclosure", "", att(pdf, "disclosure.pdf")),
		job(sellerNA, "111-0000000-0000004", "confirmOrderDetails", "Which colour would you like?"),
		job(sellerNA, "111-0000000-0000005", "confirmServiceDetails", "When can our technician come?"),
		warranty,
		job(sellerNA, "111-0000000-0000007", "digitalAccessKey", "Your key is attached.", att("key.txt", "key.txt")),
		job(sellerNA, "111-0000000-0000008", "unexpectedProblem", "Your parcel is delayed by two days."),
		job(sellerNA, "111-0000000-0000009", "invoice", "", att(pdf, "invoice-9.pdf")),
		job(sellerNA, "111-0000000-0000010", "negativeFeedbackRemoval", ""),
		job(sellerNA, "111-0000000-0000011", "amazonMotors", "", att(s3txt, "fitment.txt")),
		job(sellerEU, "222-0000000-0000001", "sendInvoice", "", att(pdf, "rechnung.pdf")),
	}
	s.file("key.txt", txtBytes)
	var ids []string
	for _, j := range jobs {
		ids = append(ids, s.enqueue(j))
	}
	recs := s.wait(60*time.Second, ids...)
	for i, id := range ids {
		assert.Equal(t, jobstate.OutcomeSent, recs[id].Outcome, "%s: %s %s", jobs[i].Type, recs[id].Reason, recs[id].Message)
		assert.NotEmpty(t, recs[id].RequestID)
	}
	st := s.sb.Stats()
	assert.Zero(t, st.Violations, "the sandbox saw requests that break Amazon's models")
	sent := s.sb.Sent()
	require.Len(t, sent, len(jobs), "each message exactly once")
	byOrder := map[string]sandbox.SentMessage{}
	for _, m := range sent {
		byOrder[m.Order] = m
	}
	inv := byOrder["111-0000000-0000009"]
	assert.Equal(t, "invoice", inv.Type)
	require.Len(t, inv.Attachments, 1)
	assert.Equal(t, "invoice-9.pdf", inv.Attachments[0].FileName)
	assert.Equal(t, md5b64(pdfBytes), inv.Attachments[0].MD5)
	w := byOrder["111-0000000-0000006"]
	assert.NotEmpty(t, w.CoverageStart)
	assert.Equal(t, "negativeFeedbackRemoval", byOrder["111-0000000-0000010"].Type)
	assert.Equal(t, "amazonMotors", byOrder["111-0000000-0000011"].Type)
	assert.Equal(t, sellerEU, byOrder["222-0000000-0000001"].Seller)
}

// Ensure unavailable and disabled types are skipped, and content that
// breaks the rules fails for good without reaching Amazon's send.
func TestSkippedAndFailed(t *testing.T) {
	s := newStack(t, sandbox.Config{Orders: []sandbox.Order{
		{ID: "111-0000000-0000100", Available: []string{"confirmOrderDetails"}},
		{ID: "111-0000000-0000101", Available: []string{"unexpectedProblem"}, Disabled: map[string]string{"unexpectedProblem": "order already delivered"}},
	}})
	html := s.file("page.pdf", []byte("<html><body>not a pdf</body></html>"))
	unavailable := s.enqueue(job(sellerNA, "111-0000000-0000100", "confirmDeliveryDetails", "When shall we deliver?"))
	disabled := s.enqueue(job(sellerNA, "111-0000000-0000101", "unexpectedProblem", "Sorry, delayed."))
	badText := s.enqueueRaw(job(sellerNA, "111-0000000-0000102", "confirmOrderDetails", "Mail me at buyer@example.com"))
	badFile := s.enqueueRaw(job(sellerNA, "111-0000000-0000103", "legalDisclosure", "", att(html, "terms.pdf")))
	missing := s.enqueueRaw(job(sellerNA, "111-0000000-0000104", "legalDisclosure", "", att("nope.pdf", "terms.pdf")))
	recs := s.wait(30*time.Second, unavailable, disabled, badText, badFile, missing)

	assert.Equal(t, jobstate.OutcomeSkippedUnavailable, recs[unavailable].Outcome)
	assert.Equal(t, jobstate.Reason("not_offered"), recs[unavailable].Reason)
	assert.Equal(t, jobstate.OutcomeSkippedUnavailable, recs[disabled].Outcome)
	assert.Equal(t, jobstate.Reason("disabled"), recs[disabled].Reason)
	assert.Contains(t, recs[disabled].Message, "order already delivered")
	for _, id := range []string{badText, badFile, missing} {
		assert.Equal(t, jobstate.OutcomeFailed, recs[id].Outcome, recs[id].Message)
	}
	assert.Contains(t, recs[badText].Message, "e-mail")
	assert.Equal(t, jobstate.Reason("attachment_invalid"), recs[badFile].Reason)
	assert.Contains(t, recs[missing].Message, "nope.pdf")
	assert.Empty(t, s.sb.Sent(), "nothing may reach the buyer")
}

// Ensure 5xx answers are retried with back-off until the send goes, and
// the buyer still gets each message once.
func TestServerErrorsThenSuccess(t *testing.T) {
	s := newStack(t, sandbox.Config{Seed: 7, Faults: sandbox.Faults{Error5xx: 0.4}})
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, s.enqueue(job(sellerNA, "111-0000000-00002"+string(rune('0'+i))+"0", "confirmOrderDetails", "Which size?")))
	}
	recs := s.wait(90*time.Second, ids...)
	for _, id := range ids {
		assert.Equal(t, jobstate.OutcomeSent, recs[id].Outcome, "%s %s", recs[id].Reason, recs[id].Message)
	}
	assert.Positive(t, s.sb.Stats().Faults5xx, "the sandbox must have injected 5xx answers")
	assert.Len(t, s.sb.Sent(), 5)
}

// Ensure a 429 makes the job wait (without spending an attempt) and then
// succeed, when Amazon's real quota is below what the worker assumed.
func TestThrottledThenSuccess(t *testing.T) {
	s := newStack(t, sandbox.Config{Rates: map[string]sandbox.Rate{
		"createConfirmOrderDetails": {PerSecond: 0.5, Burst: 1, Advertise: -1},
	}})
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, s.enqueue(job(sellerNA, "111-0000000-00003"+string(rune('0'+i))+"0", "confirmOrderDetails", "Which size?")))
	}
	recs := s.wait(90*time.Second, ids...)
	for _, id := range ids {
		assert.Equal(t, jobstate.OutcomeSent, recs[id].Outcome, "%s %s", recs[id].Reason, recs[id].Message)
	}
	assert.Positive(t, s.sb.Stats().Throttled, "the sandbox must have answered 429")
	assert.Len(t, s.sb.Sent(), 4)
}

// Ensure a lost answer ends unconfirmed and is never resent; a later job
// with the same idempotency key is refused as a duplicate; and a lost
// once-per-order send is settled as sent by re-checking availability.
func TestLostAnswer(t *testing.T) {
	s := newStack(t, sandbox.Config{Faults: sandbox.Faults{Lost: 1}})
	j := job(sellerNA, "111-0000000-0000400", "confirmOrderDetails", "Which size?")
	j.IdempotencyKey = "order-400-size"
	lost := s.enqueue(j)
	nfr := s.enqueue(job(sellerNA, "111-0000000-0000401", "negativeFeedbackRemoval", ""))
	recs := s.wait(30*time.Second, lost, nfr)
	assert.Equal(t, jobstate.OutcomeUnconfirmed, recs[lost].Outcome, recs[lost].Message)
	assert.Equal(t, jobstate.OutcomeSent, recs[nfr].Outcome, recs[nfr].Message)
	assert.Equal(t, jobstate.Reason("settled_by_availability"), recs[nfr].Reason)

	again := job(sellerNA, "111-0000000-0000400", "confirmOrderDetails", "Which size, please?")
	again.IdempotencyKey = "order-400-size"
	res, err := s.producer.Enqueue(t.Context(), again)
	require.NoError(t, err)
	assert.Equal(t, tasks.StatusDuplicate, res.Status, "the ledger holds the key in doubt")

	assert.Equal(t, 1, s.sentTo("111-0000000-0000400", "confirmOrderDetails"))
	assert.Equal(t, 1, s.sentTo("111-0000000-0000401", "negativeFeedbackRemoval"))
}

// Ensure a once-per-order type goes once even when two different jobs ask
// for it, and the second is recorded as a duplicate.
func TestOncePerOrderTwoJobs(t *testing.T) {
	s := newStack(t, sandbox.Config{})
	a := job(sellerNA, "111-0000000-0000500", "negativeFeedbackRemoval", "")
	a.Campaign = "first"
	b := job(sellerNA, "111-0000000-0000500", "updateFeedback", "")
	b.Campaign = "second"
	ida := s.enqueue(a)
	idb := s.enqueueRaw(b)
	recs := s.wait(30*time.Second, ida, idb)
	outcomes := []jobstate.Outcome{recs[ida].Outcome, recs[idb].Outcome}
	assert.Contains(t, outcomes, jobstate.OutcomeSent)
	assert.Contains(t, outcomes, jobstate.OutcomeSkippedDuplicate)
	assert.Equal(t, 1, s.sentTo("111-0000000-0000500", "negativeFeedbackRemoval"))
}

// Ensure a job whose earlier attempt died while sending (its send mark is
// older than any send can take) is never sent again: it ends unconfirmed.
// A fresh mark (an attempt still running elsewhere) makes the job wait.
func TestInterruptedSendIsNotRepeated(t *testing.T) {
	s := newStack(t, sandbox.Config{})
	ctx := t.Context()
	now, err := s.rdb.Time(ctx).Result()
	require.NoError(t, err)

	dead := job(sellerNA, "111-0000000-0000600", "confirmOrderDetails", "Which size?")
	deadID := dead.ID()
	mark := func(id string, at time.Time) {
		require.NoError(t, s.rdb.Set(ctx, "spmsg:{c:}:sending:"+id,
			fmt.Sprintf("otherattempt|%d", at.UnixMicro()), time.Hour).Err())
	}
	mark(deadID, now.Add(-5*time.Minute))
	live := job(sellerNA, "111-0000000-0000601", "confirmOrderDetails", "Which size?")
	liveID := live.ID()
	mark(liveID, now.Add(-85*time.Second)) // stale 5 s from now

	s.enqueue(dead)
	s.enqueue(live)
	recs := s.wait(60*time.Second, deadID, liveID)
	assert.Equal(t, jobstate.OutcomeUnconfirmed, recs[deadID].Outcome, recs[deadID].Message)
	assert.Equal(t, jobstate.OutcomeUnconfirmed, recs[liveID].Outcome, "once the mark is stale the job is settled in doubt")
	assert.Empty(t, s.sb.Sent(), "neither job may be sent again")
}
