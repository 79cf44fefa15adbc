// Package proc starts a test peer program that takes its ports as
// arguments (storescp, Orthanc) on ports reserved by internal/testpeer/ports,
// waits until it serves them (bounded by internal/testpeer/progress, not
// by the clock), starts it again on new ports when one was taken in
// between, and stops it when the test ends. The dimse tests and
// internal/testpeer/orthanc use it. Tests only; of the project it imports
// only the two test peer packages named.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/testpeer/ports"
	"github.com/aisedge/aisedge/internal/testpeer/progress"
)

// Attempts bounds the starts of a peer program whose port was taken (its
// start-up itself is bounded by internal/testpeer/progress).
const Attempts = 5

// Spec describes a peer program.
type Spec struct {
	// Name is the program; LogName names its log file (kept in a
	// temporary folder, its tail shown when the test fails).
	Name, LogName string
	// Ports is how many ports it takes.
	Ports int
	// Args returns its arguments for the ports of an attempt.
	Args func(p []int, attempt int) []string
	// Ready reports nil once the program serves the ports: a probe that
	// proves it is this program, not another process that took a port.
	// timeout bounds it, and doubles, up to a minute, while the probe
	// times out.
	Ready func(p []int, timeout time.Duration) error
	// BeforeRun, when not nil, is called before each attempt (tests use
	// it to take a port).
	BeforeRun func(p []int, attempt int)
}

// Peer is a running peer program.
type Peer struct {
	Ports    []int
	Attempts int
}

// Start runs the program until the test ends. A port can still be taken
// between the reservation and the program's bind: when the program says
// so ("already in use"), it is started again with the ports it names
// replaced (all of them when it names none), up to Attempts times. It
// skips the test when the program is not installed.
func Start(t testing.TB, s Spec) *Peer {
	t.Helper()
	if _, err := exec.LookPath(s.Name); err != nil {
		t.Skipf("%s not installed (install dcmtk/orthanc; ./scripts/test does): %v", s.Name, err)
	}
	lease, err := ports.Reserve(s.Ports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lease.Release) // after the program is stopped (cleanups run last first)
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		p := lease.Ports()
		if s.BeforeRun != nil {
			s.BeforeRun(p, attempt)
		}
		logPath := filepath.Join(dir, fmt.Sprintf("%s.%d", s.LogName, attempt))
		stop, err := run(t, s.Name, s.Args(p, attempt), logPath, s.Ready, p)
		if err == nil {
			return &Peer{Ports: p, Attempts: attempt}
		}
		stop()
		b, _ := os.ReadFile(logPath)
		taken, collided := TakenPorts(string(b), p)
		if !collided || attempt == Attempts {
			if collided {
				err = fmt.Errorf("%v (ports still taken after %d attempts)", err, attempt)
			}
			t.Fatalf("%s: %v\n--- %s ---\n%s", s.Name, err, s.LogName, Tail(string(b), 30))
		}
		t.Logf("%s: port(s) %v taken (attempt %d): starting it again on new ones", s.Name, taken, attempt)
		if _, err := lease.Replace(taken...); err != nil {
			t.Fatal(err)
		}
	}
}

// run starts one attempt and waits until ready answers nil. stop kills
// the program (also done when the test ends).
func run(t testing.TB, name string, args []string, logPath string, ready func([]int, time.Duration) error, p []int) (stop func(), err error) {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Kill()
		<-exited
		logf.Close()
	}
	t.Cleanup(func() {
		running := !stopped
		stop()
		if running && t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, Tail(string(b), 30))
		}
	})
	watch := progress.Start()
	timeout := 5 * time.Second
	for {
		select {
		case <-exited:
			return stop, fmt.Errorf("exited during start-up: %v", cmd.ProcessState)
		default:
		}
		if b, _ := os.ReadFile(logPath); bytes.Contains(bytes.ToLower(b), []byte("already in use")) {
			return stop, errors.New("could not bind a port")
		}
		// The probe may hang on another process holding a port until
		// its timeout; the program's exit (it could not bind) ends the
		// wait at once.
		probe := make(chan error, 1)
		go func() { probe <- ready(p, timeout) }()
		var rerr error
		select {
		case rerr = <-probe:
		case <-exited:
			return stop, fmt.Errorf("exited during start-up: %v", cmd.ProcessState)
		}
		if rerr == nil {
			return stop, nil
		}
		var ne net.Error
		if (errors.Is(rerr, context.DeadlineExceeded) || errors.As(rerr, &ne) && ne.Timeout()) && timeout < time.Minute {
			timeout *= 2
		}
		var size int64
		if fi, err := logf.Stat(); err == nil {
			size = fi.Size()
		}
		if err := watch.Check(size, progress.CPUTime(cmd.Process.Pid), rerr.Error()); err != nil {
			return stop, fmt.Errorf("%v: %v", err, rerr)
		}
		select {
		case <-exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// portInMessage finds the port in Orthanc's "The TCP port of the DICOM
// server is privileged or already in use:  (port = 4242)" and Go's
// "listen tcp 127.0.0.1:4242: bind: address already in use".
var portInMessage = regexp.MustCompile(`\(port = (\d+)\)|:(\d+): bind: `)

// TakenPorts reads a peer's log for ports it could not bind: collided
// when it says one was "already in use" (storescp: "cannot create
// network: ... TCP Initialization Error: Address already in use"); taken
// are the ports of p it names, or all of p when it names none.
func TakenPorts(log string, p []int) (taken []int, collided bool) {
	if !strings.Contains(strings.ToLower(log), "already in use") {
		return nil, false
	}
	for _, m := range portInMessage.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1] + m[2])
		if slices.Contains(p, n) && !slices.Contains(taken, n) {
			taken = append(taken, n)
		}
	}
	if len(taken) == 0 {
		taken = append(taken, p...)
	}
	return taken, true
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
