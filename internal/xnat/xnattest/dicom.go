package xnattest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
)

// Header is what the emulated session builder reads from a DICOM file
// (docs/xnat.md, "The emulator": pullDataFromHeaders). Tests also use it
// to write small DICOM files with MinimalDICOM.
type Header struct {
	SOPClassUID, SOPInstanceUID         string
	StudyInstanceUID, SeriesInstanceUID string
	StudyDate, StudyTime                string // YYYYMMDD, HHMMSS
	Modality                            string
	Manufacturer, ModelName             string
	StationName                         string
	SeriesNumber, SeriesDescription     string
	ImageType                           string // backslash-separated, e.g. ORIGINAL\PRIMARY
}

type dtag struct{ group, elem uint16 }

// headerTags maps the attributes the builder reads to Header fields.
var headerTags = []struct {
	t  dtag
	vr string
	f  func(*Header) *string
}{
	{dtag{0x0008, 0x0008}, "CS", func(h *Header) *string { return &h.ImageType }},
	{dtag{0x0008, 0x0016}, "UI", func(h *Header) *string { return &h.SOPClassUID }},
	{dtag{0x0008, 0x0018}, "UI", func(h *Header) *string { return &h.SOPInstanceUID }},
	{dtag{0x0008, 0x0020}, "DA", func(h *Header) *string { return &h.StudyDate }},
	{dtag{0x0008, 0x0030}, "TM", func(h *Header) *string { return &h.StudyTime }},
	{dtag{0x0008, 0x0060}, "CS", func(h *Header) *string { return &h.Modality }},
	{dtag{0x0008, 0x0070}, "LO", func(h *Header) *string { return &h.Manufacturer }},
	{dtag{0x0008, 0x1010}, "SH", func(h *Header) *string { return &h.StationName }},
	{dtag{0x0008, 0x103E}, "LO", func(h *Header) *string { return &h.SeriesDescription }},
	{dtag{0x0008, 0x1090}, "LO", func(h *Header) *string { return &h.ModelName }},
	{dtag{0x0020, 0x000D}, "UI", func(h *Header) *string { return &h.StudyInstanceUID }},
	{dtag{0x0020, 0x000E}, "UI", func(h *Header) *string { return &h.SeriesInstanceUID }},
	{dtag{0x0020, 0x0011}, "IS", func(h *Header) *string { return &h.SeriesNumber }},
}

const explicitLE = "1.2.840.10008.1.2.1"

// MinimalDICOM writes a small DICOM Part 10 file (explicit VR little
// endian, no pixel data) carrying h's attributes; empty fields are left
// out.
func MinimalDICOM(h Header) []byte {
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	var meta bytes.Buffer
	writeElem(&meta, dtag{0x0002, 0x0001}, "OB", []byte{0, 1})
	writeElem(&meta, dtag{0x0002, 0x0002}, "UI", pad(h.SOPClassUID, 0))
	writeElem(&meta, dtag{0x0002, 0x0003}, "UI", pad(h.SOPInstanceUID, 0))
	writeElem(&meta, dtag{0x0002, 0x0010}, "UI", pad(explicitLE, 0))
	grp := make([]byte, 4)
	binary.LittleEndian.PutUint32(grp, uint32(meta.Len()))
	writeElem(&b, dtag{0x0002, 0x0000}, "UL", grp)
	b.Write(meta.Bytes())
	for _, ht := range headerTags {
		v := *ht.f(&h)
		if v == "" {
			continue
		}
		padByte := byte(' ')
		if ht.vr == "UI" {
			padByte = 0
		}
		writeElem(&b, ht.t, ht.vr, pad(v, padByte))
	}
	return b.Bytes()
}

func pad(s string, p byte) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, p)
	}
	return b
}

func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT":
		return true
	}
	return false
}

func writeElem(b *bytes.Buffer, t dtag, vr string, v []byte) {
	binary.Write(b, binary.LittleEndian, t.group)
	binary.Write(b, binary.LittleEndian, t.elem)
	b.WriteString(vr)
	if longVR(vr) {
		b.Write([]byte{0, 0})
		binary.Write(b, binary.LittleEndian, uint32(len(v)))
	} else {
		binary.Write(b, binary.LittleEndian, uint16(len(v)))
	}
	b.Write(v)
}

