package main

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/tasks"
)

// queueCollector exports asynq queue sizes from the Inspector on each
// scrape (asynq's own x/metrics module only resolves to a 2021 release).
type queueCollector struct {
	insp    *asynq.Inspector
	lines   *dispatch.Dispatcher
	size    *prometheus.Desc
	latency *prometheus.Desc
	waiting *prometheus.Desc
}

func newQueueCollector(insp *asynq.Inspector, lines *dispatch.Dispatcher) *queueCollector {
	return &queueCollector{
		insp:  insp,
		lines: lines,
		waiting: prometheus.NewDesc("spmsg_line_jobs", "Jobs waiting in their sellers' lines, not yet released to a queue.",
			nil, nil),
		size: prometheus.NewDesc("spmsg_queue_tasks", "Tasks in an asynq queue by state.",
			[]string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("spmsg_queue_latency_seconds", "Age of the oldest pending task in a queue.",
			[]string{"queue"}, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.latency
	ch <- c.waiting
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if n, err := c.lines.Count(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(n))
	}
	// spmsg's own queues are always reported (zero before first use).
	for _, q := range []string{tasks.QueueTransactional, tasks.QueueCampaign} {
		info, err := c.insp.GetQueueInfo(q)
		if err != nil {
			info = &asynq.QueueInfo{Queue: q}
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), q, state)
		}
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds(), q)
	}
}
