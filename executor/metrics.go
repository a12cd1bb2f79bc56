package executor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the executor's Prometheus series.
type Metrics struct {
	sessions      prometheus.Gauge
	sessionsTotal prometheus.Counter
	statements    *prometheus.CounterVec
	duration      *prometheus.HistogramVec
}

// NewMetrics registers the executor's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowgate_sessions", Help: "Client sessions currently open."}),
		sessionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowgate_sessions_total", Help: "Client sessions opened since start."}),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowgate_statements_total", Help: "Statements by kind and SQLSTATE class (00 = success)."},
			[]string{"kind", "sqlstate_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flowgate_statement_duration_seconds", Help: "Statement duration by kind.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"kind"}),
	}
	reg.MustRegister(m.sessions, m.sessionsTotal, m.statements, m.duration)
	return m
}

func (m *Metrics) sessionOpened() {
	m.sessions.Inc()
	m.sessionsTotal.Inc()
}

func (m *Metrics) sessionClosed() { m.sessions.Dec() }

func (m *Metrics) statement(kind, sqlstate string, d time.Duration) {
	m.statements.WithLabelValues(kind, sqlstate[:2]).Inc()
	m.duration.WithLabelValues(kind).Observe(d.Seconds())
}
