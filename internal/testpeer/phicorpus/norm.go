package phicorpus

// Text forms: the Unicode fold applied to needles and haystacks alike, the
// byte encodings a planted value can be written in, and the digit view of
// numbers. Independent of internal/dicom/charset (golang.org/x/text only),
// so that a codec bug cannot hide a leak from the scanner.

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/unicode/norm"
)

var folder = cases.Fold()

// foldCache memoises the fold of non-ASCII runes (haystacks decoded as
// Latin-1 or GB18030 are full of them).
type foldCache map[rune]string

// foldRune is the fold of one rune: compatibility decomposition (full-width
// letters, ligatures), without combining marks (diacritics) and format
// characters (U+200B, U+00AD, U+FEFF, ...), case-folded, recomposed.
func (c foldCache) foldRune(r rune) string {
	if r < utf8.RuneSelf {
		if r >= 'A' && r <= 'Z' {
			return string(r + 'a' - 'A')
		}
		return string(r)
	}
	if s, ok := c[r]; ok {
		return s
	}
	var b strings.Builder
	for _, d := range norm.NFKD.String(string(r)) {
		if unicode.Is(unicode.Mn, d) || unicode.Is(unicode.Cf, d) || unicode.Is(unicode.Me, d) {
			continue
		}
		b.WriteRune(d)
	}
	s := norm.NFKC.String(folder.String(b.String()))
	c[r] = s
	return s
}

// Fold returns the folded form of s (see foldRune).
func Fold(s string) string {
	c := foldCache{}
	var b strings.Builder
	for _, r := range s {
		b.WriteString(c.foldRune(r))
	}
	return b.String()
}

// transliterations are the spellings of letters without their diacritics
// that a clerk types (MÜLLER → MUELLER); the plain fold gives MULLER.
var transliterations = strings.NewReplacer(
	"ä", "ae", "ö", "oe", "ü", "ue", "Ä", "Ae", "Ö", "Oe", "Ü", "Ue", "ß", "ss", "ẞ", "SS",
	"æ", "ae", "Æ", "Ae", "ø", "oe", "Ø", "Oe", "å", "aa", "Å", "Aa", "œ", "oe", "Œ", "Oe",
)

// plainLetters are letters that no canonical decomposition takes to a
// base letter (the stroke of ł, the slash of ø, the dotless ı), written
// the way a keyboard without them does: WAŁĘSA → WALESA, BJØRN → BJORN.
var plainLetters = strings.NewReplacer(
	"ł", "l", "Ł", "L", "ø", "o", "Ø", "O", "đ", "d", "Đ", "D", "ı", "i", "ħ", "h", "Ħ", "H",
	"ŧ", "t", "Ŧ", "T", "ð", "d", "Ð", "D", "þ", "th", "Þ", "Th", "æ", "ae", "Æ", "Ae", "œ", "oe", "Œ", "Oe", "ß", "ss",
)

