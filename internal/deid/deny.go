package deid

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"

	"github.com/aisedge/aisedge/internal/dicom/charset"
)

// tokenKind decides how a deny-list token is matched.
type tokenKind uint8

const (
	tkName      tokenKind = iota + 1 // a full person name: substring of squashed text
	tkComponent                      // one PN component: whole word
	tkID                             // identifier, address, institution...: substring
	tkDate                           // YYYYMMDD (and other spellings): digits with a left boundary
	tkUID                            // an original UID: exact, with digit/dot boundaries
	tkText                           // removed free text: whole value as substring
	tkOrthanc                        // an Orthanc ID of the original
)

// token is one deny-list entry. Category names the kind of value for
// quarantine reasons (never the value itself).
type token struct {
	squashed string // canonical: NFKC, lower case, separators removed
	spaced   string // canonical with each separator run as one space
	kind     tokenKind
	category string
	raws     []string // extra byte spellings for the raw scan (lower-cased ASCII)
	charsets []charset.Set
}

// isSep reports the separators removed by the canonical form
// (docs/deid.md, "Deny-list": ^ , . - / _ and white space), plus the DICOM
// value delimiters.
func isSep(r rune) bool {
	switch r {
	case '^', ',', '.', '-', '/', '_', '\\', '=', 0:
		return true
	}
	return unicode.IsSpace(r)
}

// canonical returns the squashed and spaced canonical forms of s.
func canonical(s string) (squashed, spaced string) {
	s = norm.NFKC.String(s)
	s = strings.ToLower(s)
	var a, b strings.Builder
	a.Grow(len(s))
	b.Grow(len(s))
	pendingSpace := false
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) {
			continue // zero-width space, soft hyphen, BOM, bidi marks: invisible
		}
		if isSep(r) {
			pendingSpace = b.Len() > 0
			continue
		}
		if pendingSpace {
			b.WriteByte(' ')
			pendingSpace = false
		}
		a.WriteRune(r)
		b.WriteRune(r)
	}
	return a.String(), b.String()
}

// canonicalFast is canonical for pure-ASCII input (the common case),
// avoiding the normaliser.
func canonicalFast(s string) (squashed, spaced string) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return canonical(s)
		}
	}
	a := make([]byte, 0, len(s))
	b := make([]byte, 0, len(s))
	pending := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSep(rune(c)) {
			pending = len(b) > 0
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if pending {
			b = append(b, ' ')
			pending = false
		}
		a = append(a, c)
		b = append(b, c)
	}
	return string(a), string(b)
}

// genericValues are values that identify nobody; a deny token equal to one
// of them is dropped (e.g. an input already carrying "ANONYMIZED").
var genericValues = map[string]bool{
	"anonymized": true, "anonymous": true, "anon": true, "unknown": true, "none": true,
	"na": true, "nil": true, "null": true, "yes": true, "no": true, "other": true,
	"19000101": true, "000000": true, "00000000": true, "0": true,
}

// denyList is the set of identifying values of one input (docs/deid.md,
// "Deny-list").
type denyList struct {
	// charsets are the input's character sets: non-ASCII tokens are also
	// searched in their encodings (ISO 2022 escapes, GB18030, ...).
	charsets []charset.Set
	tokens   []*token
	seen     map[string]int // squashed+kind → index
	// whole holds the squashed form of every deny value, for the
	// whole-value comparison of short tokens.
	whole map[string]string // squashed → category
}

func newDenyList() *denyList {
	return &denyList{seen: map[string]int{}, whole: map[string]string{}}
}

