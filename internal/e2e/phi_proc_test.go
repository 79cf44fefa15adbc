package e2e

// The harness of the subprocess end-to-end test: the aisedge binary built
// into a temporary folder, `aisedge run` started with its stdout (events)
// and stderr (logs) collected line by line with arrival times, and a
// watcher that copies what passes through the data folder's bucket (the
// hub deletes a session's objects and its sealed manifest once delivered).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// phiBuild builds the aisedge binary without the race detector even when
// the tests run with it: the test measures the product's latency, and the
// race-enabled binary is several times slower (the fault tests run a
// race-enabled binary).
func phiBuild(t testing.TB) string { return buildBinary(t, false) }

// phiWatcher polls the data folder's bucket and staging area. Every
// object that appears in the bucket is hard-linked into a capture folder
// (cheap, so that the poll stays fast and the measured pipeline is not
// slowed; the link keeps the bytes after the hub deletes the object), and
// every manifest is copied.
type phiWatcher struct {
	dataDir, capture string
	stopc            chan struct{}
	done             chan struct{}

	mu       sync.Mutex
	sealed   map[string][]byte // bucket key of a MANIFEST → bytes
	staged   map[string][]byte // <folder>/MANIFEST... in staging → bytes
	seen     map[string]string // path → size/mtime/inode stamp
	captured map[string]string // capture path → bucket key
	polls    int
	errs     []string
}

var phiManifestRE = regexp.MustCompile(`^MANIFEST(\.g[0-9]+)?\.json$`)

func phiWatch(dataDir, capture string) *phiWatcher {
	w := &phiWatcher{dataDir: dataDir, capture: capture, stopc: make(chan struct{}), done: make(chan struct{}),
		sealed: map[string][]byte{}, staged: map[string][]byte{}, seen: map[string]string{}, captured: map[string]string{}}
	os.MkdirAll(capture, 0o755)
	go func() {
		defer close(w.done)
		for {
			w.poll()
			select {
			case <-w.stopc:
				w.poll()
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *phiWatcher) stop() {
	close(w.stopc)
	<-w.done
}

func (w *phiWatcher) poll() {
	bucket := filepath.Join(w.dataDir, "bucket")
	filepath.WalkDir(bucket, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(bucket, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".objstore" {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		var ino uint64
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		stamp := fmt.Sprint(info.Size(), info.ModTime().UnixNano(), ino)
		w.mu.Lock()
		old := w.seen[p]
		w.mu.Unlock()
		if old == stamp {
			return nil
		}
		var data []byte
		if phiManifestRE.MatchString(d.Name()) {
			if data, err = os.ReadFile(p); err != nil {
				return nil // gone: deleted between the listing and now
			}
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		dst := filepath.Join(w.capture, fmt.Sprintf("%06d-%s", len(w.captured), d.Name()))
		if err := os.Link(p, dst); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				w.errs = append(w.errs, err.Error())
			}
			return nil
		}
		w.seen[p] = stamp
		w.captured[dst] = rel
		if data != nil {
			w.sealed[rel] = data
		}
		return nil
	})
	staging := filepath.Join(w.dataDir, "edge", "staging")
	folders, _ := os.ReadDir(staging)
	for _, f := range folders {
		names, _ := os.ReadDir(filepath.Join(staging, f.Name()))
		for _, n := range names {
			if !phiManifestRE.MatchString(n.Name()) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(staging, f.Name(), n.Name()))
			if err != nil || !json.Valid(data) {
				continue // gone, or caught while being written
			}
			w.mu.Lock()
			w.staged[f.Name()+"/"+n.Name()] = data
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	w.polls++
	w.mu.Unlock()
}

// manifests returns copies of the manifests seen: sealed ones by bucket
// key, staged ones by <folder>/<name>.
func (w *phiWatcher) manifests() (sealed, staged map[string][]byte, polls int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sealed, staged = map[string][]byte{}, map[string][]byte{}
	for k, v := range w.sealed {
		sealed[k] = v
	}
	for k, v := range w.staged {
		staged[k] = v
	}
	return sealed, staged, w.polls
}

// objects returns the captured bucket objects: capture path → bucket key.
func (w *phiWatcher) objects() (map[string]string, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	for k, v := range w.captured {
		out[k] = v
	}
	return out, append([]string(nil), w.errs...)
}

// phiTimeline describes the way of the session verified last, from the
// events and logs, in seconds after t0 (the last C-STORE response): its
// last instance, staging, sealing in the bucket, the hub picking it up,
// verified at the destination.
func phiTimeline(lines []procLine, t0 time.Time) string {
	var last procLine
	for _, l := range lines {
		if l.event() == "delivery_completed" && !l.at.Before(last.at) {
			last = l
		}
	}
	if last.m == nil {
		return "no session delivered"
	}
	sess := last.str("session")
	steps := []struct{ name, event string }{
		{"last instance de-identified", "instance_deidentified"}, {"staged", "study_staged"}, {"upload started", "upload_started"},
		{"sealed", "upload_completed"}, {"hub started delivery", "delivery_started"}, {"verified", "delivery_completed"},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "session verified last, %s:", sess)
	for _, st := range steps {
		var at time.Time
		for _, l := range lines {
			if l.event() == st.event && l.str("session") == sess {
				at = l.at
			}
		}
		if at.IsZero() {
			fmt.Fprintf(&b, " %s ?;", st.name)
			continue
		}
		fmt.Fprintf(&b, " %s %+.2f s;", st.name, at.Sub(t0).Seconds())
	}
	return strings.TrimSuffix(b.String(), ";")
}
