package phicorpus

// The scanner: every needle of the manifest compiled into byte patterns
// (each encoding, ASCII case-insensitive), folded patterns (searched in
// every decoding of the haystack, folded the same way) and digit strings
// (searched in the digit view, aligned on digit groups). A DICOM haystack
// is also split into its elements so that each hit names the element (or
// codestream marker) that holds it.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Hit is one planted identifier found somewhere.
type Hit struct {
	Planted []int  // IDs of the planted identifiers it is attributed to
	Needle  string // what was found (the needle, as planted)
	Form    string // how: "UTF-8", "ISO 2022 IR 87", "folded UTF-8", "digits", ...
	Surface string // what kind of output: "output file bytes", "output path", "stderr", ...
	Where   string // which one: file path, line number, URL
	// Location is the element path in a DICOM haystack
	// ("(0040,0275)[0]/(0008,0104)", "(7FE0,0010)#1 JPEG COM"), else "".
	Location string
	Context  string // the bytes around the match, quoted
}

func (h Hit) String() string {
	loc := h.Where
	if h.Location != "" {
		loc += " " + h.Location
	}
	return fmt.Sprintf("%s: %s: %q (%s) %s", h.Surface, loc, h.Needle, h.Form, h.Context)
}

// bound is what may not stand next to a match.
type bound uint8

const (
	boundNone        bound = iota
	boundLetter            // no letter before or after (short words)
	boundDigit             // no digit before or after
	boundAlnum             // no letter or digit before or after
	boundDigitBefore       // no digit before (a date may run on into a time)
)

// needle is one searched value with the planted identifiers it stands for.
type needle struct {
	text    string
	planted []int
	labels  bool // only in labels (ScopeLabels)
}

// pattern is one needle in one form.
type pattern struct {
	needle int
	form   string
	pat    []byte
	bound  bound
	unit   int
	be     bool
}

// Scanner searches haystacks for the manifest's needles. Safe for
// concurrent use.
type Scanner struct {
	m       *Manifest
	needles []needle
	raw     *acMatcher // byte patterns, ASCII case-insensitive
	folded  *acMatcher // folded patterns over folded text
	digits  []digitNeedle
	// label-scope variants: everything above plus the label needles.
	rawL, foldedL *acMatcher
	digitsL       []digitNeedle
}

type digitNeedle struct {
	needle int
	digits string
	labels bool
	// openEnd: the match may run on into more digits (a YYYYMMDD date
	// followed by a time in a DT value).
	openEnd bool
}

// minLetters: text needles with fewer letters than this must stand as a
// whole word (no letter next to them); longer ones match anywhere.
const minLetters = 7

