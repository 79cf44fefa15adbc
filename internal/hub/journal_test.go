package hub

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/manifest"
)

// The DICOM destination's journal: what was acknowledged and synced is
// read back by the next delivery (of this process or the next); a line a
// crash cut short is not taken as acknowledged; journals of one
// generation are found again, other generations' are apart, and stale
// ones are pruned.
func TestDICOMJournal(t *testing.T) {
	dir := t.TempDir()
	m := &manifest.Manifest{Edge: "edge-a", Folder: "P.S.V", Generation: 1}
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	j, err := openJournal(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	j.add(a)
	j.add(b)
	if err := j.sync(); err != nil {
		t.Fatal(err)
	}
	j.close()
	// A crash while writing the next line leaves half of it.
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(strings.Repeat("c", 30))
	f.Close()
	for _, tc := range []struct {
		name string
		m    *manifest.Manifest
		want map[string]bool
	}{
		{"same generation", &manifest.Manifest{Edge: "edge-a", Folder: "P.S.V", Generation: 1}, map[string]bool{a: true, b: true}},
		{"next generation", &manifest.Manifest{Edge: "edge-a", Folder: "P.S.V", Generation: 2}, map[string]bool{}},
		{"other edge", &manifest.Manifest{Edge: "edge-b", Folder: "P.S.V", Generation: 1}, map[string]bool{}},
	} {
		j2, err := openJournal(dir, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		if len(j2.done) != len(tc.want) {
			t.Errorf("%s: %d acknowledged, want %d", tc.name, len(j2.done), len(tc.want))
		}
		for k := range tc.want {
			if !j2.done[k] {
				t.Errorf("%s: %s… not acknowledged", tc.name, k[:4])
			}
		}
		j2.close()
	}
	if st, err := os.Stat(j.path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	old := time.Now().Add(-journalKeep - time.Hour)
	os.Chtimes(j.path, old, old)
	pruneJournals(dir, time.Now())
	if _, err := os.Stat(j.path); !os.IsNotExist(err) {
		t.Fatalf("a journal untouched for longer than %v is kept: %v", journalKeep, err)
	}
}
