package edge

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/quarantine"
)

// Metrics are the edge's Prometheus metrics. A nil *Metrics records
// nothing. Names are listed in MetricNames (dashboards and alert rules are
// tested against that list).
type Metrics struct {
	received    *prometheus.CounterVec
	stageTime   *prometheus.HistogramVec
	quarantines *prometheus.CounterVec
	staged      prometheus.Counter
	shipped     prometheus.Counter
	shipFailed  *prometheus.CounterVec
	bytesUp     prometheus.Counter
}

// MetricNames lists every metric family the edge exports.
var MetricNames = []string{
	"aisedge_dicom_associations_total", "aisedge_dicom_associations_active", "aisedge_dicom_received_bytes_total",
	"aisedge_instances_received_total", "aisedge_stage_duration_seconds", "aisedge_deid_quarantined_total",
	"aisedge_sessions_staged_total", "aisedge_sessions_shipped_total", "aisedge_upload_failures_total", "aisedge_upload_bytes_total",
	"aisedge_studies_open", "aisedge_shipments_queued", "aisedge_shipments_held", "aisedge_quarantine_entries",
	"aisedge_oldest_queued_seconds", "aisedge_disk_free_bytes", "aisedge_journal_records",
}

// NewMetrics registers the edge's event metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aisedge_instances_received_total",
			Help: "C-STOREs answered by the edge, by DIMSE status (0000 stored, A700 out of resources, C000 cannot understand, 0110 processing failure).",
		}, []string{"status"}),
		stageTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aisedge_stage_duration_seconds",
			Help:    "Duration of each pipeline stage: receive (backup, de-identification, gate, spool commit per instance), stage (per session), ship (per session).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}, []string{"stage"}),
		quarantines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aisedge_deid_quarantined_total",
			Help: "Instances quarantined, by reason code.",
		}, []string{"reason"}),
		staged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aisedge_sessions_staged_total", Help: "Session generations staged (complete studies and appends).",
		}),
		shipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aisedge_sessions_shipped_total", Help: "Session generations sealed in the bucket.",
		}),
		shipFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aisedge_upload_failures_total", Help: "Failed shipment attempts, by kind (transient, permanent).",
		}, []string{"kind"}),
		bytesUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aisedge_upload_bytes_total", Help: "Bytes of sealed session generations (files and manifests).",
		}),
	}
	reg.MustRegister(m.received, m.stageTime, m.quarantines, m.staged, m.shipped, m.shipFailed, m.bytesUp)
	// Every label value the edge can give starts at zero, so that
	// increase() and rate() see the first event (a series that appears
	// at 1 has no earlier sample to increase from).
	for _, k := range []string{"transient", "permanent"} {
		m.shipFailed.WithLabelValues(k)
	}
	for _, st := range ReceiveStatuses {
		m.received.WithLabelValues(st)
	}
	for _, c := range QuarantineReasonCodes() {
		m.quarantines.WithLabelValues(c)
	}
	for _, st := range []string{"receive", "stage", "ship"} {
		m.stageTime.WithLabelValues(st)
	}
	return m
}

// ReceiveStatuses are the DIMSE statuses the receiver answers with, as
// aisedge_instances_received_total labels them.
var ReceiveStatuses = []string{"0000", fmt.Sprintf("%04X", statusOutOfResources),
	fmt.Sprintf("%04X", statusCannotUnderstand), fmt.Sprintf("%04X", statusProcessingFailure)}

// The receiver's own quarantine reasons (the engine's and the gate's
// codes come from deid.QuarantineCodes).
const (
	reasonUnreadable  = "unreadable"
	reasonUnparseable = "unparseable"
	reasonUnmapped    = "no project mapped for called AE title"
	reasonDeidFailed  = "de-identification failed"
	// reasonNoSession: an invalid session.ID. The text is a metric label
	// value dashboards match on, so it keeps its "session label" wording.
	reasonNoSession  = "de-identification produced no usable session label"
	reasonGateFailed = "verification gate failed"
	reasonGateError  = "verification gate error"
)

