package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
)

// cli runs `aisedge ARGS...` as a process and returns its exit status and
// its output (stdout and stderr).
func cli(t *testing.T, args ...string) (int, string) {
	t.Helper()
	p := startAisedge(t, nil, args...)
	code := p.exitCode()
	var b strings.Builder
	for _, l := range p.snapshot() {
		b.WriteString(l.raw + "\n")
	}
	return code, b.String()
}

// quarantined lists the quarantine through the local API until it holds
// n entries (the answer to a C-STORE follows its journal record;
// de-identification, and with it the quarantine, come right after) and
// returns the listing.
func quarantined(t *testing.T, sock string, n int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out := cli(t, "quarantine", "--socket", sock, "ls")
		if code == 0 && len(entryID.FindAllString(out, -1)) == n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("quarantine ls (%d), want %d entries:\n%s", code, n, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// auditRecords reads a daemon's audit log.
func auditRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line is not JSON: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

var entryID = regexp.MustCompile(`(?m)^(\d{8}T\d{6}Z-[0-9a-f]{8})\s`)

// TestQuarantineLifecycle resolves the README's own secondary-capture
// sample with the CLI, through the built command and a running `aisedge
// run`: a requeue under the same profile keeps the entry (same ID, one
// more requeue), a release needs a reason and sends it on, a bulk discard
// needs --yes and keeps the originals in the facility backup, a requeue
// after a profile change (restart with a clear rule) passes; the
// quarantine gauge returns to 0 (QuarantineWaiting stops) and every action
// is in the audit log, without patient data.
func TestQuarantineLifecycle(t *testing.T) {
	if _, err := os.Stat("/usr/bin/storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	samplesDir, _ := filepath.Abs("../../samples")
	ct, sc := filepath.Join(samplesDir, "ct_small.dcm"), filepath.Join(samplesDir, "mr_small_secondary.dcm")
	data := t.TempDir()
	sock := filepath.Join(data, "aisedge.sock")
	p, addr := startStandalone(t, data)
	storescu(t, addr, ct, sc)
	p.wait("the CT's delivery", eventIs("delivery_completed"))

	out := quarantined(t, sock, 1)
	ids := entryID.FindAllStringSubmatch(out, -1)
	if !strings.Contains(out, "pixel-risk") {
		t.Fatalf("quarantine ls:\n%s", out)
	}
	id := ids[0][1]
	var code int

	// Requeue under the same profile: held again, same entry.
	code, out = cli(t, "quarantine", "--socket", sock, "requeue", id)
	if code != exitFailure || !strings.Contains(out, "quarantined again (same entry, requeued 1×)") {
		t.Errorf("requeue (%d):\n%s", code, out)
	}
	if _, out = cli(t, "quarantine", "--socket", sock, "ls"); !strings.Contains(out, id) || !strings.Contains(out, "(requeued 1×)") || len(entryID.FindAllString(out, -1)) != 1 {
		t.Errorf("after the requeue, ls:\n%s", out)
	}

	// Release: the reason is required, then it goes on to the archive.
	if code, out = cli(t, "quarantine", "--socket", sock, "release", id); code != exitUsage || !strings.Contains(out, "release needs --reason") {
		t.Errorf("release without a reason (%d):\n%s", code, out)
	}
	code, out = cli(t, "quarantine", "--socket", sock, "release", "--operator", "alice", "--reason", "looked at the image: no burned-in text", id)
	if code != 0 || !strings.Contains(out, id+" released") {
		t.Fatalf("release (%d):\n%s", code, out)
	}
	p.wait("the released instance's delivery", func(l procLine) bool {
		n := 0
		for _, x := range p.snapshot() {
			if x.str("event") == "delivery_completed" {
				n++
			}
		}
		return n >= 2
	})
	files, _ := filepath.Glob(filepath.Join(data, "archive", "*", "*", "*", "scans", "*", "resources", "DICOM", "files", "*.dcm"))
	if len(files) != 2 {
		t.Errorf("archive has %d files, want the CT and the released MR", len(files))
	}
	if _, m := localGet(t, sock, "/metrics"); !strings.Contains(m, "\naisedge_quarantine_entries 0\n") {
		t.Error("aisedge_quarantine_entries is not 0 after the release")
	}
	if _, st := cli(t, "status", "--socket", sock); !strings.Contains(st, "from standalone: 2 delivered, last successful delivery ") ||
		strings.Contains(st, "last successful upload: none") {
		t.Errorf("aisedge status after two deliveries:\n%s", st)
	}

	// Two more copies; a bulk discard lists them and wants --yes.
	storescu(t, addr, sc)
	storescu(t, addr, sc)
	code, out = cli(t, "quarantine", "--socket", sock, "discard", "--code", "pixel-risk")
	if code != exitUsage || len(entryID.FindAllString(out, -1)) != 2 || !strings.Contains(out, "needs --yes") {
		t.Errorf("discard of a selection without --yes (%d):\n%s", code, out)
	}
	code, out = cli(t, "quarantine", "--socket", sock, "discard", "--code", "pixel-risk", "--yes", "--reason", "duplicate resend")
	if code != 0 || strings.Count(out, "discarded (the original stays in the facility backup)") != 2 {
		t.Errorf("bulk discard (%d):\n%s", code, out)
	}
	backup := 0
	filepath.WalkDir(filepath.Join(data, "facility-backup"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".dcm") {
			backup++
		}
		return nil
	})
	if backup != 2 {
		t.Errorf("facility backup holds %d originals, want the CT and the MR", backup)
	}

	// A partial failure: one entry is released, the other does not exist.
	storescu(t, addr, sc)
	_, out = cli(t, "quarantine", "--socket", sock, "ls")
	last := entryID.FindStringSubmatch(out)[1]
	if code, out = cli(t, "quarantine", "--socket", sock, "release", "--reason", "checked", last, "20000101T000000Z-00000000"); code != exitPartial {
		t.Errorf("release of a held entry and a missing one: exit %d, want %d\n%s", code, exitPartial, out)
	}
	if _, m := localGet(t, sock, "/metrics"); !strings.Contains(m, "\naisedge_quarantine_entries 0\n") {
		t.Error("aisedge_quarantine_entries is not 0 at the end")
	}
	if code := p.stop(); code != 0 {
		t.Fatalf("run exited %d after Ctrl-C", code)
	}
	// The audit log: every action, requested and done, with who and why.
	recs := auditRecords(t, filepath.Join(data, "audit.jsonl"))
	var got []string
	for _, r := range recs {
		if r["phase"] == "done" {
			got = append(got, r["action"].(string)+":"+r["result"].(string))
		}
		if uid, _ := r["uid"].(float64); int(uid) != os.Getuid() || r["via"] != "socket" {
			t.Errorf("audit record without the socket peer's uid: %v", r)
		}
	}
	want := "quarantine-requeue:failed quarantine-release:ok quarantine-discard:ok quarantine-discard:ok quarantine-release:ok quarantine-release:failed"
	if strings.Join(got, " ") != want {
		t.Errorf("audit log actions:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	if len(recs) != 2*len(got) {
		t.Errorf("%d records for %d actions: want requested and done for each", len(recs), len(got))
	}
	raw, _ := os.ReadFile(filepath.Join(data, "audit.jsonl"))
	for _, w := range []string{`"operator":"alice"`, `"reason":"looked at the image: no burned-in text"`} {
		if !strings.Contains(string(raw), w) {
			t.Errorf("audit log lacks %s", w)
		}
	}
	for _, phi := range []string{"CompressedSamples", "4MR1", "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"} {
		if strings.Contains(string(raw), phi) {
			t.Errorf("audit log carries %q", phi)
		}
	}
}

// TestQuarantineRequeueAfterProfileChange: the secondary-capture sample,
// held under research-default, passes a requeue once the daemon runs with
// a profile whose clear rule covers it.
func TestQuarantineRequeueAfterProfileChange(t *testing.T) {
	if _, err := os.Stat("/usr/bin/storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	samplesDir, _ := filepath.Abs("../../samples")
	data := t.TempDir()
	sock := filepath.Join(data, "aisedge.sock")
	p, addr := startStandalone(t, data)
	storescu(t, addr, filepath.Join(samplesDir, "mr_small_secondary.dcm"))
	out := quarantined(t, sock, 1)
	ids := entryID.FindAllStringSubmatch(out, -1)
	if len(ids) != 1 {
		t.Fatalf("quarantine ls:\n%s", out)
	}
	p.stop()

	prof, err := deid.BuiltinProfile("research-default")
	if err != nil {
		t.Fatal(err)
	}
	var pm map[string]any
	json.Unmarshal(prof, &pm)
	pm["Name"] = "site-mr-clear"
	pm["Pixels"] = map[string]any{"Default": "quarantine-if-risky", "Masks": []any{},
		"Clear": []any{map[string]any{"When": map[string]string{"Modality": "^MR$"}, "Reason": "the MR console burns in no text"}}}
	pm["AcknowledgeRisk"] = []string{"PixelsClear"}
	profPath := filepath.Join(t.TempDir(), "profile.json")
	b, _ := json.Marshal(pm)
	os.WriteFile(profPath, b, 0o600)
	p, _ = startStandalone(t, data, "--profile", profPath)
	if code, out := cli(t, "quarantine", "--socket", sock, "requeue", "--all"); code != 0 || !strings.Contains(out, ids[0][1]+" requeued") {
		t.Errorf("requeue after the profile change (%d):\n%s", code, out)
	}
	p.wait("the requeued instance's delivery", eventIs("delivery_completed"))
	if _, out := cli(t, "quarantine", "--socket", sock, "ls"); strings.TrimSpace(out) != "" {
		t.Errorf("quarantine not empty:\n%s", out)
	}
	p.stop()
}
