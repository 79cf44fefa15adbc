package dicom

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// sharedTestData locates ../shared/testdata/dicom next to the repository
// (or $AISEDGE_TESTDATA).
func sharedTestData(t testing.TB) string {
	t.Helper()
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
	t.Skip("shared test data not found (set AISEDGE_TESTDATA)")
	return ""
}

// gunzipped unpacks a .gz file into the test's temporary directory.
func gunzipped(t testing.TB, gz string) string {
	t.Helper()
	in, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(gz[:len(gz)-len(".gz")]))
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, zr); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}
