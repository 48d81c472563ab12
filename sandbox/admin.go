package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// serveAdmin serves the inspection and admin endpoints (JSON):
//
//	GET    /_sandbox/sent                    recorded messages and review requests; ?seller= ?order= ?type= filter
//	GET    /_sandbox/stats                   Stats
//	POST   /_sandbox/reset                   Reset (204)
//	PUT    /_sandbox/orders/{id}             SetOrder with an Order body (204)
//	PUT    /_sandbox/orders/{id}/delivery    SetDelivery with a Delivery body (204)
//	GET    /_sandbox/faults/send-then-500    the send-then-500 rules in force
//	POST   /_sandbox/faults/send-then-500    AddSendThen500 with a SendThen500Rule body (204)
//	DELETE /_sandbox/faults/send-then-500    ClearSendThen500 (204)
func (s *Sandbox) serveAdmin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", s.reqIDs.uuid())
	rest := strings.TrimPrefix(r.URL.Path, AdminPrefix)
	switch {
	case rest == "sent":
		if !allow(w, r, http.MethodGet) {
			return
		}
		q := r.URL.Query()
		out := []SentMessage{}
		for _, m := range s.Sent() {
			if match(q.Get("seller"), m.Seller) && match(q.Get("order"), m.Order) && match(q.Get("type"), m.Type) {
				out = append(out, m)
			}
		}
		writeJSON(w, http.StatusOK, out)
	case rest == "stats":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, s.Stats())
		}
	case rest == "reset":
		if allow(w, r, http.MethodPost) {
			s.Reset()
			w.WriteHeader(http.StatusNoContent)
		}
	case rest == "faults/send-then-500":
		s.serveSendThen500(w, r)
	case strings.HasPrefix(rest, "orders/") && strings.HasSuffix(rest, "/delivery") && len(rest) > len("orders//delivery"):
		if !allow(w, r, http.MethodPut) {
			return
		}
		var d Delivery
		if !decodeBody(w, r, &d, "a delivery object") {
			return
		}
		id := strings.TrimSuffix(strings.TrimPrefix(rest, "orders/"), "/delivery")
		if err := s.SetDelivery(id, d.Earliest, d.Latest); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(rest, "orders/") && len(rest) > len("orders/"):
		if !allow(w, r, http.MethodPut) {
			return
		}
		var o Order
		if !decodeBody(w, r, &o, "an order object") {
			return
		}
		id := strings.TrimPrefix(rest, "orders/")
		if o.ID != "" && o.ID != id {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body id " + o.ID + " differs from the path's " + id})
			return
		}
		o.ID = id
		if err := s.SetOrder(o); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown sandbox endpoint " + r.URL.Path})
	}
}

// serveSendThen500 lists, adds and clears send-then-500 rules.
func (s *Sandbox) serveSendThen500(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.SendThen500Rules())
	case http.MethodPost:
		var rule SendThen500Rule
		if !decodeBody(w, r, &rule, "a send-then-500 rule object") {
			return
		}
		s.AddSendThen500(rule)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		s.ClearSendThen500()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET, POST or DELETE"})
	}
}

// decodeBody decodes a JSON admin body into v, refusing unknown fields; on
// failure it answers 400 naming what was expected and reports false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, what string) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be " + what + ": " + err.Error()})
		return false
	}
	return true
}

func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use " + method})
	return false
}

func match(filter, v string) bool { return filter == "" || filter == v }
