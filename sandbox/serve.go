package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spmsg/spmsg/internal/spapimodel"
	"github.com/spmsg/spmsg/spapi"
)

// call is one SP-API request that passed the gateway checks (route,
// faults, model validation, token, quota, marketplace).
type call struct {
	w           http.ResponseWriter
	r           *http.Request
	reqID       string
	route       *spapimodel.Route
	op          string
	seller      *sellerState
	marketplace string
	rate        Rate
	now         time.Time
}

// serveSPAPI applies Faults.Latency, then runs the gateway steps in order:
// route (404), injected fault (500/503), missing token (403), model
// validation (400), token validity (403), quota (429), marketplace (400),
// then the operation.
func (s *Sandbox) serveSPAPI(w http.ResponseWriter, r *http.Request) {
	c := s.counters()
	reqID := s.reqIDs.uuid()
	w.Header().Set("x-amzn-RequestId", reqID)
	if !s.delay(r) {
		return
	}
	route, verr := s.v.Validate(r.Context(), r)
	if route == nil {
		c.request(opUnknown)
		rate := s.p.MessagingRate
		switch {
		case strings.HasPrefix(r.URL.Path, "/uploads/"):
			rate = s.p.UploadsRate
		case strings.HasPrefix(r.URL.Path, solicitationsPrefix):
			rate = s.p.SolicitationsRate
		}
		setRateHeader(w, r.URL.Path, http.StatusNotFound, rate)
		writeErrors(w, http.StatusNotFound, "NotFound", "The requested resource was not found.", "No operation matches "+r.Method+" "+r.URL.Path+".")
		return
	}
	op := route.OperationID
	c.request(op)
	if f := s.p.Faults.Error5xx; f > 0 {
		if u := s.faults.float(); u < f {
			c.faults5xx.Add(1)
			status, code, msg := http.StatusInternalServerError, "InternalFailure", "We encountered an internal error. Please try again."
			if u < f/2 {
				status, code, msg = http.StatusServiceUnavailable, "ServiceUnavailable", "Service temporarily unavailable. Please try again later."
			}
			setRateHeader(w, route.Template, status, s.rateFor(nil, op))
			writeErrors(w, status, code, msg)
			return
		}
	}
	tok := r.Header.Get("x-amz-access-token")
	if tok == "" {
		c.unauthorized.Add(1)
		writeDenied(w, errTokenMissing.Error())
		return
	}
	now := s.p.Now()
	if verr != nil {
		c.violations.Add(1)
		rate := s.rateFor(nil, op)
		if id, err := s.parseToken(tok, time.Time{}); err == nil {
			rate = s.rateFor(s.seller(id), op)
		}
		setRateHeader(w, route.Template, http.StatusBadRequest, rate)
		msg, details := violationText(verr)
		writeErrors(w, http.StatusBadRequest, "InvalidInput", msg, details)
		return
	}
	sellerID, err := s.parseToken(tok, now)
	if err != nil {
		c.unauthorized.Add(1)
		writeDenied(w, err.Error())
		return
	}
	ss := s.seller(sellerID)
	rate := s.rateFor(ss, op)
	if !s.p.NoRateLimits && !ss.take(op, rate, now) {
		c.throttled.Add(1)
		setRateHeader(w, route.Template, http.StatusTooManyRequests, rate)
		writeErrors(w, http.StatusTooManyRequests, "QuotaExceeded", "You exceeded your quota for the requested resource.")
		return
	}
	k := &call{w: w, r: r, reqID: reqID, route: route, op: op, seller: ss, rate: rate, now: now,
		marketplace: r.URL.Query().Get("marketplaceIds")}
	if _, ok := spapi.LookupMarketplace(k.marketplace); !ok {
		c.violations.Add(1)
		k.fail(http.StatusBadRequest, "InvalidInput", "Invalid marketplaceIds: "+k.marketplace, "The marketplace id is not a known Amazon marketplace.")
		return
	}
	switch op {
	case spapi.OpGetMessagingActionsForOrder:
		s.getActions(k)
	case spapi.OpGetAttributes:
		s.getAttributes(k)
	case spapi.OpCreateUploadDestinationForResource:
		s.createUpload(k)
	case spapi.OpGetSolicitationActionsForOrder:
		s.getSolicitationActions(k)
	case opCreateReview:
		s.requestReview(k)
	default:
		if t := s.opTypes[op]; t != nil {
			s.send(k, t)
			return
		}
		k.fail(http.StatusNotFound, "NotFound", "The requested resource was not found.", "Operation "+op+" is not simulated.")
	}
}

