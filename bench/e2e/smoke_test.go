package e2ebench

import (
	"testing"

	"github.com/aisedge/aisedge/bench/internal/smoke"
)

// TestSmokeBenchmarks runs BenchmarkLastCStoreToVerified once in smoke mode
// (20 instances, 1 s quiet period) and checks its metrics, the comparison
// with the original's timer chain included.
func TestSmokeBenchmarks(t *testing.T) {
	smoke.Benchmarks(t, map[string][]string{
		"BenchmarkLastCStoreToVerified/instances=20/quiet=1s": {"s-to-verified", "s-beyond-quiet", "send-inst/s", "x-vs-orig-mean", "x-vs-orig-worst"},
	})
}
