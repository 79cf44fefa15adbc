package phicorpus

// What the suites that run the corpus through aisedge share around the
// scanner: the tally's report of a run, the quarantine list, the utility
// controls, the walk over the DICOM files of an output tree, the strings of
// a JSON document, and a plain byte-pattern matcher.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Setup writes the corpus (DefaultSeed) into a folder of tb's, logs its
// summary and compiles its scanner.
func Setup(tb testing.TB) (corpus string, m *Manifest, sc *Scanner) {
	tb.Helper()
	corpus = filepath.Join(tb.TempDir(), "corpus")
	m = Generate(tb, corpus, DefaultSeed)
	sc, err := NewScanner(m)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("corpus: %s", m.Summary())
	return corpus, m, sc
}

// ScanTree searches the tree under root with sc (Scanner.ScanTree), adds
// the hits and counts the files searched under counted.
func (t *Tally) ScanTree(sc *Scanner, surface, counted, root string, o TreeOptions) error {
	hits, n, err := sc.ScanTree(surface, root, o)
	t.Add(hits...)
	t.Scanned(counted, n)
	return err
}

// Report logs what the tally of a run shows: the files delivered and
// quarantined and what was searched, planted vs. leaked per class and kind
// (under title), the quarantined corpus files with their reasons, the
// utility controls and then each of more; and fails tb when any planted
// identifier leaked through (the command under test).
func (t *Tally) Report(tb testing.TB, title, through string, quarantined map[string][]string, controls string, more ...string) {
	tb.Helper()
	delivered, held := t.Files()
	tb.Logf("files: %d delivered, %d quarantined; searched:\n%s", delivered, held, t.Surfaces())
	tb.Logf("planted vs. leaked (%s):\n%s", title, t.Table())
	tb.Logf("quarantined corpus files and their reasons:\n%s", QuarantineList(quarantined))
	tb.Logf("utility controls:\n%s", controls)
	for _, s := range more {
		tb.Log(s)
	}
	if leaked := t.LeakedIDs(); len(leaked) > 0 {
		tb.Errorf("%d of %d planted identifiers leaked through %s:\n%s", len(leaked), len(t.m.Planted), through, t.LeakReport())
	}
}

// QuarantineList renders quarantined corpus files with their reasons, one
// a line, by name.
func QuarantineList(reasons map[string][]string) string {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(reasons)) {
		fmt.Fprintf(&b, "  %-60s %s\n", n, strings.Join(reasons[n], "; "))
	}
	return b.String()
}

// WalkDICOM opens every file (not folder) under root that keep accepts
// (every one when keep is nil) as DICOM up to its pixel data, and calls fn
// with each that parses; fn must not keep f, which is closed after it.
// Errors are passed over: what does not parse is not DICOM.
func WalkDICOM(root string, keep func(path string) bool, fn func(path string, f *dicom.File)) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || keep != nil && !keep(p) {
			return nil
		}
		f, err := dicom.Open(p, &dicom.ParseOptions{StopAtPixelData: true})
		if err != nil {
			return nil
		}
		defer f.Close()
		fn(p, f)
		return nil
	})
}

// ControlState is a utility control and what became of it.
type ControlState struct {
	Control
	State string // "survived", "file quarantined" or "LOST (changed or removed)"
}

func (c ControlState) String() string { return fmt.Sprintf("%-16q %s %s", c.Value, c.Path, c.State) }

// Controls tells, for each utility control of m, whether a DICOM file
// under root (those keep accepts: see WalkDICOM) holds it unchanged in its
// element, else whether its corpus file is among quarantined.
func Controls(m *Manifest, root string, quarantined map[string][]string, keep func(path string) bool) []ControlState {
	have := map[string]bool{} // tag + "=" + value
	WalkDICOM(root, keep, func(_ string, f *dicom.File) {
		for _, c := range m.Controls {
			tag, _ := dicom.ParseTag(c.Path)
			if v, _ := f.Dataset.Text(tag); v == c.Value {
				have[c.Path+"="+c.Value] = true
			}
		}
	})
	out := make([]ControlState, 0, len(m.Controls))
	for _, c := range m.Controls {
		state := "LOST (changed or removed)"
		switch {
		case have[c.Path+"="+c.Value]:
			state = "survived"
		case quarantined[c.File] != nil:
			state = "file quarantined"
		}
		out = append(out, ControlState{c, state})
	}
	return out
}

// JSONStrings returns the strings of a JSON document, one a line, keys
// before their values, an object's keys in order (JSON escapes ESC, the
// ISO 2022 escape, and other control bytes); false when doc is not JSON.
func JSONStrings(doc string) (string, bool) {
	var v any
	if json.Unmarshal([]byte(doc), &v) != nil {
		return "", false
	}
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString(x)
			b.WriteByte('\n')
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				b.WriteString(k)
				b.WriteByte('\n')
				walk(x[k])
			}
		}
	}
	walk(v)
	return b.String(), true
}

// Matcher finds byte patterns, ASCII case-insensitive: the scanner's
// Aho-Corasick automaton for searches of other needles.
type Matcher struct{ ac *acMatcher }

// NewMatcher compiles pats; none may be empty.
func NewMatcher(pats [][]byte) *Matcher {
	ps := make([]pattern, len(pats))
	for i, p := range pats {
		ps[i] = pattern{needle: i, pat: p, unit: 1}
	}
	return &Matcher{newAC(ps)}
}

// Find calls fn with every match in data, by end offset: the pattern's
// index in the pats of NewMatcher and the match's [start, end).
func (m *Matcher) Find(data []byte, fn func(pat, start, end int)) {
	for _, mt := range m.ac.find(data) {
		fn(m.ac.pats[mt.pat].needle, mt.start, mt.end)
	}
}
