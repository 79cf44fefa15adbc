package deid

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

func TestDumpOutputs(t *testing.T) {
	out := os.Getenv("DEID_DUMP")
	if out == "" {
		t.Skip()
	}
	e := testEngine(t, testProfile(t, ""))
	dir := sharedDir(t)
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		if !strings.HasSuffix(ent.Name(), ".dcm") || strings.Contains(ent.Name(), "truncated") {
			continue
		}
		f, _ := dicom.Open(filepath.Join(dir, ent.Name()), nil)
		if f.Dataset.String(tagPatientID) == "" {
			f.Dataset.SetString(tagPatientID, dicom.LO, "MRN00123456")
		}
		_, b := runFile(t, e, f)
		f.Close()
		if b != nil {
			os.WriteFile(filepath.Join(out, ent.Name()), b, 0o644)
		}
	}
}
