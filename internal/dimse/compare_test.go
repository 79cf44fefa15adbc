package dimse

import (
	"bytes"
	"fmt"

	"github.com/aisedge/aisedge/internal/dicom"
)

// diffDatasets compares two data sets element by element (values in the
// codec's little-endian form, sequences item by item, fragments one by
// one), ignoring how lengths were encoded, group length elements and
// trailing data set padding (FFFC,FFFC), which senders such as storescu
// rewrite. VRs are compared when strictVR is set (same transfer syntax).
// It returns "" when they are equal.
func diffDatasets(a, b *dicom.Dataset, strictVR bool, path string) string {
	ea, eb := significant(a.Elements()), significant(b.Elements())
	if len(ea) != len(eb) {
		return fmt.Sprintf("%s: %d vs %d elements", path, len(ea), len(eb))
	}
	for i := range ea {
		x, y := ea[i], eb[i]
		at := fmt.Sprintf("%s%v", path, x.Tag)
		if x.Tag != y.Tag {
			return fmt.Sprintf("%s: tag %v vs %v", path, x.Tag, y.Tag)
		}
		// dcmtk writes encapsulated pixel data as OB whatever the file said.
		encapsulated := x.IsEncapsulated() || y.IsEncapsulated()
		if strictVR && x.VR != y.VR && x.VR != dicom.UN && y.VR != dicom.UN && !encapsulated {
			return fmt.Sprintf("%s: VR %v vs %v", at, x.VR, y.VR)
		}
		switch {
		case !strictVR && x.Tag.IsPrivate() && x.IsSequence() != y.IsSequence():
			// A private sequence re-encoded in Implicit VR with defined
			// length cannot be recognised as a sequence without a private
			// dictionary: its value is opaque there.
		case x.IsSequence() || y.IsSequence():
			if len(x.Items) != len(y.Items) {
				return fmt.Sprintf("%s: %d vs %d items", at, len(x.Items), len(y.Items))
			}
			for j := range x.Items {
				if d := diffDatasets(x.Items[j], y.Items[j], strictVR, fmt.Sprintf("%s[%d]", at, j)); d != "" {
					return d
				}
			}
		case x.IsEncapsulated() || y.IsEncapsulated():
			if len(x.Fragments) != len(y.Fragments) {
				return fmt.Sprintf("%s: %d vs %d fragments", at, len(x.Fragments), len(y.Fragments))
			}
			for j := range x.Fragments {
				bx, err1 := x.Fragments[j].Bytes()
				by, err2 := y.Fragments[j].Bytes()
				if err1 != nil || err2 != nil || !bytes.Equal(bx, by) {
					return fmt.Sprintf("%s: fragment %d differs", at, j)
				}
			}
		default:
			bx, err1 := x.Bytes()
			by, err2 := y.Bytes()
			if err1 != nil || err2 != nil {
				return fmt.Sprintf("%s: unreadable value: %v %v", at, err1, err2)
			}
			if !bytes.Equal(bx, by) {
				return fmt.Sprintf("%s: value differs (%d vs %d bytes)", at, len(bx), len(by))
			}
		}
	}
	return ""
}

func significant(es []*dicom.Element) []*dicom.Element {
	out := es[:0:0]
	for _, e := range es {
		if e.Tag.IsGroupLength() || e.Tag == dicom.Tag(0xFFFCFFFC) {
			continue
		}
		out = append(out, e)
	}
	return out
}
