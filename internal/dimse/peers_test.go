package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/testpeer/progress"

	"github.com/aisedge/aisedge/internal/testpeer/ports"
)

// patience bounds the waits of these tests for what a server or peer does
// on its own (an abort, a freed slot, a metric, a process's exit): a
// ceiling, not a budget. Each wait ends as soon as its event comes; a
// loaded machine only makes it come later, and a wait for an event that
// never comes (the code is broken) still fails, after patience.
const patience = 2 * time.Minute

// peerAttempts bounds the starts of a peer program whose port was taken
// (its start-up itself is bounded by internal/testpeer/progress).
const peerAttempts = 5

// peer is a running peer program (storescp, Orthanc) that takes its ports
// as arguments.
type peer struct {
	ports    []int
	attempts int
}

// startPeer runs name until the test ends on n ports reserved for the test
// (ports.Reserve: outside the ephemeral range, not handed to any other
// test process of the machine), with the arguments args returns for them,
// and waits until ready reports that it serves them (a probe that proves
// it is this program, not another process that took a port; timeout
// bounds it, and doubles, up to a minute, while the probe times out). A port can
// still be taken between the reservation and the program's bind: when the
// program says so ("already in use"), it is started again with the ports
// it names replaced (all of them when it names none), up to peerAttempts
// times. beforeRun, when not nil, is called before each attempt (tests use
// it to take a port).
func startPeer(t testing.TB, logName, name string, n int, args func(p []int, attempt int) []string, ready func(p []int, timeout time.Duration) error, beforeRun func(p []int, attempt int)) *peer {
	t.Helper()
	needBinary(t, name)
	lease, err := ports.Reserve(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lease.Release) // after the program is stopped (cleanups run last first)
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		p := lease.Ports()
		if beforeRun != nil {
			beforeRun(p, attempt)
		}
		logPath := filepath.Join(dir, fmt.Sprintf("%s.%d", logName, attempt))
		stop, err := runPeer(t, name, args(p, attempt), logPath, ready, p)
		if err == nil {
			return &peer{ports: p, attempts: attempt}
		}
		stop()
		b, _ := os.ReadFile(logPath)
		taken, collided := takenPorts(string(b), p)
		if !collided || attempt == peerAttempts {
			if collided {
				err = fmt.Errorf("%v (ports still taken after %d attempts)", err, attempt)
			}
			t.Fatalf("%s: %v\n--- %s ---\n%s", name, err, logName, tail(string(b), 30))
		}
		t.Logf("%s: port(s) %v taken (attempt %d): starting it again on new ones", name, taken, attempt)
		if _, err := lease.Replace(taken...); err != nil {
			t.Fatal(err)
		}
	}
}

// runPeer starts one attempt and waits until ready answers nil. stop
// kills the program (also done when the test ends).
func runPeer(t testing.TB, name string, args []string, logPath string, ready func([]int, time.Duration) error, p []int) (stop func(), err error) {
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
			t.Logf("%s log:\n%s", name, tail(string(b), 30))
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

// takenPorts reads a peer's log for ports it could not bind: collided when
// it says one was "already in use" (storescp: "cannot create network: ...
// TCP Initialization Error: Address already in use"); taken are the ports
// of p it names, or all of p when it names none.
func takenPorts(log string, p []int) (taken []int, collided bool) {
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

// occupy listens on port as another process would that took it after it
// was reserved.
func occupy(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("occupying %d: %v", port, err)
	}
	t.Cleanup(func() { ln.Close() })
}

// A peer's port taken between its reservation and the peer's bind: the
// peer is started again with that port replaced, the others kept.
// storescp's port is taken before the first attempt; Orthanc's HTTP port
// before the first and its DICOM port before the second.
func TestPeerPortTaken(t *testing.T) {
	t.Run("storescp", func(t *testing.T) {
		var taken []int
		p := startPeer(t, "storescp.log", "storescp", 1,
			func(p []int, _ int) []string { return []string{"-od", t.TempDir(), strconv.Itoa(p[0])} },
			func(p []int, timeout time.Duration) error {
				return echo(fmt.Sprintf("127.0.0.1:%d", p[0]), "STORESCP", timeout)
			},
			func(p []int, attempt int) {
				if attempt == 1 {
					occupy(t, p[0])
					taken = append(taken, p[0])
				}
			})
		if p.attempts != 2 || slices.Contains(taken, p.ports[0]) {
			t.Errorf("storescp on %v after %d attempts (taken %v)", p.ports, p.attempts, taken)
		}
	})
	t.Run("Orthanc", func(t *testing.T) {
		var first, taken []int
		dir := t.TempDir()
		p := startPeer(t, "orthanc.log", "Orthanc", 2, func(p []int, attempt int) []string {
			db := filepath.Join(dir, fmt.Sprint("db", attempt))
			b := fmt.Sprintf(`{"Name": "ports-taken", "StorageDirectory": %q, "IndexDirectory": %q, "HttpPort": %d, "DicomPort": %d,
				"RemoteAccessAllowed": false, "Plugins": [], "LuaScripts": []}`, db, db, p[1], p[0])
			cfg := filepath.Join(dir, fmt.Sprintf("orthanc%d.json", attempt))
			if err := os.WriteFile(cfg, []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{cfg}
		}, func(p []int, timeout time.Duration) error {
			c := &http.Client{Timeout: timeout}
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/system", p[1]))
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return errors.New(resp.Status)
			}
			return echo(fmt.Sprintf("127.0.0.1:%d", p[0]), "ORTHANC", timeout)
		}, func(p []int, attempt int) {
			switch attempt {
			case 1:
				first = p
				occupy(t, p[1])
				taken = append(taken, p[1])
			case 2:
				occupy(t, p[0])
				taken = append(taken, p[0])
			}
		})
		if p.attempts != 3 || slices.Contains(taken, p.ports[0]) || slices.Contains(taken, p.ports[1]) {
			t.Errorf("Orthanc on %v after %d attempts (first %v, taken %v)", p.ports, p.attempts, first, taken)
		}
	})
}

func TestTakenPorts(t *testing.T) {
	for _, c := range []struct {
		log   string
		p     []int
		taken []int
	}{
		{"E: cannot create network: 0006:031c TCP Initialization Error: Address already in use\n", []int{20000}, []int{20000}},
		{"E1206 OrthancException.cpp:58] The TCP port of the HTTP server is privileged or already in use:  (port = 20001)\n", []int{20000, 20001}, []int{20001}},
		{"listen tcp 127.0.0.1:20000: bind: address already in use", []int{20000, 20001}, []int{20000}},
		{"W1206 main.cpp:1314] DICOM server listening with AET ORTHANC on port: 20000\n", []int{20000, 20001}, nil},
	} {
		taken, collided := takenPorts(c.log, c.p)
		if !slices.Equal(taken, c.taken) || collided != (c.taken != nil) {
			t.Errorf("takenPorts(%q) = %v, %v; want %v", c.log, taken, collided, c.taken)
		}
	}
}
