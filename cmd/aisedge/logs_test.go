package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
)

// startStandalone starts `aisedge run` as a process on free ports with a
// short quiet period and returns it with its DICOM address.
func startStandalone(t *testing.T, dataDir string, extra ...string) (*aisedgeProc, string) {
	t.Helper()
	args := append([]string{"run", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", dataDir,
		"--quiet-period", "1s", "--min-free-bytes", "-1"}, extra...)
	p := startAisedge(t, []string{deid.SaltEnv + "=" + strings.Repeat("ab", 32)}, args...)
	l := p.wait("the receiver listens", msgIs("receiver listening"))
	return p, l.str("addr")
}

func storescu(t *testing.T, addr string, files ...string) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("storescu", append([]string{"-aec", "AISEDGE", host, port}, files...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
}

// TestRunLogSchema: every line `aisedge run` writes is one JSON schema
// (time, level, msg and fields; the events' fields kept as fields), no
// component carries the original system's names, and at info there is one
// line per association and per session, none per instance; --log-level
// debug adds the per-instance lines.
func TestRunLogSchema(t *testing.T) {
	if _, err := exec.LookPath("storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	ct := filepath.Join(sharedTestData(t), "pydicom_CT_small.dcm")
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			p, addr := startStandalone(t, t.TempDir(), "--log-level", level)
			storescu(t, addr, ct)
			p.wait("the session's delivery", eventIs("delivery_completed"))
			if code := p.stop(); code != 0 {
				t.Errorf("exit status %d after Ctrl-C, want 0", code)
			}
			lines := p.snapshot()
			checkLogSchema(t, lines, level)
			perInstance, assocInfo := 0, 0
			for _, l := range lines {
				switch l.str("component") {
				case "orthanc-deid", "s3-uploader", "sort", "upload":
					t.Errorf("standalone line names the original's component %s: %s", l.str("component"), l.raw)
				}
				for _, name := range []string{"orthanc-deid", "s3-uploader"} {
					if strings.Contains(l.raw, name) {
						t.Errorf("standalone line names the original's component %s: %s", name, l.raw)
					}
				}
				if l.str("event") == "instance_deidentified" || l.str("msg") == "instance stored" {
					perInstance++
				}
				if l.str("component") == "dimse" && l.str("level") == "info" && l.str("assoc") != "" {
					assocInfo++
				}
			}
			if level == "info" && (perInstance != 0 || assocInfo != 1) {
				t.Errorf("at info: %d per-instance lines (want 0), %d association lines (want 1)", perInstance, assocInfo)
			}
			if level == "debug" && perInstance == 0 {
				t.Error("at debug: no per-instance line")
			}
			for _, ev := range []string{"upload_completed", "delivery_completed", "study_staged"} {
				n := 0
				for _, l := range lines {
					if l.str("event") == ev && l.str("level") == "info" {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d %s lines at info, want one for the session", n, ev)
				}
			}
		})
	}
}

// checkLogSchema checks that every line is one JSON object of the one log
// schema (internal/logging): "time" in RFC 3339, "level" one of debug,
// info, warn, error and not below the configured level, "msg" a string,
// and neither of the second schema's "ts" and "message".
func checkLogSchema(t *testing.T, lines []procLine, level string) {
	t.Helper()
	if len(lines) == 0 {
		t.Error("no log lines")
	}
	rank := map[string]int{"debug": 0, "info": 1, "warn": 2, "error": 3}
	for _, l := range lines {
		if l.m == nil {
			t.Errorf("%s line is not JSON: %s", l.stream, l.raw)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, l.str("time")); err != nil {
			t.Errorf("line's time %q is not RFC 3339: %s", l.m["time"], l.raw)
		}
		if _, ok := l.m["msg"].(string); !ok {
			t.Errorf("line lacks a msg string: %s", l.raw)
		}
		for _, k := range []string{"ts", "message"} {
			if _, ok := l.m[k]; ok {
				t.Errorf("line has the second schema's %q: %s", k, l.raw)
			}
		}
		if r, ok := rank[l.str("level")]; !ok {
			t.Errorf("level %q: %s", l.str("level"), l.raw)
		} else if r < rank[level] {
			t.Errorf("%s line at --log-level %s: %s", l.str("level"), level, l.raw)
		}
	}
}

func TestLogLevelRefused(t *testing.T) {
	for _, cmd := range []string{"run", "edge", "hub"} {
		var out strings.Builder
		if code := run([]string{cmd, "--log-level", "chatty"}, &out, &out); code != 2 || !strings.Contains(out.String(), "debug, info, warn, error") {
			t.Errorf("%s --log-level chatty: status %d, %s", cmd, code, out.String())
		}
	}
}
