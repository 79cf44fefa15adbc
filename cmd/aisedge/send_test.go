package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/testpeer/samples"
)

// startReceiver runs an in-process receiver storing into a temp dir.
func startReceiver(t *testing.T) (addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	tmp := filepath.Join(dir, ".tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	store, err := dimse.NewDirStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dimse.NewServer(dimse.ServerConfig{Handler: store, TempDir: tmp, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return ln.Addr().String(), dir
}

func testdataDir(t *testing.T) string { return samples.Dir(t) }

func TestEchoAndSendCommands(t *testing.T) {
	addr, dir := startReceiver(t)
	data := testdataDir(t)
	var out, errb bytes.Buffer
	if code := run([]string{"echo", addr, "--called-aet", "AISEDGE"}, &out, &errb); code != 0 {
		t.Fatalf("echo: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "success") {
		t.Errorf("echo output: %q", out.String())
	}

	// A directory, not recursive: the top-level files; the truncated file
	// fails with C000, so the exit status is 1 and the summary says so.
	out.Reset()
	errb.Reset()
	code := run([]string{"send", "--aet", "TESTSCU", "--parallel", "2", addr, data}, &out, &errb)
	if code != exitPartial {
		t.Fatalf("send: exit %d, want %d (one truncated file)\n%s\n%s", code, exitPartial, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "sent 19 ") || !strings.Contains(out.String(), "failed 1,") {
		t.Errorf("summary: %q", out.String())
	}
	if !strings.Contains(errb.String(), "pydicom_MR_truncated.dcm: DIMSE status 0xC000") {
		t.Errorf("failure list: %q", errb.String())
	}
	stored, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if len(stored) == 0 {
		t.Error("nothing stored")
	}

	// Only good files: exit 0, flags after the arguments.
	out.Reset()
	errb.Reset()
	if code := run([]string{"send", addr, filepath.Join(data, "pydicom_CT_small.dcm"), filepath.Join(data, "pydicom_JPEG2000.dcm"), "--quiet", "--per-assoc", "1"}, &out, &errb); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "sent 2 (0 with warnings), failed 0, skipped 0") {
		t.Errorf("summary: %q", out.String())
	}
}

func TestSendUsage(t *testing.T) {
	for _, args := range [][]string{
		{"send"},
		{"send", "nohostport", "x.dcm"},
		{"send", "127.0.0.1:1"},
		{"send", "--aet", "THIS_IS_LONGER_THAN_16", "127.0.0.1:1", "x"},
		{"send", "--parallel", "0", "127.0.0.1:1", "x"},
		{"echo"},
		{"echo", "--bogus", "127.0.0.1:1"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"echo", "--timeout", "2s", "127.0.0.1:1"}, &out, &errb); code != exitConnection {
		t.Errorf("echo to a closed port: exit %d, want %d", code, exitConnection)
	}
}

// TestSendWithoutTerminal: through the built command, with pipes for
// output: a progress line per interval (here after every file), failures
// listed; to a closed port one line and exit 4 instead of a line per file;
// on Ctrl-C against a peer that never answers, one line and exit 130.
func TestSendWithoutTerminal(t *testing.T) {
	addr, _ := startReceiver(t)
	data := testdataDir(t)
	p := startAisedge(t, nil, "send", "--progress-every", "0", addr, filepath.Join(data, "pydicom_CT_small.dcm"), filepath.Join(data, "pydicom_JPEG2000.dcm"))
	if code := p.exitCode(); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, p.text())
	}
	progress := 0
	for _, l := range p.snapshot() {
		if strings.HasPrefix(l.raw, "progress: ") && l.stream == "stderr" {
			progress++
		}
	}
	if progress != 2 {
		t.Errorf("%d progress lines, want one per file:\n%s", progress, p.text())
	}

	// Closed port: one line, not one per file.
	p = startAisedge(t, nil, "send", closedPort(t), data)
	code := p.exitCode()
	var errLines []string
	for _, l := range p.snapshot() {
		if l.stream == "stderr" && !strings.HasPrefix(l.raw, "skipped ") {
			errLines = append(errLines, l.raw)
		}
	}
	if code != exitConnection || len(errLines) != 1 || !strings.Contains(errLines[0], "all 20 instances failed") || !strings.Contains(errLines[0], "connection refused") {
		t.Errorf("send to a closed port: exit %d, stderr:\n%s", code, strings.Join(errLines, "\n"))
	}

	// A peer that accepts the connection and never answers: progress
	// lines while it hangs, then Ctrl-C.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p = startAisedge(t, nil, "send", "--parallel", "4", "--timeout", "1h", "--progress-every", "10ms", ln.Addr().String(), data)
	p.wait("a progress line while the peer hangs", func(l procLine) bool { return strings.HasPrefix(l.raw, "progress: 0/20 done") })
	if code := p.stop(); code != exitInterrupted {
		t.Errorf("send after Ctrl-C: exit %d, want %d", code, exitInterrupted)
	}
	errLines = nil
	for _, l := range p.snapshot() {
		if l.stream == "stderr" && !strings.HasPrefix(l.raw, "progress: ") && !strings.HasPrefix(l.raw, "skipped ") {
			errLines = append(errLines, l.raw)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], "interrupted after") || !strings.Contains(errLines[0], "0 of 20 instances sent") {
		t.Errorf("after Ctrl-C, stderr:\n%s", strings.Join(errLines, "\n"))
	}
}
