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
	if code != 1 {
		t.Fatalf("send: exit %d, want 1 (one truncated file)\n%s\n%s", code, out.String(), errb.String())
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
	if code := run([]string{"echo", "--timeout", "2s", "127.0.0.1:1"}, &out, &errb); code != 1 {
		t.Errorf("echo to a closed port: exit %d, want 1", code)
	}
}
