package dicom

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ParseOptions tune Parse, ParseFile and ParseDataset. The zero value is
// usable.
type ParseOptions struct {
	Limits
	// BulkThreshold: values at least this long are not loaded when the
	// source is random-access (a file): the element references the source,
	// which must stay open while the data set is used. Default 64 KiB;
	// negative loads everything.
	BulkThreshold int64
	// StopAtPixelData stops parsing at the top-level Pixel Data element
	// (it and anything after it are not in the result); for header-only
	// inspection of untrusted input without touching the bulk.
	StopAtPixelData bool
	// SkipBulk drops values of at least BulkThreshold bytes that cannot be
	// referenced (non-random-access input), leaving the element with an
	// empty value and Skipped reporting true; for inspection only: writing
	// such a data set fails.
	SkipBulk bool
}

func (o *ParseOptions) orDefault() ParseOptions {
	var p ParseOptions
	if o != nil {
		p = *o
	}
	if p.BulkThreshold == 0 {
		p.BulkThreshold = 64 << 10
	}
	p.Limits = p.Limits.withDefaults()
	return p
}

// File is a Part 10 file (or a bare data set read as one).
type File struct {
	// Preamble holds the 128-byte preamble, or nil when the input had none.
	Preamble []byte
	// Meta is the file meta information (group 0002), or nil when the input
	// was a bare data set.
	Meta *Dataset
	// Dataset is the main data set.
	Dataset *Dataset
	// TransferSyntax is the syntax the data set was encoded in (from the
	// meta, or guessed for a bare data set).
	TransferSyntax TransferSyntax
	// Warnings lists inconsistencies that were tolerated while reading
	// (value-free: offsets and tags only). A file with warnings is not
	// written back byte for byte: its lengths are recomputed.
	Warnings []string

	closer io.Closer
}

// Close releases the source file of a File opened with Open. Bulk values
// cannot be read afterwards.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Open parses the file at path. Large values stay in the file, which is
// kept open until Close.
func Open(path string, opts *ParseOptions) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := ParseFile(fh, opts)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// ParseDataset parses a bare data set in the transfer syntax tsUID.
func ParseDataset(r io.Reader, tsUID string, opts *ParseOptions) (*Dataset, error) {
	ts, ok := LookupTransferSyntax(tsUID)
	if !ok {
		return nil, &ParseError{Kind: ErrUnsupported, Msg: fmt.Sprintf("unknown transfer syntax %q", tsUID)}
	}
	o := opts.orDefault()
	in := newInput(r)
	if ts.Deflated {
		in = newInflatingInput(in.rest())
	}
	d := newDecoder(in, ts.ExplicitVR, ts.BigEndian, o.Limits)
	return buildDataset(d, o)
}

// ParseFile parses a Part 10 file: preamble, "DICM", file meta and data
// set. Input without the "DICM" prefix is read as a bare data set (with or
// without a meta group) whose transfer syntax is guessed from its first
// bytes, as dcmtk does.
func ParseFile(r io.Reader, opts *ParseOptions) (*File, error) {
	o := opts.orDefault()
	in := newInput(r)
	f := &File{}
	head, _ := in.peek(132)
	if len(head) >= 132 && string(head[128:132]) == "DICM" {
		f.Preamble = append([]byte(nil), head[:128]...)
		in.consume(132)
	}
	start := in.pos
	// File meta: always Explicit VR Little Endian, elements of group 0002.
	if b, _ := in.peek(2); len(b) == 2 && binary.LittleEndian.Uint16(b) == 0x0002 {
		meta, err := readMeta(in, o)
		if err != nil {
			return nil, err
		}
		f.Meta = meta
	} else if f.Preamble != nil {
		return nil, &ParseError{Offset: start, Kind: ErrMalformed, Msg: "no file meta information group after DICM"}
	}
	var ts TransferSyntax
	if f.Meta != nil {
		uid := f.Meta.String(TagTransferSyntaxUID)
		if uid == "" {
			return nil, &ParseError{Offset: start, Kind: ErrMalformed, Msg: "file meta has no Transfer Syntax UID (0002,0010)"}
		}
		t, ok := LookupTransferSyntax(uid)
		if !ok {
			return nil, &ParseError{Offset: start, Kind: ErrUnsupported, Msg: fmt.Sprintf("unknown transfer syntax %q", uid)}
		}
		ts = t
	} else {
		t, err := guessSyntax(in)
		if err != nil {
			return nil, err
		}
		ts = t
	}
	f.TransferSyntax = ts
	if ts.Deflated {
		in = newInflatingInput(in.rest())
	}
	d := newDecoder(in, ts.ExplicitVR, ts.BigEndian, o.Limits)
	ds, err := buildDataset(d, o)
	if err != nil {
		return nil, err
	}
	f.Dataset = ds
	f.Warnings = d.Warnings()
	return f, nil
}

