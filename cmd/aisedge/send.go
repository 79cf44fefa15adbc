package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/fault/netfault"
)

func init() {
	register(command{name: "send", summary: "send DICOM files with C-STORE (HOST:PORT FILES|DIRS...)", run: runSend})
}

// sendOptions are the flags of 'aisedge send'.
type sendOptions struct {
	dimseFlags
	recursive bool
	perAssoc  int
	parallel  int
	quiet     bool
	maxPDU    uint
	// progressEvery is the interval of the progress lines without a
	// terminal.
	progressEvery time.Duration
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("send", stderr)
	var o sendOptions
	o.add(fset)
	fset.BoolVar(&o.recursive, "r", false, "recurse into directories (same as --recursive)")
	fset.BoolVar(&o.recursive, "recursive", false, "recurse into directories")
	fset.IntVar(&o.perAssoc, "per-assoc", 0, "files per association (0: all files of a worker in one)")
	fset.IntVar(&o.parallel, "parallel", 1, "concurrent associations")
	fset.BoolVar(&o.quiet, "quiet", false, "no progress and no per-file failure list")
	fset.DurationVar(&o.progressEvery, "progress-every", 5*time.Second, "without a terminal, print a progress line this often (0: after every file)")
	fset.UintVar(&o.maxPDU, "max-pdu", dimse.DefaultMaxPDULength, "max PDU length this side receives")
	pos, err := parseInterleaved(fset, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageError{"usage: aisedge send HOST:PORT FILE|DIR... [flags] (aisedge help send)"}
	}
	if err := checkPeer(pos[0]); err != nil {
		return err
	}
	if err := checkAET("aet", o.aet); err != nil {
		return err
	}
	if err := checkAET("called-aet", o.calledAET); err != nil {
		return err
	}
	if o.parallel < 1 || o.perAssoc < 0 {
		return usageError{"--parallel must be >= 1 and --per-assoc >= 0"}
	}
	return sendFiles(ctx, pos[0], pos[1:], o, stdout, stderr)
}

// sendFiles is 'aisedge send' after flag parsing. On a terminal it draws a
// progress bar; otherwise it prints a progress line every
// o.progressEvery. Failures are listed up to maxFailureLines, then counted
// by reason; when every file failed for the same reason, or on Ctrl-C, the
// command prints one line instead.
func sendFiles(ctx context.Context, peer string, inputs []string, o sendOptions, stdout, stderr io.Writer) error {
	start := time.Now()
	paths, err := collectPaths(inputs, o.recursive)
	if err != nil {
		return err
	}
	files, skipped := scanInstances(paths)
	for i, s := range skipped {
		if !o.quiet && i < maxFailureLines {
			fmt.Fprintf(stderr, "skipped %v\n", s)
		}
	}
	if n := len(skipped) - maxFailureLines; n > 0 && !o.quiet {
		fmt.Fprintf(stderr, "skipped %d more files that are not sendable DICOM instances\n", n)
	}
	if len(files) == 0 {
		return fmt.Errorf("no sendable DICOM files among %d file(s)", len(paths))
	}
	var done, failed atomic.Int64
	var bytes atomic.Int64
	prog := newProgress(stderr, !o.quiet, len(files), o.progressEvery)
	stopTicker := prog.tick(func() (int64, int64, int64) { return done.Load(), failed.Load(), bytes.Load() })
	dc := o.dialConfig()
	dc.MaxPDULength = uint32(o.maxPDU)
	sum := dimse.SendFiles(ctx, peer, files, dimse.SendOptions{
		Dial: dc, PerAssociation: o.perAssoc, Parallel: o.parallel,
		OnResult: func(r dimse.SendResult) {
			done.Add(1)
			bytes.Add(r.Bytes)
			if r.Err != nil {
				failed.Add(1)
			}
			prog.update(done.Load(), failed.Load(), bytes.Load())
		},
	})
	stopTicker()
	prog.finish()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		// Interrupted: one line, whatever the files' errors say.
		return interrupted{fmt.Sprintf("interrupted after %s: %d of %d instances sent, %d failed before, %d not sent",
			elapsed.Round(time.Millisecond), sum.Sent, len(files), countNotCanceled(sum.Failures), len(files)-sum.Sent-countNotCanceled(sum.Failures))}
	}
	groups := groupFailures(sum.Failures)
	if sum.Sent == 0 && len(groups) == 1 {
		msg := fmt.Sprintf("all %d instances failed: %s", len(files), groups[0].reason)
		if groups[0].net {
			return connectionError{errors.New(msg)}
		}
		return errors.New(msg)
	}
	if !o.quiet {
		sort.Slice(sum.Failures, func(i, j int) bool { return sum.Failures[i].File.Path < sum.Failures[j].File.Path })
		for i, f := range sum.Failures {
			if i == maxFailureLines {
				break
			}
			fmt.Fprintf(stderr, "failed %s: %v\n", f.File.Path, f.Err)
		}
		if len(sum.Failures) > maxFailureLines {
			fmt.Fprintf(stderr, "%d more failures; all failures by reason:\n", len(sum.Failures)-maxFailureLines)
			for _, g := range groups {
				fmt.Fprintf(stderr, "  %d× %s\n", g.n, g.reason)
			}
		}
	}
	secs := elapsed.Seconds()
	fmt.Fprintf(stdout, "sent %d (%d with warnings), failed %d, skipped %d; %.1f MB in %.2fs (%.0f inst/s, %.1f MB/s)\n",
		sum.Sent, sum.Warnings, sum.Failed, len(skipped), float64(sum.Bytes)/1e6, secs, float64(sum.Sent)/secs, float64(sum.Bytes)/1e6/secs)
	switch {
	case sum.Failed == 0:
		return nil
	case sum.Sent > 0:
		return partialError{fmt.Sprintf("%d of %d instances failed", sum.Failed, len(files))}
	default:
		return fmt.Errorf("all %d instances failed", len(files))
	}
}