// delay applies Faults.Latency; it reports false when the client went
// away meanwhile.
func (s *Sandbox) delay(r *http.Request) bool {
	d := s.p.Faults.Latency
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// rateFor returns the plan of an operation for a seller: the seller's
// override, else Config.Rates, else the API's default. ss may be nil.
func (s *Sandbox) rateFor(ss *sellerState, op string) Rate {
	if ss != nil {
		if r, ok := ss.rates[op]; ok {
			return r
		}
	}
	if r, ok := s.p.Rates[op]; ok {
		return r
	}
	return s.opFam[op]
}

func violationText(err error) (msg, details string) {
	var v *spapimodel.Violation
	if errors.As(err, &v) {
		return strings.Join(v.Problems, "; "), "The request does not conform to the SP-API model of " + v.OperationID + "."
	}
	return err.Error(), ""
}

// ok answers a success with a JSON body and the rate-limit header.
func (k *call) ok(status int, body []byte) {
	setRateHeader(k.w, k.route.Template, status, k.rate)
	h := k.w.Header()
	ct := "application/json"
	if strings.HasPrefix(k.route.Template, "/messaging/") || strings.HasPrefix(k.route.Template, solicitationsPrefix) {
		ct = "application/hal+json" // what the Messaging and Solicitations models produce
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	k.w.WriteHeader(status)
	_, _ = k.w.Write(body)
}

// fail answers an SP-API error, with details when given (even empty).
func (k *call) fail(status int, code, msg string, details ...string) {
	setRateHeader(k.w, k.route.Template, status, k.rate)
	writeErrors(k.w, status, code, msg, details...)
}

// setRateHeader sets x-amzn-RateLimit-Limit on the statuses Amazon's
// models declare it for: 200, 201, 400 and 404 for Messaging and Uploads;
// every status but 403 for Solicitations (path is the route template or
// the request path).
func setRateHeader(w http.ResponseWriter, path string, status int, r Rate) {
	switch {
	case status == http.StatusOK, status == http.StatusCreated, status == http.StatusBadRequest, status == http.StatusNotFound:
	case strings.HasPrefix(path, solicitationsPrefix) && status != http.StatusForbidden:
	default:
		return
	}
	v := r.PerSecond
	if r.Advertise < 0 {
		return
	}
	if r.Advertise > 0 {
		v = r.Advertise
	}
	w.Header().Set("x-amzn-RateLimit-Limit", formatRate(v))
}

// formatRate prints a rate like Amazon ("1.0", "0.5", "10.0").
func formatRate(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

type apiError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Details *string `json:"details,omitempty"`
}

// writeErrors writes {"errors":[{code, message[, details]}]}; details is
// included when given, even empty.
func writeErrors(w http.ResponseWriter, status int, code, msg string, details ...string) {
	e := apiError{Code: code, Message: msg}
	if len(details) > 0 {
		e.Details = &details[0]
	}
	writeJSON(w, status, struct {
		Errors []apiError `json:"errors"`
	}{[]apiError{e}})
}

// writeDenied writes Amazon's 403 for token problems.
func writeDenied(w http.ResponseWriter, details string) {
	w.Header().Set("x-amzn-ErrorType", "AccessDeniedException")
	writeErrors(w, http.StatusForbidden, "Unauthorized", "Access to requested resource is denied.", details)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// marshal is json.Marshal without HTML escaping (URLs keep their "&").
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
