package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
	res      itemResult
	job      *tasks.Job // nil once rejected
	conflict bool       // rejected: its idempotency key was first used with another message
}

func (p *pending) reject(ps []tasks.FieldError) {
	p.job = nil
	p.res = itemResult{Index: p.res.Index, Status: resultRejected, Errors: ps}
}

// badBody is the answer to a POST /v1/messages body that is not a job
// object or an array of them.
type badBody struct {
	status int
	body   errorBody
}

// decodeMessages turns a POST /v1/messages body into one pending item per
// job: each is either a parsed job or rejected with errors naming its
// fields. idem is the Idempotency-Key header, which a single job object
// takes as its idempotency_key (a different key in the body rejects it).
// single reports a single job object rather than an array. A body that is
// neither gives bad, and no items.
func decodeMessages(body []byte, idem string, maxJobs int) (items []pending, single bool, bad *badBody) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, false, &badBody{http.StatusBadRequest,
			errorBody{Error: fmt.Sprintf("empty body: send one job object, or an array of up to %d", maxJobs)}}
	}
	if trimmed[0] != '[' {
		items = []pending{{}}
		p := &items[0]
		p.job = parseItem(p, body)
		if p.job != nil && idem != "" {
			switch p.job.IdempotencyKey {
			case "", idem:
				if !utf8.ValidString(idem) {
					// A payload is JSON: the key would come back from the
					// queue altered, with another job id.
					p.reject([]tasks.FieldError{{Field: "idempotency_key", Reason: "the Idempotency-Key header is not valid UTF-8"}})
					break
				}
				p.job.IdempotencyKey = idem
			default:
				p.reject([]tasks.FieldError{{Field: "idempotency_key",
					Reason: "differs from the Idempotency-Key header; give one key, or the same key in both"}})
			}
		}
		return items, true, nil
	}
	if idem != "" {
		return nil, false, &badBody{http.StatusBadRequest, errorBody{
			Error: "the Idempotency-Key header applies to a single job object; give each item of an array its own idempotency_key"}}
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, false, &badBody{http.StatusBadRequest, errorBody{Error: "malformed JSON array: " + describeJSONError(err),
			Errors: []tasks.FieldError{{Field: "json", Reason: "malformed JSON: " + describeJSONError(err)}}}}
	}
	if len(raws) == 0 {
		return nil, false, &badBody{http.StatusBadRequest, errorBody{Error: "empty array: send at least one job"}}
	}
	if len(raws) > maxJobs {
		return nil, false, &badBody{http.StatusBadRequest, errorBody{
			Error: fmt.Sprintf("%d jobs in one request; at most %d (split the array)", len(raws), maxJobs), Limit: int64(maxJobs)}}
	}
	items = make([]pending, len(raws))
	for i, raw := range raws {
		items[i].res.Index = i
		items[i].job = parseItem(&items[i], raw)
	}
	return items, false, nil
}

// checkJSONContentType answers 415 (and returns false) unless the request
// says its body is JSON: a web page can send a cross-site POST only as
// text/plain, form data or multipart without a preflight.
func checkJSONContentType(w http.ResponseWriter, r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type %q: send the jobs as Content-Type: application/json", ct)
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type %q: JSON is UTF-8; send Content-Type: application/json (charset=utf-8, or none)", ct)
		return false
	}
	return true
}

