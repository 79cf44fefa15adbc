package sampledata

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChecksums holds the committed samples to testdata/dicom/SHA256SUMS:
// a sample changed by accident (an editor, a line-ending filter) or a
// file added without its provenance fails here.
func TestChecksums(t *testing.T) {
	dir := Dir(t)
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: bad line %q", sc.Text())
		}
		listed[name] = true
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %s", name, got, sum)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || n == "README.md" || n == "SHA256SUMS" {
			continue
		}
		if !listed[n] {
			t.Errorf("%s is not in SHA256SUMS", n)
		}
		if !strings.Contains(string(readme), "`"+n+"`") {
			t.Errorf("%s has no provenance row in README.md", n)
		}
	}
}
