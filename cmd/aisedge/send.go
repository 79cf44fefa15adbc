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
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("send", stderr)
	var o sendOptions
	o.add(fset)
	fset.BoolVar(&o.recursive, "r", false, "recurse into directories (same as --recursive)")
	fset.BoolVar(&o.recursive, "recursive", false, "recurse into directories")
	fset.IntVar(&o.perAssoc, "per-assoc", 0, "files per association (0: all files of a worker in one)")
	fset.IntVar(&o.parallel, "parallel", 1, "concurrent associations")
	fset.BoolVar(&o.quiet, "quiet", false, "no progress line and no per-file failure list")
	fset.UintVar(&o.maxPDU, "max-pdu", dimse.DefaultMaxPDULength, "max PDU length this side receives")
	pos, err := parseInterleaved(fset, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageError{"usage: aisedge send HOST:PORT FILE|DIR... [--aet AET] [--called-aet AET] [-r] [--per-assoc N] [--parallel N] [--quiet]"}
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

// sendFiles is 'aisedge send' after flag parsing.
func sendFiles(ctx context.Context, peer string, inputs []string, o sendOptions, stdout, stderr io.Writer) error {
	start := time.Now()
	paths, err := collectPaths(inputs, o.recursive)
	if err != nil {
		return err
	}
	files, skipped := scanInstances(paths)
	for _, s := range skipped {
		if !o.quiet {
			fmt.Fprintf(stderr, "skipped %v\n", s)
		}
	}
	if len(files) == 0 {
		return fmt.Errorf("no sendable DICOM files among %d file(s)", len(paths))
	}
	var done, failed atomic.Int64
	var bytes atomic.Int64
	prog := newProgress(stderr, !o.quiet, len(files))
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
	prog.finish()
	elapsed := time.Since(start)
	if !o.quiet {
		sort.Slice(sum.Failures, func(i, j int) bool { return sum.Failures[i].File.Path < sum.Failures[j].File.Path })
		for _, f := range sum.Failures {
			fmt.Fprintf(stderr, "failed %s: %v\n", f.File.Path, f.Err)
		}
	}
	secs := elapsed.Seconds()
	fmt.Fprintf(stdout, "sent %d (%d with warnings), failed %d, skipped %d; %.1f MB in %.2fs (%.0f inst/s, %.1f MB/s)\n",
		sum.Sent, sum.Warnings, sum.Failed, len(skipped), float64(sum.Bytes)/1e6, secs, float64(sum.Sent)/secs, float64(sum.Bytes)/1e6/secs)
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d instances failed", sum.Failed, len(files))
	}
	return nil
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

// progress draws a one-line progress display on a terminal.
type progress struct {
	w     io.Writer
	on    bool
	total int
	start time.Time
	mu    sync.Mutex
	last  time.Time
}

func newProgress(w io.Writer, want bool, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok && want {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.on = true
		}
	}
	return p
}

func (p *progress) update(done, failed, bytes int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < int64(p.total) {
		return
	}
	p.last = now
	secs := now.Sub(p.start).Seconds()
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
	if p.on {
		fmt.Fprintln(p.w)
	}
}
