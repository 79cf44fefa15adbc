package dicom

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// bulkRef locates a value in a random-access source instead of holding it.
type bulkRef struct {
	ra  io.ReaderAt
	off int64
	n   int64
}

// Element is one data element. A plain element holds a value; a sequence
// holds Items; encapsulated pixel data holds Fragments.
type Element struct {
	Tag Tag
	VR  VR
	// UndefinedLength records that a sequence or encapsulated pixel data was
	// encoded with undefined length, so that it is written back the same way.
	UndefinedLength bool
	// ImplicitItems records a VR UN sequence of undefined length whose items
	// are Implicit VR Little Endian (CP-246); it is written back that way.
	ImplicitItems bool
	// Items of a sequence, in order.
	Items []*Dataset
	// Fragments of encapsulated pixel data; the first is the Basic Offset
	// Table (possibly empty). Nil for anything else.
	Fragments []*Fragment

	data    []byte
	ref     *bulkRef
	skipped bool
}

// Fragment is one item of encapsulated pixel data.
type Fragment struct {
	data    []byte
	ref     *bulkRef
	skipped bool
}

// NewFragment returns a fragment holding b.
func NewFragment(b []byte) *Fragment { return &Fragment{data: b} }

// Len returns the fragment's length in bytes.
func (f *Fragment) Len() int64 {
	if f.ref != nil {
		return f.ref.n
	}
	return int64(len(f.data))
}

// Bytes returns the fragment's bytes, reading them from the source if they
// were not loaded.
func (f *Fragment) Bytes() ([]byte, error) { return loadValue(f.data, f.ref) }

// Open streams the fragment's bytes.
func (f *Fragment) Open() io.Reader { return openValue(f.data, f.ref) }

func loadValue(data []byte, ref *bulkRef) ([]byte, error) {
	if ref == nil {
		return data, nil
	}
	b := make([]byte, ref.n)
	if _, err := ref.ra.ReadAt(b, ref.off); err != nil {
		return nil, fmt.Errorf("dicom: reading %d bytes at offset %d: %w", ref.n, ref.off, err)
	}
	return b, nil
}

func openValue(data []byte, ref *bulkRef) io.Reader {
	if ref == nil {
		return &sliceReader{b: data}
	}
	return io.NewSectionReader(ref.ra, ref.off, ref.n)
}

// IsSequence reports whether the element holds items.
func (e *Element) IsSequence() bool { return e.VR == SQ || e.ImplicitItems || e.Items != nil }

// IsEncapsulated reports whether the element holds pixel data fragments.
func (e *Element) IsEncapsulated() bool { return e.Fragments != nil }

// Len returns the value length in bytes of a plain element (not of a
// sequence or encapsulated pixel data).
func (e *Element) Len() int64 {
	if e.ref != nil {
		return e.ref.n
	}
	return int64(len(e.data))
}

// Skipped reports that the value was dropped while parsing with
// ParseOptions.SkipBulk.
func (e *Element) Skipped() bool { return e.skipped }

// IsBulk reports whether the value is still in the source, not in memory.
func (e *Element) IsBulk() bool { return e.ref != nil }

// Bytes returns the value bytes (little-endian for binary VRs), reading
// them from the source if they were not loaded.
func (e *Element) Bytes() ([]byte, error) { return loadValue(e.data, e.ref) }

// Open streams the value bytes.
func (e *Element) Open() io.Reader { return openValue(e.data, e.ref) }

// RawBytes returns the in-memory value, or nil for a bulk reference.
func (e *Element) RawBytes() []byte { return e.data }

// SetBytes replaces the value with b, as given (no padding).
func (e *Element) SetBytes(b []byte) {
	e.data, e.ref, e.Items, e.Fragments = b, nil, nil, nil
}

