package edge

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/fsutil"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/spool"
)

func TestScanName(t *testing.T) {
	tests := []struct{ num, desc, want string }{
		{"3", "T1w MPRAGE (sag)", "3.T1w_MPRAGE_sag"},
		{"", "", "0.unnamed"},
		{"12", "../../etc", "12.etc"},
		{" 5 ", "Ré-sumé", "5.R_sum"},
	}
	for _, tc := range tests {
		if got := ScanName(tc.num, tc.desc); got != tc.want {
			t.Errorf("ScanName(%q, %q) = %q, want %q", tc.num, tc.desc, got, tc.want)
		}
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestStager(t *testing.T) (*Stager, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool"), spool.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return &Stager{Spool: sp, Dir: filepath.Join(t.TempDir(), "staging"), Edge: "edge-a", Quiet: 30 * time.Second,
		Force: 10 * time.Minute, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clk.now}, clk
}

var testSession = spool.Session{Project: "PROJ", Subject: "PROJ-A1", Visit: "S1", ProfileHash: "sha256:x"}

func addInstance(t *testing.T, sp *spool.Spool, study, sop, series, desc, content string) {
	t.Helper()
	w, err := sp.WriteTemp(fsutil.Synced, func(w io.Writer) error { _, err := io.WriteString(w, content); return err })
	if err != nil {
		t.Fatal(err)
	}
	_, err = sp.AddInstance(w.Path, spool.Instance{StudyKey: study, SOPInstanceUID: sop, SeriesUID: "2.25." + series,
		SeriesNumber: series, SeriesDescription: desc, Modality: "MR", Size: w.Size, SHA256: w.SHA256, MD5: w.MD5}, testSession, fsutil.Synced)
	if err != nil {
		t.Fatal(err)
	}
}

func TestStageGenerations(t *testing.T) {
	s, clk := newTestStager(t)
	for i := range 3 {
		addInstance(t, s.Spool, "study1", fmt.Sprintf("2.25.1%d", i), "1", "T1w", fmt.Sprintf("t1-%d", i))
	}
	addInstance(t, s.Spool, "study1", "2.25.20", "2", "DWI b1000", "dwi")
	st, _ := s.Spool.Study("study1")
	clk.t = clk.t.Add(29 * time.Second)
	if s.Ready(st, clk.t) {
		t.Fatal("ready inside the quiet period")
	}
	clk.t = clk.t.Add(time.Second)
	ships, err := s.StageReady()
	if err != nil || len(ships) != 1 || ships[0].Generation != 1 {
		t.Fatalf("stage: %+v %v", ships, err)
	}
	m, err := s.ReadManifest(testSession, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 4 || len(m.Series) != 2 || m.Folder != "PROJ.PROJ-A1.S1" {
		t.Fatalf("manifest %+v", m)
	}
	root := s.ShipmentDir(testSession)
	for _, f := range m.Files {
		fh, err := os.Open(filepath.Join(root, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := manifest.Digest(f.Path, fh)
		fh.Close()
		if got != f {
			t.Errorf("%s: staged file %+v does not match manifest %+v", f.Path, got, f)
		}
		if !strings.HasPrefix(f.Path, "1.T1w/DICOM/") && !strings.HasPrefix(f.Path, "2.DWI_b1000/DICOM/") {
			t.Errorf("unexpected path %s", f.Path)
		}
	}
	// A late series becomes generation 2 with its own manifest.
	clk.t = clk.t.Add(time.Hour)
	addInstance(t, s.Spool, "study1", "2.25.30", "3", "late", "late")
	clk.t = clk.t.Add(time.Minute)
	ships, err = s.StageReady()
	if err != nil || len(ships) != 1 || ships[0].Generation != 2 {
		t.Fatalf("late stage: %+v %v", ships, err)
	}
	m2, err := s.ReadManifest(testSession, 2)
	if err != nil || len(m2.Files) != 1 || m2.Files[0].Path[:7] != "3.late/" {
		t.Fatalf("gen 2 manifest %+v %v", m2, err)
	}
	// Unstaging generation 1 leaves generation 2 in place.
	if err := s.Unstage(m); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, m2.Files[0].Path)); err != nil {
		t.Fatal("generation 2 file removed with generation 1")
	}
	if _, err := os.Stat(filepath.Join(root, "1.T1w")); !os.IsNotExist(err) {
		t.Fatal("empty scan folder kept")
	}
}

func TestForceTimeout(t *testing.T) {
	s, clk := newTestStager(t)
	for i := range 30 {
		addInstance(t, s.Spool, "busy", fmt.Sprintf("2.25.%d", i), "1", "x", fmt.Sprint(i))
		clk.t = clk.t.Add(25 * time.Second) // never quiet for 30 s
	}
	st, _ := s.Spool.Study("busy")
	if !s.Ready(st, clk.t) {
		t.Fatal("force timeout did not trigger after 12.5 minutes")
	}
}

func TestBackupPrune(t *testing.T) {
	dir := t.TempDir()
	b := &Backup{Dir: dir}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	mk := func(name string, age time.Duration, size int) {
		p := filepath.Join(dir, "PID", "STUDY", name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, make([]byte, size), 0o600)
		os.Chtimes(p, now.Add(-age), now.Add(-age))
	}
	mk("old.dcm", 100*24*time.Hour, 10)
	mk("mid.dcm", 10*24*time.Hour, 10)
	mk("new.dcm", time.Hour, 10)
	// Age first: only the 100-day-old file goes with a 90-day limit.
	if n, err := b.Prune(now, 90*24*time.Hour, 0); err != nil || n != 1 {
		t.Fatalf("age prune removed %d, %v", n, err)
	}
	// Size next: oldest first until at most 10 bytes remain.
	if n, err := b.Prune(now, 0, 10); err != nil || n != 1 {
		t.Fatalf("size prune removed %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PID", "STUDY", "new.dcm")); err != nil {
		t.Fatal("the newest file was pruned")
	}
}

// TestReadyWaitsForAcknowledgedInstances: a session is not complete while
// an instance acknowledged within its quiet period is still on its way
// through de-identification (it may belong to the session); instances
// acknowledged after the quiet period, or none, do not hold it.
func TestReadyWaitsForAcknowledgedInstances(t *testing.T) {
	s, _ := newTestStager(t)
	s.Quiet = 30 * time.Second
	addInstance(t, s.Spool, "sess", "2.25.1", "1", "x", "1")
	st, _ := s.Spool.Study("sess")
	last := st.LastAt
	now := last.Add(40 * time.Second)
	for _, c := range []struct {
		name    string
		waiting time.Duration // arrival of the oldest waiting instance, after last
		none    bool
		want    bool
	}{
		{name: "nothing waiting", none: true, want: true},
		{name: "waiting instance arrived before the last one", waiting: -time.Second, want: false},
		{name: "waiting instance arrived within the quiet period", waiting: 10 * time.Second, want: false},
		{name: "waiting instance arrived at the end of the quiet period", waiting: 30 * time.Second, want: false},
		{name: "waiting instance arrived after the quiet period", waiting: 31 * time.Second, want: true},
	} {
		s.Waiting = func() (time.Time, bool) { return last.Add(c.waiting), !c.none }
		if got := s.Ready(st, now); got != c.want {
			t.Errorf("%s: ready %v, want %v", c.name, got, c.want)
		}
	}
	s.Waiting = func() (time.Time, bool) { return last, true }
	if s.Ready(st, last.Add(20*time.Second)) {
		t.Error("ready within the quiet period")
	}
}
