package tasks_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

// An attempt's exits, phase by phase, with the handler built on fakes of
// its two ports: what the job ends as (or how it comes back), how many
// sends reached Amazon, and what the attempt leaves behind in the store.
func TestAttemptPhases(t *testing.T) {
	const (
		order1 = "111-0000001-0000001"
		plain  = "confirmOrderDetails" // may go more than once per order; no ledger entry
		review = "requestReview"       // once per order: a ledger entry
		other  = "j_another_job"
	)
	answered := func(status int, msg string) error {
		return &spapi.Error{Operation: "op", Method: "POST", StatusCode: status, Message: msg, Written: true}
	}
	lost := &spapi.Error{Operation: "createConfirmOrderDetails", Method: "POST", Err: errors.New("connection reset"), Written: true}
	actionsErr := func(status int, msg string) error {
		return &spapi.Error{Operation: "getMessagingActionsForOrder", Method: "GET", StatusCode: status, Message: msg}
	}
	type want struct {
		outcome  jobstate.Outcome // "" when the job does not end
		reason   jobstate.Reason
		exit     string // "", "defer:<reason>", "requeue", "retry", "error"
		sends    int
		ledger   jobstate.EntryState // this job's ledger entry left ("" none)
		mark     bool                // a send mark left
		throttle bool
	}
	cases := []struct {
		name  string
		typ   string
		job   func(*tasks.Job)
		setup func(id string, s *fakeStore, a *fakeAmazon, c *tasks.Config)
		want  want
	}{
		// begun: what earlier attempts left, and the job itself
		{name: "begun/already final", typ: plain,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.records[id] = jobstate.Result{Outcome: jobstate.OutcomeSent}
			},
			want: want{outcome: jobstate.OutcomeSent}},
		{name: "begun/store down", typ: plain,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.fail["Begin"] = errRedisDown },
			want:  want{exit: "error"}},
		{name: "begun/own claim left by a crash, still offered", typ: review,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.claim(sellerNA, order1, id) },
			want:  want{outcome: jobstate.OutcomeUnconfirmed, reason: jobstate.ReasonAnswerLost, ledger: jobstate.EntryInDoubt}},
		{name: "begun/own claim left by a crash, no longer offered", typ: review,
			setup: func(id string, s *fakeStore, a *fakeAmazon, _ *tasks.Config) {
				s.claim(sellerNA, order1, id)
				a.offered = nil
			},
			want: want{outcome: jobstate.OutcomeSent, reason: jobstate.ReasonSettledByAvailability, ledger: jobstate.EntrySent}},
		{name: "begun/own claim, an earlier attempt still sending", typ: review,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.claim(sellerNA, order1, id)
				s.marks[id] = fakeMark{nonce: "alive", at: time.Now()}
			},
			want: want{exit: "defer:send_in_progress", ledger: jobstate.EntryClaimed, mark: true}},
		{name: "begun/order id the ledger cannot key", typ: review,
			job:  func(j *tasks.Job) { j.OrderID = "111:0000001-0000001" },
			want: want{outcome: jobstate.OutcomeFailed, reason: jobstate.ReasonInvalidJob}},
		{name: "begun/stale send mark", typ: plain,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.marks[id] = fakeMark{nonce: "dead", at: time.Now().Add(-2 * jobstate.MarkStaleAfter)}
			},
			want: want{outcome: jobstate.OutcomeUnconfirmed, reason: jobstate.ReasonAnswerLost, mark: true}},
		{name: "begun/live send mark", typ: plain,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.marks[id] = fakeMark{nonce: "alive", at: time.Now()}
			},
			want: want{exit: "defer:send_in_progress", mark: true}},
		{name: "begun/deadline passed", typ: plain,
			job:  func(j *tasks.Job) { j.Deadline = ptr(time.Now().Add(-time.Minute)) },
			want: want{outcome: jobstate.OutcomeExpired, reason: jobstate.ReasonDeadlinePassed}},
		{name: "begun/not before, far ahead", typ: plain,
			job:  func(j *tasks.Job) { j.NotBefore = ptr(time.Now().Add(time.Hour)) },
			want: want{exit: "defer:not_before"}},
		{name: "begun/invalid", typ: plain,
			job:  func(j *tasks.Job) { j.MarketplaceID = "NOT-A-MARKETPLACE" },
			want: want{outcome: jobstate.OutcomeFailed, reason: jobstate.ReasonInvalidJob}},
		{name: "begun/unknown seller", typ: plain,
			job:  func(j *tasks.Job) { j.SellerID = "A9NEWSELLER" },
			want: want{exit: "retry"}},
		{name: "begun/unknown seller, last attempt", typ: plain,
			job:  func(j *tasks.Job) { j.SellerID, j.Retried = "A9NEWSELLER", tasks.DefaultMaxAttempts-1 },
			want: want{outcome: jobstate.OutcomeFailed, reason: jobstate.StepUnknownSeller.Exhausted()}},
		{name: "begun/sent by another job", typ: review,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.ledger[orderKey(order1)] = jobstate.Entry{State: jobstate.EntrySent, JobID: other}
			},
			want: want{outcome: jobstate.OutcomeSkippedDuplicate, reason: jobstate.ReasonLedgerSent}},
		{name: "begun/own answer lost earlier", typ: review,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.ledger[orderKey(order1)] = jobstate.Entry{State: jobstate.EntryInDoubt, JobID: id}
			},
			want: want{outcome: jobstate.OutcomeUnconfirmed, reason: jobstate.ReasonAnswerLost, ledger: jobstate.EntryInDoubt}},
		{name: "begun/sent earlier, outcome not recorded", typ: review,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.ledger[orderKey(order1)] = jobstate.Entry{State: jobstate.EntrySent, JobID: id, RequestID: "req-0"}
				s.marks[id] = fakeMark{nonce: "dead", at: time.Now()}
			},
			want: want{outcome: jobstate.OutcomeSent, reason: jobstate.ReasonRecoveredFromLedger, ledger: jobstate.EntrySent, mark: true}},
		{name: "begun/stale send mark, another job sending the pair", typ: review,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.claim(sellerNA, order1, other)
				s.marks[id] = fakeMark{nonce: "dead", at: time.Now().Add(-2 * jobstate.MarkStaleAfter)}
			},
			want: want{exit: "defer:ledger_busy", mark: true}},
		{name: "begun/stale send mark, another job sent the pair", typ: review,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.ledger[orderKey(order1)] = jobstate.Entry{State: jobstate.EntrySent, JobID: other}
				s.marks[id] = fakeMark{nonce: "dead", at: time.Now().Add(-2 * jobstate.MarkStaleAfter)}
			},
			want: want{outcome: jobstate.OutcomeSkippedDuplicate, reason: jobstate.ReasonLedgerSent, mark: true}},
		{name: "begun/older than the maximum age", typ: plain,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.enqueued = time.Now().Add(-8 * 24 * time.Hour)
			},
			want: want{outcome: jobstate.OutcomeExpired, reason: jobstate.ReasonMaxAge}},
		// reserved: the quota slot
		{name: "reserved/slot too far: back in line", typ: plain,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.wait = time.Minute },
			want:  want{exit: "requeue"}},
		{name: "reserved/store down", typ: plain,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.fail["Reserve"] = errRedisDown },
			want:  want{exit: "error"}},
		// checked: availability and schema
		{name: "checked/actions 429", typ: plain,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) { a.actionsErr = actionsErr(429, "") },
			want:  want{exit: "requeue", throttle: true}},
		{name: "checked/actions 503", typ: plain,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) { a.actionsErr = actionsErr(503, "") },
			want:  want{exit: "retry"}},
		{name: "checked/actions 503, last attempt", typ: plain,
			job:   func(j *tasks.Job) { j.Retried = tasks.DefaultMaxAttempts - 1 },
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) { a.actionsErr = actionsErr(503, "") },
			want:  want{outcome: jobstate.OutcomeFailed, reason: jobstate.StepAvailability.Exhausted()}},
		{name: "checked/actions 400", typ: plain,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) { a.actionsErr = actionsErr(400, "bad") },
			want:  want{outcome: jobstate.OutcomeFailed, reason: jobstate.StepAvailability.Rejected()}},
		{name: "checked/not offered", typ: plain,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) { a.offered = nil },
			want:  want{outcome: jobstate.OutcomeSkippedUnavailable, reason: jobstate.ReasonNotOffered}},
		{name: "checked/not offered, another job sending it", typ: review,
			setup: func(_ string, s *fakeStore, a *fakeAmazon, _ *tasks.Config) {
				a.offered = nil
				s.claim(sellerNA, order1, other)
			},
			want: want{exit: "defer:ledger_busy"}},
		{name: "checked/disabled", typ: plain,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) {
				a.offered = []spapi.Action{{Name: plain, Disabled: true, DisabledReason: "too late"}}
			},
			want: want{outcome: jobstate.OutcomeSkippedUnavailable, reason: jobstate.ReasonDisabled}},
		{name: "checked/attachment without a store", typ: "sendInvoice",
			job: func(j *tasks.Job) {
				j.Attachments = []tasks.Attachment{{Source: "invoice.pdf", FileName: "invoice.pdf"}}
			},
			want: want{outcome: jobstate.OutcomeFailed, reason: jobstate.ReasonAttachmentInvalid}},
		// claimed: the ledger
		{name: "claimed/another job sent it meanwhile", typ: review,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.before["Claim"] = func(s *fakeStore) {
					s.ledger[orderKey(order1)] = jobstate.Entry{State: jobstate.EntrySent, JobID: other}
				}
			},
			want: want{outcome: jobstate.OutcomeSkippedDuplicate, reason: jobstate.ReasonLedgerSent}},
		{name: "claimed/another job is sending it", typ: review,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.before["Claim"] = func(s *fakeStore) { s.claim(sellerNA, order1, other) }
			},
			want: want{exit: "defer:ledger_busy"}},
		{name: "claimed/a twin delivery claimed meanwhile, store down at the outcome: claims stay", typ: review,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.before["Claim"] = func(s *fakeStore) { s.claim(sellerNA, order1, id) }
				s.fail["Settle"] = errRedisDown
			},
			want: want{exit: "error", ledger: jobstate.EntryClaimed}},
		{name: "claimed/store down", typ: review,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.fail["Claim"] = errRedisDown },
			want:  want{exit: "error"}},
		// marked: the send mark and its durability
		{name: "marked/store down: claims given back", typ: review,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.fail["MarkSending"] = errRedisDown },
			want:  want{exit: "error"}},
		{name: "marked/mark written, reply lost: claims and mark given back", typ: review,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.lost["MarkSending"] = errRedisDown },
			want:  want{exit: "error"}},
		{name: "marked/mark written, reply lost, plain type: mark given back", typ: plain,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.lost["MarkSending"] = errRedisDown },
			want:  want{exit: "error"}},
		{name: "marked/another attempt marked it meanwhile", typ: review,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.before["MarkSending"] = func(s *fakeStore) { s.marks[id] = fakeMark{nonce: "twin", at: time.Now()} }
			},
			want: want{exit: "defer:send_in_progress", mark: true}},
		{name: "marked/another attempt ended it meanwhile", typ: review,
			setup: func(id string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) {
				s.before["MarkSending"] = func(s *fakeStore) { s.records[id] = jobstate.Result{Outcome: jobstate.OutcomeSent} }
			},
			want: want{outcome: jobstate.OutcomeSent}},
		{name: "marked/not durable: claims and mark given back", typ: review,
			setup: func(_ string, _ *fakeStore, _ *fakeAmazon, c *tasks.Config) { c.Durable = failingDurability{} },
			want:  want{exit: "defer:durability"}},
		// sending: Amazon's answer
		{name: "sending/sent", typ: review,
			want: want{outcome: jobstate.OutcomeSent, reason: jobstate.ReasonSent, sends: 1, ledger: jobstate.EntrySent}},
		{name: "sending/sent, plain type", typ: plain,
			want: want{outcome: jobstate.OutcomeSent, reason: jobstate.ReasonSent, sends: 1}},
		{name: "sending/answer lost", typ: plain,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) { a.sendErr = lost },
			want:  want{outcome: jobstate.OutcomeUnconfirmed, reason: jobstate.ReasonAnswerLost, sends: 1}},
		{name: "sending/answer lost, once-per-order type gone", typ: review,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) { a.sendErr, a.goneAfterSend = lost, true },
			want:  want{outcome: jobstate.OutcomeSent, reason: jobstate.ReasonSettledByAvailability, sends: 1, ledger: jobstate.EntrySent}},
		{name: "sending/answer lost, once-per-order type still offered", typ: review,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) { a.sendErr = lost },
			want:  want{outcome: jobstate.OutcomeUnconfirmed, reason: jobstate.ReasonAnswerLost, sends: 1, ledger: jobstate.EntryInDoubt}},
		{name: "sending/500", typ: plain,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) {
				a.sendErr = answered(500, "InternalFailure")
			},
			want: want{outcome: jobstate.OutcomeUnconfirmed, reason: jobstate.ReasonAnswerLost, sends: 1}},
		{name: "sending/500 with ResendAfter5xx", typ: plain,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, c *tasks.Config) {
				a.sendErr, c.ResendAfter5xx = answered(500, "InternalFailure"), true
			},
			want: want{exit: "retry", sends: 1}},
		{name: "sending/400: claims and mark given back", typ: review,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) {
				a.sendErr = answered(400, "InvalidInput")
			},
			want: want{outcome: jobstate.OutcomeFailed, reason: jobstate.StepSend.Rejected()}},
		{name: "sending/429: back in line, claims and mark given back", typ: review,
			setup: func(_ string, _ *fakeStore, a *fakeAmazon, _ *tasks.Config) { a.sendErr = answered(429, "") },
			want:  want{exit: "requeue", throttle: true}},
		{name: "sending/crash before the outcome: claims and mark stay", typ: review,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.fail["Settle"] = errRedisDown },
			want:  want{exit: "error", sends: 1, ledger: jobstate.EntryClaimed, mark: true}},
		{name: "sending/sent, ledger committed, outcome not recorded", typ: review,
			setup: func(_ string, s *fakeStore, _ *fakeAmazon, _ *tasks.Config) { s.lost["Settle"] = errRedisDown },
			want:  want{exit: "error", sends: 1, ledger: jobstate.EntrySent, mark: true}},
		{name: "sending/store down after a refusal: claims and mark given back", typ: review,
			setup: func(_ string, s *fakeStore, a *fakeAmazon, _ *tasks.Config) {
				a.sendErr = answered(400, "InvalidInput")
				s.fail["Settle"] = errRedisDown
			},
			want: want{exit: "error"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := &tasks.Job{SellerID: sellerNA, MarketplaceID: mktUS, OrderID: order1, Type: c.typ}
			if c.typ == plain {
				j.Text = "Your order ships Monday."
			}
			if c.job != nil {
				c.job(j)
			}
			id := j.ID()
			st, am := newFakeStore(), &fakeAmazon{offered: []spapi.Action{{Name: actionName(t, c.typ)}}}
			cfg := tasks.Config{Amazon: am, State: st, Sellers: fakeSellers(t)}
			if c.setup != nil {
				c.setup(id, st, am, &cfg)
			}
			before := st.records[id]
			h, err := tasks.NewHandler(cfg)
			require.NoError(t, err)
			payload, err := j.Encode()
			require.NoError(t, err)
			err = h.ProcessTask(context.Background(), asynq.NewTask(tasks.TypeMessage, payload))

			w := c.want
			assert.Equal(t, w.exit, exitOf(err, st), "exit (%v)", err)
			rec, ended := st.records[id]
			if w.outcome == "" {
				assert.False(t, ended, "no outcome recorded")
			} else if assert.True(t, ended, "outcome recorded") && before.Outcome == "" {
				assert.Equal(t, w.outcome, rec.Outcome, "%s", rec.Message)
				assert.Equal(t, w.reason, rec.Reason, "%s", rec.Message)
			}
			assert.Equal(t, w.sends, am.sends, "sends Amazon may have acted on")
			e := st.ledger[orderKey(order1)]
			if e.JobID != id {
				e = jobstate.Entry{}
			}
			assert.Equal(t, w.ledger, e.State, "this job's ledger entry")
			_, marked := st.marks[id]
			assert.Equal(t, w.mark, marked, "send mark left")
			assert.Equal(t, w.throttle, len(st.throttle) > 0, "429 reported")
		})
	}
}

