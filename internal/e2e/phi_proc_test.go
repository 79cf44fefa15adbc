package e2e

// The harness of the subprocess end-to-end test: the aisedge binary built
// into a temporary folder, `aisedge run` started with its stdout (events)
// and stderr (logs) collected line by line with arrival times, and a
// watcher that copies what passes through the data folder's bucket (the
// hub deletes a session's objects and its sealed manifest once delivered).

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func moduleRootPHI(t testing.TB) string {
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

// phiBuild builds the aisedge binary into a temporary folder. It is built
// without the race detector even when the tests run with it: the test
// measures the product's latency, and the race-enabled binary is several
// times slower (the fault tests run a race-enabled binary).
func phiBuild(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(t.TempDir(), "aisedge")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/aisedge")
	cmd.Dir = moduleRootPHI(t)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// phiLine is one line of the subprocess, JSON-decoded when it is JSON.
type phiLine struct {
	at     time.Time
	stream string // "stdout" or "stderr"
	raw    string
	m      map[string]any
}

func (l phiLine) str(k string) string { s, _ := l.m[k].(string); return s }

// event is the line's pipeline event name: "event" in both the stdout
// events and the slog lines that carry one.
func (l phiLine) event() string { return l.str("event") }

// phiProc is one `aisedge run`.
type phiProc struct {
	t       testing.TB
	cmd     *exec.Cmd
	exited  chan struct{}
	mu      sync.Mutex
	lines   []phiLine
	changed chan struct{}

	dicomAddr, httpAddr string
	startup             time.Duration // exec to "receiver listening"
}

// phiStart starts bin with args and env added to the environment, and
// waits until the receiver listens.
func phiStart(t testing.TB, bin string, args, env []string) *phiProc {
	t.Helper()
	p := &phiProc{t: t, exited: make(chan struct{}), changed: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	var readers sync.WaitGroup
	for _, s := range []struct {
		name string
		r    io.Reader
	}{{"stdout", stdout}, {"stderr", stderr}} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := bufio.NewScanner(s.r)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				l := phiLine{at: time.Now(), stream: s.name, raw: sc.Text()}
				if json.Unmarshal(sc.Bytes(), &l.m) != nil {
					l.m = nil
				}
				p.mu.Lock()
				p.lines = append(p.lines, l)
				close(p.changed)
				p.changed = make(chan struct{})
				p.mu.Unlock()
			}
		}()
	}
	go func() {
		readers.Wait()
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	l, ok := p.wait(30*time.Second, func(l phiLine) bool { return l.str("msg") == "receiver listening" })
	if !ok {
		t.Fatalf("aisedge run did not start listening within 30 s\n%s", p.tail(40))
	}
	p.startup = l.at.Sub(start)
	p.dicomAddr = l.str("addr")
	for _, l := range p.snapshot() {
		if l.str("msg") == "standalone pipeline starting" {
			p.httpAddr = l.str("http")
		}
	}
	if p.dicomAddr == "" || p.httpAddr == "" {
		t.Fatalf("no DICOM (%q) or HTTP (%q) address in the log\n%s", p.dicomAddr, p.httpAddr, p.tail(40))
	}
	return p
}

func (p *phiProc) snapshot() []phiLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines[:len(p.lines):len(p.lines)]
}

// wait returns the first line match accepts; false after d or once the
// process has exited without one.
func (p *phiProc) wait(d time.Duration, match func(phiLine) bool) (phiLine, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	from := 0
	for {
		p.mu.Lock()
		lines, changed := p.lines, p.changed
		p.mu.Unlock()
		for ; from < len(lines); from++ {
			if match(lines[from]) {
				return lines[from], true
			}
		}
		select {
		case <-changed:
		case <-p.exited:
			for _, l := range p.snapshot()[from:] {
				if match(l) {
					return l, true
				}
			}
			return phiLine{}, false
		case <-deadline.C:
			return phiLine{}, false
		}
	}
}

// stop sends SIGTERM and returns the exit status (-1: killed after 40 s).
func (p *phiProc) stop() int {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(40 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return -1
	}
}

