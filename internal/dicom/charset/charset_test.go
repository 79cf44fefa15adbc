package charset

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// vector is a known encoding of a text value.
type vector struct {
	name    string
	charset string
	text    string
	pn      bool
	hex     string // expected bytes, without padding
}

// Where the expected bytes come from is noted per group. "pydicom" means
// pydicom 2.3.1 (Debian, /usr/bin/python3): PersonName(text).encode(
// convert_encodings(charset)) for PN and charset.encode_string for other
// VRs, each also checked with pydicom.charset.decode_bytes. "file" means
// the raw bytes of that file in pydicom/data/charset_files (PS3.5 Annex
// H, I, J examples); "FileInfo.txt" is the list shipped with them.
var vectors = []vector{
	// PS3.5 H.3.1; pydicom; chrH31.dcm; FileInfo.txt.
	{"H31 Japanese", `\ISO 2022 IR 87`, "Yamada^Tarou=山田^太郎=やまだ^たろう", true,
		"59616d6164615e5461726f753d1b24423b3345441b28425e1b244242404f3a1b28423d1b24422464245e24401b28425e1b2442243f246d24261b2842"},
	// PS3.5 H.3.2; pydicom; chrH32.dcm. G0 goes back to ISO-IR 14 (ESC ( J).
	{"H32 Japanese katakana", `ISO 2022 IR 13\ISO 2022 IR 87`, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう", true,
		"d4cfc0de5ec0dbb33d1b24423b3345441b284a5e1b244242404f3a1b284a3d1b24422464245e24401b284a5e1b2442243f246d24261b284a"},
	// PS3.5 I.2; pydicom; chrI2.dcm. KS X 1001 is re-designated after
	// every delimiter.
	{"I2 Korean", `\ISO 2022 IR 149`, "Hong^Gildong=洪^吉洞=홍^길동", true,
		"486f6e675e47696c646f6e673d1b242943fbf35e1b242943d1ced4d73d1b242943c8ab5e1b242943b1e6b5bf"},
	// PS3.5 J.3 example 1; chrX1.dcm (pydicom drops the trailing '=').
	{"X1 UTF-8", `ISO_IR 192`, "Wang^XiaoDong=王^小東=", true,
		"57616e675e5869616f446f6e673de78e8b5ee5b08fe69db13d"},
	// PS3.5 J.3 example 2; chrX2.dcm.
	{"X2 GB18030", `GB18030`, "Wang^XiaoDong=王^小东=", true,
		"57616e675e5869616f446f6e673dcdf55ed0a1b6ab3d"},
	// pydicom (its GBK output equals the GB18030 bytes for these characters).
	{"GBK", `GBK`, "Wang^XiaoDong=王^小东", true,
		"57616e675e5869616f446f6e673dcdf55ed0a1b6ab"},
	// PS3.5 K.2 layout (ESC $ ) A before each GB 2312 run, the group
	// delimiters in ASCII); the character bytes from Python's gb2312 codec
	// ('张小东'.encode('gb2312') = d5c5 d0a1 b6ab). pydicom 2.3.1 cannot
	// be used here: it writes ISO 2022 IR 58 without escape sequences.
	{"K Chinese GB 2312", `\ISO 2022 IR 58`, "Zhang^XiaoDong=张^小东=", true,
		"5a68616e675e5869616f446f6e673d1b242941d5c55e1b242941d0a1b6ab3d"},
	// pydicom; chrFren.dcm, chrGerm.dcm.
	{"Latin-1 French", `ISO_IR 100`, "Buc^Jérôme", true, "4275635e4ae972f46d65"},
	{"Latin-1 German", `ISO_IR 100`, "Äneas^Rüdiger", true, "c46e6561735e52fc6469676572"},
	// pydicom; chrGreek.dcm, chrRuss.dcm, chrHbrw.dcm, chrArab.dcm.
	{"Greek", `ISO_IR 126`, "Διονυσιος", true, "c4e9efedf5f3e9eff2"},
	{"Cyrillic", `ISO_IR 144`, "Люкceмбypг", true, "bbeeda6365dcd17970d3"},
	{"Hebrew", `ISO_IR 138`, "שרון^דבורה", true, "f9f8e5ef5ee3e1e5f8e4"},
	{"Arabic", `ISO_IR 127`, "قباني^لنزار", true, "e2c8c7e6ea5ee4e6d2c7d1"},
	// pydicom.
	{"Latin-2", `ISO_IR 101`, "Dvořák^Antonín", true, "44766ff8e16b5e416e746f6eed6e"},
	{"Latin-3", `ISO_IR 109`, "Ġużeppi^Ħabib", true, "d575bf657070695ea161626962"},
	{"Latin-4", `ISO_IR 110`, "Šķēle^Ģirts", true, "a9f3ba6c655eab69727473"},
	{"Latin-5", `ISO_IR 148`, "Öztürk^Şükrü", true, "d67a74fc726b5edefc6b72fc"},
	{"Thai", `ISO_IR 166`, "สมชาย^ใจดี", true, "cac1aad2c25ee3a8b4d5"},
	{"JIS X 0201", `ISO_IR 13`, "ﾔﾏﾀﾞ^ﾀﾛｳ", true, "d4cfc0de5ec0dbb3"},
	// Python's iso8859_15 codec (pydicom 2.3.1 has no ISO_IR 203).
	{"Latin-9", `ISO_IR 203`, "Œdipe^Žofie=€", true, "bc646970655eb46f6669653da4"},
	// pydicom.
	{"JIS X 0212", `\ISO 2022 IR 159`, "Yamada^Tarou=丂^丄", true,
		"59616d6164615e5461726f753d1b24284430211b28425e1b24284430221b2842"},
	{"JIS X 0208 and 0212", `\ISO 2022 IR 87\ISO 2022 IR 159`, "山田^丂", true,
		"1b24423b3345441b28425e1b24284430211b2842"},
	// pydicom's bytes plus a final ESC - A: value 1 designates Latin-1 into
	// G1, and PS3.5 6.1.2.5.3 wants it active again at the end of the
	// value; pydicom 2.3.1 leaves Greek designated.
	{"Latin-1 and Greek", `ISO 2022 IR 100\ISO 2022 IR 126`, "Jérôme^Διονυσιος", true,
		"4ae972f46d655e1b2d46c4e9efedf5f3e9eff21b2d41"},
	// Derived by hand from PS3.3 Table C.12-3 (ESC - A, ESC - L); pydicom
	// 2.3.1 reads ISO-IR 6 as Latin-1 and writes ü with no escape.
	{"ASCII, Latin-1, Cyrillic", `ISO 2022 IR 6\ISO 2022 IR 100\ISO 2022 IR 144`, "Müller Люк", false,
		"4d1b2d41fc6c6c6572201b2d4cbbeeda"},
	// By hand from 6.1.2.5.3: G0 back to ASCII before the value delimiter.
	{"multi-valued LO", `\ISO 2022 IR 87`, `山\田`, false,
		"1b24423b331b28425c1b244245441b2842"},
	// By hand from 6.1.2.5.3 and the Annex I practice of re-designating
	// KS X 1001 after a delimiter (pydicom 2.3.1 does not after CR LF).
	{"Korean lines", `\ISO 2022 IR 149`, "김\r\n희", false,
		"1b242943b1e80d0a1b242943c8f1"},
	// By hand: outside PN '^' is no delimiter, so KS X 1001 stays
	// designated in G1 after it and is not designated again.
	{"caret in LO", `\ISO 2022 IR 149`, "홍^길", false,
		"1b242943c8ab5eb1e6"},
	// Default repertoire.
	{"ASCII", ``, "Doe^John", true, "446f655e4a6f686e"},
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			s, err := Parse(v.charset)
			if err != nil {
				t.Fatalf("Parse(%q): %v", v.charset, err)
			}
			want, _ := hex.DecodeString(v.hex)
			got, err := s.Encode(v.text, v.pn)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode(%q)\n got %x\nwant %x", v.text, got, want)
			}
			dec, err := s.Decode(want, v.pn)
			if err != nil || dec != v.text {
				t.Errorf("Decode(%x) = %q, %v; want %q", want, dec, err, v.text)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		value     string
		str       string // Set.String
		isDefault bool
		errTerms  []string // terms the error must name; nil: no error
	}{
		{"", "", true, nil},
		{"ISO_IR 6", "", true, nil},
		{"ISO 2022 IR 6", "ISO 2022 IR 6", true, nil},
		{"ISO_IR 100", "ISO_IR 100", false, nil},
		{"ISO_IR 100 ", "ISO_IR 100", false, nil},
		{"ISO_IR 192", "ISO_IR 192", false, nil},
		{"GB18030", "GB18030", false, nil},
		{"GBK", "GBK", false, nil},
		{`\ISO 2022 IR 87`, `\ISO 2022 IR 87`, false, nil},
		{`ISO 2022 IR 6\ISO 2022 IR 87`, `ISO 2022 IR 6\ISO 2022 IR 87`, false, nil},
		{`ISO 2022 IR 13\ISO 2022 IR 87`, `ISO 2022 IR 13\ISO 2022 IR 87`, false, nil},
		{`\ISO 2022 IR 87\ISO 2022 IR 159`, `\ISO 2022 IR 87\ISO 2022 IR 159`, false, nil},
		{`\ISO 2022 IR 149`, `\ISO 2022 IR 149`, false, nil},
		{`\ISO 2022 IR 58`, `\ISO 2022 IR 58`, false, nil},
		{`ISO 2022 IR 100\`, `ISO 2022 IR 100`, false, nil},
		{`\ISO 2022 IR 6`, ``, true, nil},
		{`ISO 2022 IR 6\ISO 2022 IR 6`, `ISO 2022 IR 6`, true, nil},
		// Unknown terms are named and dropped.
		{"KOI8-R", "", true, []string{"KOI8-R"}},
		{`ISO 2022 IR 100\FOO 1`, `ISO 2022 IR 100`, false, []string{"FOO 1"}},
		// Misspellings are read as the term they resemble.
		{"ISO IR 100", "ISO_IR 100", false, []string{"ISO IR 100"}},
		{"ISO-IR 144", "ISO_IR 144", false, []string{"ISO-IR 144"}},
		{"iso_ir 192", "ISO_IR 192", false, []string{"iso_ir 192"}},
		{`ISO_2022_IR_6\ISO_2022_IR_87`, `ISO 2022 IR 6\ISO 2022 IR 87`, false, []string{"ISO_2022_IR_6", "ISO_2022_IR_87"}},
		// Non-extension terms in a multi-valued set.
		{`ISO_IR 13\ISO 2022 IR 87`, `ISO 2022 IR 13\ISO 2022 IR 87`, false, []string{"ISO_IR 13"}},
		// Stand-alone sets.
		{`ISO_IR 192\ISO 2022 IR 87`, `ISO_IR 192`, false, []string{"ISO 2022 IR 87"}},
		{`ISO 2022 IR 100\GB18030`, `ISO 2022 IR 100`, false, []string{"GB18030"}},
		// Multi-byte sets cannot be value 1.
		{`ISO 2022 IR 87`, `\ISO 2022 IR 87`, false, []string{"ISO 2022 IR 87"}},
		{`ISO 2022 IR 149\ISO 2022 IR 100`, `\ISO 2022 IR 149\ISO 2022 IR 100`, false, []string{"ISO 2022 IR 149"}},
	}
	for _, tt := range tests {
		s, err := Parse(tt.value)
		if got := s.String(); got != tt.str {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.value, got, tt.str)
		}
		if got := s.IsDefault(); got != tt.isDefault {
			t.Errorf("Parse(%q).IsDefault() = %v, want %v", tt.value, got, tt.isDefault)
		}
		if (err != nil) != (tt.errTerms != nil) {
			t.Errorf("Parse(%q) error = %v, want error naming %q", tt.value, err, tt.errTerms)
			continue
		}
		for _, term := range tt.errTerms {
			if !strings.Contains(err.Error(), `"`+term+`"`) {
				t.Errorf("Parse(%q) error %q does not name %q", tt.value, err, term)
			}
		}
		if err != nil {
			var te *TermError
			if !errors.As(err, &te) {
				t.Errorf("Parse(%q) error %v is not a *TermError", tt.value, err)
			}
		}
		// The repaired set must be usable.
		if _, err := s.Encode("Doe^John", true); err != nil {
			t.Errorf("Parse(%q): Encode ASCII: %v", tt.value, err)
		}
	}
	var zero Set
	if !zero.IsDefault() || zero.String() != "" {
		t.Errorf("zero Set: IsDefault %v, String %q", zero.IsDefault(), zero.String())
	}
}

// testSets returns a Set for every Defined Term (multi-byte ones after an
// empty value 1), plus the code extension form of each single-byte term
// behind ISO 2022 IR 6.
func testSets(t testing.TB) map[string]Set {
	m := map[string]Set{"": {}}
	for name, tm := range terms {
		v := name
		if tm.multiByte() {
			v = `\` + name
		}
		m[v] = MustParse(v)
		if tm.ext && !tm.multiByte() && name != "ISO 2022 IR 6" {
			v = `ISO 2022 IR 6\` + name
			m[v] = MustParse(v)
		}
	}
	return m
}

// representable lists every character the set can encode, in a stable
// order.
func representable(s Set) []rune {
	var rs []rune
	seen := map[rune]bool{}
	add := func(r rune) {
		if !seen[r] {
			seen[r] = true
			rs = append(rs, r)
		}
	}
	for r := rune(0x20); r < 0x7F; r++ {
		add(r)
	}
	for _, tm := range s.list() {
		for _, g := range []*graphic{tm.g0, tm.g1} {
			if g == nil || g.ascii {
				continue
			}
			for _, r := range g.table().dec {
				if r == 0 {
					continue
				}
				if _, ok := g.encode(r); ok {
					add(r)
				}
			}
		}
	}
	return rs
}

func TestRoundTrip(t *testing.T) {
	for name, s := range testSets(t) {
		var rs []rune
		switch s.soloCodec() {
		case nil:
			rs = representable(s)
		case soloUTF8:
			for r := rune(0x20); r <= 0x10FFFF; r += 61 {
				if utf8.ValidRune(r) {
					rs = append(rs, r)
				}
			}
		case soloGB18030:
			for r := rune(0x20); r <= 0x10FFFF; r += 61 {
				// U+E766-U+E864 (GB18030-2000's private-use
				// mappings) are refused: see TestEncodeErrors.
				if utf8.ValidRune(r) && r != 0x7F && (r < 0x80 || r >= 0xA0) && (r < 0xE766 || r > 0xE864) {
					rs = append(rs, r)
				}
			}
			rs = append(rs, '€', 0xFFFD, 0x10FFFF, 0x20000)
		case soloGBK:
			d := simplifiedchinese.GBK.NewDecoder()
			for lead := 0x81; lead <= 0xFE; lead++ {
				for trail := 0x40; trail <= 0xFE; trail++ {
					if r, ok := decodeOne(d, []byte{byte(lead), byte(trail)}); ok && r != '€' {
						rs = append(rs, r)
					}
				}
			}
		}
		if len(rs) < 95 {
			t.Fatalf("%q: only %d characters", name, len(rs))
		}
		// Mix the characters with ASCII and the delimiters so that every
		// state change is exercised.
		const chunk = 37
		for i := 0; i < len(rs); i += chunk {
			part := rs[i:min(i+chunk, len(rs))]
			var sb strings.Builder
			for j, r := range part {
				sb.WriteRune(r)
				switch j % 11 {
				case 3:
					sb.WriteByte('^')
				case 5:
					sb.WriteString("=A")
				case 7:
					sb.WriteByte('\\')
				case 9:
					sb.WriteString("\r\n")
				}
			}
			text := sb.String()
			for _, pn := range []bool{false, true} {
				b, err := s.Encode(text, pn)
				if err != nil {
					t.Fatalf("%q: Encode(%q, %v): %v", name, text, pn, err)
				}
				got, err := s.Decode(b, pn)
				if err != nil || got != text {
					t.Fatalf("%q: Decode(Encode(%q, %v)) = %q, %v", name, text, pn, got, err)
				}
			}
			// LT/ST/UT: Encode's output is also right for DecodeText.
			b, _ := s.Encode(text, false)
			if got, err := s.DecodeText(b); err != nil || got != text {
				t.Fatalf("%q: DecodeText(Encode(%q)) = %q, %v", name, text, got, err)
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		charset string
		text    string
		bad     rune
		offset  int
	}{
		{"", "Jérôme", 'é', 1},
		{"ISO_IR 6", "Buc^Jérôme", 'é', 5},
		{"ISO_IR 100", "Jér^Δ", 'Δ', 5},
		{"ISO_IR 100", "€", '€', 0},
		{"ISO_IR 126", "Ω^ü", 'ü', 3},
		{"ISO_IR 144", "Люк^ß", 'ß', 7},
		{"ISO_IR 13", "ﾔﾏﾀﾞ^山", '山', 13},
		{"ISO_IR 166", "ก\u0E5C", 0x0E5C, 3},
		{`\ISO 2022 IR 87`, "山田^홍", '홍', 7},
		{`\ISO 2022 IR 87`, "①", '①', 0},        // NEC row 13: decoded, never written
		{`\ISO 2022 IR 149`, "홍^山田^ｱ", 'ｱ', 11}, // 山 and 田 are hanja in KS X 1001
		{`\ISO 2022 IR 58`, "张^홍", '홍', 4},
		{`\ISO 2022 IR 87\ISO 2022 IR 159`, "山田\U0002000B", 0x2000B, 6},
		{"GBK", "王€", '€', 3},
		// x/text writes these private-use characters with codes that it
		// reads back as other characters; refused rather than corrupted.
		{"GB18030", "王\uE77F", 0xE77F, 3},
		{"GBK", "王\U00020000", 0x20000, 3},
		{"", "a\u0085b", 0x85, 1}, // C1 control
	}
	for _, tt := range tests {
		s := MustParse(tt.charset)
		b, err := s.Encode(tt.text, true)
		var ee *EncodeError
		if !errors.As(err, &ee) {
			t.Errorf("%q: Encode(%q) = %x, %v; want *EncodeError", tt.charset, tt.text, b, err)
			continue
		}
		if b != nil || ee.Rune != tt.bad || ee.Offset != tt.offset {
			t.Errorf("%q: Encode(%q): bytes %x, error %+v; want rune %U at %d", tt.charset, tt.text, b, ee, tt.bad, tt.offset)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%U", tt.bad)) {
			t.Errorf("%q: error %q does not name %U", tt.charset, err, tt.bad)
		}
	}
	// Invalid UTF-8 and ESC are refused by every set.
	for name, s := range testSets(t) {
		for _, text := range []string{"ab\xffc", "a\x1b$Bb"} {
			if b, err := s.Encode(text, false); err == nil {
				t.Errorf("%q: Encode(%q) = %x, want error", name, text, b)
			}
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		charset string
		hex     string
		want    string
	}{
		{"", "41e942", "A\uFFFDB"},                         // high byte in the default repertoire
		{"ISO_IR 100", "4185420a", "A\uFFFDB\n"},           // C1 byte
		{"ISO_IR 127", "41a142", "A\uFFFDB"},               // unassigned in ISO 8859-6
		{"ISO_IR 166", "dbdf", "\uFFFD฿"},                  // unassigned in TIS 620
		{"ISO_IR 13", "41e0a1", "A\uFFFD｡"},                // no Shift_JIS two-byte codes
		{`\ISO 2022 IR 87`, "1b24423b", "\uFFFD"},          // truncated two-byte character
		{`\ISO 2022 IR 87`, "1b24423b1b2842", "\uFFFD"},    // ESC inside a character
		{`\ISO 2022 IR 87`, "1b2442227f41", "\uFFFD\x7fA"}, // DEL as trail byte, then reset
		{`\ISO 2022 IR 87`, "1b244229211b2842", "\uFFFD"},  // unassigned cell (row 9)
		{`\ISO 2022 IR 87`, "1b2451", "\uFFFD"},            // unknown escape sequence
		{`\ISO 2022 IR 87`, "411b", "A\uFFFD"},             // lone ESC
		{`\ISO 2022 IR 87`, "411b2428", "A\uFFFD"},         // truncated escape sequence
		{`\ISO 2022 IR 149`, "b1e8", "\uFFFD\uFFFD"},       // KS X 1001 never designated
		{`\ISO 2022 IR 149`, "1b242943b1", "\uFFFD"},       // truncated
		{`\ISO 2022 IR 149`, "1b242943b141", "\uFFFDA"},    // UHC trail byte is not KS X 1001
		{"ISO_IR 192", "41c3", "A\uFFFD"},                  // truncated UTF-8
		{"ISO_IR 192", "eda080", "\uFFFD\uFFFD\uFFFD"},     // surrogate
		{"GB18030", "41cd", "A\uFFFD"},                     // truncated
		{"GB18030", "80", "\uFFFD"},                        // not a lead byte
		{"GB18030", "81305e", "\uFFFD0^"},                  // bad four-byte sequence
		{"GB18030", "ff5e", "\uFFFD^"},                     // bad lead, delimiter survives
		{"GBK", "8130", "\uFFFD0"},                         // no four-byte codes in GBK
	}
	for _, tt := range tests {
		s := MustParse(tt.charset)
		b, _ := hex.DecodeString(tt.hex)
		got, err := s.Decode(b, true)
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%q: Decode(%s) = %q, %v; want *DecodeError", tt.charset, tt.hex, got, err)
		}
		if got != tt.want {
			t.Errorf("%q: Decode(%s) = %q, want %q", tt.charset, tt.hex, got, tt.want)
		}
		if de != nil && de.Count != strings.Count(tt.want, "\uFFFD") {
			t.Errorf("%q: Decode(%s): Count %d, want %d", tt.charset, tt.hex, de.Count, strings.Count(tt.want, "\uFFFD"))
		}
	}
}

func TestDecodeDelimiters(t *testing.T) {
	tests := []struct {
		name    string
		charset string
		hex     string
		mode    string // "pn", "lo" or "text"
		want    string
		wantErr bool
	}{
		// '^' resets G1 to Latin-1 in PN only.
		{"pn caret", `ISO 2022 IR 100\ISO 2022 IR 126`, "1b2d46c45ec4", "pn", "Δ^Ä", false},
		{"lo caret", `ISO 2022 IR 100\ISO 2022 IR 126`, "1b2d46c45ec4", "lo", "Δ^Δ", false},
		// '\' resets in multi-valued text but not in LT/ST/UT.
		{"lo backslash", `ISO 2022 IR 100\ISO 2022 IR 126`, "1b2d46c45cc4", "lo", `Δ\Ä`, false},
		{"text backslash", `ISO 2022 IR 100\ISO 2022 IR 126`, "1b2d46c45cc4", "text", `Δ\Δ`, false},
		// Control characters reset everywhere.
		{"text newline", `ISO 2022 IR 100\ISO 2022 IR 126`, "1b2d46c40ac4", "text", "Δ\nÄ", false},
		// Inside JIS X 0208, 0x5E is half of a character (ま is 245E),
		// not a delimiter.
		{"jis caret byte", `\ISO 2022 IR 87`, "1b2442245e1b2842", "pn", "ま", false},
		// G0 reset by '^' is not needed when G0 was already restored.
		{"korean no redesignation after lf", `\ISO 2022 IR 149`, "1b242943b1e80d0ac8f1", "text", "김\r\n희", false},
		// Foreign but known escape sequences are honoured.
		{"foreign escape", `ISO_IR 100`, "1b2d46c4", "lo", "Δ", false},
		{"ESC $ @", `\ISO 2022 IR 87`, "1b24403b331b2842", "lo", "山", false},
		// NEC row 13 is decoded (vendor extension).
		{"nec row 13", `\ISO 2022 IR 87`, "1b24422d211b2842", "lo", "①", false},
		// A GB18030 trail byte may be 0x5C or 0x5E.
		{"gb18030 trail 5c", `GB18030`, "815c5c41", "lo", "乗\\A", false},
		// User-defined areas, checked against Python's gb18030 codec
		// (U+E000 aaa1, U+E233 affe, U+E234 f8a1, U+E4C5 fefe, U+E4C6 a140,
		// U+E765 a7a0).
		{"gb18030 user-defined", `GB18030`, "aaa1affef8a1fefea140a7a0", "lo", "\uE000\uE233\uE234\uE4C5\uE4C6\uE765", false},
		{"gbk user-defined", `GBK`, "a180", "lo", "\uE505", false},
	}
	for _, tt := range tests {
		s := MustParse(tt.charset)
		b, _ := hex.DecodeString(tt.hex)
		var got string
		var err error
		switch tt.mode {
		case "pn":
			got, err = s.Decode(b, true)
		case "lo":
			got, err = s.Decode(b, false)
		default:
			got, err = s.DecodeText(b)
		}
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: got %q, %v; want %q (error %v)", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestGB2312Aliases(t *testing.T) {
	s := MustParse(`\ISO 2022 IR 58`)
	for _, text := range []string{"・", "·"} {
		b, err := s.Encode(text, false)
		if want := "\x1b$)A\xa1\xa4"; err != nil || string(b) != want {
			t.Errorf("Encode(%q) = %q, %v; want %q", text, b, err, want)
		}
	}
}

// pydicomFile is the output of testdata/pydicom_dump.py.
type pydicomFile struct {
	File     string `json:"file"`
	Elements []struct {
		Path    string `json:"path"`
		Tag     string `json:"tag"`
		VR      string `json:"vr"`
		Charset string `json:"charset"`
		Raw     string `json:"raw"`
		Decoded string `json:"decoded"`
	} `json:"elements"`
}

const pydicomCharsetDir = "/usr/lib/python3/dist-packages/pydicom/data/charset_files"

// Elements whose bytes are valid but not what Encode writes; for these
// the test checks Decode(Encode(x)) == x instead of byte equality.
var pydicomNonCanonical = map[string]string{
	// The value ends with ESC ( B although G0 never left ASCII.
	"chrKoreanMulti.dcm OperatorsName":            "redundant ESC ( B at the end",
	"chrKoreanMulti.dcm PatientName":              "redundant ESC ( B at the end",
	"chrKoreanMulti.dcm OtherPatientNames":        "redundant ESC ( B before '\\' and at the end",
	"chrKoreanMulti.dcm AdditionalPatientHistory": "redundant ESC ( B at the end",
	// Value 1 is ISO 2022 IR 13, whose G0 is ISO-IR 14 (ESC ( J, as in
	// chrH32.dcm), but these return to G0 with ESC ( B.
	"chrSQEncoding.dcm RequestedProcedureCodeSequence[0]/PatientName":  "ESC ( B instead of ESC ( J",
	"chrSQEncoding1.dcm RequestedProcedureCodeSequence[0]/PatientName": "ESC ( B instead of ESC ( J",
}

// TestPydicomCharsetFiles checks Decode against pydicom on the text
// elements of pydicom's character set test files, and that Encode gives
// back the original bytes.
func TestPydicomCharsetFiles(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import pydicom").Run(); err != nil {
		t.Skipf("%s cannot import pydicom: %v", python, err)
	}
	if _, err := os.Stat(pydicomCharsetDir); err != nil {
		t.Skipf("pydicom charset files: %v", err)
	}
	out, err := exec.Command(python, "testdata/pydicom_dump.py", pydicomCharsetDir).Output()
	if err != nil {
		t.Fatalf("pydicom_dump.py: %v", err)
	}
	var files []pydicomFile
	if err := json.Unmarshal(out, &files); err != nil {
		t.Fatal(err)
	}
	checked, nonASCII := 0, 0
	seenFiles := map[string]bool{}
	for _, f := range files {
		for _, e := range f.Elements {
			key := f.File + " " + e.Path
			raw, err := hex.DecodeString(e.Raw)
			if err != nil {
				t.Fatal(err)
			}
			// Padding to even length is the caller's business.
			raw = bytes.TrimRight(raw, " \x00")
			s, err := Parse(e.Charset)
			if err != nil {
				t.Errorf("%s: Parse(%q): %v", key, e.Charset, err)
				continue
			}
			pn := e.VR == "PN"
			text := e.VR == "LT" || e.VR == "ST" || e.VR == "UT"
			var got string
			if text {
				got, err = s.DecodeText(raw)
			} else {
				got, err = s.Decode(raw, pn)
			}
			if err != nil {
				t.Errorf("%s: Decode(%x): %v", key, raw, err)
				continue
			}
			if normalize(got, pn) != normalize(e.Decoded, pn) {
				t.Errorf("%s (%s %s, %q): Decode = %q, pydicom %q", key, e.Tag, e.VR, e.Charset, got, e.Decoded)
				continue
			}
			enc, err := s.Encode(got, pn)
			if err != nil {
				t.Errorf("%s: Encode(%q): %v", key, got, err)
				continue
			}
			if why, ok := pydicomNonCanonical[key]; ok {
				if bytes.Equal(enc, raw) {
					t.Errorf("%s: listed as non-canonical (%s) but Encode reproduces it", key, why)
				}
				if back, err := s.Decode(enc, pn); err != nil || back != got {
					t.Errorf("%s: Decode(Encode(%q)) = %q, %v", key, got, back, err)
				}
			} else if !bytes.Equal(enc, raw) {
				t.Errorf("%s (%q): Encode(%q)\n got %x\nwant %x", key, e.Charset, got, enc, raw)
			}
			checked++
			seenFiles[f.File] = true
			if !isASCII(got) {
				nonASCII++
			}
		}
	}
	for _, name := range []string{"chrArab.dcm", "chrFren.dcm", "chrFrenMulti.dcm", "chrGerm.dcm",
		"chrGreek.dcm", "chrH31.dcm", "chrH32.dcm", "chrHbrw.dcm", "chrI2.dcm", "chrJapMulti.dcm",
		"chrJapMultiExplicitIR6.dcm", "chrKoreanMulti.dcm", "chrRuss.dcm", "chrSQEncoding.dcm",
		"chrX1.dcm", "chrX2.dcm"} {
		if !seenFiles[name] {
			t.Errorf("no elements checked in %s", name)
		}
	}
	t.Logf("checked %d elements (%d with non-ASCII text) in %d files", checked, nonASCII, len(seenFiles))
}

// normalize undoes pydicom's presentation of PN values: it drops empty
// trailing component groups ("Wang^XiaoDong=王^小東=" becomes
// "Wang^XiaoDong=王^小東", chrX1.dcm and chrX2.dcm).
func normalize(s string, pn bool) string {
	if !pn {
		return s
	}
	vals := strings.Split(s, `\`)
	for i, v := range vals {
		vals[i] = strings.TrimRight(v, "=")
	}
	return strings.Join(vals, `\`)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestConcurrentUse(t *testing.T) {
	s := MustParse(`\ISO 2022 IR 87\ISO 2022 IR 159`)
	done := make(chan bool)
	for i := 0; i < 8; i++ {
		go func() {
			defer func() { done <- true }()
			for j := 0; j < 50; j++ {
				b, err := s.Encode("山田^丂=やまだ", true)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := s.Decode(b, true); err != nil || got != "山田^丂=やまだ" {
					t.Errorf("got %q, %v", got, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
}

// fuzzSets are the sets FuzzDecode chooses from.
var fuzzSets = []string{
	"", "ISO_IR 100", "ISO_IR 126", "ISO_IR 166", "ISO_IR 13", "ISO_IR 192", "GB18030", "GBK",
	`\ISO 2022 IR 87`, `ISO 2022 IR 13\ISO 2022 IR 87`, `\ISO 2022 IR 87\ISO 2022 IR 159`,
	`\ISO 2022 IR 149`, `\ISO 2022 IR 58`, `ISO 2022 IR 100\ISO 2022 IR 126\ISO 2022 IR 144`,
	`ISO 2022 IR 6\ISO 2022 IR 13\ISO 2022 IR 87\ISO 2022 IR 149\ISO 2022 IR 58`,
}

// FuzzDecode checks that Decode never panics, always returns valid UTF-8,
// and that whatever Encode accepts from its output decodes back to it.
func FuzzDecode(f *testing.F) {
	for i, v := range vectors {
		b, _ := hex.DecodeString(v.hex)
		f.Add(b, uint8(i), v.pn)
	}
	f.Add([]byte("\x1b$B;3\x1b(B^\x1b$)C\xb1\xe8\r\n\xc8\xf1"), uint8(9), true)
	f.Add([]byte("\x1b$(D0!\x1b-F\xc4\\\xff\x80\x1b"), uint8(10), false)
	sets := make([]Set, len(fuzzSets))
	for i, v := range fuzzSets {
		sets[i] = MustParse(v)
	}
	f.Fuzz(func(t *testing.T, b []byte, which uint8, pn bool) {
		s := sets[int(which)%len(sets)]
		for _, text := range []bool{false, true} {
			var got string
			var err error
			if text {
				got, err = s.DecodeText(b)
			} else {
				got, err = s.Decode(b, pn)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("Decode(%q) = %q: invalid UTF-8", b, got)
			}
			if err == nil && strings.ContainsRune(got, utf8.RuneError) && !bytes.Contains(b, []byte("\xef\xbf\xbd")) && !bytes.Contains(b, gbReplacement) {
				t.Fatalf("Decode(%q) = %q without error", b, got)
			}
			enc, err := s.Encode(got, pn && !text)
			if err != nil {
				continue
			}
			back, err := s.Decode(enc, pn && !text)
			if err != nil || (back != got && back != strings.Map(gbEncodeAlias, got)) {
				t.Fatalf("Decode(Encode(%q)) = %q, %v (bytes %q)", got, back, err, enc)
			}
		}
	})
}

// gbEncodeAlias maps the two characters that GB2312 (ISO-IR 58) encodes
// as aliases of others (buildGB2312: tables disagree on A1AA and A1A4) to
// what those codes decode to, so that the round trip is checked modulo
// them.
func gbEncodeAlias(r rune) rune {
	switch r {
	case 0x2015: // HORIZONTAL BAR, written as A1AA: EM DASH
		return 0x2014
	case 0x30FB: // KATAKANA MIDDLE DOT, written as A1A4: MIDDLE DOT
		return 0x00B7
	}
	return r
}

// TestParseCache: a value parsed again gives the same Set (from the
// cache); a value with a deviation reports it every time, and the cache
// stops growing at its bound.
func TestParseCache(t *testing.T) {
	a, err := Parse(`ISO 2022 IR 13\ISO 2022 IR 87`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(`ISO 2022 IR 13\ISO 2022 IR 87`)
	if err != nil || len(a.terms) != len(b.terms) || &a.terms[0] != &b.terms[0] {
		t.Fatalf("second parse: %v, %v; want the cached Set", b, err)
	}
	for range 2 {
		if _, err := Parse("ISO IR 100"); err == nil {
			t.Fatal("a misspelt term parsed without its deviation")
		}
	}
	for i := range 2 * parsedMax {
		Parse(fmt.Sprintf(`ISO_IR 100\ISO 2022 IR %d`, i)) // unknown terms: not cached
		Parse(strings.Repeat(" ", i) + "ISO_IR 100")       // valid, each new
	}
	if n := parsedCount.Load(); n > parsedMax {
		t.Fatalf("cache holds %d values, bound %d", n, parsedMax)
	}
}
