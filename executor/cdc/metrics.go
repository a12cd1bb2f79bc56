package cdc

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the CDC engine's Prometheus series.
type Metrics struct {
	lag    *prometheus.GaugeVec
	events *prometheus.CounterVec
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flowgate_cdc_lag_seconds",
			Help: "Seconds between a source commit and its commit at the target, at the last checkpoint (0 when caught up and idle)."}, []string{"job"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowgate_cdc_events_total",
			Help: "Row changes applied to the target by CDC jobs, by operation (insert, update, delete, truncate)."}, []string{"job", "op"}),
	}
	reg.MustRegister(m.lag, m.events)
	return m
}

func (m *Metrics) applied(job, op string, n int64) {
	if m != nil && n > 0 {
		m.events.WithLabelValues(job, op).Add(float64(n))
	}
}

func (m *Metrics) setLag(job string, seconds float64) {
	if m != nil {
		m.lag.WithLabelValues(job).Set(seconds)
	}
}
