package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/logging"
	"github.com/aisedge/aisedge/internal/quarantine"
)

func init() {
	register(command{name: "deid", summary: "de-identify DICOM files and folders (or --explain one file, --lint a profile)", run: runDeid})
}

// deidOptions are the flags of `aisedge deid`.
type deidOptions struct {
	profile    string
	out        string
	quarantine string
	reports    string
	site       string
	project    string
	workers    int
	explain    string
	lint       string
	progress   string
	logLevel   string
}

const deidUsage = `usage:
  aisedge deid --site SITE --out DIR [--profile P] [--project CODE] IN...
  aisedge deid --explain FILE [--profile P]
  aisedge deid --lint P

De-identifies every DICOM file in IN (files and folders, recursively) into
OUT/<PROJECT.SUBJECT.VISIT>/<new SOP Instance UID>.dcm. Instances that fail
a rule or the verification gate are copied to the quarantine folder
(QUARANTINE/<id>/instance.dcm) with a value-free entry.json, and the
command exits 1. The key comes from
$AIS_DEID_HMAC_SALT (openssl rand -hex 32). Input file names are never
printed (they may hold names): inputs are numbered in argument order.`

func loadProfileArg(name string) (*deid.Profile, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		var berr error
		b, berr = deid.BuiltinProfile(name)
		if berr != nil {
			return nil, fmt.Errorf("profile %q is neither a readable file nor a built-in profile (%s): %w",
				name, strings.Join(deid.BuiltinProfiles(), ", "), err)
		}
	}
	return deid.LoadProfile(b)
}

func runDeid(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o deidOptions
	fs := newFlagSet("deid", stderr)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), deidUsage); fmt.Fprintln(fs.Output()); fs.PrintDefaults() }
	fs.StringVar(&o.profile, "profile", "research-default", "profile: a JSON `file` or a built-in name ("+strings.Join(deid.BuiltinProfiles(), ", ")+")")
	fs.StringVar(&o.out, "out", "", "output `directory`")
	fs.StringVar(&o.quarantine, "quarantine", "", "quarantine `directory` (default OUT.quarantine)")
	fs.StringVar(&o.reports, "reports", "", "write one value-free report per instance into this `directory`")
	fs.StringVar(&o.site, "site", "", "site id: the pseudonym namespace (required to de-identify; must match the deployment)")
	fs.StringVar(&o.project, "project", "LOCAL", "project `code` (${ProjectCode}, first part of the session folder name)")
	fs.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "files processed in parallel")
	fs.StringVar(&o.explain, "explain", "", "print the action for each element of `FILE` (no values) and exit")
	fs.StringVar(&o.lint, "lint", "", "check a profile (`file` or built-in name), print its findings and hash, and exit")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always, never")
	fs.StringVar(&o.logLevel, "log-level", "error", "diagnostics level on stderr: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usageError{err.Error()}
	}
	log := logging.New(stderr, lvl)
	switch {
	case o.lint != "":
		if fs.NArg() != 0 || o.explain != "" {
			return usageError{deidUsage}
		}
		return deidLint(o.lint, stdout)
	case o.explain != "":
		if fs.NArg() != 0 {
			return usageError{deidUsage}
		}
		return deidExplain(o, stdout)
	}
	if o.out == "" || fs.NArg() == 0 {
		return usageError{deidUsage}
	}
	if o.site == "" {
		return usageError{"--site is required: it is the pseudonym namespace (docs/deid.md, Pseudonyms) and must match the deployment"}
	}
	if o.quarantine == "" {
		o.quarantine = strings.TrimRight(o.out, string(filepath.Separator)) + ".quarantine"
	}
	if o.workers < 1 {
		o.workers = 1
	}
	prof, err := loadProfileArg(o.profile)
	if err != nil {
		return err
	}
	keys, _, err := deidKeys("")
	if err != nil {
		return err
	}
	eng, err := deid.New(deid.Config{Profile: prof, Keys: keys, Site: o.site, ProjectCode: o.project, Logger: log})
	if err != nil {
		return err
	}
	inputs, skipped, err := collectInputs(fs.Args())
	if err != nil {
		return err
	}
	if skipped > 0 {
		fmt.Fprintf(stdout, "%d file(s) in the input folders are not DICOM: skipped\n", skipped)
	}
	return deidFiles(ctx, eng, o, inputs, stdout, stderr)
}