// exitOf names how an attempt ended for asynq.
func exitOf(err error, s *fakeStore) string {
	var d *tasks.DeferError
	switch {
	case err == nil && len(s.requeued) > 0:
		return "requeue"
	case err == nil:
		return ""
	case errors.As(err, &d):
		return "defer:" + string(d.Reason)
	case errors.Is(err, errRedisDown):
		return "error"
	}
	return "retry"
}

// orderKey is the ledger key of a review request for order (of sellerNA).
func orderKey(order string) jobstate.Key {
	t, _ := spapi.LookupType("requestReview")
	return jobstate.OrderKey(sellerNA, order, t.Name)
}

// claim gives job the ledger entry of a review request for order.
func (s *fakeStore) claim(seller, order, job string) {
	s.ledger[orderKey(order)] = jobstate.Entry{State: jobstate.EntryClaimed, JobID: job, ClaimedAt: time.Now()}
}

type failingDurability struct{}

func (failingDurability) Confirm(context.Context) error { return errors.New("WAITAOF timed out") }

func actionName(t *testing.T, typ string) string {
	mt, ok := spapi.LookupType(typ)
	require.True(t, ok, typ)
	return mt.Name
}

func fakeSellers(t *testing.T) *tasks.Sellers {
	s, err := tasks.ParseSellers(strings.NewReader(sellersJSON()))
	require.NoError(t, err)
	return s
}

func ptr[T any](v T) *T { return &v }
