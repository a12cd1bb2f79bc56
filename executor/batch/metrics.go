package batch

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the batch engine's Prometheus series.
type Metrics struct {
	rows     *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	files    *prometheus.CounterVec
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowgate_job_rows_total",
			Help: "Rows moved by sync jobs, by job and operation (export = read from the source, import = written to the target)."}, []string{"job", "operation"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowgate_job_bytes_total",
			Help: "Bytes moved by sync jobs (staged file bytes, or stream bytes with staging = none)."}, []string{"job", "operation"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "flowgate_run_duration_seconds",
			Help: "Duration of sync job runs by final status.", Buckets: prometheus.ExponentialBuckets(0.1, 2, 16)}, []string{"job", "status"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowgate_staged_files_loaded_total",
			Help: "Staged files loaded into targets, by job and by the format they went in (csv, or the target's own: PostgreSQL's binary COPY)."}, []string{"job", "format"}),
	}
	reg.MustRegister(m.rows, m.bytes, m.duration, m.files)
	return m
}

func (m *Metrics) moved(job, op string, rows, bytes int64) {
	m.rows.WithLabelValues(job, op).Add(float64(rows))
	m.bytes.WithLabelValues(job, op).Add(float64(bytes))
}

func (m *Metrics) fileLoaded(job, format string) {
	m.files.WithLabelValues(job, format).Inc()
}

func (m *Metrics) runDone(job, status string, d time.Duration) {
	m.duration.WithLabelValues(job, status).Observe(d.Seconds())
}