// maxFailureLines bounds the per-file failure lines of send.
const maxFailureLines = 20

// failureGroup is the failures of one reason.
type failureGroup struct {
	reason string
	n      int
	net    bool // a connection error (dial, refused, reset)
}

// groupFailures counts failures by their error text, most frequent first.
func groupFailures(fs []dimse.SendResult) []failureGroup {
	idx := map[string]int{}
	var out []failureGroup
	for _, f := range fs {
		r := f.Err.Error()
		i, ok := idx[r]
		if !ok {
			i = len(out)
			idx[r] = i
			out = append(out, failureGroup{reason: r, net: netfault.IsConnection(f.Err)})
		}
		out[i].n++
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].n > out[j].n })
	return out
}

// countNotCanceled counts the failures that are not the interruption's.
func countNotCanceled(fs []dimse.SendResult) int {
	n := 0
	for _, f := range fs {
		if !errors.Is(f.Err, context.Canceled) {
			n++
		}
	}
	return n
}

// collectPaths expands the inputs: files as given, directories' regular
// files (recursively with -r), sorted for a stable order.
func collectPaths(inputs []string, recursive bool) ([]string, error) {
	var out []string
	for _, in := range inputs {
		st, err := os.Stat(in)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, in)
			continue
		}
		err = filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != in && !recursive {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanInstances reads the header of every path in parallel; files that
// are not sendable instances are returned as skipped.
func scanInstances(paths []string) ([]*dimse.FileInstance, []error) {
	res := make([]*dimse.FileInstance, len(paths))
	errs := make([]error, len(paths))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0)*2, len(paths)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(paths) {
					return
				}
				res[i], errs[i] = dimse.ReadFileInstance(paths[i])
			}
		}()
	}
	wg.Wait()
	var files []*dimse.FileInstance
	var skipped []error
	for i := range paths {
		if errs[i] != nil {
			if !errors.Is(errs[i], dimse.ErrNotSendable) {
				errs[i] = fmt.Errorf("%s: %w", paths[i], errs[i])
			}
			skipped = append(skipped, errs[i])
			continue
		}
		files = append(files, res[i])
	}
	return files, skipped
}

// progress shows how far a send got: a bar redrawn on a terminal, or a
// line every interval otherwise (0: after every file; negative: never).
type progress struct {
	w        io.Writer
	on       bool // anything at all
	tty      bool
	total    int
	interval time.Duration
	start    time.Time
	mu       sync.Mutex
	last     time.Time
}

func newProgress(w io.Writer, want bool, total int, interval time.Duration) *progress {
	p := &progress{w: w, total: total, start: time.Now(), interval: interval, on: want && interval >= 0}
	p.last = p.start
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// tick prints a line every interval even when no file completes (a
// stalled peer), until the returned function is called.
func (p *progress) tick(counts func() (done, failed, bytes int64)) (stop func()) {
	if !p.on || p.tty || p.interval <= 0 {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				p.update(counts())
			}
		}
	}()
	return func() { close(quit); <-finished }
}

func (p *progress) update(done, failed, bytes int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	secs := now.Sub(p.start).Seconds()
	if !p.tty {
		if now.Sub(p.last) < p.interval {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "progress: %d/%d done, %d failed, %.1f MB, %.0f inst/s, %s elapsed\n",
			done, p.total, failed, float64(bytes)/1e6, float64(done)/secs, now.Sub(p.start).Round(time.Second))
		return
	}
	if now.Sub(p.last) < 100*time.Millisecond && done < int64(p.total) {
		return
	}
	p.last = now
	width := 30
	fill := int(int64(width) * done / int64(max(p.total, 1)))
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < fill {
			bar[i] = '='
		}
	}
	fmt.Fprintf(p.w, "\r[%s] %d/%d failed %d  %.1f MB  %.0f inst/s ", bar, done, p.total, failed, float64(bytes)/1e6, float64(done)/secs)
}

func (p *progress) finish() {
	if p.on && p.tty {
		fmt.Fprintln(p.w)
	}
}
