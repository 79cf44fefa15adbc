// Package progress bounds the start-up of a test peer (a server process a
// test starts: SeaweedFS, kube-apiserver and etcd, sshd, storescp,
// Orthanc) by its progress instead of the clock. A loaded machine only
// makes a peer slower; a fixed deadline then fails a test that would have
// passed. A start-up fails here when for IdleLimit nothing the caller can
// see has changed (the peer's output, its CPU time, the probe's answer) or
// after StartLimit in all. Test support only; it imports nothing of the
// project, so every peer package may use it.
package progress

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// IdleLimit and StartLimit are the two bounds of a start-up.
const (
	IdleLimit  = 60 * time.Second
	StartLimit = 5 * time.Minute
)

// CPUTime returns the CPU time a process and its waited-for children have
// used (0 if unknown). Children count because some peers are started
// through a chain of programs that exec each other or run helpers first.
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command's closing parenthesis: state is 3; utime,
	// stime, cutime and cstime 14 to 17, in clock ticks (100 a second on
	// Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// Watch follows one start-up.
type Watch struct {
	start, lastProgress time.Time
	last                string
	seen                bool
}

// Start begins watching a start-up.
func Start() *Watch {
	now := time.Now()
	return &Watch{start: now, lastProgress: now}
}

// Check records the current signs of progress; a change in any of them
// counts as progress. It returns an error, saying which bound was hit,
// when there was none for IdleLimit or StartLimit has passed since Start.
func (w *Watch) Check(signs ...any) error {
	now := fmt.Sprint(signs...)
	if !w.seen || now != w.last {
		w.lastProgress, w.last, w.seen = time.Now(), now, true
	}
	switch {
	case time.Since(w.lastProgress) > IdleLimit:
		return fmt.Errorf("not ready, and no progress for %v", IdleLimit)
	case time.Since(w.start) > StartLimit:
		return fmt.Errorf("not ready after %v", StartLimit)
	}
	return nil
}
