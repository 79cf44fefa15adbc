package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/testpeer/samples"
)

func sharedTestData(t *testing.T) string { return samples.Dir(t) }

// TestStandaloneRun starts `aisedge run` in-process with its defaults
// (apart from ports and folders), sends an instance with dcmtk's storescu
// and waits for it in the archive tree.
func TestStandaloneRun(t *testing.T) {
	if _, err := exec.LookPath("storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	t.Setenv("AIS_DEID_HMAC_SALT", "")
	os.Unsetenv("AIS_DEID_HMAC_SALT")
	dir := t.TempDir()
	o := standaloneOptions{listen: "127.0.0.1:0", aeTitle: "AISEDGE", dataDir: dir, project: "DEMO", profile: "research-default",
		httpAddr: "127.0.0.1:0", edgeName: "standalone", quiet: time.Second, force: time.Hour, minFree: -1}
	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ dicom, http string }
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- o.run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard, func(d, h string) { ready <- addrs{d, h} })
	}()
	var a addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(60 * time.Second):
		t.Fatal("not listening after 60 s")
	}
	t.Logf("listening after %v", time.Since(start))
	st, err := os.Stat(filepath.Join(dir, "deid-hmac-salt"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file: %v %v", st, err)
	}
	// Ready once the first probe of the bucket has answered (it runs
	// beside the start-up, so the listeners may come first).
	var resp *http.Response
	for wait := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err = http.Get("http://" + a.http + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil && resp.StatusCode == 200) || time.Now().After(wait) {
			break
		}
	}
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz after 60 s: %v %v", resp, err)
	}
	host, port, _ := strings.Cut(a.dicom, ":")
	cmd := exec.Command("storescu", "-aec", "ANYAET", host, port, filepath.Join(sharedTestData(t), "pydicom_CT_small.dcm"))
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	var files []string
	deadline := time.Now().Add(20 * time.Second)
	for len(files) == 0 && time.Now().Before(deadline) {
		files, _ = filepath.Glob(filepath.Join(dir, "archive", "DEMO", "*", "*", "scans", "*", "resources", "DICOM", "files", "*.dcm"))
		time.Sleep(100 * time.Millisecond)
	}
	if len(files) != 1 {
		t.Fatalf("archive has %d files", len(files))
	}
	// A secondary capture is quarantined (pixel risk); the operator sees it
	// through the local API and a requeue under the same profile fails.
	cmd = exec.Command("storescu", "-aec", "ANYAET", host, port, filepath.Join(sharedTestData(t), "pydicom_MR_small_implicit.dcm"))
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "aisedge.sock")
	// The answer follows the journal record; de-identification, and with
	// it the quarantine, come right after.
	var out strings.Builder
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out.Reset()
		code := run([]string{"quarantine", "--socket", sock, "ls"}, &out, &out)
		if code == 0 && strings.Contains(out.String(), "pixel-risk") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quarantine ls (%d): %s", code, out.String())
		}
	}
	id := strings.Fields(out.String())[0]
	out.Reset()
	if code := run([]string{"quarantine", "--socket", sock, "requeue", id}, &out, &out); code != 1 || !strings.Contains(out.String(), "quarantined again") {
		t.Fatalf("requeue (%d): %s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"status", "--socket", sock}, &out, &out); code != 0 || !strings.Contains(out.String(), "quarantined instances: 1") {
		t.Fatalf("status (%d): %s", code, out.String())
	}
	body, _ := http.Get("http://" + a.http + "/metrics")
	b, _ := io.ReadAll(body.Body)
	for _, name := range append(append([]string{}, edge.MetricNames...), hub.MetricNames...) {
		if !strings.Contains(string(b), "\n# TYPE "+name+" ") {
			t.Errorf("metric %s not exported", name)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop within 10 s of cancel")
	}
}
