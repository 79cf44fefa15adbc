package dicom

// VR is a value representation: the two ASCII characters packed big-endian
// into a uint16 (so VR('O'<<8|'B') is OB). The zero VR means "unknown".
type VR uint16

// The value representations of PS3.5 Table 6.2-1.
const (
	AE VR = 'A'<<8 | 'E'
	AS VR = 'A'<<8 | 'S'
	AT VR = 'A'<<8 | 'T'
	CS VR = 'C'<<8 | 'S'
	DA VR = 'D'<<8 | 'A'
	DS VR = 'D'<<8 | 'S'
	DT VR = 'D'<<8 | 'T'
	FD VR = 'F'<<8 | 'D'
	FL VR = 'F'<<8 | 'L'
	IS VR = 'I'<<8 | 'S'
	LO VR = 'L'<<8 | 'O'
	LT VR = 'L'<<8 | 'T'
	OB VR = 'O'<<8 | 'B'
	OD VR = 'O'<<8 | 'D'
	OF VR = 'O'<<8 | 'F'
	OL VR = 'O'<<8 | 'L'
	OV VR = 'O'<<8 | 'V'
	OW VR = 'O'<<8 | 'W'
	PN VR = 'P'<<8 | 'N'
	SH VR = 'S'<<8 | 'H'
	SL VR = 'S'<<8 | 'L'
	SQ VR = 'S'<<8 | 'Q'
	SS VR = 'S'<<8 | 'S'
	ST VR = 'S'<<8 | 'T'
	SV VR = 'S'<<8 | 'V'
	TM VR = 'T'<<8 | 'M'
	UC VR = 'U'<<8 | 'C'
	UI VR = 'U'<<8 | 'I'
	UL VR = 'U'<<8 | 'L'
	UN VR = 'U'<<8 | 'N'
	UR VR = 'U'<<8 | 'R'
	US VR = 'U'<<8 | 'S'
	UT VR = 'U'<<8 | 'T'
	UV VR = 'U'<<8 | 'V'
)

// String returns the two-letter code, or "??" for an unknown VR.
func (v VR) String() string {
	if v == 0 {
		return "??"
	}
	return string([]byte{byte(v >> 8), byte(v)})
}

// ParseVR returns the VR for a two-letter code and whether it is one of the
// VRs of PS3.5.
func ParseVR(s string) (VR, bool) {
	if len(s) != 2 {
		return 0, false
	}
	v := VR(s[0])<<8 | VR(s[1])
	return v, v.Known()
}

// Known reports whether v is one of the VRs defined by PS3.5.
func (v VR) Known() bool {
	switch v {
	case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW,
		PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV:
		return true
	}
	return false
}

// LongHeader reports whether v uses the explicit-VR header with two reserved
// bytes and a 32-bit length (PS3.5 Table 7.1-1).
func (v VR) LongHeader() bool {
	switch v {
	case OB, OD, OF, OL, OV, OW, SQ, SV, UC, UN, UR, UT, UV:
		return true
	}
	return false
}

// IsText reports whether values of v are character strings.
func (v VR) IsText() bool {
	switch v {
	case AE, AS, CS, DA, DS, DT, IS, LO, LT, PN, SH, ST, TM, UC, UI, UR, UT:
		return true
	}
	return false
}

// UsesCharset reports whether values of v are encoded with the data set's
// Specific Character Set (the rest are restricted to the default repertoire).
func (v VR) UsesCharset() bool {
	switch v {
	case LO, LT, PN, SH, ST, UC, UT:
		return true
	}
	return false
}

// IsMultiValued reports whether v's values may hold several values separated
// by backslash. LT, ST, UT and UR never do.
func (v VR) IsMultiValued() bool { return v.IsText() && v != LT && v != ST && v != UT && v != UR }

// PadByte is the byte used to pad a value of v to even length: NUL for UI
// and binary VRs, space for other text.
func (v VR) PadByte() byte {
	if v.IsText() && v != UI {
		return ' '
	}
	return 0
}

// WordSize is the size of a binary value unit that needs byte swapping
// between little and big endian, or 1 for byte-oriented VRs. AT is two
// 16-bit words, so its word size is 2.
func (v VR) WordSize() int {
	switch v {
	case US, SS, OW, AT:
		return 2
	case UL, SL, FL, OF, OL:
		return 4
	case FD, OD, SV, UV, OV:
		return 8
	}
	return 1
}
