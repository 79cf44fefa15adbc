package dicom

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// untarred unpacks the DICOM files of a .tar.gz (every regular file but the
// READMEs) into the test's temporary directory and returns their paths.
func untarred(t testing.TB, tgz string) []string {
	t.Helper()
	in, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || strings.Contains(strings.ToUpper(filepath.Base(h.Name)), "README") {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("tar entry %q escapes", h.Name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
}

// testName names a test file for subtests: the base name, or the path
// inside the unpacked archive.
func testName(path string) string {
	if i := strings.Index(path, "dicomdirtests"); i >= 0 {
		return strings.ReplaceAll(path[i:], string(filepath.Separator), "_")
	}
	return filepath.Base(path)
}

// forEachFile runs fn as a parallel subtest for every parseable sample
// file (all but the deliberately truncated one), opened.
func forEachFile(t *testing.T, fn func(t *testing.T, name, path string, f *File)) {
	for _, path := range testFiles(t) {
		name := testName(path)
		if name == "pydicom_MR_truncated.dcm" {
			continue // TestBadInput
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fn(t, name, path, f)
		})
	}
}
