package charset

import (
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// A graphic is one coded graphic character set in the ISO/IEC 2022 sense,
// designated into G0 (and invoked in GL, bytes 0x21-0x7E) or into G1 (and
// invoked in GR, bytes 0xA0-0xFF). Codes are handled in their 7-bit form;
// a G1 set's bytes carry the high bit on the wire.
type graphic struct {
	name   string // ISO registration, e.g. "ISO-IR 100"
	esc    string // escape sequence that designates the set
	g1     bool   // designated into G1 rather than G0
	double bool   // two bytes per character (a 94x94 set)
	ascii  bool   // the ASCII-compatible single-byte G0 sets (ISO-IR 6, 14)

	build func(t *table)
	once  sync.Once
	tab   table
}

// table maps between 7-bit codes and runes. For single-byte sets dec is
// indexed by the code (0x00-0x7F); for double-byte sets by
// (row-0x21)*94 + (cell-0x21). A zero rune means "unassigned". enc holds a
// single-byte code, or row<<8|cell for a double-byte set.
type table struct {
	dec []rune
	enc map[rune]uint16
}

func (g *graphic) table() *table {
	g.once.Do(func() { g.build(&g.tab) })
	return &g.tab
}

// decode1 decodes a 7-bit code of a single-byte set; 0 means unassigned.
func (g *graphic) decode1(c byte) rune {
	if g.ascii {
		if c >= 0x20 && c < 0x7F {
			return rune(c)
		}
		return 0
	}
	return g.table().dec[c&0x7F]
}

// decode2 decodes a row and cell (each 0x21-0x7E) of a double-byte set.
func (g *graphic) decode2(row, cell byte) rune {
	return g.table().dec[int(row-0x21)*94+int(cell-0x21)]
}

// encode returns the 7-bit code of r in g.
func (g *graphic) encode(r rune) (uint16, bool) {
	if g.ascii {
		return uint16(r), r >= 0x20 && r < 0x7F
	}
	c, ok := g.table().enc[r]
	return c, ok
}

// The graphic sets. Escape sequences are those of PS3.3 Tables C.12-3 and
// C.12-4.
var (
	gASCII    = &graphic{name: "ISO-IR 6", esc: "\x1b(B", ascii: true}
	gJISRoman = &graphic{name: "ISO-IR 14", esc: "\x1b(J", ascii: true}
	gKatakana = &graphic{name: "ISO-IR 13", esc: "\x1b)I", g1: true, build: buildKatakana}
	gLatin1   = iso8859("ISO-IR 100", "\x1b-A", charmap.ISO8859_1)
	gLatin2   = iso8859("ISO-IR 101", "\x1b-B", charmap.ISO8859_2)
	gLatin3   = iso8859("ISO-IR 109", "\x1b-C", charmap.ISO8859_3)
	gLatin4   = iso8859("ISO-IR 110", "\x1b-D", charmap.ISO8859_4)
	gGreek    = iso8859("ISO-IR 126", "\x1b-F", charmap.ISO8859_7)
	gArabic   = iso8859("ISO-IR 127", "\x1b-G", charmap.ISO8859_6)
	gHebrew   = iso8859("ISO-IR 138", "\x1b-H", charmap.ISO8859_8)
	gCyrillic = iso8859("ISO-IR 144", "\x1b-L", charmap.ISO8859_5)
	gLatin5   = iso8859("ISO-IR 148", "\x1b-M", charmap.ISO8859_9)
	gLatin9   = iso8859("ISO-IR 203", "\x1b-b", charmap.ISO8859_15)
	gThai     = &graphic{name: "ISO-IR 166", esc: "\x1b-T", g1: true, build: buildThai}
	gJIS0208  = &graphic{name: "ISO-IR 87", esc: "\x1b$B", double: true, build: buildJIS0208}
	gJIS0212  = &graphic{name: "ISO-IR 159", esc: "\x1b$(D", double: true, build: buildJIS0212}
	gKSX1001  = &graphic{name: "ISO-IR 149", esc: "\x1b$)C", g1: true, double: true, build: buildKSX1001}
	gGB2312   = &graphic{name: "ISO-IR 58", esc: "\x1b$)A", g1: true, double: true, build: buildGB2312}
)

// escapes maps every escape sequence the decoder understands to its set.
// Besides the DICOM ones it accepts the older or longer designations of
// JIS X 0208 (JIS C 6226-1978 "ESC $ @", and the forms with 02/08), which
// some writers emit.
var escapes = func() map[string]*graphic {
	m := map[string]*graphic{}
	for _, g := range []*graphic{
		gASCII, gJISRoman, gKatakana, gLatin1, gLatin2, gLatin3, gLatin4,
		gGreek, gArabic, gHebrew, gCyrillic, gLatin5, gLatin9, gThai,
		gJIS0208, gJIS0212, gKSX1001, gGB2312,
	} {
		m[g.esc] = g
	}
	m["\x1b$@"] = gJIS0208
	m["\x1b$(@"] = gJIS0208
	m["\x1b$(B"] = gJIS0208
	return m
}()

// iso8859 makes the G1 set holding the right-hand half (0xA0-0xFF) of an
// ISO 8859 part.
func iso8859(name, esc string, cm *charmap.Charmap) *graphic {
	return &graphic{name: name, esc: esc, g1: true, build: func(t *table) {
		t.dec = make([]rune, 128)
		t.enc = make(map[rune]uint16, 96)
		for c := 0x20; c < 0x80; c++ {
			r := cm.DecodeByte(byte(c | 0x80))
			if r == utf8.RuneError {
				continue
			}
			t.dec[c] = r
			if _, dup := t.enc[r]; !dup {
				t.enc[r] = uint16(c)
			}
		}
	}}
}

// buildKatakana fills JIS X 0201 katakana: 0x21-0x5F (0xA1-0xDF on the wire)
// are the half-width forms U+FF61-U+FF9F, in order.
func buildKatakana(t *table) {
	t.dec = make([]rune, 128)
	t.enc = make(map[rune]uint16, 63)
	for c := 0x21; c <= 0x5F; c++ {
		r := rune(0xFF61 + c - 0x21)
		t.dec[c] = r
		t.enc[r] = uint16(c)
	}
}

// buildThai fills TIS 620-2533 as the 96-set ISO-IR 166 (the right half of
// ISO 8859-11): NBSP at 0xA0, U+0E01-U+0E3A at 0xA1-0xDA and U+0E3F-U+0E5B
// at 0xDF-0xFB; 0xDB-0xDE and 0xFC-0xFF are unassigned.
func buildThai(t *table) {
	t.dec = make([]rune, 128)
	t.enc = make(map[rune]uint16, 88)
	set := func(c int, r rune) {
		t.dec[c] = r
		t.enc[r] = uint16(c)
	}
	set(0x20, 0x00A0)
	for c := 0x21; c <= 0x5A; c++ {
		set(c, rune(0x0E01+c-0x21))
	}
	for c := 0x5F; c <= 0x7B; c++ {
		set(c, rune(0x0E3F+c-0x5F))
	}
}

// buildDouble fills a 94x94 table by decoding every row and cell through
// an x/text decoder. wire returns the bytes x/text expects for a row and
// cell; encodable restricts the rows the encoder may use to those the
// standard assigns (the decoder also accepts vendor rows).
func buildDouble(t *table, e encoding.Encoding, wire func(row, cell byte) []byte, encodable func(row byte) bool) {
	t.dec = make([]rune, 94*94)
	t.enc = make(map[rune]uint16, 8000)
	d := e.NewDecoder()
	for row := byte(0x21); row <= 0x7E; row++ {
		for cell := byte(0x21); cell <= 0x7E; cell++ {
			r, ok := decodeOne(d, wire(row, cell))
			if !ok {
				continue
			}
			t.dec[int(row-0x21)*94+int(cell-0x21)] = r
			if !encodable(row) {
				continue
			}
			if _, dup := t.enc[r]; !dup {
				t.enc[r] = uint16(row)<<8 | uint16(cell)
			}
		}
	}
}

// JIS X 0208 is decoded as EUC-JP with the high bit set on both bytes. The
// standard assigns rows 1-8 and 16-84; rows 9-15 and 85-94 hold only
// vendor extensions, which are decoded but never produced.
func buildJIS0208(t *table) {
	buildDouble(t, japanese.EUCJP,
		func(row, cell byte) []byte { return []byte{row | 0x80, cell | 0x80} },
		func(row byte) bool { return row <= 0x28 || (row >= 0x30 && row <= 0x74) })
}

// JIS X 0212 is decoded as the EUC-JP code set 3 (SS3, 0x8F, then the two
// bytes with the high bit set).
func buildJIS0212(t *table) {
	buildDouble(t, japanese.EUCJP,
		func(row, cell byte) []byte { return []byte{0x8F, row | 0x80, cell | 0x80} },
		func(byte) bool { return true })
}

// KS X 1001 is EUC-KR with both bytes in 0xA1-0xFE (x/text's table is the
// Unified Hangul Code superset, restricted here to the KS X 1001 area).
func buildKSX1001(t *table) {
	buildDouble(t, korean.EUCKR,
		func(row, cell byte) []byte { return []byte{row | 0x80, cell | 0x80} },
		func(byte) bool { return true })
}

// GB 2312 is the EUC-CN area of GBK. GB 2312 assigns rows 1-9 and 16-87;
// GBK additions elsewhere in 0xA1-0xFE are decoded but never produced.
// x/text maps 0xA1A4 and 0xA1AA as GB18030 does (U+00B7, U+2014); the
// GB 2312 mapping table's U+30FB and U+2015 are accepted as well when
// encoding.
func buildGB2312(t *table) {
	buildDouble(t, simplifiedchinese.GBK,
		func(row, cell byte) []byte { return []byte{row | 0x80, cell | 0x80} },
		func(row byte) bool { return row <= 0x29 || (row >= 0x30 && row <= 0x77) })
	for r, c := range map[rune]uint16{0x30FB: 0x2124, 0x2015: 0x212A} {
		if _, ok := t.enc[r]; !ok {
			t.enc[r] = c
		}
	}
}

// decodeOne decodes src, which must be exactly one character, with d.
func decodeOne(d *encoding.Decoder, src []byte) (rune, bool) {
	d.Reset()
	var dst [utf8.UTFMax * 2]byte
	n, nsrc, err := d.Transform(dst[:], src, true)
	if err != nil || nsrc != len(src) {
		return 0, false
	}
	r, size := utf8.DecodeRune(dst[:n])
	if size != n || n == 0 || r == utf8.RuneError {
		return 0, false
	}
	return r, true
}
