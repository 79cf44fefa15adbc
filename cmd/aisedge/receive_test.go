package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startReceiveCommand runs `aisedge receive ARGS --listen 127.0.0.1:0` in
// process and returns its address; stop ends it (as SIGTERM would) and
// returns its error and its standard output.
func startReceiveCommand(t *testing.T, args ...string) (addr string, stop func() (error, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runReceive(ctx, append(args, "--listen", "127.0.0.1:0", "--min-free-mb", "-1", "--log-level", "warn"), &out, &errb)
	}()
	re := regexp.MustCompile(`listening on (\S+), storing into`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("receive exited before listening: %v\n%s", err, errb.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("receive did not listen within 10 s\n%s", errb.String())
		}
	}
	var once sync.Once
	var stopErr error
	stop = func() (error, string) {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(40 * time.Second):
				t.Fatal("receive did not stop within 40 s")
			}
		})
		if t.Failed() {
			t.Logf("receive stderr:\n%s", errb.String())
		}
		return stopErr, out.String()
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

// TestReceiveBare is the regression test for a receiver started without
// any routing flag: it used to dereference a nil routing table on the first
// association. A bare receiver admits every called and calling AE title and
// stores into DIR itself.
func TestReceiveBare(t *testing.T) {
	dir := t.TempDir()
	addr, stop := startReceiveCommand(t, "--dir", dir)
	data := testdataDir(t)

	var out, errb bytes.Buffer
	if code := run([]string{"send", "--quiet", "--aet", "ANY_SCU", "--called-aet", "NOT_CONFIGURED", addr, filepath.Join(data, "pydicom_CT_small.dcm")}, &out, &errb); code != 0 {
		t.Fatalf("aisedge send: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	want := 1
	if _, err := exec.LookPath("storescu"); err == nil {
		host, port, _ := strings.Cut(addr, ":")
		cmd := exec.Command("storescu", "-aet", "SCANNER1", "-aec", "SOMEWHERE", host, port, filepath.Join(data, "pydicom_MR_small_implicit.dcm"))
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("storescu: %v\n%s", err, o)
		}
		want++
	} else {
		t.Log("storescu not installed: sent with aisedge send only")
	}

	err, stdout := stop()
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	stored, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if len(stored) != want {
		t.Errorf("%d instances in %s, want %d: %v", len(stored), dir, want, stored)
	}
	if wantLine := fmt.Sprintf("stored %d, failed 0,", want); !strings.Contains(stdout, wantLine) {
		t.Errorf("summary %q, want %q", stdout, wantLine)
	}
}

// TestReceiveRejectsUnknownAET checks that the routing flags still reach
// the admission check: with --unknown-aet reject and no routes, every
// association is refused and nothing is stored.
func TestReceiveRejectsUnknownAET(t *testing.T) {
	dir := t.TempDir()
	addr, stop := startReceiveCommand(t, "--dir", dir, "--unknown-aet", "reject")
	var out, errb bytes.Buffer
	if code := run([]string{"send", "--quiet", "--called-aet", "UNKNOWN", addr, filepath.Join(testdataDir(t), "pydicom_CT_small.dcm")}, &out, &errb); code == 0 {
		t.Fatalf("aisedge send to an unknown called AET: exit 0, want a rejected association\n%s", out.String())
	}
	if err, _ := stop(); err != nil {
		t.Fatalf("receive: %v", err)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("stored after a rejected association: %v", files)
	}
}