// stopWords are words that must never be needles (they occur in clean
// outputs): a needle equal to one is allowed only with ScopeLabels.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`head knee brain chest spine neck hand foot hip liver heart lung abdomen pelvis
		series study image patient scan protocol axial sagittal coronal flair mprage original primary derived secondary
		anonymous anonymized unknown doctor hospital clinic radiology report comment comments description
		left right normal contrast routine follow male female other none test phantom`) {
		stopWords[w] = true
	}
}

// ageRE: an Age String (PS3.5 AS) is a needle of its own.
var ageRE = regexp.MustCompile(`^[0-9]{3}[DWMY]$`)

// dateRE: a spelled date ("1 May 1966", "May 1, 1966").
var dateRE = regexp.MustCompile(`^([0-9]{1,2} [A-Z][a-z]+ [0-9]{4}|[A-Z][a-z]+ [0-9]{1,2}, [0-9]{4})$`)

// ymdRE: an 8-digit date YYYYMMDD, which may run on into a time (DT).
var ymdRE = regexp.MustCompile(`^(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$`)

// NewScanner compiles the manifest's needles.
func NewScanner(m *Manifest) (*Scanner, error) {
	s := &Scanner{m: m}
	index := map[string]int{}
	for _, p := range m.Planted {
		for _, n := range p.Needles {
			n = strings.TrimSpace(n)
			if err := checkNeedle(n, p.Scope); err != nil {
				return nil, fmt.Errorf("planted #%d (%s %s): %w", p.ID, p.Class, p.Kind, err)
			}
			key := n + "\x00" + string(p.Scope)
			i, ok := index[key]
			if !ok {
				i = len(s.needles)
				index[key] = i
				s.needles = append(s.needles, needle{text: n, labels: p.Scope == ScopeLabels})
			}
			s.needles[i].planted = append(s.needles[i].planted, p.ID)
		}
	}
	s.raw, s.folded, s.digits = s.compile(false)
	s.rawL, s.foldedL, s.digitsL = s.compile(true)
	return s, nil
}

// checkNeedle rejects needles that would hit clean outputs by chance.
func checkNeedle(n string, scope Scope) error {
	if n == "" {
		return fmt.Errorf("empty needle")
	}
	if scope != ScopeLabels && stopWords[Fold(n)] {
		return fmt.Errorf("needle %q is a common word: allowed only with ScopeLabels", n)
	}
	if numeric(n) || ageRE.MatchString(n) || dateRE.MatchString(n) {
		return nil
	}
	letters, wide := 0, 0
	for _, r := range n {
		if unicode.IsLetter(r) {
			letters++
			if r >= 0x2E80 {
				wide++
			}
		}
	}
	if wide >= 2 || letters >= 4 {
		return nil
	}
	return fmt.Errorf("needle %q is too short (fewer than 4 letters, 2 ideographs or 6 digits)", n)
}

func (s *Scanner) compile(withLabels bool) (raw, folded *acMatcher, digits []digitNeedle) {
	var rawPats, foldPats []pattern
	for i, n := range s.needles {
		if n.labels && !withLabels {
			continue
		}
		bd := needleBound(n.text)
		for _, e := range encodings {
			for _, v := range caseVariants(n.text) {
				if b, ok := e.encode(v); ok && len(b) > 0 {
					rawPats = append(rawPats, pattern{needle: i, form: e.name, pat: b, bound: bd, unit: e.unit, be: e.be})
				}
			}
		}
		withEsc, bare := jisRuns(n.text)
		for _, b := range withEsc {
			rawPats = append(rawPats, pattern{needle: i, form: "ISO 2022 IR 87 (a run)", pat: b, unit: 1})
		}
		for _, b := range bare {
			rawPats = append(rawPats, pattern{needle: i, form: "JIS X 0208 bytes (a run)", pat: b, unit: 1})
		}
		for _, b := range katakanaRuns(n.text) {
			rawPats = append(rawPats, pattern{needle: i, form: "JIS X 0201 katakana (ISO 2022 IR 13)", pat: b, unit: 1})
		}
		for _, b := range gbRuns(n.text) {
			rawPats = append(rawPats, pattern{needle: i, form: "GB18030 (a run)", pat: b, unit: 1})
		}
		for _, f := range foldForms(n.text) {
			foldPats = append(foldPats, pattern{needle: i, form: "folded", pat: []byte(f), bound: bd, unit: 1})
		}
		if numeric(n.text) {
			d := digitsOf(n.text)
			// The number as a binary FD or UV/SV value (8 bytes: too long to
			// occur by chance).
			if v, err := strconv.ParseUint(d, 10, 64); err == nil && len(d) <= 15 && v >= 100000 {
				for _, f := range binaryForms(v) {
					rawPats = append(rawPats, pattern{needle: i, form: f.name, pat: f.b, unit: 1})
				}
			}
			digits = append(digits, digitNeedle{needle: i, digits: d, labels: n.labels, openEnd: ymdRE.MatchString(d)})
		}
	}
	return newAC(rawPats), newAC(foldPats), digits
}

type binaryForm struct {
	name string
	b    []byte
}

// binaryForms are the 8-byte encodings of an integer: FD and 64-bit
// integers, little and big endian.
func binaryForms(v uint64) []binaryForm {
	f := math.Float64bits(float64(v))
	return []binaryForm{
		{"FD little endian", binary.LittleEndian.AppendUint64(nil, f)},
		{"FD big endian", binary.BigEndian.AppendUint64(nil, f)},
		{"UV little endian", binary.LittleEndian.AppendUint64(nil, v)},
		{"UV big endian", binary.BigEndian.AppendUint64(nil, v)},
	}
}

// caseVariants: the value, upper and lower case (ASCII case is folded by
// the matcher; these cover other scripts' letters).
func caseVariants(s string) []string {
	out := []string{s}
	if !hasNonASCII(s) {
		return out
	}
	for _, v := range []string{strings.ToUpper(s), strings.ToLower(s)} {
		if v != s && !containsString(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// needleBound: short words must stand alone; numbers must not continue
// into other digits.
func needleBound(s string) bound {
	if ymdRE.MatchString(s) {
		return boundDigitBefore
	}
	if numeric(s) {
		return boundDigit
	}
	if ageRE.MatchString(s) {
		return boundAlnum
	}
	letters := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			if r >= 0x2E80 {
				return boundNone // ideographs and kana are not space-separated
			}
			letters++
		}
	}
	if letters < minLetters {
		return boundLetter
	}
	return boundNone
}

// rawHit is a needle found in one haystack, before attribution.
type rawHit struct {
	needle  int
	form    string
	context string
	off     int // byte offset in the haystack, -1 when unknown
}

// scanSegment searches one haystack in every form.
func (s *Scanner) scanSegment(data []byte, labels, decoded, binary bool) []rawHit {
	raw, folded, digits := s.raw, s.folded, s.digits
	if labels {
		raw, folded, digits = s.rawL, s.foldedL, s.digitsL
	}
	var out []rawHit
	seen := map[string]bool{}
	add := func(h rawHit) {
		k := fmt.Sprint(h.needle, "\x00", h.form)
		if seen[k] {
			return
		}
		seen[k] = true
		out = append(out, h)
	}
	for _, mt := range raw.find(data) {
		p := &raw.pats[mt.pat]
		if binary && len(p.pat) < minBinaryPattern {
			continue
		}
		add(rawHit{needle: p.needle, form: p.form, context: quoteContext(data, mt.start, mt.end), off: mt.start})
	}
	// Digits in the bytes as they are (ASCII digits).
	if len(digits) > 0 {
		for _, run := range digitRuns(string(bytesASCIIOnly(data)), 6) {
			for _, dn := range digits {
				if i := alignedIndex(run, dn); i >= 0 {
					add(rawHit{needle: dn.needle, form: "digits", context: quoteContext(data, run.off, run.off+len(run.digits)), off: run.off})
				}
			}
		}
	}
	if !decoded {
		return out
	}
	c := foldCache{}
	for _, dec := range decoders {
		txt := dec.decode(data)
		if txt == "" {
			continue
		}
		ft := foldWithMap(txt, c)
		for _, mt := range folded.find(ft.text) {
			p := &folded.pats[mt.pat]
			if binary && p.bound == boundLetter {
				continue
			}
			if !foldedBoundOK(p, ft.text, mt.start, mt.end) {
				continue
			}
			a, b := int(ft.src[mt.start]), int(ft.src[mt.end-1])+1
			add(rawHit{needle: p.needle, form: "folded " + dec.name, context: quoteContext([]byte(txt), a, b), off: -1})
		}
		if len(digits) > 0 && dec.name != "UTF-8" {
			for _, run := range digitRuns(string(ft.text), 6) {
				for _, dn := range digits {
					if alignedIndex(run, dn) >= 0 {
						add(rawHit{needle: dn.needle, form: "digits (folded " + dec.name + ")", context: quoteContext(ft.text, run.off, run.off+len(run.digits)), off: -1})
					}
				}
			}
		} else if len(digits) > 0 && hasNonASCII(txt) {
			// Full-width digits in UTF-8 fold to ASCII digits.
			for _, run := range digitRuns(string(ft.text), 6) {
				for _, dn := range digits {
					if alignedIndex(run, dn) >= 0 {
						add(rawHit{needle: dn.needle, form: "digits (folded UTF-8)", context: quoteContext(ft.text, run.off, run.off+len(run.digits)), off: -1})
					}
				}
			}
		}
	}
	return out
}

// bytesASCIIOnly replaces non-ASCII bytes by NUL so that a string of the
// bytes ranges over them one by one.
func bytesASCIIOnly(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < utf8.RuneSelf {
			out[i] = c
		}
	}
	return out
}

// alignedIndex finds d in the run starting and ending on digit-group
// boundaries; -1 when absent.
func alignedIndex(run digitRun, dn digitNeedle) int {
	d := dn.digits
	hay := string(run.digits)
	for from := 0; ; {
		i := strings.Index(hay[from:], d)
		if i < 0 {
			return -1
		}
		i += from
		if run.start[i] && (run.end[i+len(d)] || dn.openEnd) {
			return i
		}
		from = i + 1
	}
}

func quoteContext(data []byte, from, to int) string {
	a, b := max(0, from-40), min(len(data), to+40)
	if a > b {
		return ""
	}
	return fmt.Sprintf("%q", data[a:b])
}

// minBinaryPattern: in binary values (native pixel data, non-text values of
// 64 KiB or more) byte patterns shorter than this are not searched (4 letters
// occur by chance in megabytes of pixels), nor short words.
const minBinaryPattern = 8

// segment is one value of a DICOM haystack.
type segment struct {
	path   string
	data   []byte
	binary bool // native pixel data or a large value
}

// dicomSegments splits a Part 10 file or bare data set into its values;
// nil when it does not parse.
func dicomSegments(data []byte) []segment {
	part10 := len(data) > 132 && string(data[128:132]) == "DICM"
	bare := len(data) > 8 && data[1] == 0 && (data[0] == 0x02 || data[0] == 0x08) && data[3] == 0
	if !part10 && !bare {
		return nil
	}
	f, err := dicom.ReadFileBytes(data, &dicom.ParseOptions{BulkThreshold: -1})
	if err != nil || f.Dataset == nil {
		return nil
	}
	var out []segment
	if f.Preamble != nil {
		out = append(out, segment{path: "preamble", data: f.Preamble})
	}
	var walk func(ds *dicom.Dataset, prefix string)
	walk = func(ds *dicom.Dataset, prefix string) {
		for _, e := range ds.Elements() {
			p := prefix + e.Tag.String()
			switch {
			case e.IsEncapsulated():
				for i, fr := range e.Fragments {
					if b, err := fr.Bytes(); err == nil {
						out = append(out, segment{path: fmt.Sprintf("%s#%d", p, i), data: b, binary: len(b) >= 64<<10})
					}
				}
			case e.Items != nil:
				for i, it := range e.Items {
					walk(it, fmt.Sprintf("%s[%d]/", p, i))
				}
			default:
				if b, err := e.Bytes(); err == nil && len(b) > 0 {
					out = append(out, segment{path: p, data: b, binary: e.Tag == dicom.TagPixelData || len(b) >= 64<<10 && !e.VR.IsText()})
				}
			}
		}
	}
	if f.Meta != nil {
		walk(f.Meta, "")
	}
	walk(f.Dataset, "")
	return out
}

// ScanBytes searches data (a file's bytes, an HTTP body): element by
// element when it is DICOM, and as a whole in any case.
func (s *Scanner) ScanBytes(surface, where string, data []byte) []Hit {
	return s.scanBytes(surface, where, data, false)
}

// ScanLabel searches a label: a path, an object key, a MANIFEST.json,
// with the label-scope needles too.
func (s *Scanner) ScanLabel(surface, where string, data []byte) []Hit {
	return s.scanBytes(surface, where, data, true)
}

func (s *Scanner) scanBytes(surface, where string, data []byte, labels bool) []Hit {
	var hits []Hit
	found := map[int]bool{} // needles located in an element
	segs := dicomSegments(data)
	parsed := segs != nil
	whole := data
	for _, seg := range segs {
		if seg.binary {
			// The whole-file pass must not search it with short patterns
			// either: blank it there.
			if i := bytes.Index(whole, seg.data); i >= 0 && len(seg.data) > 0 {
				if &whole[0] == &data[0] {
					whole = append([]byte(nil), data...)
				}
				clear(whole[i : i+len(seg.data)])
			}
		}
		// Binary values: raw patterns and digits only (text decodings of
		// megabytes of pixels find nothing but cost).
		for _, h := range s.scanSegment(seg.data, labels, !seg.binary, seg.binary) {
			loc := seg.path
			if h.off >= 0 && strings.HasPrefix(seg.path, "(7FE0,0010)#") {
				loc += " " + codestreamPart(seg.data, h.off)
			}
			found[h.needle] = true
			hits = append(hits, s.attribute(h, surface, where, loc))
		}
	}
	for _, h := range s.scanSegment(whole, labels, !parsed, false) {
		if found[h.needle] {
			continue // already located in an element
		}
		hits = append(hits, s.attribute(h, surface, where, ""))
	}
	return hits
}

// attribute turns a raw hit into a Hit for the planted identifiers whose
// location is compatible with where it was found (all of the needle's
// when none is, or when the location is unknown).
func (s *Scanner) attribute(h rawHit, surface, where, loc string) Hit {
	n := s.needles[h.needle]
	ids := n.planted
	if loc == "" && len(ids) > 1 {
		// Outside a file's elements (a log line, a path): the routes that
		// carry values there (association AE titles, input file names)
		// when one of the candidates is such a route.
		var routes []int
		for _, id := range ids {
			if !s.m.planted(id).InFile() {
				routes = append(routes, id)
			}
		}
		if len(routes) > 0 {
			ids = routes
		}
	}
	if loc != "" && len(ids) > 1 {
		var compat []int
		for _, id := range ids {
			if LocationMatches(s.m.planted(id).Path, loc) {
				compat = append(compat, id)
			}
		}
		if len(compat) > 0 {
			ids = compat
		}
	}
	return Hit{Planted: append([]int(nil), ids...), Needle: n.text, Form: h.form, Surface: surface, Where: where, Location: loc, Context: h.context}
}

// ScanString searches text (a log line, a command's output). Timestamps
// written by the run's own clock are masked first (see maskClockTimes).
func (s *Scanner) ScanString(surface, where, text string) []Hit {
	return s.scanBytes(surface, where, []byte(maskClockTimes(text, time.Now())), false)
}

// clockTimeRE matches an RFC 3339 timestamp as log/slog and encoding/json
// write them.
var clockTimeRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})`)