// sniffDICOM reports whether a file found in a folder looks like DICOM:
// "DICM" at offset 128, or a bare data set starting with an even group of
// 0002-0028. Other files (READMEs, archives) are skipped, not quarantined.
func sniffDICOM(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true // let processing report the error
	}
	defer f.Close()
	b := make([]byte, 132)
	n, _ := io.ReadFull(f, b)
	if n == 132 && string(b[128:132]) == "DICM" {
		return true
	}
	if n < 8 {
		return false
	}
	g := uint16(b[0]) | uint16(b[1])<<8
	return g%2 == 0 && g >= 0x0002 && g <= 0x0028
}

// collectInputs expands folders (recursively, in lexical order) into
// regular files that look like DICOM; hidden files are skipped. Files named
// on the command line are always processed.
func collectInputs(args []string) (files []string, skipped int, err error) {
	var out []string
	for i, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, 0, fmt.Errorf("input argument %d: %w", i+1, errors.Unwrap(err))
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && p != a {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				if sniffDICOM(p) {
					out = append(out, p)
				} else {
					skipped++
				}
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("input argument %d: %w", i+1, errors.Unwrap(err))
		}
	}
	return out, skipped, nil
}

// deidSummary counts what happened.
type deidSummary struct {
	done, ok, quarantined, failed atomic.Int64
	bytes                         atomic.Int64
	mu                            sync.Mutex
	reasons                       map[string]int
	failures                      []string
}

