package tasks

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
)

// Metrics are the worker's Prometheus metrics. A nil *Metrics records
// nothing. Labels never carry seller ids, order ids or secrets.
type Metrics struct {
	Jobs       *prometheus.CounterVec   // spmsg_jobs_total{outcome,type}
	Calls      *prometheus.CounterVec   // spmsg_amazon_calls_total{operation,status}
	Throttled  *prometheus.CounterVec   // spmsg_amazon_throttled_total{operation}
	Latency    *prometheus.HistogramVec // spmsg_amazon_call_duration_seconds{operation}
	Deferrals  *prometheus.CounterVec   // spmsg_job_deferrals_total{reason}
	JobLatency *prometheus.HistogramVec // spmsg_job_duration_seconds{outcome}
	QuotaWait  prometheus.Histogram     // spmsg_quota_wait_seconds
	Requeued   prometheus.Counter       // spmsg_jobs_requeued_total
}

// quotaWaitBuckets resolve the sub-second waits of released jobs.
var quotaWaitBuckets = []float64{0, .005, .01, .025, .05, .075, .1, .15, .25, .5, 1, 2}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spmsg_jobs_total",
			Help: "Jobs that reached a final outcome, by outcome and message type."}, []string{"outcome", "type"}),
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spmsg_amazon_calls_total",
			Help: "SP-API and upload calls by operation and HTTP status (\"network\" when no answer came)."}, []string{"operation", "status"}),
		Throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spmsg_amazon_throttled_total",
			Help: "429 answers from Amazon by operation."}, []string{"operation"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "spmsg_amazon_call_duration_seconds",
			Help: "Latency of calls to Amazon by operation.", Buckets: prometheus.DefBuckets}, []string{"operation"}),
		Deferrals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spmsg_job_deferrals_total",
			Help: "Times a job was put back to wait (quota, not_before, 429, busy ledger) without spending an attempt."}, []string{"reason"}),
		JobLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "spmsg_job_attempt_duration_seconds",
			Help: "Duration of the final attempt of a job, by outcome.", Buckets: prometheus.DefBuckets}, []string{"outcome"}),
		QuotaWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "spmsg_quota_wait_seconds",
			Help: "Time a job waited for its seller's quota inside the handler (holding a worker slot).", Buckets: quotaWaitBuckets}),
		Requeued: prometheus.NewCounter(prometheus.CounterOpts{Name: "spmsg_jobs_requeued_total",
			Help: "Jobs put back in their seller's line (no slot soon enough after a retry, or a 429)."}),
	}
	// Pre-create the series a dashboard expects, so they read 0, not absent.
	for _, o := range jobstate.Outcomes() {
		for _, t := range spapi.Types() {
			m.Jobs.WithLabelValues(string(o), t.Name)
		}
		m.JobLatency.WithLabelValues(string(o))
	}
	for _, op := range []string{spapi.OpGetMessagingActionsForOrder, spapi.OpGetSolicitationActionsForOrder, spapi.OpCreateUploadDestinationForResource} {
		m.Throttled.WithLabelValues(op)
	}
	for _, t := range spapi.Types() {
		m.Throttled.WithLabelValues(t.OperationID)
	}
	for _, r := range DeferReasons() {
		m.Deferrals.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(m.Jobs, m.Calls, m.Throttled, m.Latency, m.Deferrals, m.JobLatency, m.QuotaWait, m.Requeued)
	}
	return m
}

func (m *Metrics) call(op string, start time.Time, resp *spapi.Response, err error) {
	if m == nil {
		return
	}
	status := "network"
	if resp != nil && resp.Response != nil {
		status = strconv.Itoa(resp.StatusCode)
	} else {
		var e *spapi.Error
		if errors.As(err, &e) && e.StatusCode != 0 {
			status = strconv.Itoa(e.StatusCode)
		} else if err == nil {
			status = "ok"
		}
	}
	m.Calls.WithLabelValues(op, status).Inc()
	m.Latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if status == "429" {
		m.Throttled.WithLabelValues(op).Inc()
	}
}

func (m *Metrics) job(o jobstate.Outcome, typ string, start time.Time) {
	if m == nil {
		return
	}
	m.Jobs.WithLabelValues(string(o), typ).Inc()
	m.JobLatency.WithLabelValues(string(o)).Observe(time.Since(start).Seconds())
}

func (m *Metrics) deferred(reason DeferReason) {
	if m == nil {
		return
	}
	m.Deferrals.WithLabelValues(string(reason)).Inc()
}

func (m *Metrics) quotaWait(d time.Duration) {
	if m == nil {
		return
	}
	m.QuotaWait.Observe(d.Seconds())
}

func (m *Metrics) requeued() {
	if m == nil {
		return
	}
	m.Requeued.Inc()
}
