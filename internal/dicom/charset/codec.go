package charset

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
)

const esc = 0x1B

// A DecodeError reports bytes that Decode replaced with U+FFFD.
type DecodeError struct {
	Charset string // the Set, as written by Set.String
	Offset  int    // offset of the first invalid sequence in the value
	Bytes   []byte // the first invalid sequence
	Reason  string // what is wrong with it
	Count   int    // number of sequences replaced in the value
}

func (e *DecodeError) Error() string {
	msg := fmt.Sprintf("charset: %s: % X at offset %d: %s", e.Charset, e.Bytes, e.Offset, e.Reason)
	if e.Count > 1 {
		msg += fmt.Sprintf(" (%d invalid sequences replaced with U+FFFD)", e.Count)
	}
	return msg
}

// An EncodeError reports text that Encode cannot represent.
type EncodeError struct {
	Charset string // the Set, as written by Set.String
	Offset  int    // byte offset in the text
	Rune    rune   // the character; utf8.RuneError for invalid UTF-8
	Reason  string
}

func (e *EncodeError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("charset: %s: byte offset %d: %s", e.Charset, e.Offset, e.Reason)
	}
	return fmt.Sprintf("charset: %s: cannot encode %q (%U) at byte offset %d", e.Charset, e.Rune, e.Rune, e.Offset)
}

// decoder accumulates output and the first error.
type decoder struct {
	sb  strings.Builder
	err *DecodeError
	set Set
}

func (d *decoder) bad(b []byte, off, n int, reason string) {
	d.sb.WriteRune(utf8.RuneError)
	if d.err == nil {
		d.err = &DecodeError{Charset: d.set.name(), Offset: off, Bytes: bytes.Clone(b[off : off+n]), Reason: reason}
	}
	d.err.Count++
}

func (d *decoder) result() (string, error) {
	if d.err != nil {
		return d.sb.String(), d.err
	}
	return d.sb.String(), nil
}

// Decode converts value bytes to UTF-8. pn must be true for VR PN, where
// the component delimiters '^' and '=' (and the value delimiter '\\' for
// multi-valued text) reset the code extension state to the initial one
// (PS3.5 6.1.2.5.3). Invalid bytes are replaced with U+FFFD and reported
// through a non-nil error, but a best-effort string is always returned.
//
// Decode treats '\\' as the value delimiter, as it is in SH, LO, PN and UC;
// use DecodeText for LT, ST and UT, where it is an ordinary character.
func (s Set) Decode(b []byte, pn bool) (string, error) {
	return s.decode(b, pn, true)
}

// DecodeText is Decode for the single-valued text VRs LT, ST and UT, in
// which '\\' is an ordinary character and so does not reset the code
// extension state. Only control characters (CR, LF, FF, TAB, ...) do.
func (s Set) DecodeText(b []byte) (string, error) {
	return s.decode(b, false, false)
}

