package edge

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the edge's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	received    *prometheus.CounterVec
	receiveTime prometheus.Histogram
	quarantines *prometheus.CounterVec
}

// NewMetrics registers the edge metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aisedge_instances_received_total",
			Help: "Instances received by C-STORE, by outcome (stored, quarantined is counted separately, failed).",
		}, []string{"outcome"}),
		receiveTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aisedge_receive_stage_seconds",
			Help:    "Time from a fsynced received instance to its spool commit (backup, de-identification, gate).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		quarantines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aisedge_deid_quarantined_total",
			Help: "Instances quarantined, by reason code.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.received, m.receiveTime, m.quarantines)
	return m
}

func (m *Metrics) observeReceive(d time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "stored"
	if err != nil {
		outcome = "failed"
	}
	m.received.WithLabelValues(outcome).Inc()
	m.receiveTime.Observe(d.Seconds())
}

// quarantined counts by the reason's code (the text before the first ':'
// or ' at '), which keeps label values few and value-free.
func (m *Metrics) quarantined(reasons []string) {
	if m == nil || len(reasons) == 0 {
		return
	}
	code := reasons[0]
	if i := strings.IndexAny(code, ":"); i >= 0 {
		code = code[:i]
	}
	if i := strings.Index(code, " at "); i >= 0 {
		code = code[:i]
	}
	m.quarantines.WithLabelValues(code).Inc()
}