// Strings splits a text value on backslash (for VRs that allow several
// values) and trims the padding (trailing spaces and NULs; leading spaces
// too, except for LT, ST, UT). The bytes are not decoded: use
// Dataset.Text for values in a non-default character set.
func (e *Element) Strings() []string {
	b, err := e.Bytes()
	if err != nil || len(b) == 0 {
		return nil
	}
	s := string(b)
	var parts []string
	if e.VR.IsMultiValued() || !e.VR.IsText() {
		parts = strings.Split(s, `\`)
	} else {
		parts = []string{s}
	}
	for i, p := range parts {
		parts[i] = trimValue(p, e.VR)
	}
	return parts
}

func trimValue(s string, vr VR) string {
	s = strings.TrimRight(s, " \x00")
	switch vr {
	case LT, ST, UT:
		return s
	}
	return strings.TrimLeft(s, " ")
}

// First returns the first value of a text element, trimmed; "" if empty.
func (e *Element) First() string {
	v := e.Strings()
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// String describes the element without its value (tag, VR, length), so
// that printing or logging an element can never leak what it holds.
func (e *Element) String() string {
	switch {
	case e.IsEncapsulated():
		return fmt.Sprintf("%s %s %d fragments", e.Tag, e.VR, len(e.Fragments))
	case e.IsSequence():
		return fmt.Sprintf("%s %s %d items", e.Tag, e.VR, len(e.Items))
	}
	return fmt.Sprintf("%s %s %d bytes", e.Tag, e.VR, e.Len())
}

// Ints returns the values of an integer element (US, SS, UL, SL, UV, SV,
// IS, or AT as tag numbers).
func (e *Element) Ints() ([]int64, error) {
	b, err := e.Bytes()
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var out []int64
	switch e.VR {
	case US, OW:
		for i := 0; i+2 <= len(b); i += 2 {
			out = append(out, int64(le.Uint16(b[i:])))
		}
	case SS:
		for i := 0; i+2 <= len(b); i += 2 {
			out = append(out, int64(int16(le.Uint16(b[i:]))))
		}
	case UL, OL:
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, int64(le.Uint32(b[i:])))
		}
	case SL:
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, int64(int32(le.Uint32(b[i:]))))
		}
	case UV, SV, OV:
		for i := 0; i+8 <= len(b); i += 8 {
			out = append(out, int64(le.Uint64(b[i:])))
		}
	case AT:
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, int64(NewTag(le.Uint16(b[i:]), le.Uint16(b[i+2:]))))
		}
	case IS:
		for _, s := range e.Strings() {
			if s == "" {
				continue
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return out, fmt.Errorf("dicom: %s IS value %q: %w", e.Tag, s, err)
			}
			out = append(out, v)
		}
	default:
		return nil, fmt.Errorf("dicom: %s has VR %s, not an integer VR", e.Tag, e.VR)
	}
	return out, nil
}

// Floats returns the values of a floating-point element (FL, FD, OF, OD,
// DS).
func (e *Element) Floats() ([]float64, error) {
	b, err := e.Bytes()
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var out []float64
	switch e.VR {
	case FL, OF:
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, float64(math.Float32frombits(le.Uint32(b[i:]))))
		}
	case FD, OD:
		for i := 0; i+8 <= len(b); i += 8 {
			out = append(out, math.Float64frombits(le.Uint64(b[i:])))
		}
	case DS:
		for _, s := range e.Strings() {
			if s == "" {
				continue
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return out, fmt.Errorf("dicom: %s DS value %q: %w", e.Tag, s, err)
			}
			out = append(out, v)
		}
	default:
		return nil, fmt.Errorf("dicom: %s has VR %s, not a floating-point VR", e.Tag, e.VR)
	}
	return out, nil
}

// Dataset is an ordered set of data elements: a whole data set, a file meta
// group, or one item of a sequence.
type Dataset struct {
	// UndefinedLength records, for an item, that it was encoded with
	// undefined length.
	UndefinedLength bool

	elems  []*Element
	parent *Dataset // the data set holding the sequence this item is in
}

// NewDataset returns an empty data set.
func NewDataset() *Dataset { return &Dataset{} }

// Parent returns the data set that contains this item's sequence, or nil at
// top level.
func (ds *Dataset) Parent() *Dataset { return ds.parent }

// Elements returns the elements in encoding order (ascending tags for
// well-formed data). The slice must not be modified.
func (ds *Dataset) Elements() []*Element { return ds.elems }

// Len returns the number of elements at this level.
func (ds *Dataset) Len() int { return len(ds.elems) }

func (ds *Dataset) index(t Tag) (int, bool) {
	// Elements are normally sorted; fall back to a scan for unsorted input.
	i := sort.Search(len(ds.elems), func(i int) bool { return ds.elems[i].Tag >= t })
	if i < len(ds.elems) && ds.elems[i].Tag == t {
		return i, true
	}
	for j, e := range ds.elems {
		if e.Tag == t {
			return j, true
		}
	}
	return i, false
}

// Get returns the element with tag t at this level, or nil.
func (ds *Dataset) Get(t Tag) *Element {
	if i, ok := ds.index(t); ok {
		return ds.elems[i]
	}
	return nil
}

// Has reports whether an element with tag t is present at this level.
func (ds *Dataset) Has(t Tag) bool { return ds.Get(t) != nil }

// String returns the first value of a text element, trimmed; "" if absent.
func (ds *Dataset) String(t Tag) string {
	if e := ds.Get(t); e != nil {
		return e.First()
	}
	return ""
}

// Strings returns the values of a text element; nil if absent.
func (ds *Dataset) Strings(t Tag) []string {
	if e := ds.Get(t); e != nil {
		return e.Strings()
	}
	return nil
}

// Int returns the first value of an integer element.
func (ds *Dataset) Int(t Tag) (int64, bool) {
	e := ds.Get(t)
	if e == nil {
		return 0, false
	}
	v, err := e.Ints()
	if err != nil || len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

// Uint16 returns the first value of a US element.
func (ds *Dataset) Uint16(t Tag) (uint16, bool) {
	v, ok := ds.Int(t)
	return uint16(v), ok && v >= 0 && v <= math.MaxUint16
}

// Uint32 returns the first value of a UL (or US) element.
func (ds *Dataset) Uint32(t Tag) (uint32, bool) {
	v, ok := ds.Int(t)
	return uint32(v), ok && v >= 0 && v <= math.MaxUint32
}

// Put inserts e, replacing any element with the same tag, keeping the
// elements in ascending tag order. Items of a sequence element get ds as
// their parent.
func (ds *Dataset) Put(e *Element) {
	for _, it := range e.Items {
		it.parent = ds
	}
	i, ok := ds.index(e.Tag)
	if ok {
		ds.elems[i] = e
		return
	}
	ds.elems = append(ds.elems, nil)
	copy(ds.elems[i+1:], ds.elems[i:])
	ds.elems[i] = e
}

// Delete removes the element with tag t and reports whether it was there.
func (ds *Dataset) Delete(t Tag) bool {
	i, ok := ds.index(t)
	if !ok {
		return false
	}
	ds.elems = append(ds.elems[:i], ds.elems[i+1:]...)
	return true
}

// DeleteFunc removes every element at this level for which del is true.
func (ds *Dataset) DeleteFunc(del func(*Element) bool) {
	out := ds.elems[:0]
	for _, e := range ds.elems {
		if !del(e) {
			out = append(out, e)
		}
	}
	clear(ds.elems[len(out):])
	ds.elems = out
}

// PadText pads a text value to even length with the VR's padding byte.
func PadText(vr VR, s string) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, vr.PadByte())
	}
	return b
}

// SetString sets a text element to the given values joined by backslash
// and padded to even length. The bytes are stored as given: use SetText for
// values that need the data set's character set.
func (ds *Dataset) SetString(t Tag, vr VR, values ...string) {
	ds.Put(&Element{Tag: t, VR: vr, data: PadText(vr, strings.Join(values, `\`))})
}

// SetUint16 sets a US element to the given values.
func (ds *Dataset) SetUint16(t Tag, values ...uint16) {
	b := make([]byte, 2*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	ds.Put(&Element{Tag: t, VR: US, data: b})
}

// SetUint32 sets a UL element to the given values.
func (ds *Dataset) SetUint32(t Tag, values ...uint32) {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	ds.Put(&Element{Tag: t, VR: UL, data: b})
}

// SetBytes sets a binary element (OB, OW, UN, ...) to b, padded with a NUL
// byte to even length.
func (ds *Dataset) SetBytes(t Tag, vr VR, b []byte) {
	if len(b)%2 == 1 {
		b = append(b[:len(b):len(b)], 0)
	}
	ds.Put(&Element{Tag: t, VR: vr, data: b})
}

// SetSequence sets a sequence element with the given items.
func (ds *Dataset) SetSequence(t Tag, items ...*Dataset) {
	if items == nil {
		items = []*Dataset{}
	}
	ds.Put(&Element{Tag: t, VR: SQ, Items: items})
}

// Walk calls fn for every element at every depth, in encoding order, with
// the data set that holds it. If fn returns false for a sequence element,
// its items are not visited.
func (ds *Dataset) Walk(fn func(holder *Dataset, e *Element) bool) {
	for _, e := range ds.elems {
		if fn(ds, e) {
			for _, it := range e.Items {
				it.Walk(fn)
			}
		}
	}
}

// Clone returns a deep copy of the data set. Bulk references are shared
// (they are read-only); in-memory values are copied.
func (ds *Dataset) Clone() *Dataset {
	c := &Dataset{UndefinedLength: ds.UndefinedLength, parent: ds.parent, elems: make([]*Element, len(ds.elems))}
	for i, e := range ds.elems {
		ce := *e
		ce.data = append([]byte(nil), e.data...)
		if e.data == nil {
			ce.data = nil
		}
		if e.Items != nil {
			ce.Items = make([]*Dataset, len(e.Items))
			for j, it := range e.Items {
				ce.Items[j] = it.Clone()
				ce.Items[j].parent = c
			}
		}
		if e.Fragments != nil {
			ce.Fragments = make([]*Fragment, len(e.Fragments))
			for j, f := range e.Fragments {
				cf := *f
				ce.Fragments[j] = &cf
			}
		}
		c.elems[i] = &ce
	}
	return c
}
