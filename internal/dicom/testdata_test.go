package dicom

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
)

func sharedTestData(t testing.TB) string { return sampledata.Dir(t) }

// gunzipped unpacks a .gz file into the test's temporary directory.
func gunzipped(t testing.TB, gz string) string { return sampledata.Gunzipped(t, filepath.Base(gz)) }

// untarred unpacks the DICOM files of a .tar.gz into the test's temporary
// directory and returns their paths.
func untarred(t testing.TB, tgz string) []string { return sampledata.Untarred(t, filepath.Base(tgz)) }

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
