package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const deidTestSalt = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// TestDeidCommand runs `aisedge deid` in-process on a folder of the shared
// test files: de-identified outputs land in session folders, the rest in
// the quarantine with reasons, the exit status is 1, and nothing printed
// names an input file.
func TestDeidCommand(t *testing.T) {
	src := sharedTestData(t)
	in := t.TempDir()
	// A folder with two instances and a README.
	for _, n := range []string{"pydicom_CT_small.dcm", "pydicom_rtdose.dcm", "pydicom_JPEG2000.dcm"} {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(in, "Doe_John_"+n), b, 0o644)
	}
	os.WriteFile(filepath.Join(in, "README.md"), []byte("not DICOM"), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	t.Setenv("AIS_DEID_HMAC_SALT", deidTestSalt)
	var stdout, stderr bytes.Buffer
	code := run([]string{"deid", "--site", "SITE1", "--project", "DEMO", "--out", out, "--progress", "never", in}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the JPEG 2000 secondary capture is quarantined)\n%s\n%s", code, &stdout, &stderr)
	}
	for _, want := range []string{"1 file(s) in the input folders are not DICOM", "3 input(s): 2 de-identified, 1 quarantined", "pixel-risk"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, &stdout)
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), "Doe_John") {
		t.Error("an input file name was printed")
	}
	sessions, _ := filepath.Glob(filepath.Join(out, "DEMO.*.*", "2.25.*.dcm"))
	if len(sessions) != 2 {
		t.Errorf("outputs %v, want 2 in DEMO.SUBJECT.VISIT folders", sessions)
	}
	entries, _ := filepath.Glob(filepath.Join(out+".quarantine", "*", "entry.json"))
	originals, _ := filepath.Glob(filepath.Join(out+".quarantine", "*", "instance.dcm"))
	if len(entries) != 1 || len(originals) != 1 {
		t.Errorf("quarantine holds %d records and %d originals, want 1 each", len(entries), len(originals))
	}

	// --explain prints actions and the gate's verdict, no values.
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"deid", "--explain", filepath.Join(src, "pydicom_CT_small.dcm")}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("explain exit %d: %s", code, &stderr)
	}
	for _, want := range []string{"(0010,0010)  P", "(0008,0080)  X", "gate strings", "outcome: de-identified"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("explain output lacks %q", want)
		}
	}
	for _, leak := range []string{"CompressedSamples", "1CT1", "JFK", "20040119"} {
		if strings.Contains(stdout.String(), leak) {
			t.Errorf("explain output contains an original value (%s)", leak)
		}
	}

	// --lint of the verbatim legacy template: rejected with the findings.
	stdout.Reset()
	code = run([]string{"deid", "--lint", "ais-legacy-template"}, &stdout, &stderr)
	if code != 1 || strings.Count(stdout.String(), "error: ") != 5 || strings.Count(stdout.String(), "warning: ") != 1 {
		t.Errorf("lint exit %d:\n%s", code, &stdout)
	}

	// Usage errors.
	if code := run([]string{"deid", "--out", out, in}, &stdout, &stderr); code != 2 {
		t.Errorf("missing --site: exit %d, want 2", code)
	}
	t.Setenv("AIS_DEID_HMAC_SALT", "abcd")
	if code := run([]string{"deid", "--site", "S", "--out", out, in}, &stdout, &stderr); code != 1 {
		t.Errorf("short key: exit %d, want 1", code)
	}
}
