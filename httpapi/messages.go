package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spmsg/spmsg/tasks"
)

// enqueueTimeout bounds the enqueueing of one request's jobs. It runs on
// a context detached from the client's, so a client that hangs up cannot
// cut an enqueue in half.
const enqueueTimeout = 30 * time.Second

// itemResult is the answer for one job of a request.
type itemResult struct {
	Index       int                `json:"index"`
	Status      string             `json:"status"` // accepted, duplicate or rejected
	ID          string             `json:"id,omitempty"`
	Queue       string             `json:"queue,omitempty"`
	DuplicateOf string             `json:"duplicate_of,omitempty"`
	Reason      string             `json:"reason,omitempty"`
	Errors      []tasks.FieldError `json:"errors,omitempty"`
}

// singleAnswer is the answer to a single job object: its result, plus an
// error summary when it was rejected.
type singleAnswer struct {
	Error string `json:"error,omitempty"`
	itemResult
}

// batchAnswer is the answer to an array: counts, and one result per item
// in request order.
type batchAnswer struct {
	Error      string       `json:"error,omitempty"`
	Accepted   int          `json:"accepted"`
	Duplicates int          `json:"duplicates"`
	Rejected   int          `json:"rejected"`
	Results    []itemResult `json:"results"`
}

// pending is one job of a request on its way through.
type pending struct {
	res itemResult
	job *tasks.Job // nil once rejected
}

func (p *pending) reject(ps []tasks.FieldError) {
	p.job = nil
	p.res = itemResult{Index: p.res.Index, Status: resultRejected, Errors: ps}
}

// postMessages handles POST /v1/messages: one job object or an array.
func (a *API) postMessages(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, a.cfg.MaxBodyBytes)
	if !ok {
		return
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		writeError(w, http.StatusBadRequest, "empty body: send one job object, or an array of up to %d", a.cfg.MaxJobs)
		return
	}
	idem := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if trimmed[0] != '[' {
		a.postOne(w, r, body, idem)
		return
	}
	if idem != "" {
		writeError(w, http.StatusBadRequest, "the Idempotency-Key header applies to a single job object; give each item of an array its own idempotency_key")
		return
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "malformed JSON array: " + describeJSONError(err),
			Errors: []tasks.FieldError{{Field: "json", Reason: "malformed JSON: " + describeJSONError(err)}}})
		return
	}
	if len(raws) == 0 {
		writeError(w, http.StatusBadRequest, "empty array: send at least one job")
		return
	}
	if len(raws) > a.cfg.MaxJobs {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("%d jobs in one request; at most %d (split the array)", len(raws), a.cfg.MaxJobs),
			Limit: int64(a.cfg.MaxJobs)})
		return
	}
	items := make([]pending, len(raws))
	for i, raw := range raws {
		items[i].res.Index = i
		items[i].job = parseItem(&items[i], raw)
	}
	if !a.enqueue(w, r, items) {
		return
	}
	ans := batchAnswer{Results: make([]itemResult, len(items))}
	for i := range items {
		ans.Results[i] = items[i].res
		switch items[i].res.Status {
		case resultAccepted:
			ans.Accepted++
		case resultDuplicate:
			ans.Duplicates++
		default:
			ans.Rejected++
		}
	}
	status := http.StatusMultiStatus
	if ans.Accepted+ans.Duplicates == 0 {
		status = http.StatusBadRequest
		ans.Error = fmt.Sprintf("every job was rejected (%d)", ans.Rejected)
	}
	writeJSON(w, status, ans)
}

// postOne handles a single job object: 202 accepted, 200 duplicate, 400
// rejected.
func (a *API) postOne(w http.ResponseWriter, r *http.Request, body []byte, idem string) {
	items := []pending{{}}
	p := &items[0]
	p.job = parseItem(p, body)
	if p.job != nil && idem != "" {
		switch p.job.IdempotencyKey {
		case "", idem:
			p.job.IdempotencyKey = idem
		default:
			p.reject([]tasks.FieldError{{Field: "idempotency_key",
				Reason: "differs from the Idempotency-Key header; give one key, or the same key in both"}})
		}
	}
	if !a.enqueue(w, r, items) {
		return
	}
	ans := singleAnswer{itemResult: p.res}
	status := http.StatusAccepted
	switch p.res.Status {
	case resultDuplicate:
		status = http.StatusOK
	case resultRejected:
		status = http.StatusBadRequest
		ans.Error = (&tasks.ValidationError{Problems: p.res.Errors}).Error()
	}
	writeJSON(w, status, ans)
}

// parseItem parses one job object strictly (unknown fields are named),
// rejecting p on failure.
func parseItem(p *pending, raw []byte) *tasks.Job {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && t[0] != '{' {
		p.reject([]tasks.FieldError{{Field: "json", Reason: "a job must be a JSON object"}})
		return nil
	}
	j, ps := tasks.ParseJobJSON(raw)
	if len(ps) > 0 {
		p.reject(ps)
		return nil
	}
	return j
}

// enqueue takes the parsed jobs through validation, attachment
// resolution, pacing and the producer, filling in each result. On an
// internal failure it answers 503 itself and returns false.
func (a *API) enqueue(w http.ResponseWriter, r *http.Request, items []pending) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), enqueueTimeout)
	defer cancel()
	// Validate before touching the store or the pacing cursors; other jobs
	// are validated once, by the producer.
	a.each(items, func(p *pending) error {
		if len(p.job.Attachments) == 0 && (a.cfg.Pace == nil || p.job.Campaign == "") {
			return nil
		}
		if err := a.cfg.Producer.Validation.Validate(p.job); err != nil {
			p.reject(problems(err))
			return nil
		}
		if len(p.job.Attachments) > 0 {
			if ps := a.resolver.ResolveJob(ctx, p.job); len(ps) > 0 {
				p.reject(ps)
			}
		}
		return nil
	})
	if a.cfg.Pace != nil {
		var jobs []*tasks.Job
		for i := range items {
			if j := items[i].job; j != nil && j.Campaign != "" {
				jobs = append(jobs, j)
			}
		}
		if len(jobs) > 0 {
			if err := a.cfg.Pace(ctx, jobs); err != nil {
				a.unavailable(w, r, "pacing the jobs", err)
				return false
			}
		}
	}
	err := a.each(items, func(p *pending) error {
		res, err := a.cfg.Producer.Enqueue(ctx, p.job)
		var ve *tasks.ValidationError
		switch {
		case errors.As(err, &ve):
			p.reject(ve.Problems)
		case err != nil:
			return err
		default:
			p.res = itemResult{Index: p.res.Index, Status: res.Status, ID: res.ID, Queue: res.Queue,
				DuplicateOf: res.DuplicateOf, Reason: res.Reason}
		}
		return nil
	})
	if err != nil {
		a.unavailable(w, r, "enqueueing the jobs", err)
		return false
	}
	for i := range items {
		a.metrics.countJob(items[i].res.Status)
	}
	return true
}

// each runs fn for every item that is still a job, a.cfg.Parallel at a
// time, and returns the first error.
func (a *API) each(items []pending, fn func(*pending) error) error {
	if len(items) == 1 {
		if items[0].job == nil {
			return nil
		}
		return fn(&items[0])
	}
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	for range min(a.cfg.Parallel, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(&items[i]); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := range items {
		if items[i].job != nil {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	return first
}

// problems returns the field problems of a validation error.
func problems(err error) []tasks.FieldError {
	var ve *tasks.ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	return []tasks.FieldError{{Field: "job", Reason: err.Error()}}
}

// describeJSONError says what is wrong with a JSON document and where.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("the body must be a job object or an array of job objects, not %s", te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
