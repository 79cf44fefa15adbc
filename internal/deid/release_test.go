package deid

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// TestPixelRiskOverride: an operator's release lets a header-only pixel
// risk (here Modality OT) through the engine and the gate, reported with
// the operator's reason; Burned In Annotation = YES is never released.
func TestPixelRiskOverride(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	for _, tc := range []struct {
		name     string
		mutate   func(*dicom.Dataset)
		released bool
	}{
		{"secondary capture", func(ds *dicom.Dataset) { ds.SetString(tagModality, dicom.CS, "OT") }, true},
		{"burned in", func(ds *dicom.Dataset) { ds.SetString(tagBurnedInAnnotation, dicom.CS, "YES") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Deidentify works on the data set in place: a fresh one each.
			input := func() *dicom.File {
				f, _ := synthMR(t, variants[0], newSynthStudy(3), 1)
				tc.mutate(f.Dataset)
				return f
			}
			res, err := e.Deidentify(input(), Options{})
			if err != nil || !res.Quarantined() {
				t.Fatalf("without override: quarantined %v, %v", res.Quarantined(), err)
			}
			res, err = e.Deidentify(input(), Options{PixelRiskOverride: "checked the screen capture: no text"})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.released {
				if !res.Quarantined() || res.Reasons[0].Code != "pixel-risk" {
					t.Fatalf("burned-in annotation released: %v", res.Reasons)
				}
				return
			}
			if res.Quarantined() {
				t.Fatalf("released instance quarantined: %v", res.Reasons)
			}
			var buf bytes.Buffer
			if err := dicom.WriteFile(&buf, res.File); err != nil {
				t.Fatal(err)
			}
			g, err := e.Verify(res, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil || !g.Passed {
				t.Fatalf("gate: %+v %v", g, err)
			}
			found := false
			for _, w := range res.Report.Warnings {
				if w.Code == "pixel-risk-released" && strings.Contains(w.Detail, "no text") {
					found = true
				}
			}
			if !found {
				t.Errorf("report lacks the release: %+v", res.Report.Warnings)
			}
		})
	}
}
