package tasks_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

// fakeStore is the job-state store in memory, with jobstate.Store's
// semantics (its Redis behaviour is tested in package jobstate and by the
// stack tests; TestFakeStoreAnswersLikeJobstate compares the two). fail
// makes a method fail once before it does anything, as a Redis outage or a
// crash at that step would; lost makes it fail once after its writes (for
// Settle: after the ledger step, before the record), as a lost reply would.
type fakeStore struct {
	mu       sync.Mutex
	records  map[string]jobstate.Result
	enqueued time.Time
	ledger   map[jobstate.Key]jobstate.Entry
	marks    map[string]fakeMark
	wait     time.Duration // what Reserve answers
	fail     map[string]error
	lost     map[string]error
	before   map[string]func(*fakeStore) // runs (locked) before a method
	requeued []dispatch.Entry
	throttle []dispatch.Key
}

type fakeMark struct {
	nonce string
	at    time.Time
}

var errRedisDown = errors.New("redis: connection refused")

var _ tasks.Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{records: map[string]jobstate.Result{}, ledger: map[jobstate.Key]jobstate.Entry{},
		marks: map[string]fakeMark{}, fail: map[string]error{}, lost: map[string]error{}, before: map[string]func(*fakeStore){}}
}

// enter locks the store and returns the failure planned for method.
func (s *fakeStore) enter(method string) error {
	s.mu.Lock()
	if f := s.before[method]; f != nil {
		delete(s.before, method)
		f(s)
	}
	err := s.fail[method]
	delete(s.fail, method)
	return err
}

// after returns the lost reply planned for method, once.
func (s *fakeStore) after(method string) error {
	err := s.lost[method]
	delete(s.lost, method)
	return err
}

// dropMark deletes the job's send mark when it is nonce's.
func (s *fakeStore) dropMark(id, nonce string) {
	if m, ok := s.marks[id]; ok && nonce != "" && m.nonce == nonce {
		delete(s.marks, id)
	}
}

func (s *fakeStore) Begin(_ context.Context, j jobstate.Ref, keys []jobstate.Key) (jobstate.Prior, error) {
	defer s.mu.Unlock()
	if err := s.enter("Begin"); err != nil {
		return jobstate.Prior{}, err
	}
	if err := jobstate.CheckKeys(keys); err != nil {
		return jobstate.Prior{}, err
	}
	p := jobstate.Prior{Enqueued: s.enqueued}
	if _, ok := s.records[j.ID]; ok {
		p.Final, p.Mark = true, jobstate.MarkFinal
	} else if m, ok := s.marks[j.ID]; ok {
		p.MarkAge = time.Since(m.at)
		p.Mark = jobstate.MarkBusy
		if p.MarkAge > jobstate.MarkStaleAfter {
			p.Mark = jobstate.MarkStale
		}
	}
	rank := 0
	for _, k := range keys {
		e, ok := s.ledger[k]
		r := 1
		switch {
		case !ok:
			continue
		case e.State != jobstate.EntryClaimed:
			r = 3
		case e.JobID == j.ID:
			r = 2
		}
		if r > rank {
			p.Entry, p.HasEntry, rank = e, true, r
		}
	}
	return p, nil
}

func (s *fakeStore) Reserve(context.Context, string, ...string) (time.Duration, error) {
	defer s.mu.Unlock()
	if err := s.enter("Reserve"); err != nil {
		return 0, err
	}
	return s.wait, nil
}

func (s *fakeStore) Requeue(_ context.Context, e dispatch.Entry) error {
	defer s.mu.Unlock()
	if err := s.enter("Requeue"); err != nil {
		return err
	}
	s.requeued = append(s.requeued, e)
	return nil
}

func (s *fakeStore) Claim(_ context.Context, j jobstate.Ref, keys []jobstate.Key, staleAfter time.Duration) (jobstate.ClaimResult, error) {
	defer s.mu.Unlock()
	if err := s.enter("Claim"); err != nil {
		return jobstate.ClaimResult{}, err
	}
	if err := jobstate.CheckKeys(keys); err != nil {
		return jobstate.ClaimResult{}, err
	}
	var stale, busy, mine *jobstate.ClaimResult
	var free []jobstate.Key
	for _, k := range keys {
		e, ok := s.ledger[k]
		switch {
		case !ok:
			free = append(free, k)
		case e.State != jobstate.EntryClaimed:
			return jobstate.ClaimResult{Status: jobstate.Done, Key: k, Entry: e}, nil
		case e.JobID == j.ID:
			mine = &jobstate.ClaimResult{Status: jobstate.Mine, Key: k, Entry: e}
		case time.Since(e.ClaimedAt) > staleAfter:
			e.State = jobstate.EntryInDoubt
			stale = &jobstate.ClaimResult{Status: jobstate.Done, Key: k, Entry: e}
		default:
			busy = &jobstate.ClaimResult{Status: jobstate.Busy, Key: k, Entry: e}
		}
	}
	if stale != nil {
		return *stale, nil
	}
	if busy != nil {
		return *busy, nil
	}
	for _, k := range free {
		s.ledger[k] = jobstate.Entry{State: jobstate.EntryClaimed, JobID: j.ID, ClaimedAt: time.Now(), UpdatedAt: time.Now()}
	}
	if mine != nil {
		return *mine, nil
	}
	return jobstate.ClaimResult{Status: jobstate.Claimed}, nil
}

