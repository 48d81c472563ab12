package main

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spmsg/spmsg/tasks"
)

// queueCollector exports asynq queue sizes from the Inspector on each
// scrape (asynq's own x/metrics module only resolves to a 2021 release).
type queueCollector struct {
	insp    *asynq.Inspector
	size    *prometheus.Desc
	latency *prometheus.Desc
}

func newQueueCollector(insp *asynq.Inspector) *queueCollector {
	return &queueCollector{
		insp: insp,
		size: prometheus.NewDesc("spmsg_queue_tasks", "Tasks in an asynq queue by state.",
			[]string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("spmsg_queue_latency_seconds", "Age of the oldest pending task in a queue.",
			[]string{"queue"}, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.latency
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
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
