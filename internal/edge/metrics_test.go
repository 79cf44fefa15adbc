package edge

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aisedge/aisedge/internal/quarantine"
)

// TestMetricsLabelValuesAtStart: every status, reason, kind and stage
// series exists at zero before the first event, so that increase() counts
// the first burst.
func TestMetricsLabelValuesAtStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{} // family -> label value -> value
	for _, f := range fams {
		got[f.GetName()] = map[string]float64{}
		for _, m := range f.GetMetric() {
			v := m.GetCounter().GetValue()
			if f.GetType() == dto.MetricType_HISTOGRAM {
				v = float64(m.GetHistogram().GetSampleCount())
			}
			for _, l := range m.GetLabel() {
				got[f.GetName()][l.GetValue()] = v
			}
		}
	}
	want := map[string][]string{
		"aisedge_instances_received_total": {"0000", "A700", "C000", "0110"},
		"aisedge_deid_quarantined_total": {"unreadable", "unparseable", "no project mapped for called AE title", "de-identification failed",
			"verification gate failed", "verification gate error", "pixel-risk", "gate", "encapsulated-document"},
		"aisedge_upload_failures_total":  {"transient", "permanent"},
		"aisedge_stage_duration_seconds": {"receive", "stage", "ship"},
	}
	for fam, values := range want {
		for _, v := range values {
			n, ok := got[fam][v]
			if !ok {
				t.Errorf("%s{…=%q} does not exist at start", fam, v)
			} else if n != 0 {
				t.Errorf("%s{…=%q} = %v at start, want 0", fam, v, n)
			}
		}
	}
	// Every code the engine can quarantine with maps to a created series.
	for _, c := range QuarantineReasonCodes() {
		if _, ok := got["aisedge_deid_quarantined_total"][c]; !ok {
			t.Errorf("reason %q has no series", c)
		}
	}
	// quarantine.ReasonCode cuts a reason's detail the way quarantined() does.
	for in, want := range map[string]string{
		"pixel-risk: burned-in annotation": "pixel-risk", "gate:strings: x": "gate",
		"replace-failed at (0010,0010): y": "replace-failed", reasonGateFailed: reasonGateFailed,
	} {
		if got := quarantine.ReasonCode(in); got != want {
			t.Errorf("ReasonCode(%q) = %q, want %q", in, got, want)
		}
	}
}