func newInflatingInput(r io.Reader) *input {
	in := newInput(flate.NewReader(r))
	in.inflated = true
	return in
}

func readMeta(in *input, o ParseOptions) (*Dataset, error) {
	d := newDecoder(in, true, false, o.Limits)
	// Some writers put the meta in implicit VR; detect by the VR bytes.
	if b, err := in.peek(6); err == nil && !(isUpper(b[4]) && isUpper(b[5])) {
		d.top().explicit = false
	}
	meta := &Dataset{}
	b := &builder{d: d, o: o}
	for {
		t, err := d.PeekTag()
		if errors.Is(err, io.EOF) || (err == nil && t.Group() != 0x0002) {
			return meta, nil
		}
		if err != nil {
			return nil, err
		}
		h, err := d.Next()
		if err != nil {
			return nil, err
		}
		e, err := b.element(meta, h)
		if err != nil {
			return nil, err
		}
		meta.elems = append(meta.elems, e)
	}
}

// guessSyntax looks at the first element of a bare data set to decide its
// byte order and whether it has explicit VRs.
func guessSyntax(in *input) (TransferSyntax, error) {
	b, err := in.peek(8)
	if err != nil || len(b) < 8 {
		return TransferSyntax{}, &ParseError{Offset: in.pos, Kind: ErrNotDICOM, Msg: "too short to be a data set"}
	}
	plausible := func(g uint16) bool { return g%2 == 0 && g >= 0x0002 && g <= 0x0028 }
	le := binary.LittleEndian.Uint16(b)
	be := binary.BigEndian.Uint16(b)
	explicit := isUpper(b[4]) && isUpper(b[5])
	if explicit {
		if _, ok := ParseVR(string(b[4:6])); !ok {
			explicit = false
		}
	}
	switch {
	case plausible(le) && explicit:
		t, _ := LookupTransferSyntax(ExplicitVRLittleEndian)
		return t, nil
	case plausible(le):
		t, _ := LookupTransferSyntax(ImplicitVRLittleEndian)
		return t, nil
	case plausible(be) && explicit:
		t, _ := LookupTransferSyntax(ExplicitVRBigEndian)
		return t, nil
	}
	msg := "no DICM prefix at offset 128, and the data does not start with a plausible data element"
	return TransferSyntax{}, &ParseError{Offset: in.pos, Kind: ErrNotDICOM, Msg: msg}
}

// Parse parses a data set of the given syntax from a Decoder's stream; for
// callers that already hold a Decoder (e.g. after reading a meta group).
func Parse(d *Decoder, opts *ParseOptions) (*Dataset, error) {
	return buildDataset(d, opts.orDefault())
}

// builder turns the decoder's tokens into a Dataset tree.
type builder struct {
	d      *Decoder
	o      ParseOptions
	memory int64
}

func buildDataset(d *Decoder, o ParseOptions) (*Dataset, error) {
	b := &builder{d: d, o: o}
	ds := &Dataset{}
	if err := b.fill(ds, true); err != nil {
		return nil, err
	}
	return ds, nil
}

