package spool

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/fsutil"
)

var sess = Session{Project: "PROJ", Subject: "PROJ-S1", Visit: "V1", ProfileHash: "p1"}

func write(t testing.TB, s *Spool, content string) Written {
	t.Helper()
	w, err := s.WriteTemp(fsutil.Synced, func(w io.Writer) error { _, err := io.WriteString(w, content); return err })
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func add(t testing.TB, s *Spool, study, sop, content string) AddResult {
	t.Helper()
	w := write(t, s, content)
	r, err := s.AddInstance(w.Path, Instance{StudyKey: study, SOPInstanceUID: sop, SeriesUID: "2.25.9", Modality: "MR", Size: w.Size, SHA256: w.SHA256, MD5: w.MD5}, sess, fsutil.Synced)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)}
	s, err := Open(dir, Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if r := add(t, s, "st1", "2.25.1", "a"); r != Added {
		t.Fatalf("first add: %v", r)
	}
	clk.add(time.Second)
	if r := add(t, s, "st1", "2.25.1", "a"); r != AlreadyHave {
		t.Fatalf("identical re-send: %v", r)
	}
	if r := add(t, s, "st1", "2.25.1", "b"); r != AddedDuplicate {
		t.Fatalf("different bytes, same UID: %v", r)
	}
	add(t, s, "st1", "2.25.2", "c")
	st, _ := s.Study("st1")
	if st.Pending != 3 || !st.LastAt.Equal(clk.now()) {
		t.Fatalf("study %+v", st)
	}
	pending, _ := s.Pending("st1")
	ids := make([]string, len(pending))
	for i, in := range pending {
		ids[i] = in.ID
	}
	sh, err := s.Stage("st1", ids)
	if err != nil || sh.Generation != 1 {
		t.Fatalf("stage: %+v %v", sh, err)
	}
	// A late series after staging opens generation 2.
	add(t, s, "st1", "2.25.3", "d")
	st, _ = s.Study("st1")
	if st.Pending != 1 || st.Generation != 1 {
		t.Fatalf("after late arrival %+v", st)
	}
	ships, _ := s.Shipments()
	if len(ships) != 1 || ships[0].State != Staged {
		t.Fatalf("shipments %+v", ships)
	}
	if err := s.Seal("st1", 1); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := os.Stat(s.ObjectPath(id)); !os.IsNotExist(err) {
			t.Errorf("file %s kept after seal", id)
		}
	}
	// Re-sending an instance of a sealed shipment changes nothing: its
	// file stays deleted.
	if r := add(t, s, "st1", "2.25.2", "c"); r != AlreadyHave {
		t.Fatalf("re-send after seal: %v", r)
	}
	for _, id := range ids {
		if _, err := os.Stat(s.ObjectPath(id)); !os.IsNotExist(err) {
			t.Errorf("file %s back after a re-send of a sealed instance", id)
		}
	}
	late, _ := s.Pending("st1")
	sh2, err := s.Stage("st1", []string{late[0].ID})
	if err != nil || sh2.Generation != 2 {
		t.Fatalf("second generation %+v %v", sh2, err)
	}
}

func TestOrphansRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	add(t, s, "st", "2.25.1", "kept")
	w := write(t, s, "never recorded")
	orphan := s.ObjectPath("deadbeef")
	os.Rename(w.Path, orphan)
	write(t, s, "left in tmp")
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Error("orphan object kept")
	}
	if e, _ := os.ReadDir(s.TmpDir()); len(e) != 0 {
		t.Error("tmp not cleaned")
	}
	if p, _ := s.Pending("st"); len(p) != 1 {
		t.Fatal("recorded instance lost")
	}
	if _, err := os.Stat(s.ObjectPath(mustPending(t, s, "st")[0].ID)); err != nil {
		t.Fatal(err)
	}
}