// foldForms returns the folded needle and, when different, its
// transliterated and plain-letter folds.
func foldForms(s string) []string {
	out := []string{Fold(s)}
	for _, t := range []string{Fold(transliterations.Replace(norm.NFC.String(s))), Fold(plainLetters.Replace(norm.NFC.String(s)))} {
		if !containsString(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// encoding is one way to write text as bytes.
type encoding struct {
	name   string
	encode func(string) ([]byte, bool)
	// unit is 2 for UTF-16 (boundaries are checked on code units).
	unit int
	be   bool
}

func encodeWith(enc interface{ Bytes([]byte) ([]byte, error) }, s string) ([]byte, bool) {
	b, err := enc.Bytes([]byte(s))
	return b, err == nil
}

func utf16Bytes(s string, be bool) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		if be {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

var encodings = []encoding{
	{name: "UTF-8", encode: func(s string) ([]byte, bool) { return []byte(s), true }, unit: 1},
	{name: "Latin-1", encode: func(s string) ([]byte, bool) {
		if !hasNonASCII(s) {
			return nil, false // same bytes as UTF-8
		}
		return encodeWith(charmap.ISO8859_1.NewEncoder(), s)
	}, unit: 1},
	{name: "UTF-16LE", encode: func(s string) ([]byte, bool) { return utf16Bytes(s, false), true }, unit: 2},
	{name: "UTF-16BE", encode: func(s string) ([]byte, bool) { return utf16Bytes(s, true), true }, unit: 2, be: true},
	{name: "ISO 2022 IR 87", encode: func(s string) ([]byte, bool) {
		if !hasNonASCII(s) {
			return nil, false
		}
		return encodeWith(japanese.ISO2022JP.NewEncoder(), s)
	}, unit: 1},
	{name: "GB18030", encode: func(s string) ([]byte, bool) {
		if !hasNonASCII(s) {
			return nil, false
		}
		return encodeWith(simplifiedchinese.GB18030.NewEncoder(), s)
	}, unit: 1},
	// KS X 1001 in G1 (ISO 2022 IR 149 after its escape): the EUC-KR bytes.
	{name: "KS X 1001 (ISO 2022 IR 149)", encode: nonASCII(korean.EUCKR.NewEncoder()), unit: 1},
	{name: "ISO 8859-5 (ISO_IR 144)", encode: nonASCII(charmap.ISO8859_5.NewEncoder()), unit: 1},
	{name: "ISO 8859-6 (ISO_IR 127)", encode: nonASCII(charmap.ISO8859_6.NewEncoder()), unit: 1},
	{name: "ISO 8859-7 (ISO_IR 126)", encode: nonASCII(charmap.ISO8859_7.NewEncoder()), unit: 1},
	{name: "ISO 8859-8 (ISO_IR 138)", encode: nonASCII(charmap.ISO8859_8.NewEncoder()), unit: 1},
	{name: "TIS 620 (ISO_IR 166)", encode: nonASCII(charmap.Windows874.NewEncoder()), unit: 1},
}

// nonASCII encodes text that has non-ASCII characters (ASCII text has the
// bytes of its UTF-8 form in every one of these).
func nonASCII(enc interface{ Bytes([]byte) ([]byte, error) }) func(string) ([]byte, bool) {
	return func(s string) ([]byte, bool) {
		if !hasNonASCII(s) {
			return nil, false
		}
		return encodeWith(enc, s)
	}
}

// jisRuns returns the ISO 2022 IR 87 bytes of each run of non-ASCII
// characters of s: with the designating escape (ESC $ B) and bare (as a
// writer that designates once per value, or strips escapes, leaves
// them). Bare runs shorter than 6 bytes are dropped: 4 bytes of
// 0x21-0x7E occur by chance in binary data.
func jisRuns(s string) (withEsc, bare [][]byte) {
	for _, run := range strings.FieldsFunc(s, func(r rune) bool { return r < utf8.RuneSelf }) {
		b, ok := encodeWith(japanese.ISO2022JP.NewEncoder(), run)
		if !ok || len(b) < 3 || b[0] != 0x1b {
			continue
		}
		// Drop the escape back to ASCII at the end.
		if n := len(b); n >= 3 && b[n-3] == 0x1b {
			b = b[:n-3]
		}
		withEsc = append(withEsc, b)
		if len(b)-3 >= 6 {
			bare = append(bare, b[3:])
		}
		// The same run after half-width katakana (ISO 2022 IR 13 first):
		// the escape is ESC $ B too, so the bare bytes cover it.
	}
	return withEsc, bare
}

// katakanaRuns returns the JIS X 0201 bytes (ISO 2022 IR 13, single
// bytes 0xA1-0xDF) of each run of half-width katakana of at least 6
// characters.
func katakanaRuns(s string) [][]byte {
	var out [][]byte
	for _, run := range strings.FieldsFunc(s, func(r rune) bool { return r < 0xFF61 || r > 0xFF9F }) {
		if b, ok := encodeWith(japanese.ShiftJIS.NewEncoder(), run); ok && len(b) >= 6 {
			out = append(out, b)
		}
	}
	return out
}

// gbRuns returns the GB18030 bytes of each non-ASCII run of at least 6
// bytes.
func gbRuns(s string) [][]byte {
	var out [][]byte
	for _, run := range strings.FieldsFunc(s, func(r rune) bool { return r < utf8.RuneSelf }) {
		if b, ok := encodeWith(simplifiedchinese.GB18030.NewEncoder(), run); ok && len(b) >= 6 && run != s {
			out = append(out, b)
		}
	}
	return out
}

// decoders turn a haystack into text for the folded search.
var decoders = []struct {
	name   string
	decode func([]byte) string
}{
	{"UTF-8", func(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }},
	{"Latin-1", func(b []byte) string {
		if !hasNonASCII(string(b)) {
			return "" // the UTF-8 view is the same text
		}
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	}},
	{"UTF-16LE", func(b []byte) string { return decode16(b, false) }},
	{"UTF-16BE", func(b []byte) string { return decode16(b, true) }},
	{"ISO 2022 IR 87", func(b []byte) string {
		if !containsESC(b) {
			return ""
		}
		s, _ := japanese.ISO2022JP.NewDecoder().Bytes(b)
		return string(s)
	}},
	{"GB18030", func(b []byte) string {
		if !hasNonASCII(string(b)) {
			return ""
		}
		s, _ := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
		return string(s)
	}},
}

func containsESC(b []byte) bool {
	for _, c := range b {
		if c == 0x1b {
			return true
		}
	}
	return false
}

// decode16 decodes UTF-16 when the bytes look like it (some NULs at the
// ASCII byte positions, or a byte order mark), else "".
func decode16(b []byte, be bool) string {
	if len(b) < 8 {
		return ""
	}
	zeros := 0
	for i := 0; i+1 < len(b); i += 2 {
		hi := b[i+1]
		if be {
			hi = b[i]
		}
		if hi == 0 {
			zeros++
		}
	}
	if zeros*4 < len(b)/2 && !(b[0] == 0xff && b[1] == 0xfe) && !(b[0] == 0xfe && b[1] == 0xff) {
		return ""
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		if be {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		} else {
			u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
		}
	}
	return string(utf16.Decode(u))
}

// digitSeps may stand between the digit groups of one number ("555.014.2233",
// "+44 20 7946 0958", "(555) 014-2233", "1960-01-02", "01/02/1960").
func isDigitSep(r rune) bool {
	switch r {
	case ' ', '.', '-', '/', '(', ')', '+', '\u00a0':
		return true
	}
	return false
}

// digitRun is a run of digit groups joined by separators: the digits, and
// which positions start and end a group.
type digitRun struct {
	digits     []byte
	start, end map[int]bool
	off        int // index in the text of the first digit
}

// digitRuns finds the runs of at least min digits in s (runes as given:
// fold the text first so that full-width digits count).
func digitRuns(s string, min int) []digitRun {
	var out []digitRun
	var cur *digitRun
	seps := 0
	inGroup := false
	flush := func() {
		if cur != nil && len(cur.digits) >= min {
			out = append(out, *cur)
		}
		cur, seps, inGroup = nil, 0, false
	}
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			if cur == nil {
				cur = &digitRun{start: map[int]bool{}, end: map[int]bool{}, off: i}
			}
			if !inGroup {
				cur.start[len(cur.digits)] = true
			}
			cur.digits = append(cur.digits, byte(r))
			inGroup, seps = true, 0
		case cur != nil && isDigitSep(r) && seps < 2:
			if inGroup {
				cur.end[len(cur.digits)] = true
			}
			inGroup = false
			seps++
		default:
			if cur != nil && inGroup {
				cur.end[len(cur.digits)] = true
			}
			flush()
		}
	}
	if cur != nil && inGroup {
		cur.end[len(cur.digits)] = true
	}
	flush()
	return out
}

// digitsOf returns the ASCII digits of s (after folding: full-width digits
// count).
func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range Fold(s) {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// numeric reports whether s is mostly a number (phone, MRN, date): its
// digits are at least 6 and at least 60% of its non-space characters.
func numeric(s string) bool {
	d, n := 0, 0
	for _, r := range s {
		if unicode.IsSpace(r) {
			continue
		}
		n++
		if r >= '0' && r <= '9' || r >= '０' && r <= '９' {
			d++
		}
	}
	return d >= 6 && d*10 >= n*6
}
