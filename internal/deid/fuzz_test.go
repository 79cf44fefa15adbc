package deid

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// FuzzDeidentify: whatever the codec accepts, the engine either produces an
// output that the gate judges, or quarantines; it never panics, and an
// output it passes re-parses.
func FuzzDeidentify(f *testing.F) {
	for _, n := range []string{"pydicom_CT_small.dcm", "pydicom_test-SR.dcm", "pydicom_chrH32.dcm", "pydicom_nested_priv_SQ.dcm", "pydicom_UN_sequence.dcm", "pydicom_rtdose.dcm"} {
		if b, err := os.ReadFile(filepath.Join(sharedDir(f), n)); err == nil {
			f.Add(b)
		}
	}
	st := newSynthStudy(11)
	sf, _ := synthSR(f, variants[2], st)
	var buf bytes.Buffer
	dicom.WriteFile(&buf, sf)
	f.Add(buf.Bytes())
	e := testEngine(f, testProfile(f, ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := dicom.ReadFileBytes(b, &dicom.ParseOptions{Limits: dicom.Limits{MaxMemory: 16 << 20}})
		if err != nil {
			return
		}
		res, err := e.Deidentify(in, Options{})
		if err != nil || res.Quarantined() {
			return
		}
		var out bytes.Buffer
		if err := dicom.WriteFile(&out, res.File); err != nil {
			return
		}
		g, err := e.Verify(res, bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		if g.Passed {
			if _, err := dicom.ReadFileBytes(out.Bytes(), nil); err != nil {
				t.Fatalf("a passed output does not parse: %v", err)
			}
		}
	})
}
