package phicorpus

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Outcome of one planted identifier in one run.
type Outcome string

const (
	Leaked      Outcome = "leaked"      // found in something emitted
	Quarantined Outcome = "quarantined" // its file was held, nothing found
	Clean       Outcome = "clean"       // its file was delivered, nothing found
	NotSent     Outcome = "n/a"         // the path under test cannot carry it, or the file was not processed
)

// Tally gathers the hits of one run and the fate of each corpus file.
// Safe for concurrent use.
type Tally struct {
	m           *Manifest
	mu          sync.Mutex
	hits        []Hit
	quarantined map[string]bool
	delivered   map[string]bool
	na          map[int]string
	scanned     map[string]int
}

// NewTally starts the tally of a run over m.
func NewTally(m *Manifest) *Tally {
	return &Tally{m: m, quarantined: map[string]bool{}, delivered: map[string]bool{}, na: map[int]string{}, scanned: map[string]int{}}
}

// Add records hits.
func (t *Tally) Add(h ...Hit) {
	t.mu.Lock()
	t.hits = append(t.hits, h...)
	t.mu.Unlock()
}

// Scanned counts what was searched, per surface.
func (t *Tally) Scanned(surface string, n int) {
	t.mu.Lock()
	t.scanned[surface] += n
	t.mu.Unlock()
}

// Quarantine marks a corpus file as held (not emitted).
func (t *Tally) Quarantine(file string) {
	t.mu.Lock()
	t.quarantined[file] = true
	t.mu.Unlock()
}

// Deliver marks a corpus file as emitted.
func (t *Tally) Deliver(file string) {
	t.mu.Lock()
	t.delivered[file] = true
	t.mu.Unlock()
}

// NotApplicable marks identifiers the path under test cannot carry.
func (t *Tally) NotApplicable(why string, keep func(Planted) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.m.Planted {
		if keep(p) {
			t.na[p.ID] = why
		}
	}
}

// Outcome returns what became of planted identifier id, and its hits.
func (t *Tally) Outcome(id int) (Outcome, []Hit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.outcome(id)
}

func (t *Tally) outcome(id int) (Outcome, []Hit) {
	var hs []Hit
	for _, h := range t.hits {
		for _, p := range h.Planted {
			if p == id {
				hs = append(hs, h)
			}
		}
	}
	p := t.m.Planted[id]
	switch {
	case len(hs) > 0:
		return Leaked, hs
	case t.na[id] != "":
		return NotSent, nil
	case t.quarantined[p.File]:
		return Quarantined, nil
	case t.delivered[p.File]:
		return Clean, nil
	}
	return NotSent, nil
}

// LeakedIDs lists the leaked identifiers.
func (t *Tally) LeakedIDs() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	for _, p := range t.m.Planted {
		if o, _ := t.outcome(p.ID); o == Leaked {
			out = append(out, p.ID)
		}
	}
	return out
}

type counts struct{ planted, leaked, quarantined, clean, na int }

func (c *counts) add(o Outcome) {
	c.planted++
	switch o {
	case Leaked:
		c.leaked++
	case Quarantined:
		c.quarantined++
	case Clean:
		c.clean++
	default:
		c.na++
	}
}

// Table renders planted vs. leaked vs. quarantined per class and per kind.
func (t *Tally) Table() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	byClass, byKind := map[string]*counts{}, map[string]*counts{}
	var total counts
	for _, p := range t.m.Planted {
		o, _ := t.outcome(p.ID)
		for _, m := range []struct {
			by  map[string]*counts
			key string
		}{{byClass, p.Class}, {byKind, p.Kind}} {
			if m.by[m.key] == nil {
				m.by[m.key] = &counts{}
			}
			m.by[m.key].add(o)
		}
		total.add(o)
	}
	var b strings.Builder
	row := func(name string, c *counts) {
		fmt.Fprintf(&b, "  %-24s %7d %7d %11d %7d %5d\n", name, c.planted, c.leaked, c.quarantined, c.clean, c.na)
	}
	head := func(what string) {
		fmt.Fprintf(&b, "  %-24s %7s %7s %11s %7s %5s\n", what, "planted", "LEAKED", "quarantined", "removed", "n/a")
	}
	head("class")
	for _, c := range Classes {
		if byClass[c.Name] != nil {
			row(c.Name, byClass[c.Name])
		}
	}
	row("TOTAL", &total)
	b.WriteString("\n")
	head("kind")
	var kinds []string
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		row(k, byKind[k])
	}
	return b.String()
}

// LeakReport lists every leaked identifier with up to three places it was
// found, grouped by class and route.
func (t *Tally) LeakReport() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, c := range Classes {
		first := true
		for _, p := range t.m.Planted {
			if p.Class != c.Name {
				continue
			}
			o, hs := t.outcome(p.ID)
			if o != Leaked {
				continue
			}
			if first {
				fmt.Fprintf(&b, "class %s:\n", c.Name)
				first = false
			}
			sortHits(hs)
			surfaces := map[string]int{}
			var names []string
			for _, h := range hs {
				if surfaces[h.Surface] == 0 {
					names = append(names, h.Surface)
				}
				surfaces[h.Surface]++
			}
			sort.Strings(names)
			for i, n := range names {
				names[i] = fmt.Sprintf("%s ×%d", n, surfaces[n])
			}
			fmt.Fprintf(&b, "  #%d %s %s via %s at %s in %s (known to the engine: %v), planted %q; found in %d place(s): %s\n",
				p.ID, p.Kind, p.Scope, p.Route, p.Path, p.File, p.Known, p.Strings, len(hs), strings.Join(names, ", "))
			for i, h := range hs {
				if i == 3 {
					b.WriteString("      ...\n")
					break
				}
				fmt.Fprintf(&b, "      %s\n", h)
			}
		}
	}
	return b.String()
}

// Surfaces summarises what was searched.
func (t *Tally) Surfaces() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(t.scanned)) {
		fmt.Fprintf(&b, "  %-44s %6d item(s)\n", k, t.scanned[k])
	}
	return b.String()
}

// Files counts delivered and quarantined corpus files.
func (t *Tally) Files() (delivered, quarantined int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.delivered), len(t.quarantined)
}
