package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/spmsg/spmsg/jobstate"
)

// messageRecord is the answer of GET /v1/messages/{id}: the job's record,
// with its times left out while unknown (a pending job has no
// finished_at).
type messageRecord struct {
	*jobstate.Record
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
	if errors.Is(err, jobstate.ErrNoRecord) || (err == nil && !scopeOf(r).allows(rec.SellerID)) {
		// Another seller's job is not found either: a seller-bound token
		// learns nothing of jobs outside its sellers.
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
// at most 1000). A seller-bound token sees only a campaign whose every
// job is of its sellers; any other campaign (an unknown one too) is 404.
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
	name := r.PathValue("name")
	rep, err := a.cfg.Outcomes.Campaign(r.Context(), name, limit)
	if err != nil {
		a.unavailable(w, r, "reading the campaign's counts", err)
		return
	}
	if sc := scopeOf(r); sc != nil {
		// Read after the report: a job's seller is added in the same
		// script that counts it, so every job counted above has its
		// seller in this set.
		sellers, err := a.cfg.Outcomes.CampaignSellers(r.Context(), name)
		if err != nil {
			a.unavailable(w, r, "reading the campaign's sellers", err)
			return
		}
		if !sc.allowsAll(sellers) {
			writeError(w, http.StatusNotFound, "campaign %q: not found (no jobs of this token's sellers, or jobs of other sellers too)", name)
			return
		}
	}
	writeJSON(w, http.StatusOK, rep)
}