func (s *fakeStore) MarkSending(_ context.Context, j jobstate.Ref, nonce string) (jobstate.MarkState, time.Duration, error) {
	defer s.mu.Unlock()
	if err := s.enter("MarkSending"); err != nil {
		return 0, 0, err
	}
	if _, ok := s.records[j.ID]; ok {
		return jobstate.MarkFinal, 0, nil
	}
	m, ok := s.marks[j.ID]
	switch {
	case !ok:
		s.marks[j.ID] = fakeMark{nonce: nonce, at: time.Now()}
		return jobstate.MarkAcquired, 0, s.after("MarkSending")
	case m.nonce == nonce:
		return jobstate.MarkAcquired, time.Since(m.at), nil
	case time.Since(m.at) > jobstate.MarkStaleAfter:
		return jobstate.MarkStale, time.Since(m.at), nil
	}
	return jobstate.MarkBusy, time.Since(m.at), nil
}

func (s *fakeStore) Settle(_ context.Context, j jobstate.Ref, keys []jobstate.Key, res jobstate.Result, nonce string) (bool, error) {
	defer s.mu.Unlock()
	if err := s.enter("Settle"); err != nil {
		return false, err
	}
	for _, k := range keys {
		e, ok := s.ledger[k]
		switch {
		case ok && e.JobID != j.ID:
		case res.Outcome == jobstate.OutcomeSent:
			s.ledger[k] = jobstate.Entry{State: jobstate.EntrySent, JobID: j.ID, RequestID: res.RequestID}
		case res.Outcome == jobstate.OutcomeUnconfirmed && e.State != jobstate.EntrySent:
			s.ledger[k] = jobstate.Entry{State: jobstate.EntryInDoubt, JobID: j.ID}
		case ok && e.State == jobstate.EntryClaimed && res.Outcome != jobstate.OutcomeUnconfirmed:
			delete(s.ledger, k)
		}
	}
	if err := s.after("Settle"); err != nil {
		return false, err
	}
	s.dropMark(j.ID, nonce)
	if _, ok := s.records[j.ID]; ok {
		return false, nil
	}
	s.records[j.ID] = res
	return true, nil
}

func (s *fakeStore) Undo(_ context.Context, j jobstate.Ref, keys []jobstate.Key, nonce string) error {
	defer s.mu.Unlock()
	if err := s.enter("Undo"); err != nil {
		return err
	}
	for _, k := range keys {
		if e, ok := s.ledger[k]; ok && e.State == jobstate.EntryClaimed && e.JobID == j.ID {
			delete(s.ledger, k)
		}
	}
	s.dropMark(j.ID, nonce)
	return nil
}

func (s *fakeStore) Throttled(_ context.Context, key dispatch.Key) error {
	defer s.mu.Unlock()
	s.enter("Throttled")
	s.throttle = append(s.throttle, key)
	return nil
}

func (s *fakeStore) Observe(context.Context, dispatch.Key, float64) error { return nil }

func (s *fakeStore) Local(slot time.Time) time.Time { return slot }

// fakeAmazon answers as configured. offered lists the action names
// GetActions returns (every call, unless goneAfterSend and a send
// reached Amazon); actionsErr and sendErr fail those calls.
type fakeAmazon struct {
	mu            sync.Mutex
	offered       []spapi.Action
	goneAfterSend bool
	actionsErr    error
	sendErr       error
	actions       int
	sends         int // sends Amazon may have acted on: answered 2xx or 5xx, or lost
}

var _ tasks.Amazon = (*fakeAmazon)(nil)

func (a *fakeAmazon) GetActions(context.Context, string, string, string, spapi.MessageType) (*spapi.Actions, *spapi.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actions++
	if a.actionsErr != nil {
		return nil, nil, a.actionsErr
	}
	if a.goneAfterSend && a.sends > 0 {
		return &spapi.Actions{}, &spapi.Response{RequestID: "req-actions"}, nil
	}
	return &spapi.Actions{Actions: a.offered}, &spapi.Response{RequestID: "req-actions"}, nil
}

func (a *fakeAmazon) CreateUploadDestination(context.Context, string, string, string, string, string) (*spapi.UploadDestination, *spapi.Response, error) {
	return nil, nil, errors.New("fakeAmazon: no uploads")
}

func (a *fakeAmazon) Upload(context.Context, *spapi.UploadDestination, io.Reader, int64) error {
	return errors.New("fakeAmazon: no uploads")
}

func (a *fakeAmazon) Send(context.Context, string, string, string, spapi.MessageType, spapi.SendRequest) (*spapi.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var e *spapi.Error
	if a.sendErr == nil || (errors.As(a.sendErr, &e) && (e.StatusCode >= 500 || e.StatusCode == 0 && e.Written)) {
		a.sends++
	}
	if a.sendErr != nil {
		return nil, a.sendErr
	}
	return &spapi.Response{RequestID: "req-send"}, nil
}
