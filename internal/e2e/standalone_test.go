package e2e

// A harness for the fault tests: the real aisedge binary, started as
// `aisedge run` in a subprocess on one data folder, killed with SIGKILL and
// restarted; its JSON log (stderr) and event (stdout) lines are collected so
// that tests can wait for pipeline steps and kill right after them.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
)

// buildAisedge builds the aisedge binary into dir (with the race detector
// when the tests run with it) and returns its path.
func buildAisedge(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	root := moduleRoot(t)
	bin := filepath.Join(dir, "aisedge")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/aisedge")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("built %s (race=%v) in %v", bin, raceEnabled, time.Since(start).Round(time.Millisecond))
	return bin
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatal("go.mod not found")
	return ""
}

// logLine is one line the subprocess wrote, JSON-decoded when it is JSON.
type logLine struct {
	at  time.Time
	raw string
	m   map[string]any
}

func (l logLine) str(k string) string { s, _ := l.m[k].(string); return s }

// standalone is one run of `aisedge run` on a data folder.
type standalone struct {
	t       *testing.T
	run     int
	dataDir string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string

	mu      sync.Mutex
	lines   []logLine
	changed chan struct{} // closed and replaced on every new line

	dicomAddr, httpAddr string
}

// startStandalone starts `aisedge run` on dataDir and waits until it
// listens. run numbers the runs in logs.
func startStandalone(t *testing.T, bin, dataDir string, run int) *standalone {
	t.Helper()
	s := &standalone{t: t, run: run, dataDir: dataDir, exited: make(chan struct{}), changed: make(chan struct{}),
		logPath: filepath.Join(filepath.Dir(dataDir), fmt.Sprintf("run-%02d.log", run))}
	cmd := exec.Command(bin, "run", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--quiet-period", "1s", "--min-free-bytes", "-1", "--profile", "research-default")
	cmd.Env = append(os.Environ(), deid.SaltEnv+"="+salt)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	var readers sync.WaitGroup
	var logMu sync.Mutex
	for _, r := range []io.Reader{stdout, stderr} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				l := logLine{at: time.Now(), raw: sc.Text()}
				if json.Unmarshal(sc.Bytes(), &l.m) != nil {
					l.m = nil
				}
				logMu.Lock()
				fmt.Fprintln(logf, l.raw)
				logMu.Unlock()
				s.mu.Lock()
				s.lines = append(s.lines, l)
				close(s.changed)
				s.changed = make(chan struct{})
				s.mu.Unlock()
			}
		}()
	}
	go func() {
		readers.Wait()
		cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
	})
	_, ok := s.waitLine(0, 30*time.Second, func(l logLine) bool { return l.str("msg") == "receiver listening" })
	if !ok {
		s.kill()
		t.Fatalf("run %d: aisedge did not start listening\n%s", run, s.tail(40))
	}
	for _, l := range s.snapshot() {
		switch l.str("msg") {
		case "receiver listening":
			s.dicomAddr = l.str("addr")
		case "standalone pipeline starting":
			s.httpAddr = l.str("http")
		}
	}
	return s
}

func (s *standalone) snapshot() []logLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines[:len(s.lines):len(s.lines)]
}

// waitLine waits for a line (from index from on) that match accepts and
// returns its index; false when d passes or the process exits first.
func (s *standalone) waitLine(from int, d time.Duration, match func(logLine) bool) (int, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		lines, changed := s.lines, s.changed
		s.mu.Unlock()
		for i := from; i < len(lines); i++ {
			if match(lines[i]) {
				return i, true
			}
		}
		from = len(lines)
		select {
		case <-changed:
		case <-s.exited:
			// Lines written just before the exit are in by now.
			s.mu.Lock()
			lines = s.lines
			s.mu.Unlock()
			for i := from; i < len(lines); i++ {
				if match(lines[i]) {
					return i, true
				}
			}
			return 0, false
		case <-deadline.C:
			return 0, false
		}
	}
}

func (s *standalone) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *standalone) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop sends SIGTERM and expects a clean exit within 40 s.
func (s *standalone) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(40 * time.Second):
		s.kill()
		s.t.Fatalf("run %d: aisedge did not stop within 40 s of SIGTERM\n%s", s.run, s.tail(40))
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Errorf("run %d: aisedge exited with status %d after SIGTERM\n%s", s.run, code, s.tail(40))
	}
}