func (s Set) decode(b []byte, pn, backslash bool) (string, error) {
	d := decoder{set: s}
	d.sb.Grow(len(b) + len(b)/2)
	if so := s.soloCodec(); so != nil {
		so.decode(&d, b)
		return d.result()
	}
	init := s.initial()
	st := init
	// lastG1 is the set most recently designated into G1. When a delimiter
	// has reset G1 to "none" (value 1 has no G1 set) and GR bytes follow
	// without a new designation, as some writers produce after CR LF, they
	// are read with lastG1: conformant data never has such bytes, and no
	// other reading of them is possible.
	lastG1 := init.g1
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == esc:
			n, g := parseEscape(b[i:])
			if g == nil {
				d.bad(b, i, n, "unknown or malformed escape sequence")
			} else if g.g1 {
				st.g1 = g
				lastG1 = g
			} else {
				st.g0 = g
			}
			i += n

		case c < 0x20 || c == 0x7F:
			// Control characters end any code extension.
			st = init
			d.sb.WriteByte(c)
			i++

		case c == ' ':
			d.sb.WriteByte(c)
			i++

		case c < 0x80: // GL: the G0 set
			g := st.g0
			if g.double {
				if i+1 >= len(b) || b[i+1] <= 0x20 || b[i+1] >= 0x7F {
					d.bad(b, i, 1, "incomplete two-byte character of "+g.name)
					i++
					continue
				}
				if r := g.decode2(c, b[i+1]); r != 0 {
					d.sb.WriteRune(r)
				} else {
					d.bad(b, i, 2, "unassigned in "+g.name)
				}
				i += 2
				continue
			}
			if (backslash && c == '\\') || (pn && (c == '^' || c == '=')) {
				st = init
			}
			if r := g.decode1(c); r != 0 {
				d.sb.WriteRune(r)
			} else {
				d.bad(b, i, 1, "unassigned in "+g.name)
			}
			i++

		case c < 0xA0:
			d.bad(b, i, 1, "C1 control byte")
			i++

		default: // GR: the G1 set
			g := st.g1
			if g == nil {
				g = lastG1
			}
			switch {
			case g == nil:
				d.bad(b, i, 1, "byte above 0x7F but no G1 set is designated")
				i++
			case g.double:
				if c == 0xA0 || c == 0xFF || i+1 >= len(b) || b[i+1] <= 0xA0 || b[i+1] == 0xFF {
					d.bad(b, i, 1, "incomplete two-byte character of "+g.name)
					i++
					continue
				}
				if r := g.decode2(c&0x7F, b[i+1]&0x7F); r != 0 {
					d.sb.WriteRune(r)
				} else {
					d.bad(b, i, 2, "unassigned in "+g.name)
				}
				i += 2
			default:
				if r := g.decode1(c & 0x7F); r != 0 {
					d.sb.WriteRune(r)
				} else {
					d.bad(b, i, 1, "unassigned in "+g.name)
				}
				i++
			}
		}
	}
	return d.result()
}

// parseEscape reads the escape sequence at the start of b (b[0] is ESC):
// ESC, intermediate bytes 0x20-0x2F, one final byte 0x30-0x7E. It returns
// the length consumed and the set designated, or nil for an unknown or
// malformed sequence.
func parseEscape(b []byte) (int, *graphic) {
	j := 1
	for j < len(b) && b[j] >= 0x20 && b[j] <= 0x2F {
		j++
	}
	if j == len(b) || b[j] < 0x30 || b[j] > 0x7E {
		return j, nil
	}
	return j + 1, escapes[string(b[:j+1])]
}

// Encode converts UTF-8 text to bytes in the set. It picks the first term
// able to encode each run of characters, emitting ISO 2022 escape sequences
// where the set uses code extensions, and returns to the initial state
// before each delimiter and at the end. Characters no term can encode give
// an error naming the character (never silently '?').
//
// Delimiters are the control characters, '\\', and for PN '^' and '='.
// Returning to the initial state re-designates the G0 set of value 1 and,
// if value 1 has one, its G1 set. On error the returned bytes are nil and
// the error is an *EncodeError. ESC (U+001B) in text is refused, since it
// would be read as the start of an escape sequence.
func (s Set) Encode(text string, pn bool) ([]byte, error) {
	if so := s.soloCodec(); so != nil {
		return so.encode(s, text)
	}
	list := s.list()
	init := s.initial()
	st := init
	out := make([]byte, 0, len(text)+len(text)/2)
	reset := func() {
		if st.g0 != init.g0 {
			out = append(out, init.g0.esc...)
		}
		if st.g1 != init.g1 && init.g1 != nil {
			out = append(out, init.g1.esc...)
		}
		st = init
	}
	for i, r := range text {
		if err := checkRune(s, text, i, r); err != nil {
			return nil, err
		}
		if r < 0x20 || r == 0x7F || r == '\\' || (pn && (r == '^' || r == '=')) {
			reset()
			out = append(out, byte(r))
			continue
		}
		g, code, ok := find(list, r)
		if !ok {
			return nil, &EncodeError{Charset: s.name(), Offset: i, Rune: r}
		}
		if g.g1 {
			if st.g1 != g {
				out = append(out, g.esc...)
				st.g1 = g
			}
			code |= 0x8080
		} else if st.g0 != g {
			out = append(out, g.esc...)
			st.g0 = g
		}
		if g.double {
			out = append(out, byte(code>>8))
		}
		out = append(out, byte(code))
	}
	reset()
	return out, nil
}

