package objstore_test

import (
	"regexp"
	"testing"

	"github.com/aisedge/aisedge/bench/internal/smoke"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
)

// TestSmokeBenchmarks runs BenchmarkFSPut once per mode in smoke mode (50
// objects).
func TestSmokeBenchmarks(t *testing.T) {
	smoke.Benchmarks(t, map[string][]string{
		"BenchmarkFSPut/copy": {"objects/s"},
		"BenchmarkFSPut/link": {"objects/s"},
	})
}

// TestSmokeUploadScript runs upload.sh in smoke mode against the real
// SeaweedFS and checks each data set got a line per uploader and a ratio
// line. Against mc when it is built; otherwise the script compares our
// uploader with a second run of itself and says so (mc is never built by
// the test suite: 5 minutes).
func TestSmokeUploadScript(t *testing.T) {
	if smoke.Enabled() {
		t.Skip("already in smoke mode (the child process)")
	}
	if _, ok := seaweed.BinaryPath(); !ok {
		t.Skip("SeaweedFS not built: run ./scripts/seaweedfs.sh (./scripts/test does)")
	}
	out := smoke.Script(t, "bench/objstore/upload.sh")
	competitor := "mc"
	if regexp.MustCompile(`(?m)^== SMOKE: mc not built`).MatchString(out) {
		competitor = "self"
		t.Log("mc is not built: the ratio line compares our uploader with itself (format check)")
	}
	num := `[0-9]+(\.[0-9]+)?`
	for _, ds := range []string{"smoke-20x64KiB", "smoke-1x11MiB"} {
		for _, tool := range []string{"aisedge", competitor} {
			re := regexp.MustCompile(`(?m)^` + ds + `\s+` + tool + `\s+` + num + ` s\s+` + num + ` MB/s\s+max RSS\s+` + num + ` MiB\s+CPU\s+` + num + ` s\s+server CPU\s+` + num + ` s$`)
			if !re.MatchString(out) {
				t.Errorf("no result line for %s by %s", ds, tool)
			}
		}
		if !regexp.MustCompile(`(?m)^` + ds + `\s+ratio aisedge/` + competitor + ` = ` + num + `x`).MatchString(out) {
			t.Errorf("no ratio line for %s", ds)
		}
	}
	if !regexp.MustCompile(`(?m)^--- PASS: TestUploadThroughput`).MatchString(out) {
		t.Error("TestUploadThroughput did not pass")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
