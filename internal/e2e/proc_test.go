package e2e

import (
	"bufio"
	"encoding/json"
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

	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
)

// buildBinary builds the aisedge binary into a temporary folder, with the
// race detector when race is true.
func buildBinary(t testing.TB, race bool) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(t.TempDir(), "aisedge")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/aisedge")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = sampledata.ModuleRoot(t)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("built %s (race=%v) in %v", bin, race, time.Since(start).Round(time.Millisecond))
	return bin
}

// procLine is one line the subprocess wrote, JSON-decoded when it is JSON.
type procLine struct {
	at     time.Time
	stream string // "stdout" or "stderr"
	raw    string
	m      map[string]any
}

func (l procLine) str(k string) string { s, _ := l.m[k].(string); return s }

// event is the line's pipeline event name: "event" in both the stdout
// events and the slog lines that carry one.
func (l procLine) event() string { return l.str("event") }

// proc is one `aisedge run` subprocess whose output lines are collected
// (and copied to a log file when one is given).
type proc struct {
	t       testing.TB
	cmd     *exec.Cmd
	exited  chan struct{}
	mu      sync.Mutex
	lines   []procLine
	changed chan struct{} // closed and replaced on every new line

	dicomAddr, httpAddr string
	startup             time.Duration // exec to "receiver listening"
}

// startProc starts bin with args, env added to the environment, and waits
// until the receiver listens; it is killed when the test ends. Every line
// is also written to logPath unless that is empty.
func startProc(t testing.TB, bin string, args, env []string, logPath string) *proc {
	t.Helper()
	p := &proc{t: t, exited: make(chan struct{}), changed: make(chan struct{})}
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
	logf := io.Discard
	var logFile *os.File
	if logPath != "" {
		if logFile, err = os.Create(logPath); err != nil {
			t.Fatal(err)
		}
		logf = logFile
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
				l := procLine{at: time.Now(), stream: s.name, raw: sc.Text()}
				if json.Unmarshal(sc.Bytes(), &l.m) != nil {
					l.m = nil
				}
				p.mu.Lock()
				fmt.Fprintln(logf, l.raw)
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
		if logFile != nil {
			logFile.Close()
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		if p.alive() {
			cmd.Process.Kill()
			<-p.exited
		}
	})
	l, ok := p.wait(30*time.Second, func(l procLine) bool { return l.str("msg") == "receiver listening" })
	if !ok {
		p.kill()
		t.Fatalf("aisedge did not start listening within 30 s\n%s", p.tail(40))
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

func (p *proc) snapshot() []procLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines[:len(p.lines):len(p.lines)]
}

// waitLine waits for a line (from index from on) that match accepts and
// returns its index; false when d passes or the process exits first.
func (p *proc) waitLine(from int, d time.Duration, match func(procLine) bool) (int, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		lines, changed := p.lines, p.changed
		p.mu.Unlock()
		for ; from < len(lines); from++ {
			if match(lines[from]) {
				return from, true
			}
		}
		select {
		case <-changed:
		case <-p.exited:
			// Lines written just before the exit are in by now.
			lines := p.snapshot()
			for ; from < len(lines); from++ {
				if match(lines[from]) {
					return from, true
				}
			}
			return 0, false
		case <-deadline.C:
			return 0, false
		}
	}
}

// wait returns the first line match accepts; false after d or once the
// process has exited without one.
func (p *proc) wait(d time.Duration, match func(procLine) bool) (procLine, bool) {
	i, ok := p.waitLine(0, d, match)
	if !ok {
		return procLine{}, false
	}
	return p.snapshot()[i], true
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and returns the exit status (-1: killed after 40 s).
func (p *proc) stop() int {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(40 * time.Second):
		p.kill()
		return -1
	}
}

func (p *proc) tail(n int) string {
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
