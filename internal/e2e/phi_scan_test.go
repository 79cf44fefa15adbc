package e2e

// The identifier search of the subprocess end-to-end test: every planted or
// original identifier, in every encoding it could leak in (UTF-8, upper
// case, Latin-1, ISO 2022 Japanese with and without its escapes, UTF-16LE),
// searched at once (Aho-Corasick over ASCII-case-folded bytes) in file
// bytes, labels, logs and events.

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aisedge/aisedge/internal/dicom/charset"
	"github.com/aisedge/aisedge/internal/testpeer/phicorpus"
)

// phiBound is what may stand next to a match for it to count.
type phiBound uint8

const (
	phiAnywhere phiBound = iota
	// phiNoDigit: not next to an ASCII digit (UIDs: "1.2.3" must not hit
	// inside "1.2.34").
	phiNoDigit
	// phiNoNumber: not next to a digit or '.' (numeric IDs and dates must
	// not hit inside a decimal number or a remapped 2.25 UID).
	phiNoNumber
	// phiNoAlnum: not next to an ASCII letter or digit (short IDs).
	phiNoAlnum
)

// phiNeedle is one identifier in one encoding.
type phiNeedle struct {
	what  string // where the identifier comes from and which encoding
	value string // what the pattern encodes, printable
	pat   []byte // the encoded bytes, ASCII-upper-cased
	bound phiBound
	// srcs are the identifiers the pattern was derived from (several
	// identifiers can share a pattern: a name and its group).
	srcs []phiSource
}

// phiSource is an identifier a pattern stands for.
type phiSource struct{ what, src string }

// phiCanaries collects the needles.
type phiCanaries struct {
	needles []phiNeedle
	seen    map[string]int
}

func newPHICanaries() *phiCanaries { return &phiCanaries{seen: map[string]int{}} }

var phiFold = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'a' && i <= 'z' {
			t[i] = byte(i) - 'a' + 'A'
		}
	}
	return t
}()

func phiUpperASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = phiFold[c]
	}
	return out
}

// raw adds one byte pattern as is (case-folded).
func (c *phiCanaries) raw(what, value string, pat []byte, bound phiBound) {
	c.add(what, value, value, pat, bound)
}

func (c *phiCanaries) add(what, value, src string, pat []byte, bound phiBound) {
	if len(pat) == 0 {
		return
	}
	p := phiUpperASCII(pat)
	key := string(p) + "\x00" + string(rune('0'+bound))
	if i, ok := c.seen[key]; ok {
		c.needles[i].srcs = append(c.needles[i].srcs, phiSource{what, src})
		return
	}
	c.seen[key] = len(c.needles)
	c.needles = append(c.needles, phiNeedle{what: what, value: value, pat: p, bound: bound, srcs: []phiSource{{what, src}}})
}

var (
	phiLatin1 = charset.MustParse("ISO_IR 100")
	// The Japanese character sets of PS3.3 C.12.1.1.2 as a data set
	// declares them: ISO 2022 IR 87 after ASCII, or after JIS X 0201
	// (IR 13: half-width katakana as single high bytes, ESC ( J back).
	phiJapanese = []charset.Set{charset.MustParse(`\ISO 2022 IR 87`), charset.MustParse(`ISO 2022 IR 13\ISO 2022 IR 87`)}
)

// text adds a text identifier in every encoding that can represent it:
// UTF-8 (and its Unicode upper case), UTF-16LE, Latin-1, and the ISO 2022
// Japanese encodings, whole and per run of non-ASCII characters (a run
// with its escape, and the bare JIS X 0208 bytes when long enough not to
// hit by chance), since escapes back to the default set differ between
// writers.
func (c *phiCanaries) text(what, s string, bound phiBound) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	c.add(what+" (UTF-8)", s, s, []byte(s), bound)
	if up := strings.ToUpper(s); up != s {
		c.add(what+" (upper case)", up, s, []byte(up), bound)
	}
	if utf8.RuneCountInString(s) >= 4 {
		var u []byte
		for _, r := range utf16.Encode([]rune(s)) {
			u = append(u, byte(r), byte(r>>8))
		}
		c.add(what+" (UTF-16LE)", s, s, u, bound)
	}
	runs := strings.FieldsFunc(s, func(r rune) bool { return r < utf8.RuneSelf })
	if len(runs) == 0 {
		return
	}
	if b, err := phiLatin1.Encode(s, false); err == nil {
		c.add(what+" (Latin-1)", s, s, b, bound)
		if b2, err := phiLatin1.Encode(strings.ToUpper(s), false); err == nil {
			c.add(what+" (Latin-1, upper case)", s, s, b2, bound)
		}
	}
	for _, set := range phiJapanese {
		if b, err := set.Encode(s, false); err == nil {
			c.add(what+" ("+set.String()+")", s, s, b, bound)
		}
		for _, run := range runs {
			b, err := set.Encode(run, false)
			if err != nil {
				continue
			}
			if n := len(b); n >= 3 && b[n-3] == 0x1b {
				b = b[:n-3] // the escape back
			}
			if len(b) >= 5 {
				c.add(what+" ("+set.String()+", a run)", run, s, b, bound)
			}
			if len(b) >= 3 && b[0] == 0x1b {
				b = b[3:]
			}
			if len(b) >= 6 || (len(b) >= 4 && b[0] >= 0x80) {
				c.add(what+" (JIS bytes of a run)", run, s, b, bound)
			}
		}
	}
	for _, run := range runs {
		if len(run) >= 6 && len(run) < len(s) {
			c.add(what+" (UTF-8, a run)", run, s, []byte(run), bound)
		}
	}
}

