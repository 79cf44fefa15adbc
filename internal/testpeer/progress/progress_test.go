package progress

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestCPUTime(t *testing.T) {
	start := CPUTime(os.Getpid())
	for d := time.Now().Add(300 * time.Millisecond); time.Now().Before(d); {
		_ = strings.Repeat("x", 1000)
	}
	if got := CPUTime(os.Getpid()); got <= start {
		t.Errorf("CPU time did not grow: %v then %v", start, got)
	}
	if CPUTime(-1) != 0 {
		t.Error("an unknown process has CPU time")
	}
}

func TestWatch(t *testing.T) {
	w := Start()
	if err := w.Check(1, "a"); err != nil {
		t.Fatal(err)
	}
	// Stuck: the same signs, the last progress long ago.
	w.lastProgress = time.Now().Add(-IdleLimit - time.Second)
	if err := w.Check(1, "a"); err == nil || !strings.Contains(err.Error(), "no progress") {
		t.Errorf("stuck start-up: %v", err)
	}
	// A change is progress.
	if err := w.Check(2, "a"); err != nil {
		t.Errorf("progress refused: %v", err)
	}
	// Too long in all, progress or not.
	w.start = time.Now().Add(-StartLimit - time.Second)
	if err := w.Check(3, "b"); err == nil || !strings.Contains(err.Error(), "after") {
		t.Errorf("endless start-up: %v", err)
	}
}
