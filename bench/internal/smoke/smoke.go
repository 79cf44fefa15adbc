// Package smoke runs the benchmarks in smoke mode from the test suite, so a
// benchmark cannot silently stop working: each benchmark script with
// SMOKE=1 and the Go benchmarks of a package once each (-benchtime 1x)
// with AISEDGE_BENCH_SMOKE=1, which shrinks their data sets to seconds.
// The checks are on the output format (the result lines, the ratio lines,
// complete counts), not on the figures: smoke figures are measured on tiny
// inputs, often under the race detector, and mean nothing.
package smoke

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Env is the variable that puts the Go benchmarks in smoke mode.
const Env = "AISEDGE_BENCH_SMOKE"

// Enabled reports whether the benchmarks run in smoke mode.
func Enabled() bool { return os.Getenv(Env) == "1" }

// Size returns full, or small in smoke mode.
func Size[T any](full, small T) T {
	if Enabled() {
		return small
	}
	return full
}

// ModuleRoot is the folder of go.mod above the working folder.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	tb.Fatalf("go.mod not found above %s", wd)
	return ""
}

// Script runs the benchmark script at path (relative to the module root)
// with SMOKE=1 and env, and returns its standard output; a non-zero exit
// fails the test with the output. Its standard error is logged.
func Script(t *testing.T, path string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline(t, 5*time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(ModuleRoot(t), path))
	cmd.Dir = ModuleRoot(t)
	cmd.Env = append(os.Environ(), append([]string{"SMOKE=1"}, env...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	t.Logf("SMOKE=1 %s: %.1f s\n%s", path, time.Since(start).Seconds(), out.String())
	if errb.Len() > 0 {
		t.Logf("stderr:\n%s", errb.String())
	}
	if err != nil {
		t.Fatalf("SMOKE=1 %s: %v", path, err)
	}
	return out.String()
}

// Result is one benchmark result line: its name without the -GOMAXPROCS
// suffix, and its metrics by unit.
type Result struct {
	Name    string
	Metrics map[string]float64
}

var resultLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+(.*)$`)

// Parse returns the result lines of go test -bench output.
func Parse(out string) map[string]Result {
	rs := map[string]Result{}
	for _, l := range strings.Split(out, "\n") {
		m := resultLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		r := Result{Name: m[1], Metrics: map[string]float64{}}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				r.Metrics[f[i+1]] = v
			}
		}
		rs[r.Name] = r
	}
	return rs
}

// Benchmarks runs the Go benchmarks named by the keys of want (top-level
// name/sub-benchmark names, without the -GOMAXPROCS suffix) once each
// (-benchtime 1x) in smoke mode, in a child process of the running test
// binary, and checks that each printed a result line with each of its
// units and that nothing else ran, skipped or failed. Every benchmark of
// the package must be in want or in elsewhere (the top-level benchmarks a
// script's smoke test runs instead), so a new benchmark cannot be left
// out. It returns the results.
func Benchmarks(t *testing.T, want map[string][]string, elsewhere ...string) map[string]Result {
	t.Helper()
	if Enabled() {
		t.Skip("already in smoke mode (the child process)")
	}
	list, err := exec.Command(os.Args[0], "-test.list", "^Benchmark").Output()
	if err != nil {
		t.Fatalf("listing the benchmarks: %v", err)
	}
	tops := map[string]bool{}
	for name := range want {
		top, _, _ := strings.Cut(name, "/")
		tops[top] = true
	}
	var run []string
	for _, name := range strings.Fields(string(list)) {
		switch {
		case tops[name]:
			run = append(run, regexp.QuoteMeta(name))
		case slices.Contains(elsewhere, name):
		default:
			t.Errorf("%s is not run in smoke mode: add it to this package's smoke test", name)
		}
	}
	if len(run) == 0 {
		t.Fatal("no benchmark to run")
	}
	pattern := "^(" + strings.Join(run, "|") + ")$"

	ctx, cancel := context.WithTimeout(context.Background(), deadline(t, 5*time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", "1x", "-test.count", "1", "-test.v")
	cmd.Env = append(os.Environ(), Env+"=1")
	start := time.Now()
	b, err := cmd.CombinedOutput()
	out := string(b)
	t.Logf("%s once each in smoke mode: %.1f s", pattern, time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("benchmarks: %v\n%s", err, out)
	}
	for _, bad := range []string{"--- SKIP", "--- FAIL", "\nFAIL"} {
		if strings.Contains(out, bad) {
			t.Fatalf("benchmark output has %q:\n%s", bad, out)
		}
	}
	rs := Parse(out)
	for name, units := range want {
		r, ok := rs[name]
		if !ok {
			t.Errorf("no result line for %s", name)
			continue
		}
		for _, u := range units {
			if _, ok := r.Metrics[u]; !ok {
				t.Errorf("%s: no %s metric in %v", name, u, r.Metrics)
			}
		}
	}
	for name := range rs {
		if _, ok := want[name]; !ok {
			t.Errorf("%s ran but is not checked by this package's smoke test", name)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	return rs
}

// deadline is the time left before the test binary's -timeout (less a
// margin to report), at most max.
func deadline(t *testing.T, limit time.Duration) time.Duration {
	if d, ok := t.Deadline(); ok {
		if left := time.Until(d) - 10*time.Second; left < limit {
			return max(left, time.Second)
		}
	}
	return limit
}