func deidFiles(ctx context.Context, eng *deid.Engine, o deidOptions, inputs []string, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(o.out, 0o750); err != nil {
		return err
	}
	if o.reports != "" {
		if err := os.MkdirAll(o.reports, 0o750); err != nil {
			return err
		}
	}
	sum := &deidSummary{reasons: map[string]int{}}
	start := time.Now()
	show := o.progress == "always" || (o.progress == "auto" && isTerminal(stderr))
	stopBar := make(chan struct{})
	barDone := make(chan struct{})
	go func() {
		defer close(barDone)
		if !show {
			<-stopBar
			return
		}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopBar:
				progressBar(stderr, sum, len(inputs), start, true)
				return
			case <-tick.C:
				progressBar(stderr, sum, len(inputs), start, false)
			}
		}
	}()

	jobs := make(chan int)
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				deidOne(ctx, eng, o, i, inputs[i], sum)
			}
		}()
	}
	for i := range inputs {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(stopBar)
	<-barDone

	el := time.Since(start).Seconds()
	mb := float64(sum.bytes.Load()) / 1e6
	fmt.Fprintf(stdout, "%d input(s): %d de-identified, %d quarantined, %d failed; %.1f MB in %.2f s (%.1f MB/s, %.1f files/s)\n",
		sum.done.Load(), sum.ok.Load(), sum.quarantined.Load(), sum.failed.Load(), mb, el, mb/max(el, 1e-9), float64(sum.done.Load())/max(el, 1e-9))
	if len(sum.reasons) > 0 {
		codes := make([]string, 0, len(sum.reasons))
		for c := range sum.reasons {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		fmt.Fprintf(stdout, "quarantine reasons (%s):\n", o.quarantine)
		for _, c := range codes {
			fmt.Fprintf(stdout, "  %-50s %d\n", c, sum.reasons[c])
		}
	}
	sort.Strings(sum.failures)
	for _, f := range sum.failures {
		fmt.Fprintln(stdout, "  "+f)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if n := sum.quarantined.Load() + sum.failed.Load(); n > 0 {
		return fmt.Errorf("%d input(s) not de-identified (quarantined: %d, failed: %d)", n, sum.quarantined.Load(), sum.failed.Load())
	}
	return nil
}

func deidOne(ctx context.Context, eng *deid.Engine, o deidOptions, i int, in string, sum *deidSummary) {
	defer sum.done.Add(1)
	out, err := eng.ProcessFile(ctx, in, o.out)
	var id string
	if err == nil && out.Quarantined() {
		id, err = quarantineInput(eng, in, out, o.quarantine)
	}
	if err != nil {
		sum.failed.Add(1)
		sum.mu.Lock()
		// The error of an I/O failure names the input path: keep only its
		// kind and the input number.
		sum.failures = append(sum.failures, fmt.Sprintf("input #%d failed: %s", i+1, errKind(err)))
		sum.mu.Unlock()
		return
	}
	sum.bytes.Add(out.InputBytes)
	if out.Quarantined() {
		sum.quarantined.Add(1)
		sum.mu.Lock()
		for _, r := range out.Reasons {
			sum.reasons[r.Code]++
		}
		sum.mu.Unlock()
	} else {
		sum.ok.Add(1)
	}
	if o.reports != "" && out.Report != nil {
		name := out.Report.NewSOPInstanceUID
		if out.Quarantined() {
			name = "quarantined-" + id
		}
		if name != "" {
			os.WriteFile(filepath.Join(o.reports, name+".json"), out.Report.JSON(), 0o640)
		}
	}
}

// quarantineInput copies a quarantined input into the quarantine folder
// (internal/quarantine's layout), named by its keyed hash so that a run
// again over the same inputs finds the same entries, and returns its id.
func quarantineInput(eng *deid.Engine, in string, out *deid.Outcome, dir string) (string, error) {
	f, err := os.Open(in)
	if err != nil {
		return "", err
	}
	id, err := eng.InputID(f)
	f.Close()
	if err != nil {
		return "", err
	}
	e := quarantine.Entry{ID: id, ReceivedAt: time.Now().UTC(), Engine: "AIS-Edge deid " + deid.EngineVersion}
	for _, r := range out.Reasons {
		e.Reasons = append(e.Reasons, r.String())
	}
	if out.Report != nil {
		e.Report = out.Report.JSON()
	}
	store := quarantine.Store{Dir: dir, Copy: true}
	_, err = store.Put(in, e)
	return id, err
}

func errKind(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "file vanished"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	case deid.IsTransient(err):
		return "I/O error (retry may succeed)"
	}
	return "error"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func progressBar(w io.Writer, s *deidSummary, total int, start time.Time, final bool) {
	done := int(s.done.Load())
	const width = 30
	fill := 0
	if total > 0 {
		fill = done * width / total
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(w, "\r[%s%s] %d/%d  ok %d  quarantined %d  %.1f MB/s ", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		done, total, s.ok.Load(), s.quarantined.Load(), float64(s.bytes.Load())/1e6/max(el, 1e-9))
	if final {
		fmt.Fprintln(w)
	}
}

func deidLint(name string, stdout io.Writer) error {
	p, err := loadProfileArg(name)
	var pe *deid.ProfileError
	if errors.As(err, &pe) {
		for _, f := range pe.Findings {
			fmt.Fprintln(stdout, f)
		}
		return fmt.Errorf("profile rejected: %d error(s)", len(pe.Errors()))
	}
	if err != nil {
		return err
	}
	for _, f := range p.Findings {
		fmt.Fprintln(stdout, f)
	}
	fmt.Fprintf(stdout, "profile %q accepted; hash %s\n", p.Name, p.Hash)
	return nil
}

// deidExplain prints, without values, the action for every element of one
// file, the quarantine reasons and the gate's verdict on the result.
func deidExplain(o deidOptions, stdout io.Writer) error {
	prof, err := loadProfileArg(o.profile)
	if err != nil {
		return err
	}
	keys, _, err := deidKeys("")
	if err != nil {
		// Explain shows no values: a throw-away key is enough.
		b := make([]byte, 32)
		rand.Read(b)
		keys, err = deid.NewKeys(hex.EncodeToString(b))
		if err != nil {
			return err
		}
	}
	site := o.site
	if site == "" {
		site = "explain"
	}
	eng, err := deid.New(deid.Config{Profile: prof, Keys: keys, Site: site, ProjectCode: o.project})
	if err != nil {
		return err
	}
	f, err := dicom.Open(o.explain, nil)
	if err != nil {
		return fmt.Errorf("not a readable DICOM file: %w", errors.Unwrap(err))
	}
	defer f.Close()
	res, err := eng.Deidentify(f, deid.Options{Explain: true})
	if err != nil {
		return err
	}
	rep := res.Report
	if !res.Quarantined() {
		var buf bytes.Buffer
		if err := dicom.WriteFile(&buf, res.File); err != nil {
			return err
		}
		if _, err := eng.Verify(res, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PATH\tACTION\tRULE\n")
	for _, a := range rep.Actions {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Path, a.Action, a.Rule)
	}
	tw.Flush()
	fmt.Fprintln(stdout, "\nactions: X removed, Z emptied, D dummy, K kept, C cleaned/shifted, U UID remapped, P pseudonym, R user Replace, A age computed, Q quarantines the instance")
	for _, w := range rep.Warnings {
		fmt.Fprintf(stdout, "warning: %s %s %s (×%d)\n", w.Code, w.Path, w.Detail, w.Count)
	}
	if rep.Gate != nil {
		for _, c := range rep.Gate.Checks {
			status := "pass"
			if !c.Passed {
				status = "FAIL: " + strings.Join(c.Failures, "; ")
			}
			fmt.Fprintf(stdout, "gate %-14s %s\n", c.Name, status)
		}
	}
	b, _ := json.Marshal(rep.Reasons)
	if res.Quarantined() {
		fmt.Fprintf(stdout, "outcome: quarantined %s\n", b)
	} else {
		fmt.Fprintf(stdout, "outcome: de-identified (profile %s, key %s)\n", rep.ProfileHash[:16], rep.KeyID)
	}
	return nil
}
