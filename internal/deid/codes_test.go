package deid

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestQuarantineCodesComplete finds every literal quarantine code in the
// package's sources and wants it in QuarantineCodes (a code missing there
// would have no series until its first use).
func TestQuarantineCodesComplete(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:quarantine\(|special: |Code: )"([a-z][a-z0-9-]+)"`)
	codes := QuarantineCodes()
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			found++
			if !slices.Contains(codes, m[1]) {
				t.Errorf("%s: quarantine code %q is not in QuarantineCodes", f, m[1])
			}
		}
	}
	if found < 10 {
		t.Fatalf("found only %d quarantine codes in the sources: the pattern is stale", found)
	}
}
