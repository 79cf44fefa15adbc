// Package charset converts DICOM text values between the bytes of a data
// set's Specific Character Set (0008,0005) and UTF-8 (PS3.5 section 6.1,
// PS3.3 C.12.1.1.2, and the examples of PS3.5 Annexes H, I, J and K).
//
// It owns the DICOM character repertoires and the ISO/IEC 2022 code
// extension handling: parsing the Defined Terms of (0008,0005), tracking
// which graphic sets are designated into G0 and G1 while a value is read,
// and choosing sets and emitting escape sequences while a value is written.
// internal/dicom imports it to decode and encode SH, LO, ST, LT, PN, UC and
// UT values, and the de-identification code imports it to read names and
// write replacement text in the data set's own character set. It imports
// nothing of the project's own.
//
// Supported Defined Terms:
//
//   - none (empty) and "ISO_IR 6": the default repertoire, ISO-IR 6 (ASCII).
//   - ISO 8859 sets, with or without code extensions ("ISO_IR n" and
//     "ISO 2022 IR n"): 100 (Latin-1), 101 (Latin-2), 109 (Latin-3),
//     110 (Latin-4), 144 (Cyrillic), 127 (Arabic), 126 (Greek), 138 (Hebrew),
//     148 (Latin-5), 203 (Latin-9), and 166 (Thai, TIS 620-2533).
//   - ISO_IR 13 and ISO 2022 IR 13: JIS X 0201, romaji (ISO-IR 14) in G0 and
//     half-width katakana (ISO-IR 13) in G1.
//   - Multi-byte sets with code extensions, for values 2 to n:
//     ISO 2022 IR 87 (JIS X 0208, ESC $ B, G0), ISO 2022 IR 159
//     (JIS X 0212, ESC $ ( D, G0), ISO 2022 IR 149 (KS X 1001, ESC $ ) C, G1)
//     and ISO 2022 IR 58 (GB 2312, ESC $ ) A, G1).
//   - Stand-alone sets that do not allow code extensions: ISO_IR 192
//     (UTF-8), GB18030 and GBK.
//
// Decoding follows PS3.5 6.1.2.5.3: control characters (CR, LF, FF, TAB and
// any other), the value delimiter '\' and, in PN values, the component
// delimiters '^' and '=' return G0 and G1 to the sets of value 1. A delimiter
// byte is only recognised while G0 holds a single-byte set, since inside a
// JIS X 0208 or JIS X 0212 run those bytes are halves of two-byte
// characters. For the same reason, and because GB18030 and GBK use 0x5C as a
// trail byte, callers must decode a whole multi-valued value first and split
// the resulting string on '\', never split the raw bytes.
//
// Decoding is lenient where the result is still unambiguous: any escape
// sequence this package knows is honoured even if its term is not listed in
// the Set (and even in a single-valued set such as "ISO_IR 100"), and
// decoding tables accept the vendor extensions that golang.org/x/text
// accepts (e.g. NEC row 13 of JIS X 0208). Encoding is strict: it only uses
// the listed terms and the standard code points of each set, never emits
// '?' for a character it cannot represent, and refuses ESC in the input.
//
// Deliberate differences from common toolkits, and limits:
//
//   - Bytes 0x80-0xFF in the default repertoire, and C1 bytes 0x80-0x9F in
//     any ISO 2022 based set, are invalid (U+FFFD and an error); pydicom
//     reads the former as Latin-1. Callers that want that fallback can
//     decode again with Parse("ISO_IR 100").
//   - ISO-IR 14 (JIS X 0201 romaji) is read and written as ASCII: 0x5C is
//     the DICOM value delimiter, not YEN SIGN, and 0x7E is '~'.
//   - ISO_IR 13 is single-byte JIS X 0201 only; Shift_JIS two-byte codes
//     are invalid.
//   - G2 and G3, single and locking shifts are not used by DICOM and are
//     not supported.
//   - GBK and GB18030 user-defined areas map to U+E000-U+E765; the
//     GB18030-2000 private-use mappings U+E766-U+E864 are not written
//     (x/text cannot round-trip them), nor is the euro sign in GBK.
//
// The code tables for ISO 8859, JIS X 0208/0212, KS X 1001, GB 2312, GBK and
// GB18030 come from golang.org/x/text/encoding.
package charset
