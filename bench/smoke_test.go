package bench

import (
	"fmt"
	"os/exec"
	"regexp"
	"testing"

	"github.com/aisedge/aisedge/bench/internal/smoke"
)

// codecImpls are the implementations BenchmarkCodec compares here.
func codecImpls() []string {
	impls := []string{"aisedge", "suyashkumar"}
	if _, err := exec.LookPath("dcmconv"); err == nil {
		impls = append(impls, "dcmconv")
	}
	return impls
}

// smokeSets are the data sets of the codec and de-identification
// benchmarks in smoke mode.
var smokeSets = []string{"EnhancedMR23MB", "Small20"}

// TestSmokeBenchmarks runs the Go benchmarks of this package once in smoke
// mode and checks each printed its result line and metrics; BenchmarkCodec
// runs in TestSmokeCodecScript instead (through codec.sh, without the race
// detector, which makes suyashkumar/dicom's parse of the 23 MB MR take
// 12 s).
func TestSmokeBenchmarks(t *testing.T) {
	want := map[string][]string{}
	for _, set := range smokeSets {
		want["BenchmarkDeid/"+set] = []string{"MB/s", "files/s"}
		want["BenchmarkDeid/"+set+"/Process"] = []string{"MB/s", "files/s"}
	}
	for _, mode := range []string{"tar.gz", "per-file"} {
		for _, lat := range []string{"0s", "2ms"} {
			want[fmt.Sprintf("BenchmarkXNATDeliver/files=100/mode=%s/latency=%s", mode, lat)] = []string{"MB/s", "s/session", "requests/session", "rerun-requests"}
		}
	}
	smoke.Benchmarks(t, want, "BenchmarkCodec")
}

// TestSmokeCodecScript runs bench/codec.sh in smoke mode and checks it
// printed each set's throughput line and a ratio line per competitor.
func TestSmokeCodecScript(t *testing.T) {
	if smoke.Enabled() {
		t.Skip("already in smoke mode (the child process)")
	}
	out := smoke.Script(t, "bench/codec.sh")
	num := `[0-9]+(\.[0-9]+)?`
	for _, set := range smokeSets {
		if !regexp.MustCompile(`(?m)^` + set + `\s+aisedge\s+` + num + ` MB/s\s+` + num + ` files/s$`).MatchString(out) {
			t.Errorf("no throughput line for %s", set)
		}
		for _, impl := range codecImpls()[1:] {
			re := regexp.MustCompile(`(?m)^` + set + `\s+` + impl + `\s+` + num + ` MB/s\s+ratio aisedge/` + impl + ` = ` + num + `x$`)
			if !re.MatchString(out) {
				t.Errorf("no ratio line for %s against %s", set, impl)
			}
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestSmokeCompareScript runs bench/compare.sh in smoke mode on this
// revision against itself and checks it printed a B/A line for the
// de-identification, codec and C-STORE benchmarks.
func TestSmokeCompareScript(t *testing.T) {
	if smoke.Enabled() {
		t.Skip("already in smoke mode (the child process)")
	}
	out := smoke.Script(t, "bench/compare.sh")
	for _, name := range []string{`BenchmarkDeid/Small20`, `BenchmarkCodec/Small20/aisedge`, `CStore/run/storescu/small`, `CStore/run/aisedge-p4/small`} {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+\S+\s+A\s+[0-9.]+\s+B\s+[0-9.]+\s+B/A [0-9.]+$`)
		if !re.MatchString(out) {
			t.Errorf("no B/A line for %s", name)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