func (p *phiProc) tail(n int) string {
	lines := p.snapshot()
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

// phiWatcher polls the data folder's bucket and staging area. Every
// object that appears in the bucket is hard-linked into a capture folder
// (cheap, so that the poll stays fast and the measured pipeline is not
// slowed; the link keeps the bytes after the hub deletes the object), and
// every manifest is copied.
type phiWatcher struct {
	dataDir, capture string
	stopc            chan struct{}
	done             chan struct{}

	mu       sync.Mutex
	sealed   map[string][]byte // bucket key of a MANIFEST → bytes
	staged   map[string][]byte // <folder>/MANIFEST... in staging → bytes
	seen     map[string]string // path → size/mtime/inode stamp
	captured map[string]string // capture path → bucket key
	polls    int
	errs     []string
}

var phiManifestRE = regexp.MustCompile(`^MANIFEST(\.g[0-9]+)?\.json$`)

func phiWatch(dataDir, capture string) *phiWatcher {
	w := &phiWatcher{dataDir: dataDir, capture: capture, stopc: make(chan struct{}), done: make(chan struct{}),
		sealed: map[string][]byte{}, staged: map[string][]byte{}, seen: map[string]string{}, captured: map[string]string{}}
	os.MkdirAll(capture, 0o755)
	go func() {
		defer close(w.done)
		for {
			w.poll()
			select {
			case <-w.stopc:
				w.poll()
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *phiWatcher) stop() {
	close(w.stopc)
	<-w.done
}

func (w *phiWatcher) poll() {
	bucket := filepath.Join(w.dataDir, "bucket")
	filepath.WalkDir(bucket, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(bucket, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".objstore" {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		var ino uint64
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		stamp := fmt.Sprint(info.Size(), info.ModTime().UnixNano(), ino)
		w.mu.Lock()
		old := w.seen[p]
		w.mu.Unlock()
		if old == stamp {
			return nil
		}
		var data []byte
		if phiManifestRE.MatchString(d.Name()) {
			if data, err = os.ReadFile(p); err != nil {
				return nil // gone: deleted between the listing and now
			}
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		dst := filepath.Join(w.capture, fmt.Sprintf("%06d-%s", len(w.captured), d.Name()))
		if err := os.Link(p, dst); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				w.errs = append(w.errs, err.Error())
			}
			return nil
		}
		w.seen[p] = stamp
		w.captured[dst] = rel
		if data != nil {
			w.sealed[rel] = data
		}
		return nil
	})
	staging := filepath.Join(w.dataDir, "edge", "staging")
	folders, _ := os.ReadDir(staging)
	for _, f := range folders {
		names, _ := os.ReadDir(filepath.Join(staging, f.Name()))
		for _, n := range names {
			if !phiManifestRE.MatchString(n.Name()) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(staging, f.Name(), n.Name()))
			if err != nil || !json.Valid(data) {
				continue // gone, or caught while being written
			}
			w.mu.Lock()
			w.staged[f.Name()+"/"+n.Name()] = data
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	w.polls++
	w.mu.Unlock()
}

// manifests returns copies of the manifests seen: sealed ones by bucket
// key, staged ones by <folder>/<name>.
func (w *phiWatcher) manifests() (sealed, staged map[string][]byte, polls int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sealed, staged = map[string][]byte{}, map[string][]byte{}
	for k, v := range w.sealed {
		sealed[k] = v
	}
	for k, v := range w.staged {
		staged[k] = v
	}
	return sealed, staged, w.polls
}

// objects returns the captured bucket objects: capture path → bucket key.
func (w *phiWatcher) objects() (map[string]string, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	for k, v := range w.captured {
		out[k] = v
	}
	return out, append([]string(nil), w.errs...)
}

// phiTimeline describes the way of the session verified last, from the
// events and logs, in seconds after t0 (the last C-STORE response): its
// last instance, staging, sealing in the bucket, the hub picking it up,
// verified at the destination.
func phiTimeline(lines []phiLine, t0 time.Time) string {
	var last phiLine
	for _, l := range lines {
		if l.event() == "xnat_upload_completed" && !l.at.Before(last.at) {
			last = l
		}
	}
	if last.m == nil {
		return "no session delivered"
	}
	sess := last.str("session")
	steps := []struct{ name, event string }{
		{"last instance de-identified", "instance_deidentified"}, {"staged", "study_staged"}, {"upload started", "upload_started"},
		{"sealed", "upload_completed"}, {"hub started delivery", "xnat_upload_started"}, {"verified", "xnat_upload_completed"},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "session verified last, %s:", sess)
	for _, st := range steps {
		var at time.Time
		for _, l := range lines {
			if l.event() == st.event && l.str("session") == sess {
				at = l.at
			}
		}
		if at.IsZero() {
			fmt.Fprintf(&b, " %s ?;", st.name)
			continue
		}
		fmt.Fprintf(&b, " %s %+.2f s;", st.name, at.Sub(t0).Seconds())
	}
	return strings.TrimSuffix(b.String(), ";")
}
