package e2e

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

// TestHubKilledMidXNATUpload kills `aisedge run` (kill -9) while its hub
// uploads a three-scan session into the XNAT emulator: the second scan's
// upload is held by the emulator, so the kill lands after the first
// scan's files are in XNAT and before the session is complete. After a
// restart the hub fills only the gaps: the first scan is not uploaded
// again, every file is in XNAT exactly once with its MD5, the session is
// one experiment, and the delivery is reported once.
func TestHubKilledMidXNATUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t, raceEnabled)
	eng := standaloneEngine(t)
	base := t.TempDir()
	dataDir := filepath.Join(base, "data")

	x := xnattest.NewTLS(xnattest.Options{})
	defer x.Close()
	x.AddUser("hub", "hub-pass")
	x.AddProject("AISEDGE", map[string]xnattest.Role{"hub": xnattest.Owner})
	ca := filepath.Join(base, "xnat-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.HTTP.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--quiet-period", "1s", "--min-free-bytes", "-1", "--profile", "research-default", "--xnat-url", x.URL, "--xnat-ca", ca}
	env := []string{deid.SaltEnv + "=" + salt, "XNAT_USER=hub", "XNAT_PASS=hub-pass"}

	// The second file upload (one scan's archive) is held for 10 s:
	// the process is killed while it waits (the emulator does not notice
	// the hang-up before it reads the body, so it holds the request on).
	isUpload := func(method, path string) bool { return method == "PUT" && strings.Contains(path, "/files/") }
	x.Inject(xnattest.Fault{Method: "PUT", Path: `/resources/DICOM/files/`, Nth: 2, Delay: 10 * time.Second})

	root := "1.2.826.0.1.3680043.8.1055.79"
	ins := slices.Concat(
		makeInstances(t, eng, "XNATKILL", root, root+".1", 1, 20),
		makeInstances(t, eng, "XNATKILL", root, root+".2", 2, 20),
		makeInstances(t, eng, "XNATKILL", root, root+".3", 3, 20))
	p := startProc(t, bin, args, env, filepath.Join(base, "run-1.log"))
	if got := sendInstances(p.dicomAddr, ins, nil); len(got) != len(ins) {
		t.Fatalf("%d of %d instances acknowledged\n%s", len(got), len(ins), p.tail(40))
	}
	uploads := func() int {
		n := 0
		for _, r := range x.Requests() {
			if isUpload(r.Method, r.Path) {
				n++
			}
		}
		return n
	}
	withFiles := func() []string {
		var ids []string
		for _, e := range x.Experiments("AISEDGE") {
			for _, s := range x.Scans("AISEDGE", e.ID) {
				if n := len(x.Files("AISEDGE", e.ID, s.ID, "DICOM")); n > 0 {
					ids = append(ids, s.ID)
				}
			}
		}
		return ids
	}
	// Scans go to XNAT several at once: wait until the held upload has
	// arrived and another scan is complete in XNAT.
	deadline := time.Now().Add(60 * time.Second)
	for uploads() < 2 || len(withFiles()) == 0 {
		if time.Now().After(deadline) || !p.alive() {
			t.Fatalf("the hub did not reach a second scan's upload with another scan complete\n%s", p.tail(40))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Requests() lists a request when it arrives: the second upload is
	// held now, at least one scan is in XNAT and the held one is not.
	p.kill()
	exps := x.Experiments("AISEDGE")
	if len(exps) != 1 {
		t.Fatalf("%d experiments before the restart, want 1", len(exps))
	}
	before := withFiles()
	if len(before) == 0 || len(before) == 3 {
		t.Fatalf("the kill did not land mid-delivery: %d of 3 scans have files", len(before))
	}
	t.Logf("killed with scans %v in XNAT", before)

	x.ClearFaults()
	x.ResetRequests()
	p = startProc(t, bin, args, env, filepath.Join(base, "run-2.log"))
	// A deadline for progress, not a speed: generous for a race-built
	// binary on a loaded machine.
	if _, ok := p.wait(3*time.Minute, eventIs("xnat_upload_completed")); !ok {
		t.Fatalf("no delivery after the restart\n%s", p.tail(40))
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit status %d after SIGTERM\n%s", code, p.tail(40))
	}
	for _, r := range x.Requests() {
		for _, s := range before {
			if isUpload(r.Method, r.Path) && strings.Contains(r.Path, "/scans/"+s+"/") {
				t.Errorf("scan %s, complete before the kill, was uploaded again: %s %s", s, r.Method, r.Path)
			}
		}
	}
	exps = x.Experiments("AISEDGE")
	if len(exps) != 1 {
		t.Fatalf("%d experiments after the restart, want 1", len(exps))
	}
	want := map[string]bool{}
	for _, in := range ins {
		want[in.remap] = true
	}
	files := 0
	for _, s := range x.Scans("AISEDGE", exps[0].ID) {
		for _, f := range x.Files("AISEDGE", exps[0].ID, s.ID, "DICOM") {
			files++
			if f.Versions != 1 || f.Digest == "" || f.Digest != f.MD5 {
				t.Errorf("scan %s file %s: versions %d, listed digest %q, MD5 %q", s.ID, f.Path, f.Versions, f.Digest, f.MD5)
			}
		}
	}
	if files != len(want) {
		t.Errorf("%d files in XNAT, want %d (each instance once)", files, len(want))
	}
	completed := 0
	for _, l := range p.snapshot() {
		if l.event() == "xnat_upload_completed" {
			completed++
		}
	}
	if completed != 1 {
		t.Errorf("delivery reported %d times after the restart", completed)
	}
}