// maskClockTimes replaces the RFC 3339 timestamps of text that lie within
// two days of now with "<clock>". They come from the clock of the run, not
// from the corpus: the digit-run matcher would otherwise find a planted
// date in the digits of a time of day and its fraction ("02:59:19.570224622"
// holds 19570224). Planted dates are all before 1980 (gen.date), so no
// planted value is masked; a planted date written as a timestamp of its
// own is still found.
func maskClockTimes(text string, now time.Time) string {
	return clockTimeRE.ReplaceAllStringFunc(text, func(m string) string {
		t, err := time.Parse(time.RFC3339Nano, m)
		if err != nil || t.Sub(now).Abs() > 48*time.Hour {
			return m
		}
		return "<clock>"
	})
}

// TreeOptions tune ScanTree.
type TreeOptions struct {
	// Skip leaves out a file or folder (relative slash path) and, for a
	// folder, everything in it.
	Skip func(rel string, d fs.DirEntry) bool
	// NamesOnly: search the file's name but not its bytes.
	NamesOnly func(rel string) bool
}

// ScanTree searches every file under root (bytes) and every relative path
// (labels: folder and file names), in parallel.
func (s *Scanner) ScanTree(surface, root string, o TreeOptions) ([]Hit, int, error) {
	var files []string
	var hits []Hit
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if o.Skip != nil && o.Skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		hits = append(hits, s.ScanLabel(surface+" (paths)", rel, []byte(rel))...)
		if d.Type().IsRegular() && (o.NamesOnly == nil || !o.NamesOnly(rel)) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return hits, 0, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan string)
	var firstErr error
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rel := range jobs {
				data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
				var h []Hit
				if err == nil {
					if strings.HasSuffix(rel, ".json") && strings.Contains(filepath.Base(rel), "MANIFEST") {
						h = s.ScanLabel(surface, rel, data)
					} else {
						h = s.ScanBytes(surface, rel, data)
					}
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				hits = append(hits, h...)
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	return hits, len(files), firstErr
}

// codestreamPart names the JPEG marker segment, JPEG 2000 marker or JP2
// box that holds offset off of a pixel data fragment.
func codestreamPart(b []byte, off int) string {
	switch {
	case len(b) >= 4 && b[0] == 0xFF && b[1] == 0xD8:
		return jpegPart(b, off)
	case len(b) >= 4 && b[0] == 0xFF && b[1] == 0x4F:
		return j2kPart(b, off)
	case len(b) >= 12 && bytes.Equal(b[4:8], []byte("jP  ")):
		return jp2Part(b, off)
	}
	return ""
}

var jpegMarkerNames = map[byte]string{0xFE: "COM", 0xDB: "DQT", 0xC4: "DHT", 0xDA: "SOS", 0xDD: "DRI", 0xF7: "SOF55 (JPEG-LS)", 0xF8: "LSE"}

func jpegMarkerName(c byte) string {
	switch {
	case jpegMarkerNames[c] != "":
		return jpegMarkerNames[c]
	case c >= 0xE0 && c <= 0xEF:
		return fmt.Sprintf("APP%d", c-0xE0)
	case c >= 0xC0 && c <= 0xCF:
		return fmt.Sprintf("SOF%d", c-0xC0)
	}
	return fmt.Sprintf("marker FF%02X", c)
}

func jpegPart(b []byte, off int) string {
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xFF {
			return "JPEG (unparsed)"
		}
		c := b[p+1]
		if c == 0xD9 {
			if off >= p+2 {
				return "JPEG after EOI"
			}
			return "JPEG EOI"
		}
		l := int(b[p+2])<<8 | int(b[p+3])
		end := p + 2 + l
		if off >= p && off < end {
			return "JPEG " + jpegMarkerName(c)
		}
		if c == 0xDA {
			// Entropy-coded data up to EOI.
			e := bytes.LastIndex(b, []byte{0xFF, 0xD9})
			if e >= 0 && off >= e+2 {
				return "JPEG after EOI"
			}
			return "JPEG scan data"
		}
		p = end
	}
	return "JPEG"
}