// checkRune rejects invalid UTF-8 and ESC.
func checkRune(s Set, text string, i int, r rune) error {
	switch {
	case r == utf8.RuneError:
		if _, size := utf8.DecodeRuneInString(text[i:]); size == 1 {
			return &EncodeError{Charset: s.name(), Offset: i, Rune: r, Reason: "invalid UTF-8"}
		}
	case r == esc:
		return &EncodeError{Charset: s.name(), Offset: i, Rune: r, Reason: "ESC (U+001B) is reserved for escape sequences"}
	}
	return nil
}

// find returns the first set of the first term that can encode r.
func find(list []*term, r rune) (*graphic, uint16, bool) {
	for _, t := range list {
		for _, g := range [2]*graphic{t.g0, t.g1} {
			if g == nil {
				continue
			}
			if c, ok := g.encode(r); ok {
				return g, c, true
			}
		}
	}
	return nil, 0, false
}

// solo is a stand-alone character set, without code extensions.
type solo struct {
	name string
	enc  encoding.Encoding // nil for UTF-8
	four bool              // GB18030's four-byte sequences
}

var (
	soloUTF8    = &solo{name: "ISO_IR 192"}
	soloGB18030 = &solo{name: "GB18030", enc: simplifiedchinese.GB18030, four: true}
	soloGBK     = &solo{name: "GBK", enc: simplifiedchinese.GBK}
)

// gbReplacement is GB18030's four-byte code for U+FFFD, which decodeOne
// would otherwise take for a decoding failure.
var gbReplacement = []byte{0x84, 0x31, 0xA4, 0x37}

func (so *solo) decode(d *decoder, b []byte) {
	if so.enc == nil {
		for i := 0; i < len(b); {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				d.bad(b, i, 1, "invalid UTF-8")
				i++
				continue
			}
			d.sb.WriteRune(r)
			i += size
		}
		return
	}
	dec := so.enc.NewDecoder()
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			d.sb.WriteByte(c)
			i++
			continue
		}
		n := 0 // length of the character starting at i; 0 if malformed
		if c != 0x80 && c != 0xFF && i+1 < len(b) {
			switch c1 := b[i+1]; {
			case so.four && c1 >= 0x30 && c1 <= 0x39:
				if i+3 < len(b) && b[i+2] >= 0x81 && b[i+2] <= 0xFE && b[i+3] >= 0x30 && b[i+3] <= 0x39 {
					n = 4
				}
			case c1 >= 0x40 && c1 <= 0xFE && c1 != 0x7F:
				n = 2
			}
		}
		if n == 0 {
			d.bad(b, i, 1, "invalid "+so.name+" sequence")
			i++
			continue
		}
		chunk := b[i : i+n]
		if r, ok := gbUserDecode(chunk); ok {
			d.sb.WriteRune(r)
		} else if r, ok := decodeOne(dec, chunk); ok {
			d.sb.WriteRune(r)
		} else if so.four && bytes.Equal(chunk, gbReplacement) {
			d.sb.WriteRune(utf8.RuneError)
		} else {
			// As in the WHATWG decoders, an ASCII trail byte is not
			// swallowed by a failed lead byte (it may be a delimiter).
			if b[i+1] < 0x80 {
				n = 1
			}
			d.bad(b, i, n, "unassigned in "+so.name)
		}
		i += n
	}
}