// checkRaces fails the test if the (race-enabled) binary reported a race.
func (s *standalone) checkRaces() {
	s.t.Helper()
	for _, l := range s.snapshot() {
		if strings.Contains(l.raw, "WARNING: DATA RACE") || strings.HasPrefix(l.raw, "panic:") || strings.HasPrefix(l.raw, "fatal error:") {
			s.t.Errorf("run %d: the aisedge process reported %q; log: %s\n%s", s.run, l.raw, s.logPath, s.tail(80))
			return
		}
	}
}

func (s *standalone) tail(n int) string {
	lines := s.snapshot()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// status fetches /api/status.
func (s *standalone) status(ctx context.Context) (map[string]json.RawMessage, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.httpAddr+"/api/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// instance is one test instance: its file, what the sender needs, and the
// SOP Instance UID de-identification gives it.
type instance struct {
	fi     *dimse.FileInstance
	remap  string
	series string
}

// makeInstances writes n CT instances of one series (see series) and
// de-identifies each in-process with the standalone's configuration (key,
// profile, site "standalone", project "AISEDGE") to know the SOP Instance
// UID it must have in the archive. It fails if any would be quarantined.
func makeInstances(t *testing.T, eng *deid.Engine, patient, study, ser string, number, n int) []instance {
	t.Helper()
	dir := series(t, patient, study, ser, number, n)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []instance
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := dimse.ReadFileInstance(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := dicom.Open(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := eng.Deidentify(f, deid.Options{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.Quarantined() {
			t.Fatalf("test instance %s would be quarantined: %v", fi.SOPInstanceUID, res.Reasons)
		}
		out = append(out, instance{fi: fi, remap: res.SOPInstanceUID, series: ser})
	}
	return out
}

func standaloneEngine(t *testing.T) *deid.Engine {
	t.Helper()
	keys, err := deid.NewKeys(salt)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := deid.New(deid.Config{Profile: deid.MustBuiltin("research-default"), Keys: keys, Site: "standalone", ProjectCode: "AISEDGE"})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// sendInstances sends with C-STORE (two associations of at most 25
// instances at a time) and returns the SOP Instance UIDs (original) that
// were acknowledged with status 0000. afterAck, if set, runs after each
// acknowledgement with the running count (from the sender's goroutines).
func sendInstances(addr string, ins []instance, afterAck func(n int)) map[string]bool {
	files := make([]*dimse.FileInstance, len(ins))
	for i, in := range ins {
		files[i] = in.fi
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	dimse.SendFiles(context.Background(), addr, files, dimse.SendOptions{
		Dial: dimse.DialConfig{CallingAET: "FAULTSCU", CalledAET: "AISEDGE", Timeout: 20 * time.Second}, PerAssociation: 25, Parallel: 2,
		OnResult: func(r dimse.SendResult) {
			if r.Err != nil || r.Status != dimse.StatusSuccess {
				return
			}
			mu.Lock()
			acked[r.File.SOPInstanceUID] = true
			n := len(acked)
			mu.Unlock()
			if afterAck != nil {
				afterAck(n)
			}
		},
	})
	return acked
}

// dataCounts is what lies where in a standalone data folder.
type dataCounts struct {
	spool, staging, bucket, archive, quarantine int
}

func (c dataCounts) String() string {
	return fmt.Sprintf("spool objects %d, staging files %d, bucket objects %d, archive files %d, quarantine %d",
		c.spool, c.staging, c.bucket, c.archive, c.quarantine)
}

func countData(dataDir string) dataCounts {
	return dataCounts{
		spool:      countFiles(filepath.Join(dataDir, "edge", "spool", "objects"), nil),
		staging:    countFiles(filepath.Join(dataDir, "edge", "staging"), nil),
		bucket:     countFiles(filepath.Join(dataDir, "bucket"), func(rel string) bool { return !strings.HasPrefix(rel, ".objstore/") }),
		archive:    countFiles(filepath.Join(dataDir, "archive"), func(rel string) bool { return strings.HasSuffix(rel, ".dcm") }),
		quarantine: len(readDirNames(filepath.Join(dataDir, "edge", "quarantine"))),
	}
}

// countFiles counts regular files under dir whose slash-separated path
// relative to dir keep accepts (nil: all).
func countFiles(dir string, keep func(rel string) bool) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if keep == nil || keep(filepath.ToSlash(rel)) {
			n++
		}
		return nil
	})
	return n
}

// listFiles returns the regular files under dir, relative, slash-separated.
func listFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	return out
}

func readDirNames(dir string) []string {
	es, _ := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