var j2kNames = map[byte]string{0x51: "SIZ", 0x52: "COD", 0x53: "COC", 0x5C: "QCD", 0x5D: "QCC", 0x64: "COM", 0x90: "SOT", 0x93: "SOD", 0x55: "TLM", 0x5F: "PPM"}

func j2kPart(b []byte, off int) string {
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xFF {
			return "J2K (unparsed)"
		}
		c := b[p+1]
		if c == 0xD9 {
			return "J2K after EOC"
		}
		if c == 0x93 { // SOD: tile data up to the next SOT or EOC
			if off >= p {
				return "J2K tile data (or a marker within it)"
			}
		}
		l := int(b[p+2])<<8 | int(b[p+3])
		end := p + 2 + l
		if off >= p && off < end {
			name := j2kNames[c]
			if name == "" {
				name = fmt.Sprintf("marker FF%02X", c)
			}
			return "J2K " + name
		}
		if c == 0x90 && l == 10 {
			psot := int(b[p+6])<<24 | int(b[p+7])<<16 | int(b[p+8])<<8 | int(b[p+9])
			// Markers of the tile-part header follow up to SOD.
			q := end
			for q+4 <= len(b) && b[q] == 0xFF && b[q+1] != 0x93 {
				ql := int(b[q+2])<<8 | int(b[q+3])
				if off >= q && off < q+2+ql {
					name := j2kNames[b[q+1]]
					return "J2K tile-part header " + name
				}
				q += 2 + ql
			}
			if psot > 0 {
				if off < p+psot {
					return "J2K tile data"
				}
				p += psot
				continue
			}
			return "J2K tile data"
		}
		p = end
	}
	return "J2K"
}

func jp2Part(b []byte, off int) string {
	p := 0
	for p+8 <= len(b) {
		l := int(b[p])<<24 | int(b[p+1])<<16 | int(b[p+2])<<8 | int(b[p+3])
		typ := string(b[p+4 : p+8])
		if l == 0 {
			l = len(b) - p
		}
		if l < 8 {
			return "JP2 (unparsed)"
		}
		if off >= p && off < p+l {
			if typ == "jp2c" {
				return "JP2 jp2c " + j2kPart(b[p+8:p+l], off-p-8)
			}
			return fmt.Sprintf("JP2 %q box", typ)
		}
		p += l
	}
	return "JP2 after the last box"
}

// sortHits orders hits for stable reports.
func sortHits(h []Hit) {
	sort.SliceStable(h, func(i, j int) bool {
		a, b := h[i], h[j]
		if a.Surface != b.Surface {
			return a.Surface < b.Surface
		}
		if a.Where != b.Where {
			return a.Where < b.Where
		}
		return a.Location < b.Location
	})
}
