package deid

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

func testProfile(t testing.TB, extra string) *Profile {
	t.Helper()
	b, _ := BuiltinProfile("research-default")
	s := strings.Replace(string(b), `"Pixels": { "Default": "quarantine-if-risky", "Masks": [] },`,
		`"Pixels": { "Default": "quarantine-if-risky", "Clear": [{"When": {"SOPClassUID": ".*"}, "Reason": "test data without burned-in text"}] },
  "AcknowledgeRisk": ["PixelsClear"],`+extra, 1)
	p, err := LoadProfile([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSmoke(t *testing.T) {
	e := testEngine(t, testProfile(t, ""))
	dir := sharedDir(t)
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		if !strings.HasSuffix(ent.Name(), ".dcm") || strings.Contains(ent.Name(), "truncated") {
			continue
		}
		f, err := dicom.Open(filepath.Join(dir, ent.Name()), nil)
		if err != nil {
			t.Fatal(err)
		}
		if f.Dataset.String(tagPatientID) == "" {
			f.Dataset.SetString(tagPatientID, dicom.LO, "MRN00123456")
		}
		res, out := runFile(t, e, f)
		f.Close()
		var ws []string
		for _, w := range res.Report.Warnings {
			ws = append(ws, w.Code+"@"+w.Path)
		}
		t.Logf("%-40s out=%7d reasons=%v warns=%v", ent.Name(), len(out), res.Reasons, ws)
	}
}
