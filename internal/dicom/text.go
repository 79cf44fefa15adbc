package dicom

import (
	"fmt"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom/charset"
)

// CharacterSet returns the Specific Character Set in force for ds: its own
// (0008,0005), else the nearest enclosing data set's, else the default
// repertoire. A value with unknown or misspelt terms still yields a usable
// set (the known terms) together with an error naming the problem.
func (ds *Dataset) CharacterSet() (charset.Set, error) {
	for p := ds; p != nil; p = p.parent {
		if e := p.Get(TagSpecificCharacterSet); e != nil {
			b, err := e.Bytes()
			if err != nil {
				return charset.Set{}, err
			}
			return charset.Parse(string(b))
		}
	}
	return charset.Parse("")
}

// Text decodes the whole value of a text element to UTF-8 through the
// data set's character set, with padding trimmed. Values of multi-valued
// VRs stay joined by backslash; use Texts to split them. Absent elements
// give "". Undecodable bytes become U+FFFD and are reported as an error
// along with the best-effort text.
func (ds *Dataset) Text(t Tag) (string, error) {
	e := ds.Get(t)
	if e == nil {
		return "", nil
	}
	b, err := e.Bytes()
	if err != nil {
		return "", err
	}
	if !e.VR.UsesCharset() {
		return trimValue(string(b), e.VR), nil
	}
	set, serr := ds.CharacterSet()
	var s string
	if e.VR.IsMultiValued() {
		s, err = set.Decode(b, e.VR == PN)
	} else {
		s, err = set.DecodeText(b)
	}
	s = trimValue(s, e.VR)
	if err == nil {
		err = serr
	}
	if err != nil {
		return s, fmt.Errorf("dicom: decoding %s: %w", t, err)
	}
	return s, nil
}

// Texts decodes a text element and splits it into its values (for VRs that
// allow several), each trimmed.
func (ds *Dataset) Texts(t Tag) ([]string, error) {
	e := ds.Get(t)
	if e == nil {
		return nil, nil
	}
	s, err := ds.Text(t)
	if !e.VR.IsMultiValued() {
		return []string{s}, err
	}
	parts := strings.Split(s, `\`)
	for i, p := range parts {
		parts[i] = trimValue(p, e.VR)
	}
	return parts, err
}

// SetText sets a text element from UTF-8 values, encoding them into the
// data set's character set (for VRs that use one) and padding to even
// length. It fails, changing nothing, when a character cannot be
// represented: the caller must choose another value, never a silent '?'.
func (ds *Dataset) SetText(t Tag, vr VR, values ...string) error {
	joined := strings.Join(values, `\`)
	if !vr.UsesCharset() {
		for _, r := range joined {
			if r >= 0x80 {
				return fmt.Errorf("dicom: %s: VR %s allows only the default repertoire, not %q", t, vr, r)
			}
		}
		ds.SetString(t, vr, joined)
		return nil
	}
	set, _ := ds.CharacterSet()
	var b []byte
	var err error
	if vr.IsMultiValued() {
		b, err = set.Encode(joined, vr == PN)
	} else {
		b, err = set.Encode(joined, false)
	}
	if err != nil {
		return fmt.Errorf("dicom: encoding %s: %w", t, err)
	}
	if len(b)%2 == 1 {
		b = append(b, ' ')
	}
	ds.Put(&Element{Tag: t, VR: vr, data: b})
	return nil
}
