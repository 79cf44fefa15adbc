package dicom

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrSkippedValue is returned when writing a data set parsed with
// ParseOptions.SkipBulk: the dropped values cannot be written.
var ErrSkippedValue = errors.New("dicom: value was skipped while parsing and cannot be written")

// ImplementationClassUID identifies aisedge as the writer of file meta
// information (a UUID-derived 2.25 UID, so it needs no registered root).
const ImplementationClassUID = "2.25.285324420197862419426370536116539215133"

// ImplementationVersionName is written into file meta information.
const ImplementationVersionName = "AISEDGE_1"

// NewFileMeta returns file meta information for an instance: version,
// media storage SOP class and instance, transfer syntax and this
// implementation's identification. Add (0002,0016) Source Application
// Entity Title with SetString where known.
func NewFileMeta(sopClassUID, sopInstanceUID, transferSyntaxUID string) *Dataset {
	m := &Dataset{}
	m.SetUint32(TagFileMetaInformationGroupLength, 0) // computed on write
	m.Put(&Element{Tag: TagFileMetaInformationVersion, VR: OB, data: []byte{0, 1}})
	m.SetString(TagMediaStorageSOPClassUID, UI, sopClassUID)
	m.SetString(TagMediaStorageSOPInstanceUID, UI, sopInstanceUID)
	m.SetString(TagTransferSyntaxUID, UI, transferSyntaxUID)
	m.SetString(TagImplementationClassUID, UI, ImplementationClassUID)
	m.SetString(TagImplementationVersionName, SH, ImplementationVersionName)
	return m
}

// WriteFileHeader writes a zero preamble, "DICM" and the meta group in
// Explicit VR Little Endian, with its group length computed. The data set
// (in the meta's transfer syntax) must follow.
func WriteFileHeader(w io.Writer, meta *Dataset) error {
	// Nothing after the meta group: not even an empty deflate stream for
	// the deflated syntax, since the caller streams the data set itself.
	return WriteFile(w, &File{Meta: meta})
}

// WriteDataset writes a bare data set in the transfer syntax tsUID.
func WriteDataset(w io.Writer, ds *Dataset, tsUID string) error {
	ts, ok := LookupTransferSyntax(tsUID)
	if !ok {
		return fmt.Errorf("dicom: cannot write unknown transfer syntax %q", tsUID)
	}
	return writeBody(w, ds, ts)
}

