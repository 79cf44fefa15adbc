package dimse

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/testpeer/proc"
)

// patience bounds the waits of these tests for what a server or peer does
// on its own (an abort, a freed slot, a metric, a process's exit): a
// ceiling, not a budget. Each wait ends as soon as its event comes; a
// loaded machine only makes it come later, and a wait for an event that
// never comes (the code is broken) still fails, after patience.
const patience = 2 * time.Minute

// peer is a running peer program (storescp, Orthanc) that takes its ports
// as arguments.
type peer struct {
	ports    []int
	attempts int
}

// startPeer runs name until the test ends on n ports reserved for the
// test, with the arguments args returns for them, once ready reports that
// it serves them (internal/testpeer/proc: started again on new ports when
// one was taken; beforeRun, when not nil, is called before each attempt).
func startPeer(t testing.TB, logName, name string, n int, args func(p []int, attempt int) []string, ready func(p []int, timeout time.Duration) error, beforeRun func(p []int, attempt int)) *peer {
	t.Helper()
	p := proc.Start(t, proc.Spec{Name: name, LogName: logName, Ports: n, Args: args, Ready: ready, BeforeRun: beforeRun})
	return &peer{ports: p.Ports, attempts: p.Attempts}
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