var errNotDICOM = errors.New("not a DICOM file")

// readHeader reads the builder's attributes from a DICOM Part 10 file in
// explicit or implicit VR little endian (the transfer syntaxes of every
// de-identified file; compressed pixel data comes after what is read). It
// stops at the first element past (0020,0011).
func readHeader(data []byte) (Header, error) {
	var h Header
	if len(data) < 132 || string(data[128:132]) != "DICM" {
		return h, errNotDICOM
	}
	r := &dreader{b: data, off: 132, explicit: true}
	ts := ""
	for r.off < len(r.b) {
		save := r.off
		t, vr, val, err := r.next()
		if err != nil {
			return h, err
		}
		if t.group != 0x0002 {
			r.off = save
			break
		}
		if t.elem == 0x0010 {
			ts = strings.TrimRight(string(val), "\x00 ")
		}
		_ = vr
	}
	switch ts {
	case "1.2.840.10008.1.2":
		r.explicit = false
	case "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2":
		return h, errors.New("deflated or big-endian data set")
	}
	want := map[dtag]*string{}
	for _, ht := range headerTags {
		want[ht.t] = ht.f(&h)
	}
	for r.off < len(r.b) {
		t, _, val, err := r.next()
		if err != nil {
			return h, err
		}
		if t.group > 0x0020 || (t.group == 0x0020 && t.elem > 0x0011) {
			break
		}
		if p := want[t]; p != nil {
			*p = strings.TrimRight(string(val), "\x00 ")
		}
	}
	if h.SOPClassUID == "" {
		return h, errNotDICOM
	}
	return h, nil
}

type dreader struct {
	b        []byte
	off      int
	explicit bool
}

func (r *dreader) u16() (uint16, bool) {
	if r.off+2 > len(r.b) {
		return 0, false
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v, true
}

func (r *dreader) u32() (uint32, bool) {
	if r.off+4 > len(r.b) {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, true
}

var errTruncated = errors.New("truncated DICOM element")

const undefined = 0xFFFFFFFF

// next reads one element; a sequence (or an item) of undefined length is
// skipped to its delimiter and returned without value.
func (r *dreader) next() (dtag, string, []byte, error) {
	g, ok1 := r.u16()
	e, ok2 := r.u16()
	if !ok1 || !ok2 {
		return dtag{}, "", nil, errTruncated
	}
	t := dtag{g, e}
	var vr string
	var n uint32
	if g == 0xFFFE { // item and delimiters: always implicit
		v, ok := r.u32()
		if !ok {
			return t, "", nil, errTruncated
		}
		n = v
	} else if r.explicit || g == 0x0002 {
		if r.off+2 > len(r.b) {
			return t, "", nil, errTruncated
		}
		vr = string(r.b[r.off : r.off+2])
		r.off += 2
		if longVR(vr) {
			r.off += 2
			v, ok := r.u32()
			if !ok {
				return t, "", nil, errTruncated
			}
			n = v
		} else {
			v, ok := r.u16()
			if !ok {
				return t, "", nil, errTruncated
			}
			n = uint32(v)
		}
	} else {
		v, ok := r.u32()
		if !ok {
			return t, "", nil, errTruncated
		}
		n = v
		if n == undefined {
			vr = "SQ"
		}
	}
	if n == undefined {
		return t, vr, nil, r.skipUndefined(t)
	}
	if r.off+int(n) > len(r.b) || int(n) < 0 {
		return t, vr, nil, errTruncated
	}
	val := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return t, vr, val, nil
}

// skipUndefined skips the content of a sequence or item of undefined
// length up to its delimiter.
func (r *dreader) skipUndefined(t dtag) error {
	end := dtag{0xFFFE, 0xE0DD} // sequence delimitation
	if t == (dtag{0xFFFE, 0xE000}) {
		end = dtag{0xFFFE, 0xE00D} // item delimitation
	}
	for r.off < len(r.b) {
		nt, _, _, err := r.next()
		if err != nil {
			return err
		}
		if nt == end {
			return nil
		}
	}
	return errTruncated
}
