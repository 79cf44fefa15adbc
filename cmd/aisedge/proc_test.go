package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const asMainEnv = "AISEDGE_TEST_AS_MAIN"

// aisedgeProc is the test binary running as `aisedge ARGS...` in a process
// of its own; its output lines are collected.
type aisedgeProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	mu      sync.Mutex
	lines   []procLine
	changed chan struct{}
	exited  chan struct{}
	code    int
}

// procLine is one output line, JSON-decoded when it is JSON.
type procLine struct {
	stream string
	raw    string
	m      map[string]any
}

func (l procLine) str(k string) string { s, _ := l.m[k].(string); return s }

// startAisedge starts the command; env is added to the environment. The
// process is killed when the test ends.
func startAisedge(t *testing.T, env []string, args ...string) *aisedgeProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &aisedgeProc{t: t, changed: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(exe, args...)
	p.cmd.Env = append(append(os.Environ(), asMainEnv+"=1"), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, _ := p.cmd.StdoutPipe()
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	for name, r := range map[string]io.Reader{"stdout": stdout, "stderr": stderr} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				l := procLine{stream: name, raw: sc.Text()}
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
		err := p.cmd.Wait()
		var ee *exec.ExitError
		p.mu.Lock()
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("aisedge %s output:\n%s", strings.Join(args, " "), p.text())
		}
	})
	return p
}

// wait returns the first line that satisfies ok, waiting for it as long as
// the process runs; it fails the test if the process exits first.
func (p *aisedgeProc) wait(what string, ok func(procLine) bool) procLine {
	p.t.Helper()
	for {
		p.mu.Lock()
		ch := p.changed
		lines := p.lines
		p.mu.Unlock()
		for _, l := range lines {
			if ok(l) {
				return l
			}
		}
		select {
		case <-ch:
		case <-p.exited: // every line was read before exited closed
			for _, l := range p.snapshot() {
				if ok(l) {
					return l
				}
			}
			p.t.Fatalf("aisedge exited (status %d) before %s", p.exitCode(), what)
		}
	}
}

// stop sends SIGINT (Ctrl-C) and returns the exit status.
func (p *aisedgeProc) stop() int {
	p.cmd.Process.Signal(os.Interrupt)
	<-p.exited
	return p.exitCode()
}

func (p *aisedgeProc) exitCode() int {
	<-p.exited
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}

func (p *aisedgeProc) snapshot() []procLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]procLine(nil), p.lines...)
}

func (p *aisedgeProc) text() string {
	var b strings.Builder
	for _, l := range p.snapshot() {
		b.WriteString(l.stream + ": " + l.raw + "\n")
	}
	return b.String()
}

// msgIs matches a log line by its message.
func msgIs(msg string) func(procLine) bool {
	return func(l procLine) bool { return l.str("msg") == msg }
}

// eventIs matches an event line by its event name.
func eventIs(ev string) func(procLine) bool {
	return func(l procLine) bool { return l.str("event") == ev }
}
