package sampledata

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storescuSOPClasses are the storage SOP classes of the sample set, by
// dcmtk's symbolic names (dcmtk's dcuid.h).
var storescuSOPClasses = []string{
	"CTImageStorage", "MRImageStorage", "SecondaryCaptureImageStorage",
	"SegmentationStorage", "RTDoseStorage", "RTIonPlanStorage",
	"TwelveLeadECGWaveformStorage", "ComputedRadiographyImageStorage",
	"PositronEmissionTomographyImageStorage", "EnhancedCTImageStorage",
	"ComprehensiveSRStorage", "EnhancedMRImageStorage",
}

// storescuSyntaxGroups are the transfer syntaxes offered per SOP class. An
// SCP accepts one syntax per presentation context, so every encapsulated
// syntax gets a context of its own: storescu then finds a context whose
// syntax is the file's and sends the file unchanged.
var storescuSyntaxGroups = [][]string{
	{"LittleEndianExplicit", "BigEndianExplicit", "LittleEndianImplicit"},
	{"JPEGBaseline"},
	{"JPEGExtended:Process2+4"},
	{"JPEGLossless:Non-hierarchical-1stOrderPrediction"},
	{"JPEGLSLossless"},
	{"JPEG2000LosslessOnly"},
	{"JPEG2000"},
	{"RLELossless"},
	{"DeflatedLittleEndianExplicit"},
}

// StorescuAllSyntaxes writes a dcmtk association profile that proposes
// every transfer syntax of the sample set for every SOP class in it, and
// returns the storescu arguments that select it ("-xf FILE PROFILE"). With
// it storescu sends compressed and deflated files unchanged (by default it
// proposes only the uncompressed syntaxes).
func StorescuAllSyntaxes(tb testing.TB) []string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("# written by internal/testpeer/sampledata for storescu -xf\n[[TransferSyntaxes]]\n")
	for i, g := range storescuSyntaxGroups {
		fmt.Fprintf(&b, "[TS%d]\n", i)
		for j, ts := range g {
			fmt.Fprintf(&b, "TransferSyntax%d = %s\n", j+1, ts)
		}
	}
	b.WriteString("[[PresentationContexts]]\n[Every]\n")
	n := 0
	for _, sop := range storescuSOPClasses {
		for i := range storescuSyntaxGroups {
			n++
			fmt.Fprintf(&b, "PresentationContext%d = %s\\TS%d\n", n, sop, i)
		}
	}
	b.WriteString("[[Profiles]]\n[Every]\nPresentationContexts = Every\n")
	p := filepath.Join(tb.TempDir(), "storescu-every-syntax.cfg")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return []string{"-xf", p, "Every"}
}