// phiMatcher searches the needles at once (phicorpus.Matcher: Aho-Corasick,
// ASCII case-insensitive).
type phiMatcher struct {
	needles []phiNeedle
	ac      *phicorpus.Matcher
}

func (c *phiCanaries) matcher() *phiMatcher {
	pats := make([][]byte, len(c.needles))
	for i, n := range c.needles {
		pats[i] = n.pat
	}
	return &phiMatcher{needles: c.needles, ac: phicorpus.NewMatcher(pats)}
}

// phiFinding is an identifier found somewhere.
type phiFinding struct {
	where   string
	what    string
	value   string
	needle  int
	context string
}

func (f phiFinding) String() string {
	return fmt.Sprintf("%s: %s %q found, context %s", f.where, f.what, f.value, f.context)
}

func phiBoundOK(b phiBound, c byte) bool {
	isDigit := c >= '0' && c <= '9'
	switch b {
	case phiNoDigit:
		return !isDigit
	case phiNoNumber:
		return !isDigit && c != '.'
	case phiNoAlnum:
		return !isDigit && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z')
	}
	return true
}

// scan reports each needle found in data (once per needle).
func (m *phiMatcher) scan(where string, data []byte) []phiFinding {
	var out []phiFinding
	var hit map[int]bool
	m.ac.Find(data, func(ni, start, end int) {
		n := &m.needles[ni]
		if n.bound != phiAnywhere {
			if start > 0 && !phiBoundOK(n.bound, data[start-1]) {
				return
			}
			if end < len(data) && !phiBoundOK(n.bound, data[end]) {
				return
			}
		}
		if hit[ni] {
			return
		}
		if hit == nil {
			hit = map[int]bool{}
		}
		hit[ni] = true
		out = append(out, phiFinding{where: where, what: n.what, value: n.value, needle: ni, context: phiContext(data, start, end)})
	})
	return out
}

// phiContext quotes up to 40 bytes around a match.
func phiContext(data []byte, from, to int) string {
	a, b := max(0, from-40), min(len(data), to+40)
	return fmt.Sprintf("%q", data[a:b])
}

// phiReport gathers findings from scans running in several goroutines
// and counts what was searched.
type phiReport struct {
	mu       sync.Mutex
	findings []phiFinding
	scanned  map[string]int   // category → items scanned
	bytes    map[string]int64 // category → bytes scanned
}

func newPHIReport() *phiReport {
	return &phiReport{scanned: map[string]int{}, bytes: map[string]int64{}}
}

// scan searches data; category groups the statistics ("XNAT file bytes").
func (r *phiReport) scan(m *phiMatcher, category, where string, data []byte) {
	f := m.scan(where, data)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scanned[category]++
	r.bytes[category] += int64(len(data))
	r.findings = append(r.findings, f...)
}

// scanText searches a string, and its URL- and JSON-unescaped forms.
func (r *phiReport) scanText(m *phiMatcher, category, where, s string) {
	r.scan(m, category, where, []byte(s))
	if u, err := url.PathUnescape(s); err == nil && u != s {
		r.scan(m, category, where+" (URL-unescaped)", []byte(u))
	}
	if u, err := url.QueryUnescape(s); err == nil && u != s {
		r.scan(m, category, where+" (query-unescaped)", []byte(u))
	}
}

// scanJSONLine searches a log or event line as written and the strings
// it decodes to (JSON escapes ESC and other control bytes).
func (r *phiReport) scanJSONLine(m *phiMatcher, category, where, line string) {
	r.scan(m, category, where, []byte(line))
	if s, ok := phicorpus.JSONStrings(line); ok && s != line {
		r.scan(m, category, where+" (decoded)", []byte(s))
	}
}

// fail reports the findings grouped by identifier: each with the number
// of places and the first three.
func (r *phiReport) fail(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	type group struct {
		key   string
		where []phiFinding
	}
	var groups []*group
	by := map[string]*group{}
	for _, f := range r.findings {
		k := f.what + " " + strconv.Quote(f.value)
		g := by[k]
		if g == nil {
			g = &group{key: k}
			by[k] = g
			groups = append(groups, g)
		}
		g.where = append(g.where, f)
	}
	for _, g := range groups {
		var b strings.Builder
		fmt.Fprintf(&b, "identifier leaked: %s, in %d place(s):", g.key, len(g.where))
		for i, f := range g.where {
			if i == 3 {
				b.WriteString("\n    ...")
				break
			}
			fmt.Fprintf(&b, "\n    %s: %s", f.where, f.context)
		}
		t.Error(b.String())
	}
}

func (r *phiReport) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(r.scanned)) {
		fmt.Fprintf(&b, "\n  %-34s %6d item(s), %11d bytes", k, r.scanned[k], r.bytes[k])
	}
	return b.String()
}
