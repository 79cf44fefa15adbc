package dicom

import "strings"

// Transfer syntax UIDs the codec treats specially. Every other transfer
// syntax known to the UID registry is treated as an encapsulated (compressed)
// syntax over Explicit VR Little Endian.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	EncapsulatedUncompressedLE     = "1.2.840.10008.1.2.1.98"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
	JPEGBaseline8Bit               = "1.2.840.10008.1.2.4.50"
	JPEGLosslessSV1                = "1.2.840.10008.1.2.4.70"
	JPEGLSLossless                 = "1.2.840.10008.1.2.4.80"
	JPEG2000Lossless               = "1.2.840.10008.1.2.4.90"
	JPEG2000                       = "1.2.840.10008.1.2.4.91"
	RLELossless                    = "1.2.840.10008.1.2.5"
)

// TransferSyntax describes how a data set is encoded.
type TransferSyntax struct {
	UID  string
	Name string
	// ExplicitVR: element headers carry the VR.
	ExplicitVR bool
	// BigEndian: numbers (headers and binary values) are big-endian.
	BigEndian bool
	// Deflated: everything after the file meta is a raw DEFLATE stream.
	Deflated bool
	// Encapsulated: Pixel Data is carried as fragments of a compressed (or
	// encapsulated uncompressed) bit stream.
	Encapsulated bool
	// Retired: the syntax is retired in PS3.5 (e.g. Explicit VR Big Endian).
	Retired bool
}

// LookupTransferSyntax returns the properties of a transfer syntax UID.
// Unknown UIDs, and UIDs registered as something other than a transfer
// syntax, report false.
func LookupTransferSyntax(uid string) (TransferSyntax, bool) {
	uid = strings.TrimRight(uid, "\x00 ")
	switch uid {
	case ImplicitVRLittleEndian:
		return TransferSyntax{UID: uid, Name: "Implicit VR Little Endian"}, true
	case ExplicitVRLittleEndian:
		return TransferSyntax{UID: uid, Name: "Explicit VR Little Endian", ExplicitVR: true}, true
	case DeflatedExplicitVRLittleEndian:
		return TransferSyntax{UID: uid, Name: "Deflated Explicit VR Little Endian", ExplicitVR: true, Deflated: true}, true
	case ExplicitVRBigEndian:
		return TransferSyntax{UID: uid, Name: "Explicit VR Big Endian", ExplicitVR: true, BigEndian: true, Retired: true}, true
	}
	e, ok := LookupUID(uid)
	if !ok || e.Type != "Transfer Syntax" {
		return TransferSyntax{}, false
	}
	ts := TransferSyntax{UID: uid, Name: e.Name, ExplicitVR: true, Encapsulated: true, Retired: e.Retired}
	// JPIP referenced syntaxes carry no pixel data at all; the deflated JPIP
	// variant deflates like the deflated syntax.
	if strings.Contains(e.Name, "JPIP") {
		ts.Encapsulated = false
		ts.Deflated = strings.Contains(e.Name, "Deflate")
	}
	return ts, true
}

// IsUncompressed reports whether pixel data in this syntax is native
// (not encapsulated); such syntaxes can be transcoded into one another.
func (ts TransferSyntax) IsUncompressed() bool { return !ts.Encapsulated }
