package hub

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aisedge/aisedge/internal/objstore"
)

// MetricNames lists every metric family the hub exports.
var MetricNames = []string{
	"aisedge_hub_sessions_delivered_total", "aisedge_hub_delivery_failures_total", "aisedge_hub_delivery_duration_seconds",
	"aisedge_hub_delivered_bytes_total", "aisedge_hub_pending", "aisedge_hub_deadletters", "aisedge_hub_oldest_pending_seconds",
	"aisedge_hub_delivery_paused",
}

type metrics struct {
	delivered prometheus.Counter
	failures  *prometheus.CounterVec
	duration  prometheus.Histogram
	bytes     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, h *Hub) *metrics {
	m := &metrics{
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "aisedge_hub_sessions_delivered_total", Help: "Session generations delivered and verified."}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aisedge_hub_delivery_failures_total",
			Help: "Failed delivery attempts, by kind (transient, permanent) and destination (empty: before any destination, e.g. a checksum mismatch)."},
			[]string{"kind", "destination"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "aisedge_hub_delivery_duration_seconds",
			Help: "From the start of a delivery (download, check, upload, verification) to its record.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "aisedge_hub_delivered_bytes_total", Help: "Bytes of delivered session generations."}),
	}
	reg.MustRegister(m.delivered, m.failures, m.duration, m.bytes, &collector{h: h})
	for _, k := range []string{"transient", "permanent"} {
		m.failures.WithLabelValues(k, "")
		for _, t := range h.cfg.Destinations {
			m.failures.WithLabelValues(k, t.Dest.Name())
		}
	}
	return m
}

type collector struct{ h *Hub }

var (
	descPending = prometheus.NewDesc("aisedge_hub_pending", "Sealed session generations waiting for delivery.", nil, nil)
	descDead    = prometheus.NewDesc("aisedge_hub_deadletters", "Generations held after a permanent failure.", nil, nil)
	descOldest  = prometheus.NewDesc("aisedge_hub_oldest_pending_seconds", "Age of the oldest sealed generation waiting for delivery.", nil, nil)
	descPaused  = prometheus.NewDesc("aisedge_hub_delivery_paused", "1 while delivery is paused because the destination refuses the hub's credentials.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPending
	ch <- descDead
	ch <- descOldest
	ch <- descPaused
}

// Collect reads the bucket with one try per listing and a short deadline,
// so that /metrics answers (without the bucket's gauges) while the store is
// unreachable; aisedge_peer_reachable says so.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	now := c.h.cfg.Now()
	paused := 0.0
	if c.h.Paused() != nil {
		paused = 1
	}
	ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, paused)
	ctx, cancel := context.WithTimeout(objstore.NoRetry(context.Background()), 5*time.Second)
	defer cancel()
	if dead, err := c.h.DeadLetters(); err == nil {
		ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(len(dead)))
	}
	if sealed, err := c.h.Scan(ctx); err == nil {
		pending := 0
		for _, s := range sealed {
			if !c.h.Delivered(s.Base, s.Generation) {
				pending++
			}
		}
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(pending))
	}
	oldest := 0.0
	for info, err := range c.h.cfg.Store.List(ctx, c.h.cfg.Prefix) {
		if err != nil {
			break
		}
		if manifestName.MatchString(info.Key[len(info.Key)-len(lastPart(info.Key)):]) && !info.LastModified.IsZero() {
			oldest = max(oldest, now.Sub(info.LastModified).Seconds())
		}
	}
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, oldest)
}

func lastPart(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[i+1:]
		}
	}
	return key
}

func (m *metrics) observeDelivered(d time.Duration, bytes int64) {
	if m == nil {
		return
	}
	m.delivered.Inc()
	m.bytes.Add(float64(bytes))
	m.duration.Observe(d.Seconds())
}

func (m *metrics) observeFailure(destination string, permanent bool) {
	if m == nil {
		return
	}
	kind := "transient"
	if permanent {
		kind = "permanent"
	}
	m.failures.WithLabelValues(kind, destination).Inc()
}
