package dicom

import (
	"fmt"
	"strconv"
	"strings"
)

// Tag is a DICOM attribute tag: group number in the high 16 bits, element
// number in the low 16 bits.
type Tag uint32

// NewTag builds a tag from its group and element numbers.
func NewTag(group, element uint16) Tag { return Tag(uint32(group)<<16 | uint32(element)) }

// Group returns the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element returns the tag's element number.
func (t Tag) Element() uint16 { return uint16(t) }

// IsPrivate reports whether the tag belongs to an odd (private) group.
// Groups 0001, 0003, 0005 and 0007 are illegal and are treated as private too.
func (t Tag) IsPrivate() bool { return t.Group()%2 == 1 }

// IsPrivateCreator reports whether t is a private creator element
// (gggg,0010)-(gggg,00FF) of an odd group.
func (t Tag) IsPrivateCreator() bool {
	return t.IsPrivate() && t.Element() >= 0x0010 && t.Element() <= 0x00FF
}

// PrivateBlock returns, for a private data element (gggg,xxee) with xx in
// 10..FF, the tag of the private creator element (gggg,00xx) that reserves
// its block. ok is false for anything else.
func (t Tag) PrivateBlock() (creator Tag, ok bool) {
	if !t.IsPrivate() || t.Element() < 0x1000 {
		return 0, false
	}
	return NewTag(t.Group(), t.Element()>>8), true
}

// IsGroupLength reports whether t is a group length element (gggg,0000).
func (t Tag) IsGroupLength() bool { return t.Element() == 0 }

// String formats the tag as (gggg,eeee) in upper-case hex.
func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", t.Group(), t.Element()) }

// ParseTag accepts "(gggg,eeee)", "gggg,eeee", "ggggeeee" or "gggg|eeee"
// (hex, case-insensitive).
func ParseTag(s string) (Tag, error) {
	x := strings.TrimSpace(s)
	x = strings.TrimPrefix(x, "(")
	x = strings.TrimSuffix(x, ")")
	x = strings.NewReplacer(",", "", "|", "", " ", "").Replace(x)
	if len(x) != 8 {
		return 0, fmt.Errorf("dicom: %q is not a tag (want gggg,eeee in hex)", s)
	}
	v, err := strconv.ParseUint(x, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("dicom: %q is not a tag (want gggg,eeee in hex)", s)
	}
	return Tag(v), nil
}

// Tags used by the codec itself. Other packages look tags up by keyword in
// the generated dictionary or define their own.
const (
	TagFileMetaInformationGroupLength Tag = 0x00020000
	TagFileMetaInformationVersion     Tag = 0x00020001
	TagMediaStorageSOPClassUID        Tag = 0x00020002
	TagMediaStorageSOPInstanceUID     Tag = 0x00020003
	TagTransferSyntaxUID              Tag = 0x00020010
	TagImplementationClassUID         Tag = 0x00020012
	TagImplementationVersionName      Tag = 0x00020013
	TagSourceApplicationEntityTitle   Tag = 0x00020016
	TagSpecificCharacterSet           Tag = 0x00080005
	TagSOPClassUID                    Tag = 0x00080016
	TagSOPInstanceUID                 Tag = 0x00080018
	TagStudyInstanceUID               Tag = 0x0020000D
	TagSeriesInstanceUID              Tag = 0x0020000E
	TagBitsAllocated                  Tag = 0x00280100
	TagPixelRepresentation            Tag = 0x00280103
	TagPixelData                      Tag = 0x7FE00010
	TagFloatPixelData                 Tag = 0x7FE00008
	TagDoubleFloatPixelData           Tag = 0x7FE00009
	TagItem                           Tag = 0xFFFEE000
	TagItemDelimitationItem           Tag = 0xFFFEE00D
	TagSequenceDelimitationItem       Tag = 0xFFFEE0DD
)

// UndefinedLength is the value-length marker 0xFFFFFFFF.
const UndefinedLength uint32 = 0xFFFFFFFF