// postMessages handles POST /v1/messages: one job object or an array.
func (a *API) postMessages(w http.ResponseWriter, r *http.Request) {
	if !checkJSONContentType(w, r) {
		return
	}
	body, ok := readBody(w, r, a.cfg.MaxBodyBytes)
	if !ok {
		return
	}
	items, single, bad := decodeMessages(body, strings.TrimSpace(r.Header.Get("Idempotency-Key")), a.cfg.MaxJobs)
	if bad != nil {
		writeJSON(w, bad.status, bad.body)
		return
	}
	forbidden := a.refuseOtherSellers(r, items)
	refuseUncontentSources(r, items)
	if single {
		a.postOne(w, r, items, forbidden)
		return
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

// refuseOtherSellers rejects every item whose seller the request's token
// may not act for, naming seller_id, and reports whether it rejected any.
func (a *API) refuseOtherSellers(r *http.Request, items []pending) bool {
	sc := scopeOf(r)
	refused := false
	for i := range items {
		if j := items[i].job; j != nil && !sc.allows(j.SellerID) {
			items[i].reject([]tasks.FieldError{{Field: "seller_id",
				Reason: fmt.Sprintf("this token may not enqueue for seller %q", j.SellerID)}})
			refused = true
		}
	}
	return refused
}

// contentRefPattern matches the content-addressed references
// POST /v1/attachments returns (attachstore.Store.Put): sha256/, the hex
// digest, and the lower-cased extension of the file name, if any.
var contentRefPattern = regexp.MustCompile(`^sha256/[0-9a-f]{64}(\.[a-z0-9]{1,10})?$`)

// refuseUncontentSources rejects, for a seller-bound token, every item
// with an attachment source other than a content-addressed reference
// (naming attachments[i].source): a store path or an s3:// object may be
// another seller's document, while only whoever had the bytes knows
// their digest. Tokens for every seller, and no tokens, keep every source
// the resolver allows.
func refuseUncontentSources(r *http.Request, items []pending) {
	if scopeOf(r) == nil {
		return
	}
	for i := range items {
		j := items[i].job
		if j == nil {
			continue
		}
		var ps []tasks.FieldError
		for k, att := range j.Attachments {
			if !contentRefPattern.MatchString(att.Source) {
				ps = append(ps, tasks.FieldError{Field: fmt.Sprintf("attachments[%d].source", k),
					Reason: "a token bound to sellers may attach only files uploaded with POST /v1/attachments: " +
						"give the source it answered (sha256/<64 hex digits><extension>), not a store path or an s3:// object"})
			}
		}
		if len(ps) > 0 {
			items[i].reject(ps)
		}
	}
}

// postOne answers a single job object: 202 accepted, 200 duplicate, 400
// rejected, 403 for a seller the token may not act for, 422 for an
// idempotency key first used with another message.
func (a *API) postOne(w http.ResponseWriter, r *http.Request, items []pending, forbidden bool) {
	p := &items[0]
	if !a.enqueue(w, r, items) {
		return
	}
	ans := singleAnswer{itemResult: p.res}
	status := http.StatusAccepted
	switch {
	case p.res.Status == resultDuplicate:
		status = http.StatusOK
	case forbidden:
		status = http.StatusForbidden
		ans.Error = (&tasks.ValidationError{Problems: p.res.Errors}).Error()
	case p.conflict:
		status = http.StatusUnprocessableEntity
		ans.Error = p.res.Errors[0].Reason
	case p.res.Status == resultRejected:
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
		for i := range ps {
			if ps[i].Field == "" { // an unknown field named ""
				ps[i].Field = "json"
			}
		}
		p.reject(ps)
		return nil
	}
	return j
}

// enqueue takes the parsed jobs through validation, attachment
// resolution and the producer, filling in each result. On an
// internal failure it answers 503 itself and returns false.
func (a *API) enqueue(w http.ResponseWriter, r *http.Request, items []pending) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), enqueueTimeout)
	defer cancel()
	// Validate before touching the store; other jobs are validated once,
	// by the producer.
	a.each(items, func(p *pending) error {
		if len(p.job.Attachments) == 0 {
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
	err := a.each(items, func(p *pending) error {
		res, err := a.cfg.Producer.Enqueue(ctx, p.job)
		var ve *tasks.ValidationError
		switch {
		case errors.As(err, &ve):
			p.reject(ve.Problems)
		case err != nil:
			return err
		case res.Conflict:
			p.reject([]tasks.FieldError{{Field: "idempotency_key", Reason: res.Reason}})
			p.res.DuplicateOf, p.conflict = res.DuplicateOf, true
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