func mustPending(t *testing.T, s *Spool, study string) []Instance {
	p, err := s.Pending(study)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConcurrentAdds(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				add(t, s, fmt.Sprintf("st%d", g%2), fmt.Sprintf("2.25.%d.%d", g, i), fmt.Sprintf("%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	a, b := mustPending(t, s, "st0"), mustPending(t, s, "st1")
	if len(a)+len(b) != 200 {
		t.Fatalf("%d + %d instances", len(a), len(b))
	}
	st, _ := s.Study("st0")
	if st.Pending != len(a) {
		t.Fatalf("study count %d, records %d", st.Pending, len(a))
	}
}

// TestKill9 adds instances in a child process that reports each
// acknowledgement, kills it with SIGKILL at a random moment once it has
// acknowledged some, and checks that every acknowledged instance survived
// with its file.
func TestKill9(t *testing.T) {
	if os.Getenv("SPOOL_CHILD_DIR") != "" {
		child(os.Getenv("SPOOL_CHILD_DIR"))
		return
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
		cmd.Env = append(os.Environ(), "SPOOL_CHILD_DIR="+dir, fmt.Sprintf("SPOOL_CHILD_ROUND=%d", round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		var acked []string
		read := func(l string) {
			if strings.HasPrefix(l, "ACK ") {
				acked = append(acked, strings.TrimPrefix(l, "ACK "))
			}
		}
		// The moment of the kill counts from the first acknowledgement:
		// a loaded machine may take long to start the child. The wait
		// for it is a ceiling, not a budget.
		var kill <-chan time.Time
		start := time.After(2 * time.Minute)
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break wait
				}
				read(l)
				if kill == nil && len(acked) > 0 {
					kill = time.After(time.Duration(50+100*round) * time.Millisecond)
				}
			case <-kill:
				break wait
			case <-start:
				if kill == nil {
					break wait
				}
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		// What the child printed before it died was acknowledged too.
		for l := range lines {
			read(l)
		}
		cmd.Wait()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		have := map[string]bool{}
		for _, in := range mustPending(t, s, "kill") {
			if _, err := os.Stat(s.ObjectPath(in.ID)); err != nil {
				t.Errorf("round %d: record %s without file", round, in.SOPInstanceUID)
			}
			have[in.SOPInstanceUID] = true
		}
		for _, sop := range acked {
			if !have[sop] {
				t.Errorf("round %d: acknowledged %s lost", round, sop)
			}
		}
		s.Close()
		if len(acked) == 0 {
			t.Fatalf("round %d: child acknowledged nothing", round)
		}
		t.Logf("round %d: %d acknowledged, %d recorded", round, len(acked), len(have))
	}
}

func child(dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	round := os.Getenv("SPOOL_CHILD_ROUND")
	for i := 0; ; i++ {
		sop := fmt.Sprintf("2.25.%s.%d", round, i)
		w, err := s.WriteTemp(fsutil.Synced, func(w io.Writer) error { _, err := fmt.Fprintf(w, "content %s", sop); return err })
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		if _, err := s.AddInstance(w.Path, Instance{StudyKey: "kill", SOPInstanceUID: sop, Size: w.Size, SHA256: w.SHA256, MD5: w.MD5}, sess, fsutil.Synced); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("ACK", sop)
	}
}

func TestStudyBoundToOneSession(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	add(t, s, "st", "2.25.1", "x")
	w := write(t, s, "y")
	other := sess
	other.Subject = "PROJ-S2"
	if _, err := s.AddInstance(w.Path, Instance{StudyKey: "st", SOPInstanceUID: "2.25.2", SHA256: w.SHA256}, other, fsutil.Synced); err == nil {
		t.Fatal("a study silently moved to another session")
	}
	if _, err := os.Stat(filepath.Join(s.dir, "objects")); err != nil {
		t.Fatal(err)
	}
}

// TestSealCrashLeavesNoFiles: a crash after the seal committed but before
// its files were deleted leaves them; the next Open removes them, and the
// sealed shipment is listed for the staging clean-up until forgotten.
func TestSealCrashLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	add(t, s, "st", "2.25.1", "x")
	p := mustPending(t, s, "st")
	if _, err := s.Stage("st", []string{p[0].ID}); err != nil {
		t.Fatal(err)
	}
	keep, _ := os.ReadFile(s.ObjectPath(p[0].ID))
	if err := s.Seal("st", 1); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.ObjectPath(p[0].ID), keep, 0o600) // as if the delete never ran
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(s.ObjectPath(p[0].ID)); !os.IsNotExist(err) {
		t.Fatal("released file survived the reopen")
	}
	sealed, _ := s.SealedShipments()
	if len(sealed) != 1 {
		t.Fatalf("sealed shipments %+v", sealed)
	}
	if err := s.ForgetShipment("st", 1); err != nil {
		t.Fatal(err)
	}
	if sealed, _ := s.SealedShipments(); len(sealed) != 0 {
		t.Fatal("not forgotten")
	}
}
