package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// serveAdmin serves the inspection and admin endpoints (JSON):
//
//	GET  /_sandbox/sent          recorded messages; ?seller= ?order= ?type= filter
//	GET  /_sandbox/stats         Stats
//	POST /_sandbox/reset         Reset (204)
//	PUT  /_sandbox/orders/{id}   SetOrder with an Order body (204)
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
	case strings.HasPrefix(rest, "orders/") && len(rest) > len("orders/"):
		if !allow(w, r, http.MethodPut) {
			return
		}
		var o Order
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be an order object: " + err.Error()})
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

func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use " + method})
	return false
}

func match(filter, v string) bool { return filter == "" || filter == v }