// WriteFile writes a file in the shape it was read: preamble, "DICM" and
// meta when it has a meta group (a zero preamble if it had none), a bare
// data set otherwise. The data set is encoded in f.TransferSyntax, which is
// also recorded in the meta group. Group lengths present in the data are
// recomputed. An unmodified file is written back byte for byte (deflated
// data sets are re-compressed, so their bytes may differ).
func WriteFile(w io.Writer, f *File) error {
	ts := f.TransferSyntax
	if ts.UID == "" {
		ts, _ = LookupTransferSyntax(ExplicitVRLittleEndian)
		if f.Meta != nil {
			if t, ok := LookupTransferSyntax(f.Meta.String(TagTransferSyntaxUID)); ok {
				ts = t
			}
		}
	}
	if f.Meta != nil {
		if f.Meta.String(TagTransferSyntaxUID) != ts.UID && ts.UID != "" {
			f.Meta.SetString(TagTransferSyntaxUID, UI, ts.UID)
		}
		bw := writerPool.Get().(*bufio.Writer)
		bw.Reset(w)
		defer func() { bw.Reset(nil); writerPool.Put(bw) }()
		pre := f.Preamble
		if len(pre) != 128 {
			pre = make([]byte, 128)
		}
		bw.Write(pre)
		bw.WriteString("DICM")
		enc := &encoder{w: bw, order: binary.LittleEndian}
		if err := enc.dataset(f.Meta, true, false); err != nil {
			return err
		}
		if !ts.Deflated && f.Dataset != nil {
			// Header and data set leave in one buffer: one write for a
			// small file.
			if err := encodeBody(bw, f.Dataset, ts); err != nil {
				return err
			}
			return bw.Flush()
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	return writeBody(w, f.Dataset, ts)
}

func writeBody(w io.Writer, ds *Dataset, ts TransferSyntax) error {
	if ds == nil {
		return nil
	}
	var fw *flate.Writer
	if ts.Deflated {
		var err error
		fw, err = flate.NewWriter(w, flate.DefaultCompression)
		if err != nil {
			return err
		}
		w = fw
	}
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() { bw.Reset(nil); writerPool.Put(bw) }()
	if err := encodeBody(bw, ds, ts); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if fw != nil {
		return fw.Close()
	}
	return nil
}

// encodeBody encodes ds in ts (byte order and VR form; the caller deflates).
func encodeBody(bw *bufio.Writer, ds *Dataset, ts TransferSyntax) error {
	var order binary.ByteOrder = binary.LittleEndian
	if ts.BigEndian {
		order = binary.BigEndian
	}
	enc := &encoder{w: bw, order: order, big: ts.BigEndian}
	return enc.dataset(ds, ts.ExplicitVR, ts.BigEndian)
}

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

type encoder struct {
	w     *bufio.Writer
	order binary.ByteOrder
	big   bool
	hdr   [12]byte
	err   error
}

// outVR is the VR an element is written with in explicit VR.
func outVR(e *Element) VR {
	switch {
	case e.ImplicitItems:
		return UN
	case e.Items != nil || e.VR == SQ:
		return SQ
	case e.VR == 0:
		return UN
	case e.VR.Known() && !e.VR.LongHeader() && e.Len() > 0xFFFF:
		// Too long for a 16-bit length field: PS3.5 6.2.2 says UN.
		return UN
	}
	return e.VR
}

func headerSize(e *Element, explicit bool) int64 {
	if !explicit {
		return 8
	}
	vr := outVR(e)
	if vr.LongHeader() || !vr.Known() {
		return 12
	}
	return 8
}

// elementSize is the encoded size of an element, header included.
func elementSize(e *Element, explicit bool) int64 {
	return headerSize(e, explicit) + contentSize(e, explicit)
}

// contentSize is the number of bytes after the element header, delimiters
// included.
func contentSize(e *Element, explicit bool) int64 {
	switch {
	case e.Fragments != nil:
		n := int64(8) // sequence delimiter
		for _, f := range e.Fragments {
			n += 8 + f.Len()
		}
		return n
	case e.IsSequence():
		childExplicit := explicit && !e.ImplicitItems
		var n int64
		for _, it := range e.Items {
			n += 8 + datasetSize(it, childExplicit)
			if it.UndefinedLength {
				n += 8
			}
		}
		if e.UndefinedLength {
			n += 8
		}
		return n
	}
	return e.Len()
}

func datasetSize(ds *Dataset, explicit bool) int64 {
	var n int64
	for _, e := range ds.elems {
		n += elementSize(e, explicit)
	}
	return n
}

func (enc *encoder) put16(b []byte, v uint16) { enc.order.PutUint16(b, v) }
func (enc *encoder) put32(b []byte, v uint32) { enc.order.PutUint32(b, v) }

func (enc *encoder) tagLen(t Tag, length uint32) {
	h := enc.hdr[:8]
	enc.put16(h, t.Group())
	enc.put16(h[2:], t.Element())
	enc.put32(h[4:], length)
	enc.w.Write(h)
}

func (enc *encoder) dataset(ds *Dataset, explicit, big bool) error {
	saved := enc.order
	if big {
		enc.order = binary.BigEndian
	} else {
		enc.order = binary.LittleEndian
	}
	defer func() { enc.order = saved }()
	for i, e := range ds.elems {
		if recomputedOnWrite(e) {
			// Recompute: the bytes of the rest of this group at this level.
			var n int64
			for _, f := range ds.elems[i+1:] {
				if f.Tag.Group() != e.Tag.Group() {
					break
				}
				n += elementSize(f, explicit)
			}
			g := &Element{Tag: e.Tag, VR: UL, data: binary.LittleEndian.AppendUint32(nil, uint32(n))}
			if err := enc.element(g, explicit, big); err != nil {
				return err
			}
			continue
		}
		if err := enc.element(e, explicit, big); err != nil {
			return err
		}
	}
	return enc.err
}

// recomputedOnWrite reports whether the writer replaces e's value: a
// group length (gggg,0000) holding one 32-bit number is rewritten as the
// byte count of the rest of its group, so a wrong length in the input is
// corrected rather than copied.
func recomputedOnWrite(e *Element) bool {
	return e.Tag.IsGroupLength() && e.Fragments == nil && e.Items == nil && e.Len() == 4 && (e.VR == UL || e.VR == UN || e.VR == 0)
}

func (enc *encoder) header(e *Element, explicit bool, length uint32) {
	if !explicit {
		enc.tagLen(e.Tag, length)
		return
	}
	vr := outVR(e)
	h := enc.hdr[:]
	enc.put16(h, e.Tag.Group())
	enc.put16(h[2:], e.Tag.Element())
	h[4], h[5] = byte(vr>>8), byte(vr)
	if vr.LongHeader() || !vr.Known() {
		h[6], h[7] = 0, 0
		enc.put32(h[8:], length)
		enc.w.Write(h[:12])
		return
	}
	enc.put16(h[6:], uint16(length))
	enc.w.Write(h[:8])
}

func (enc *encoder) element(e *Element, explicit, big bool) error {
	switch {
	case e.Fragments != nil:
		enc.header(e, explicit, UndefinedLength)
		for _, f := range e.Fragments {
			if f.skipped {
				return fmt.Errorf("%w: fragment of %s", ErrSkippedValue, e.Tag)
			}
			enc.tagLen(TagItem, uint32(f.Len()))
			if err := enc.value(f.data, f.ref, 1); err != nil {
				return err
			}
		}
		enc.tagLen(TagSequenceDelimitationItem, 0)
		return enc.err
	case e.IsSequence():
		childExplicit, childBig := explicit && !e.ImplicitItems, big && !e.ImplicitItems
		length := UndefinedLength
		if !e.UndefinedLength {
			length = uint32(contentSize(e, explicit))
		}
		enc.header(e, explicit, length)
		for _, it := range e.Items {
			saved := enc.order
			if !childBig {
				enc.order = binary.LittleEndian
			}
			il := UndefinedLength
			if !it.UndefinedLength {
				il = uint32(datasetSize(it, childExplicit))
			}
			enc.tagLen(TagItem, il)
			if err := enc.dataset(it, childExplicit, childBig); err != nil {
				return err
			}
			if it.UndefinedLength {
				enc.tagLen(TagItemDelimitationItem, 0)
			}
			enc.order = saved
		}
		if e.UndefinedLength {
			enc.tagLen(TagSequenceDelimitationItem, 0)
		}
		return enc.err
	}
	if e.skipped {
		return fmt.Errorf("%w: %s", ErrSkippedValue, e.Tag)
	}
	enc.header(e, explicit, uint32(e.Len()))
	swap := 0
	if big && outVR(e) != UN {
		swap = e.VR.WordSize()
	}
	return enc.value(e.data, e.ref, swap)
}

// value writes a value, swapping words of size swap (> 1) for big endian.
func (enc *encoder) value(data []byte, ref *bulkRef, swap int) error {
	if swap > 1 {
		if ref != nil {
			_, err := io.Copy(enc.w, &swapReader{r: openValue(nil, ref), word: swap})
			return err
		}
		b := append([]byte(nil), data...)
		swapBytes(b, swap)
		data = b
	}
	if ref != nil {
		if _, err := io.Copy(enc.w, io.NewSectionReader(ref.ra, ref.off, ref.n)); err != nil {
			return fmt.Errorf("dicom: copying value: %w", err)
		}
		return nil
	}
	_, err := enc.w.Write(data)
	return err
}
