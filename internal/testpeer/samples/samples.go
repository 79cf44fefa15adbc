// Package samples gives tests the shared DICOM sample files (through
// sampledata) and writes synthetic series derived from them. It is test
// support: only _test.go files import it.
package samples

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
)

// Dir returns the folder of the sample files (see sampledata.Dir).
func Dir(tb testing.TB) string { tb.Helper(); return sampledata.Dir(tb) }

// Path returns the path of one sample file.
func Path(tb testing.TB, name string) string { tb.Helper(); return sampledata.Path(tb, name) }

// Gunzipped unpacks a .gz sample into the test's temporary folder.
func Gunzipped(tb testing.TB, name string) string { tb.Helper(); return sampledata.Gunzipped(tb, name) }

// Untarred unpacks a .tar.gz sample and returns its files' paths.
func Untarred(tb testing.TB, name string) []string { tb.Helper(); return sampledata.Untarred(tb, name) }

// Series describes synthetic copies of a sample instance.
type Series struct {
	// Template is the sample file (default pydicom_CT_small.dcm: an
	// ORIGINAL\PRIMARY CT that de-identification lets through).
	Template string
	// PatientID and AccessionNumber replace the template's when set.
	PatientID, AccessionNumber string
	StudyUID, SeriesUID        string
	SeriesNumber               int
	// N instances get SOP Instance UIDs <SeriesUID>.1 ... .N.
	N int
}

// Write writes the series into a new temporary folder and returns it.
func (s Series) Write(tb testing.TB) string {
	tb.Helper()
	tmpl := s.Template
	if tmpl == "" {
		tmpl = "pydicom_CT_small.dcm"
	}
	f, err := dicom.Open(Path(tb, tmpl), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	ds := f.Dataset
	if s.PatientID != "" {
		ds.SetString(dicom.NewTag(0x0010, 0x0020), dicom.LO, s.PatientID)
	}
	if s.AccessionNumber != "" {
		ds.SetString(dicom.NewTag(0x0008, 0x0050), dicom.SH, s.AccessionNumber)
	}
	ds.SetString(dicom.TagStudyInstanceUID, dicom.UI, s.StudyUID)
	ds.SetString(dicom.TagSeriesInstanceUID, dicom.UI, s.SeriesUID)
	ds.SetString(dicom.NewTag(0x0020, 0x0011), dicom.IS, fmt.Sprint(s.SeriesNumber))
	dir := tb.TempDir()
	for i := range s.N {
		uid := fmt.Sprintf("%s.%d", s.SeriesUID, i+1)
		ds.SetString(dicom.TagSOPInstanceUID, dicom.UI, uid)
		if f.Meta != nil {
			f.Meta.SetString(dicom.TagMediaStorageSOPInstanceUID, dicom.UI, uid)
		}
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("%04d.dcm", i)))
		if err != nil {
			tb.Fatal(err)
		}
		if err := dicom.WriteFile(out, f); err != nil {
			tb.Fatal(err)
		}
		if err := out.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
