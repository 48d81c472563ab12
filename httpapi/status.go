package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/spmsg/spmsg/tasks"
)

// messageRecord is the answer of GET /v1/messages/{id}: the job's record,
// with its times left out while unknown (a pending job has no
// finished_at).
type messageRecord struct {
	*tasks.Record
	EnqueuedAt *time.Time `json:"enqueued_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// getMessage handles GET /v1/messages/{id}.
func (a *API) getMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := a.cfg.Outcomes.Get(r.Context(), id)
	if errors.Is(err, tasks.ErrNoRecord) {
		writeError(w, http.StatusNotFound, "job %s: not found (never enqueued here, or its record expired)", id)
		return
	}
	if err != nil {
		a.unavailable(w, r, "reading the job's record", err)
		return
	}
	writeJSON(w, http.StatusOK, messageRecord{Record: rec, EnqueuedAt: timeOrNil(rec.EnqueuedAt), FinishedAt: timeOrNil(rec.FinishedAt)})
}

// getCampaign handles GET /v1/campaigns/{name}: the same object as
// `enqueue status --campaign NAME --json`. An unknown campaign has total
// 0. ?problems=N lists at most N failed or unconfirmed jobs (default 100,
// at most 1000).
func (a *API) getCampaign(w http.ResponseWriter, r *http.Request) {
	limit := DefaultMaxProblems
	if v := r.URL.Query().Get("problems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxProblemsLimit {
			writeError(w, http.StatusBadRequest, "problems=%q: want a number from 0 to %d", v, maxProblemsLimit)
			return
		}
		limit = n
	}
	rep, err := a.cfg.Outcomes.Campaign(r.Context(), r.PathValue("name"), limit)
	if err != nil {
		a.unavailable(w, r, "reading the campaign's counts", err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