// add records a value. raw is the value's bytes as found in the input
// (nil when not applicable).
func (d *denyList) add(value string, kind tokenKind, category string, raw []byte) {
	sq, sp := canonicalFast(value)
	if sq == "" || genericValues[sq] {
		return
	}
	if kind == tkName || kind == tkComponent {
		if plain := stripAccents(value); plain != value {
			d.add(plain, kind, category, nil) // "Müller" also as "Muller"
		}
		if de := transliterateGerman(value); de != value {
			d.add(de, kind, category, nil) // and as "Mueller"
		}
	}
	d.whole[sq] = category
	minRunes := 3
	if kind == tkComponent || (kind == tkName && hasCJK(sq)) {
		minRunes = 2 // a whole word only; or a CJK name, written without spaces
	}
	if utf8.RuneCountInString(sq) < minRunes {
		return // whole-value matching only
	}
	key := sq + "\x00" + string(rune('0'+kind))
	if i, ok := d.seen[key]; ok {
		if raw != nil {
			d.tokens[i].addRaw(string(raw))
		}
		return
	}
	t := &token{squashed: sq, spaced: sp, kind: kind, category: category, charsets: d.charsets}
	t.addRaw(value)
	if raw != nil {
		t.addRaw(string(raw))
	}
	if kind == tkName || kind == tkID || kind == tkText {
		t.addRaw(sq)
		t.addRaw(sp)
	}
	d.seen[key] = len(d.tokens)
	d.tokens = append(d.tokens, t)
}

// addRaw adds the byte spellings of s: as given, UTF-8 NFKC, Latin-1 and
// UTF-16LE, all ASCII-lower-cased.
func (t *token) addRaw(s string) {
	s = strings.Trim(s, " \x00")
	if s == "" {
		return
	}
	add := func(b string) {
		b = asciiLower(b)
		if len(b) < 3 {
			return
		}
		for _, r := range t.raws {
			if r == b {
				return
			}
		}
		t.raws = append(t.raws, b)
	}
	add(s)
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		// NFKC and Latin-1 are the identity; only UTF-16LE differs.
		b := make([]byte, 0, 2*len(s))
		for i := 0; i < len(s); i++ {
			b = append(b, s[i], 0)
		}
		add(string(b))
		return
	}
	if utf8.ValidString(s) {
		// As written, lower- and upper-case (ASCII case is folded by the
		// scanner; other scripts are not).
		for _, n := range []string{norm.NFKC.String(s), strings.ToLower(norm.NFKC.String(s)), strings.ToUpper(norm.NFKC.String(s))} {
			add(n)
			if l1, err := charmap.ISO8859_1.NewEncoder().String(n); err == nil {
				add(l1)
			}
			u := utf16.Encode([]rune(n))
			b := make([]byte, 0, 2*len(u))
			for _, c := range u {
				b = append(b, byte(c), byte(c>>8))
			}
			add(string(b))
			for _, cs := range t.charsets {
				if enc, err := cs.Encode(n, false); err == nil {
					add(string(enc))
				}
			}
		}
	}
}

// hasCJK reports whether s holds Han, kana or Hangul: scripts written
// without spaces between words, where a name is found as a substring.
func hasCJK(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			return true
		}
	}
	return false
}

// germanRE spells the umlauts and sharp s the way German writes them
// without diacritics (Müller → Mueller, Strauß → Strauss).
var germanRE = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "Ä", "Ae", "Ö", "Oe", "Ü", "Ue", "ß", "ss", "ẞ", "SS")

func transliterateGerman(s string) string {
	return germanRE.Replace(norm.NFC.String(s))
}

