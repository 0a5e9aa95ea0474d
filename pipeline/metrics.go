package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's self-metrics. A nil *Metrics records nothing.
type Metrics struct {
	Records      prometheus.Counter
	Events       *prometheus.CounterVec // by result: stored, duplicate, dead_lettered; records parked (waiting for a capture)
	Busy         prometheus.Counter
	Errors       *prometheus.CounterVec // by reason
	BatchEvents  prometheus.Histogram
	CommitTime   prometheus.Histogram
	ConsumerLag  *prometheus.GaugeVec
	SpoolDrained prometheus.Counter
	SpoolSkipped prometheus.Counter
}

// NewMetrics creates the pipeline's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hangar_intake_records_total", Help: "Raw records submitted to the intake.",
		}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hangar_intake_events_total", Help: "Events through the intake, by result.",
		}, []string{"result"}),
		Busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hangar_intake_busy_total", Help: "Submissions refused because the queue was full.",
		}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hangar_errors_total", Help: "Errors by reason.",
		}, []string{"reason"}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hangar_commit_batch_events", Help: "Events and dead letters per committed batch.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		CommitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hangar_commit_latency_seconds", Help: "Time to commit one synced batch.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hangar_consumer_lag_events", Help: "Events in the log a consumer has not consumed yet.",
		}, []string{"consumer"}),
		SpoolDrained: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hangar_spool_drained_total", Help: "Records drained from the spool.",
		}),
		SpoolSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hangar_spool_corrupt_bytes_total", Help: "Bytes of torn or corrupt spool frames skipped.",
		}),
	}
	reg.MustRegister(m.Records, m.Events, m.Busy, m.Errors, m.BatchEvents, m.CommitTime, m.ConsumerLag, m.SpoolDrained, m.SpoolSkipped)
	return m
}

func (m *Metrics) error(reason string) {
	if m != nil {
		m.Errors.WithLabelValues(reason).Inc()
	}
}
