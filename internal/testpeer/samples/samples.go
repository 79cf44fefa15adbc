// Package samples gives tests the shared DICOM sample files
// (../shared/testdata/dicom next to the repository, or $AISEDGE_TESTDATA),
// unpacked where they are archived, and writes synthetic series derived
// from them. It is test support: only _test.go files import it.
package samples

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Dir returns the folder of the sample files. A test that needs them fails
// (it does not skip) when they cannot be found: the suite's promise
// includes them.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("AISEDGE_TESTDATA"); d != "" {
		return d
	}
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "testdata", "dicom")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
	}
	tb.Fatal("sample DICOM files not found: expected ../shared/testdata/dicom beside the repository, or set AISEDGE_TESTDATA")
	return ""
}

// Path returns the path of one sample file.
func Path(tb testing.TB, name string) string { return filepath.Join(Dir(tb), name) }

// Gunzipped unpacks a .gz sample into the test's temporary folder.
func Gunzipped(tb testing.TB, name string) string {
	tb.Helper()
	in, err := os.Open(Path(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(tb.TempDir(), strings.TrimSuffix(name, ".gz"))
	f, err := os.Create(out)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(f, zr); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// Untarred unpacks a .tar.gz sample (every regular file but READMEs) into
// the test's temporary folder and returns the files' paths.
func Untarred(tb testing.TB, name string) []string {
	tb.Helper()
	in, err := os.Open(Path(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	var out []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || strings.Contains(strings.ToUpper(filepath.Base(h.Name)), "README") {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			tb.Fatalf("tar entry %q escapes", h.Name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
}

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