// stripAccents removes combining marks after canonical decomposition
// (Müller → Muller, José → Jose); other scripts are unchanged.
func stripAccents(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return norm.NFC.String(b.String())
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// drop removes tokens equal to a value the output legitimately carries
// (e.g. a constant Replace value, or the value of an attribute PS3.15
// does not consider identifying that happens to be equal).
func (d *denyList) drop(squashed string) bool {
	dropped := false
	for i, t := range d.tokens {
		if t != nil && t.squashed == squashed {
			d.tokens[i] = nil
			dropped = true
		}
	}
	if _, ok := d.whole[squashed]; ok {
		delete(d.whole, squashed)
		dropped = true
	}
	return dropped
}

func (d *denyList) compact() {
	out := d.tokens[:0]
	for _, t := range d.tokens {
		if t != nil {
			out = append(out, t)
		}
	}
	d.tokens = out
}

// matcher finds many byte patterns in a text with one pass: patterns are
// indexed by their first two bytes, so most positions cost one bitmap
// probe.
type matcher struct {
	bitmap [bitmapBits / 64]uint64 // hashed 2-byte prefixes
	index  map[uint16][]int
	pats   []pattern
	// single-byte-start patterns are not supported (every pattern has at
	// least 2 bytes; callers enforce ≥ 3).
}

type pattern struct {
	s     string
	tok   *token // nil for a "safe" (engine-generated) string
	bound boundary
}

// boundary says what may surround a match.
type boundary uint8

const (
	bNone    boundary = iota
	bLeftNum          // not preceded by a digit
	bBothNum          // neither preceded nor followed by a digit or a dot
	bWord             // neither preceded nor followed by a letter or digit
	bUID              // not preceded by a digit or dot, not followed by a digit
)

// bitmapBits sizes the prefix filter: collisions only cost a map lookup.
const bitmapBits = 4096

func bit(k uint16) (int, uint64) {
	h := (k ^ k>>7) & (bitmapBits - 1)
	return int(h >> 6), 1 << (h & 63)
}

func newMatcher() *matcher { return &matcher{index: map[uint16][]int{}} }

func (m *matcher) add(s string, tok *token, b boundary) {
	if len(s) < 2 {
		return
	}
	k := uint16(s[0])<<8 | uint16(s[1])
	w, mask := bit(k)
	m.bitmap[w] |= mask
	m.index[k] = append(m.index[k], len(m.pats))
	m.pats = append(m.pats, pattern{s: s, tok: tok, bound: b})
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func (p *pattern) boundaryOK(text []byte, i, j int) bool {
	var before, after byte = ' ', ' '
	if i > 0 {
		before = text[i-1]
	}
	if j < len(text) {
		after = text[j]
	}
	switch p.bound {
	case bLeftNum:
		// Zero padding before a number is still the number
		// ("0012345678" holds MRN 12345678).
		for k := i - 1; k >= 0 && isDigit(text[k]); k-- {
			if text[k] != '0' {
				return false
			}
		}
		return true
	case bBothNum:
		return !isDigit(before) && before != '.' && !isDigit(after) && after != '.'
	case bWord:
		return !isAlnum(before) && !isAlnum(after)
	case bUID:
		return !isDigit(before) && before != '.' && !isDigit(after)
	}
	return true
}

// span is a match of a pattern at [start, end).
type span struct {
	start, end int
	pat        *pattern
}

// scan reports the deny matches in text that are not inside a match of a
// safe pattern. hit is called for each; scanning stops if it returns false.
func (m *matcher) scan(text []byte, hit func(*token, int) bool) {
	if len(m.pats) == 0 || len(text) < 2 {
		return
	}
	var safe []span
	var found []span
	for i := 0; i+1 < len(text); i++ {
		k := uint16(text[i])<<8 | uint16(text[i+1])
		if w, b := bit(k); m.bitmap[w]&b == 0 {
			continue
		}
		for _, pi := range m.index[k] {
			p := &m.pats[pi]
			j := i + len(p.s)
			if j > len(text) || string(text[i:j]) != p.s {
				continue
			}
			if p.tok == nil {
				safe = append(safe, span{i, j, p})
				continue
			}
			if p.boundaryOK(text, i, j) {
				found = append(found, span{i, j, p})
			}
		}
	}
	for _, f := range found {
		covered := false
		for _, s := range safe {
			if s.start <= f.start && f.end <= s.end {
				covered = true
				break
			}
		}
		if !covered && !hit(f.pat.tok, f.start) {
			return
		}
	}
}

func numeric(s string) bool { return allDigits(s) }

// buildMatchers returns the matcher for canonical text (decoded string
// values, derived names) and the one for raw output bytes. Matching rules
// by token kind:
//
//   - PN components: whole words only;
//   - all-digit tokens: never preceded by a digit; shorter than 6 digits
//     also never followed by one, and only in canonical text (in raw bytes
//     they would match inside any number);
//   - other tokens shorter than 6 characters: whole words only;
//   - longer tokens: anywhere, separators ignored;
//   - UIDs: raw bytes only, not inside a longer UID.
//
// safe are engine-generated strings (pseudonyms, new UIDs, markers): a
// match inside one of them is not a finding.
func (d *denyList) buildMatchers(safe []string) (canon, raw *matcher) {
	return d.build(safe, true)
}

// build makes the canonical matcher and, with withRaw, the raw one.
func (d *denyList) build(safe []string, withRaw bool) (canon, raw *matcher) {
	canon, raw = newMatcher(), newMatcher()
	for _, s := range safe {
		sq, sp := canonicalFast(s)
		canon.add(sq, nil, bNone)
		if sp != sq {
			canon.add(sp, nil, bNone)
		}
		raw.add(asciiLower(s), nil, bNone)
	}
	for _, t := range d.tokens {
		short := utf8.RuneCountInString(t.squashed) < 6
		switch {
		case t.kind == tkUID:
			if withRaw {
				for _, r := range t.raws {
					raw.add(r, t, bUID)
				}
			}
			continue
		case t.kind == tkComponent && utf8.RuneCountInString(t.squashed) >= 5:
			// Long enough to search inside words ("JDOEBERG"); shorter
			// names (Lee, Kim, Ray) only as whole words.
			canon.add(t.squashed, t, bNone)
		case t.kind == tkComponent:
			canon.add(t.spaced, t, bWord)
		case numeric(t.squashed) && short:
			canon.add(t.spaced, t, bBothNum)
		case numeric(t.squashed):
			canon.add(t.squashed, t, bLeftNum)
			if t.spaced != t.squashed {
				canon.add(t.spaced, t, bLeftNum)
			}
		case short:
			canon.add(t.spaced, t, bWord)
		default:
			canon.add(t.squashed, t, bNone)
			if t.spaced != t.squashed {
				canon.add(t.spaced, t, bNone)
			}
		}
		if !withRaw {
			continue
		}
		for _, r := range t.raws {
			switch {
			case numeric(r) && len(r) < 6:
				// too short to search in raw bytes
			case numeric(r):
				raw.add(r, t, bLeftNum)
			case t.kind == tkComponent && utf8.RuneCountInString(t.squashed) >= 5 && len(r) >= 5:
				raw.add(r, t, bNone)
			case t.kind == tkComponent || len(r) < 6:
				raw.add(r, t, bWord)
			default:
				raw.add(r, t, bNone)
			}
		}
	}
	return canon, raw
}

// removeCoincidences removes kept values that hold one of the input's
// identifying values: a patient called HEAD beside Body Part Examined
// HEAD, an institution called like its scanner's vendor. The identifier
// is never forgiven (it stays on the deny-list, so the same word in a
// description is still cleaned and the gate still looks for it); the kept
// value goes instead, or the instance is quarantined when its module
// requires the value (Type 1).
func (s *state) removeCoincidences() {
	if len(s.keptCoded) == 0 || len(s.deny.tokens)+len(s.deny.whole) == 0 {
		return
	}
	canon, _ := s.deny.build(nil, false)
	for _, kv := range s.keptCoded {
		if a, ok := s.plan[kv.e]; !ok || a.code != CodeK {
			continue // already removed for another value of the element
		}
		sq, sp := canonicalFast(kv.v)
		// Copies of removed free text and UIDs are not identities: a
		// code that equals a removed comment is no leak.
		cat, found := s.deny.whole[sq]
		found = found && cat != "free-text" && utf8.RuneCountInString(sq) >= 2
		hit := func(t *token, _ int) bool {
			if t.kind == tkText || t.kind == tkUID {
				return true
			}
			found = true
			return false
		}
		if !found {
			canon.scan([]byte(sq), hit)
		}
		if !found && sp != sq {
			canon.scan([]byte(sp), hit)
		}
		if !found {
			continue
		}
		s.report.warn("identifier-in-kept-value", kv.loc, "a kept value holds an identifying value of the input")
		if typ, known := iodType(s.sop, 0, kv.e.Tag); known && typ == 1 {
			s.quarantine("identifier-in-required-value", kv.loc, "a required coded value equals an identifying value of the input")
			continue
		}
		s.plan[kv.e] = action{code: CodeX, kind: akVR, rule: "removed: holds an identifying value of the input"}
	}
}