// QuarantineReasonCodes lists every reason label of
// aisedge_deid_quarantined_total.
func QuarantineReasonCodes() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range append([]string{reasonUnreadable, reasonUnparseable, reasonUnmapped, reasonDeidFailed,
		reasonNoSession, reasonGateFailed, reasonGateError}, deid.QuarantineCodes()...) {
		if c := quarantine.ReasonCode(r); !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

func (m *Metrics) observeReceive(d time.Duration, err error) {
	if m == nil {
		return
	}
	status := "0000"
	if err != nil {
		status = "0110"
		var se *dimse.StatusError
		if errors.As(err, &se) {
			status = fmt.Sprintf("%04X", se.Status)
		}
	}
	m.received.WithLabelValues(status).Inc()
	m.stageTime.WithLabelValues("receive").Observe(d.Seconds())
}

func (m *Metrics) observeStaged(d time.Duration) {
	if m == nil {
		return
	}
	m.staged.Inc()
	m.stageTime.WithLabelValues("stage").Observe(d.Seconds())
}

func (m *Metrics) observeShipped(d time.Duration, bytes int64) {
	if m == nil {
		return
	}
	m.shipped.Inc()
	m.bytesUp.Add(float64(bytes))
	m.stageTime.WithLabelValues("ship").Observe(d.Seconds())
}

func (m *Metrics) observeShipFailed(permanent bool) {
	if m == nil {
		return
	}
	kind := "transient"
	if permanent {
		kind = "permanent"
	}
	m.shipFailed.WithLabelValues(kind).Inc()
}

// quarantined counts by the reason's code (the text before the first ':'
// or ' at '), which keeps label values few and value-free.
func (m *Metrics) quarantined(reasons []string) {
	if m == nil || len(reasons) == 0 {
		return
	}
	m.quarantines.WithLabelValues(quarantine.ReasonCode(reasons[0])).Inc()
}

// stateCollector reports, at scrape time, gauges read from the edge's
// durable state, the receiver's counters and the disk.
type stateCollector struct {
	e     *Edge
	descs map[string]*prometheus.Desc
}

func newStateCollector(e *Edge) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{e: e, descs: map[string]*prometheus.Desc{
		"assoc":    d("aisedge_dicom_associations_total", "DICOM associations, by result (evicted: idle ones released to admit a sender; dropped: connections closed before their association request, over the pending bounds).", "result"),
		"active":   d("aisedge_dicom_associations_active", "DICOM associations in progress."),
		"bytes":    d("aisedge_dicom_received_bytes_total", "Bytes of data sets received by C-STORE."),
		"open":     d("aisedge_studies_open", "Sessions with instances waiting for completion."),
		"queued":   d("aisedge_shipments_queued", "Staged session generations not yet sealed in the bucket."),
		"held":     d("aisedge_shipments_held", "Shipments held after a permanent failure, waiting for an operator."),
		"quar":     d("aisedge_quarantine_entries", "Instances in the quarantine."),
		"oldest":   d("aisedge_oldest_queued_seconds", "Age of the oldest item not yet sealed (open study or queued shipment)."),
		"diskfree": d("aisedge_disk_free_bytes", "Free bytes on the data folder's file system."),
		"journal":  d("aisedge_journal_records", "Acknowledged instances whose journal record is not yet written to the facility backup and the spool (docs/edge.md); it stays near zero unless those writes fail."),
	}}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(k string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.GaugeValue, v, labels...)
	}
	counter := func(k string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.CounterValue, v, labels...)
	}
	m := c.e.Server.Metrics.Snapshot()
	counter("assoc", float64(m.AssociationsAccepted), "accepted")
	counter("assoc", float64(m.AssociationsRejected), "rejected")
	counter("assoc", float64(m.AssociationsAborted), "aborted")
	counter("assoc", float64(m.AssociationsEvicted), "evicted")
	counter("assoc", float64(m.ConnectionsDropped), "dropped")
	gauge("active", float64(m.Active))
	counter("bytes", float64(m.BytesReceived))
	gauge("journal", float64(c.e.journal.unapplied()))
	now := c.e.cfg.Now()
	var oldest time.Time
	if studies, err := c.e.Spool.Studies(); err == nil {
		open := 0
		for _, s := range studies {
			if s.Open() {
				open++
				if oldest.IsZero() || s.FirstAt.Before(oldest) {
					oldest = s.FirstAt
				}
			}
		}
		gauge("open", float64(open))
	}
	if ships, err := c.e.Spool.Shipments(); err == nil {
		held := 0
		for _, sh := range ships {
			if sh.Held {
				held++
			}
			if oldest.IsZero() || sh.StagedAt.Before(oldest) {
				oldest = sh.StagedAt
			}
		}
		gauge("queued", float64(len(ships)))
		gauge("held", float64(held))
	}
	if q, err := c.e.Receiver.Quarantine.List(); err == nil {
		gauge("quar", float64(len(q)))
	}
	age := 0.0
	if !oldest.IsZero() {
		age = now.Sub(oldest).Seconds()
	}
	gauge("oldest", age)
	var st syscall.Statfs_t
	if err := syscall.Statfs(c.e.cfg.DataDir, &st); err == nil {
		gauge("diskfree", float64(st.Bavail)*float64(st.Bsize))
	}
}