// fill reads elements into ds until the end of the item (or of the data at
// top level).
func (b *builder) fill(ds *Dataset, top bool) error {
	for {
		h, err := b.d.Next()
		if err != nil {
			if top && errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch h.Kind {
		case KindItemEnd:
			if top {
				return &ParseError{Offset: h.Offset, Kind: ErrMalformed, Msg: "item end at top level"}
			}
			return nil
		case KindElement, KindSequence, KindEncapsulated:
		default:
			return &ParseError{Offset: h.Offset, Kind: ErrMalformed, Msg: fmt.Sprintf("unexpected %s token", h.Kind)}
		}
		if top && b.o.StopAtPixelData && h.Tag == TagPixelData {
			return nil
		}
		e, err := b.element(ds, h)
		if err != nil {
			return err
		}
		ds.elems = append(ds.elems, e)
	}
}

func (b *builder) element(ds *Dataset, h Header) (*Element, error) {
	e := &Element{Tag: h.Tag, VR: h.VR, UndefinedLength: h.Length == UndefinedLength}
	switch h.Kind {
	case KindSequence:
		e.ImplicitItems = h.ImplicitItems
		e.Items = []*Dataset{}
		for {
			t, err := b.d.Next()
			if err != nil {
				return nil, err
			}
			if t.Kind == KindSequenceEnd {
				return e, nil
			}
			item := &Dataset{UndefinedLength: t.Length == UndefinedLength, parent: ds}
			if err := b.fill(item, false); err != nil {
				return nil, err
			}
			e.Items = append(e.Items, item)
		}
	case KindEncapsulated:
		e.Fragments = []*Fragment{}
		for {
			t, err := b.d.Next()
			if err != nil {
				return nil, err
			}
			if t.Kind == KindSequenceEnd {
				return e, nil
			}
			fr := &Fragment{}
			if err := b.value(t, &fr.data, &fr.ref, &fr.skipped); err != nil {
				return nil, err
			}
			e.Fragments = append(e.Fragments, fr)
		}
	}
	if !h.ExplicitVR {
		e.VR = b.resolveImplicitVR(ds, h.Tag, e.VR)
	}
	if err := b.value(h, &e.data, &e.ref, &e.skipped); err != nil {
		return nil, err
	}
	return e, nil
}

// value loads or references the pending value.
func (b *builder) value(h Header, data *[]byte, ref **bulkRef, skipped *bool) error {
	n := int64(h.Length)
	if b.o.BulkThreshold >= 0 && n >= b.o.BulkThreshold {
		if ra, off, n, ok := b.d.ValueRef(); ok {
			*ref = &bulkRef{ra: ra, off: off, n: n}
			return nil
		}
		if b.o.SkipBulk {
			*skipped = true
			return nil // Next skips it
		}
	}
	if b.memory+n > b.o.MaxMemory {
		return &ParseError{Offset: h.Offset, Tag: h.Tag, Kind: ErrLimit,
			Msg: fmt.Sprintf("values in memory would exceed the limit of %d bytes", b.o.MaxMemory)}
	}
	v, err := b.d.Value()
	if err != nil {
		return err
	}
	b.memory += int64(len(v))
	*data = v
	return nil
}

// resolveImplicitVR picks SS over US for "US or SS" attributes when the
// pixel representation (of this data set or an enclosing one) is signed.
func (b *builder) resolveImplicitVR(ds *Dataset, t Tag, vr VR) VR {
	if vr != US {
		return vr
	}
	e, ok := LookupTag(t)
	if !ok || len(e.VRs) < 2 || e.VRs[1] != SS {
		return vr
	}
	for p := ds; p != nil; p = p.parent {
		if v, ok := p.Uint16(TagPixelRepresentation); ok {
			if v == 1 {
				return SS
			}
			return US
		}
	}
	return vr
}

// ReadFileBytes parses a whole Part 10 file held in memory.
func ReadFileBytes(b []byte, opts *ParseOptions) (*File, error) {
	return ParseFile(bytes.NewReader(b), opts)
}
