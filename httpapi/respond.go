package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/spmsg/spmsg/tasks"
)

// pingTimeout bounds the Redis PING of GET /healthz.
const pingTimeout = 2 * time.Second

// errorBody is every error answer: a message, the problems by field for
// bad input, and the limit that was exceeded for a 413.
type errorBody struct {
	Error  string             `json:"error"`
	Errors []tasks.FieldError `json:"errors,omitempty"`
	Limit  int64              `json:"limit,omitempty"`
}

// writeJSON writes v as the JSON answer with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error: the answer could not be encoded"}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes {"error": message}.
func writeError(w http.ResponseWriter, status int, format string, a ...any) {
	writeJSON(w, status, errorBody{Error: fmt.Sprintf(format, a...)})
}

// writeTooLarge writes a 413 answer; format has one %d, for limit.
func writeTooLarge(w http.ResponseWriter, format string, limit int64) {
	writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: fmt.Sprintf(format, limit), Limit: limit})
}

// readBody reads a request body of at most limit bytes. It answers 413
// (and returns false) for a larger body, 400 for a body that cannot be
// read.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		writeTooLarge(w, "the request body is too large: at most %d bytes", limit)
		return nil, false
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeTooLarge(w, "the request body is too large: at most %d bytes", limit)
		} else {
			writeError(w, http.StatusBadRequest, "reading the request body: %v", err)
		}
		return nil, false
	}
	return buf.Bytes(), true
}
