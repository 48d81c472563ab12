package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spmsg/spmsg/tasks"
)

// metrics are the API's Prometheus metrics. Labels carry route patterns,
// status codes and job results only: never ids, names or tokens.
type metrics struct {
	requests                      *prometheus.CounterVec   // spmsg_api_requests_total{route,status}
	duration                      *prometheus.HistogramVec // spmsg_api_request_duration_seconds{route}
	jobs                          *prometheus.CounterVec   // spmsg_api_jobs_total{result}
	accepted, duplicate, rejected prometheus.Counter
}

// Job results, the values of spmsg_api_jobs_total's label and of an item
// result's status.
const (
	resultAccepted  = tasks.StatusAccepted
	resultDuplicate = tasks.StatusDuplicate
	resultRejected  = "rejected"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spmsg_api_requests_total",
			Help: "HTTP API requests by route pattern and status code."}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "spmsg_api_request_duration_seconds",
			Help:    "HTTP API request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"route"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spmsg_api_jobs_total",
			Help: "Jobs posted to the HTTP API by result: accepted, duplicate or rejected."}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.jobs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.accepted = m.jobs.WithLabelValues(resultAccepted)
	m.duplicate = m.jobs.WithLabelValues(resultDuplicate)
	m.rejected = m.jobs.WithLabelValues(resultRejected)
	return m, nil
}

// countJob counts one job result.
func (m *metrics) countJob(status string) {
	switch status {
	case resultAccepted:
		m.accepted.Inc()
	case resultDuplicate:
		m.duplicate.Inc()
	default:
		m.rejected.Inc()
	}
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument wraps a route's handler: it recovers a panic as a JSON 500,
// counts the request and its latency under route, and logs one line
// (method, path, status, duration, remote address; never headers or
// bodies, so never a token) at debug level, or error level for a 5xx.
func (a *API) instrument(route string, next http.Handler) http.Handler {
	hist := a.metrics.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.Error("panic in handler", "route", route, "panic", p)
				if sw.status == 0 {
					writeError(sw, http.StatusInternalServerError, "internal error")
				}
			}
			el := time.Since(start)
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			hist.Observe(el.Seconds())
			a.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
			// Requests are logged at debug level (LOG_LEVEL=debug), failures
			// of the server at error level; /metrics counts them all.
			level := slog.LevelDebug
			if sw.status >= 500 {
				level = slog.LevelError
			}
			a.log.LogAttrs(r.Context(), level, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", sw.status), slog.Duration("duration", el), slog.String("remote", r.RemoteAddr))
		}()
		next.ServeHTTP(sw, r)
	})
}