func (so *solo) encode(s Set, text string) ([]byte, error) {
	if so.enc == nil {
		for i, r := range text {
			if err := checkRune(s, text, i, r); err != nil {
				return nil, err
			}
		}
		return []byte(text), nil
	}
	e := so.enc.NewEncoder()
	d := so.enc.NewDecoder()
	out := make([]byte, 0, len(text)+len(text)/2)
	var src [utf8.UTFMax]byte
	var dst [8]byte
	for i, r := range text {
		if err := checkRune(s, text, i, r); err != nil {
			return nil, err
		}
		if r < 0x80 {
			out = append(out, byte(r))
			continue
		}
		if lead, trail, ok := gbUserEncode(r); ok {
			out = append(out, lead, trail)
			continue
		}
		e.Reset()
		n, _, err := e.Transform(dst[:], src[:utf8.EncodeRune(src[:], r)], true)
		// x/text's GBK writes U+20AC as the single byte 0x80 (code page
		// 936); GBK proper has no euro sign, and Decode refuses 0x80.
		// x/text's GB18030 encoder also maps some private-use characters
		// to codes its decoder reads as other characters; only codes that
		// decode back to r are written.
		if err != nil || n < 2 {
			return nil, &EncodeError{Charset: s.name(), Offset: i, Rune: r}
		}
		if back, ok := decodeOne(d, dst[:n]); !ok || back != r {
			if !(so.four && r == utf8.RuneError && bytes.Equal(dst[:n], gbReplacement)) {
				return nil, &EncodeError{Charset: s.name(), Offset: i, Rune: r}
			}
		}
		out = append(out, dst[:n]...)
	}
	return out, nil
}

// The user-defined areas of GBK and GB18030 map to the Private Use Area
// U+E000-U+E765 in code order: 0xAAA1-0xAFFE, then 0xF8A1-0xFEFE (94
// cells per row), then 0xA140-0xA7A0 (96 cells per row, no 0x7F). x/text
// decodes them as errors and encodes their runes wrongly, so they are
// handled here; hospitals use them for rare characters in names.
const (
	puaArea2 = 0xE000 + 6*94
	puaArea3 = puaArea2 + 7*94
	puaEnd   = puaArea3 + 7*96 // exclusive
)

func gbUserDecode(b []byte) (rune, bool) {
	if len(b) != 2 {
		return 0, false
	}
	lead, trail := rune(b[0]), rune(b[1])
	switch {
	case lead >= 0xAA && lead <= 0xAF && trail >= 0xA1 && trail <= 0xFE:
		return 0xE000 + (lead-0xAA)*94 + trail - 0xA1, true
	case lead >= 0xF8 && lead <= 0xFE && trail >= 0xA1 && trail <= 0xFE:
		return puaArea2 + (lead-0xF8)*94 + trail - 0xA1, true
	case lead >= 0xA1 && lead <= 0xA7 && trail >= 0x40 && trail <= 0xA0 && trail != 0x7F:
		if trail > 0x7F {
			trail--
		}
		return puaArea3 + (lead-0xA1)*96 + trail - 0x40, true
	}
	return 0, false
}

func gbUserEncode(r rune) (lead, trail byte, ok bool) {
	switch {
	case r >= 0xE000 && r < puaArea2:
		r -= 0xE000
		return byte(0xAA + r/94), byte(0xA1 + r%94), true
	case r >= puaArea2 && r < puaArea3:
		r -= puaArea2
		return byte(0xF8 + r/94), byte(0xA1 + r%94), true
	case r >= puaArea3 && r < puaEnd:
		r -= puaArea3
		t := 0x40 + r%96
		if t >= 0x7F {
			t++
		}
		return byte(0xA1 + r/96), byte(t), true
	}
	return 0, 0, false
}
