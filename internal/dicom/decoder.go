package dicom

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Kind classifies the tokens a Decoder returns.
type Kind uint8

// Token kinds.
const (
	// KindElement: a data element with a value of Header.Length bytes,
	// read with Value, ValueReader or ValueRef, or skipped by the next call
	// to Next.
	KindElement Kind = iota + 1
	// KindSequence: a sequence element (VR SQ, or a VR UN / unknown element
	// of undefined length). Item and SequenceEnd tokens follow.
	KindSequence
	// KindItem: the start of an item of the current sequence; the item's
	// elements follow, then ItemEnd.
	KindItem
	// KindItemEnd: the end of an item, by delimiter or by its length.
	KindItemEnd
	// KindSequenceEnd: the end of a sequence or of encapsulated pixel data.
	KindSequenceEnd
	// KindEncapsulated: Pixel Data of undefined length; Fragment tokens
	// follow (the first one is the Basic Offset Table), then SequenceEnd.
	KindEncapsulated
	// KindFragment: one pixel data fragment; its value follows like an
	// element's.
	KindFragment
)

var kindNames = [...]string{"?", "element", "sequence", "item", "item-end", "sequence-end", "encapsulated", "fragment"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// Header is one token of the decoded stream.
type Header struct {
	Kind Kind
	Tag  Tag
	VR   VR
	// Length is the value length as encoded; UndefinedLength for sequences,
	// items and encapsulated pixel data of undefined length. For
	// ItemEnd/SequenceEnd it is zero.
	Length uint32
	// Offset is the position of the token's header in the stream.
	Offset int64
	// ImplicitItems is set on a KindSequence whose items are encoded in
	// Implicit VR Little Endian whatever the transfer syntax (a VR UN
	// sequence of undefined length, CP-246).
	ImplicitItems bool
	// ExplicitVR reports whether the header carried its VR. When false, VR
	// comes from the data dictionary.
	ExplicitVR bool
}

// Limits bound the resources a decoder may spend on one input.
type Limits struct {
	// MaxDepth is the deepest sequence nesting accepted (default 64).
	MaxDepth int
	// MaxValueLength is the longest value accepted (default 4 GiB - 2).
	MaxValueLength int64
	// MaxMemory bounds the value bytes held in memory while building a data
	// set (default 2 GiB). Values referenced in a random-access source do
	// not count.
	MaxMemory int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 64
	}
	if l.MaxValueLength <= 0 {
		l.MaxValueLength = 0xFFFFFFFE
	}
	if l.MaxMemory <= 0 {
		l.MaxMemory = 2 << 30
	}
	return l
}

type frameKind uint8

const (
	frameDataset frameKind = iota
	frameSequence
	frameItem
	frameFragments
)

type frame struct {
	kind      frameKind
	end       int64 // absolute end offset; -1 for undefined length
	explicit  bool
	bigEndian bool
	tag       Tag  // the sequence's tag, for error messages
	clamped   bool // the declared end lay past the data; end is the data's end
}

// Decoder reads a data set as a stream of tokens. It never holds more than
// one buffer of input in memory unless the caller asks for a value with
// Value; large values can be streamed with ValueReader or, for random-access
// sources, referenced with ValueRef.
type Decoder struct {
	in     *input
	limits Limits
	stack  []frame
	// The value of the last KindElement/KindFragment token, not yet consumed.
	pending    int64
	pendingHdr Header
	swap       int // word size to swap the pending value with (big endian), 0 for none
	depth      int // sequence nesting depth
	warnings   []string
}

// Warnings lists the inconsistencies the decoder tolerated, like dcmtk
// does (e.g. an item whose declared length runs past the end of the data,
// ended at the end of the data). They name offsets and tags, never values.
func (d *Decoder) Warnings() []string { return d.warnings }

func (d *Decoder) warnf(format string, args ...any) {
	if len(d.warnings) < 100 {
		d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
	}
}

// NewDecoder returns a decoder of a bare data set (no preamble, no file
// meta) in the given transfer syntax. Use ParseFile for Part 10 files.
func NewDecoder(r io.Reader, ts TransferSyntax, limits Limits) *Decoder {
	in := newInput(r)
	if ts.Deflated {
		in = newInflatingInput(in.rest())
	}
	return newDecoder(in, ts.ExplicitVR, ts.BigEndian, limits)
}

func newDecoder(in *input, explicit, bigEndian bool, limits Limits) *Decoder {
	d := &Decoder{in: in, limits: limits.withDefaults()}
	d.stack = append(d.stack, frame{kind: frameDataset, end: -1, explicit: explicit, bigEndian: bigEndian})
	return d
}

// Offset returns the position of the next unread byte.
func (d *Decoder) Offset() int64 { return d.in.pos }

func (d *Decoder) errf(tag Tag, kind error, off int64, format string, args ...any) error {
	return &ParseError{Offset: off, Inflated: d.in.inflated, Tag: tag, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// ioErr turns a read failure into a ParseError.
func (d *Decoder) ioErr(tag Tag, off int64, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.errf(tag, ErrTruncated, off, "data ends inside %s", what)
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		return err
	}
	return d.errf(tag, ErrMalformed, off, "reading %s: %v", what, err)
}

func (d *Decoder) top() *frame { return &d.stack[len(d.stack)-1] }

func (f *frame) order() binary.ByteOrder {
	if f.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// Next returns the next token. At the end of a top-level data set it
// returns io.EOF. Any unread value of the previous token is skipped.
func (d *Decoder) Next() (Header, error) {
	if d.pending > 0 {
		if err := d.in.skip(d.pending); err != nil {
			return Header{}, d.ioErr(d.pendingHdr.Tag, d.in.pos, "a value", err)
		}
	}
	d.pending = 0
	f := d.top()
	if f.end >= 0 {
		switch {
		case d.in.pos == f.end:
			return d.pop(), nil
		case d.in.pos > f.end:
			return Header{}, d.errf(f.tag, ErrMalformed, d.in.pos, "content overruns its container, which ends at offset %d", f.end)
		}
	}
	switch f.kind {
	case frameSequence:
		return d.nextItem(f)
	case frameFragments:
		return d.nextFragment(f)
	default:
		return d.nextElement(f)
	}
}

// pop ends the current frame and returns the end token.
func (d *Decoder) pop() Header {
	f := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	switch f.kind {
	case frameItem:
		return Header{Kind: KindItemEnd, Tag: TagItemDelimitationItem, Offset: d.in.pos}
	default:
		d.depth--
		return Header{Kind: KindSequenceEnd, Tag: TagSequenceDelimitationItem, Offset: d.in.pos}
	}
}

// readTagLen reads the 8-byte item header used inside sequences and
// encapsulated pixel data.
func (d *Decoder) readItemHeader(f *frame) (Tag, uint32, int64, error) {
	off := d.in.pos
	b, err := d.in.peek(8)
	if err != nil {
		return 0, 0, off, d.ioErr(f.tag, off, "an item header", err)
	}
	o := f.order()
	tag := NewTag(o.Uint16(b), o.Uint16(b[2:]))
	length := o.Uint32(b[4:])
	d.in.consume(8)
	return tag, length, off, nil
}

func (d *Decoder) nextItem(f *frame) (Header, error) {
	if f.end >= 0 && d.atCleanEOF() {
		d.warnf("offset %d in %s: data ends before the sequence's declared length; ended there", d.in.pos, f.tag)
		return d.pop(), nil
	}
	tag, length, off, err := d.readItemHeader(f)
	if err != nil {
		return Header{}, err
	}
	switch tag {
	case TagItem:
		end := int64(-1)
		if length != UndefinedLength {
			end = d.containerEnd(f.tag, off, int64(length), "item")
		}
		d.stack = append(d.stack, frame{kind: frameItem, end: end, explicit: f.explicit, bigEndian: f.bigEndian, tag: f.tag})
		return Header{Kind: KindItem, Tag: TagItem, Length: length, Offset: off}, nil
	case TagSequenceDelimitationItem:
		if f.end >= 0 {
			return Header{}, d.errf(f.tag, ErrMalformed, off, "sequence delimiter inside a sequence of defined length")
		}
		return d.pop(), nil
	}
	return Header{}, d.errf(f.tag, ErrMalformed, off, "expected an item tag in a sequence, found %s", tag)
}

func (d *Decoder) nextFragment(f *frame) (Header, error) {
	tag, length, off, err := d.readItemHeader(f)
	if err != nil {
		return Header{}, err
	}
	switch tag {
	case TagItem:
		if length == UndefinedLength {
			return Header{}, d.errf(TagPixelData, ErrMalformed, off, "pixel data fragment of undefined length")
		}
		if err := d.checkValue(f.tag, off, int64(length)); err != nil {
			return Header{}, err
		}
		d.pending, d.swap = int64(length), 0
		d.pendingHdr = Header{Kind: KindFragment, Tag: TagItem, VR: OB, Length: length, Offset: off}
		return d.pendingHdr, nil
	case TagSequenceDelimitationItem:
		return d.pop(), nil
	}
	return Header{}, d.errf(f.tag, ErrMalformed, off, "expected a fragment item in encapsulated pixel data, found %s", tag)
}

// checkFits verifies that n bytes from the current position fit in the data
// and in every enclosing container of defined length. Messages never show
// n: a length read from a misaligned stream may be four bytes of a value
// ("SMIT" reads as 1414090067), and errors reach logs and C-STORE
// responses; they name the tag, offset and kind instead.
func (d *Decoder) checkFits(tag Tag, off int64, n int64, what string) error {
	if rem := d.in.remaining(); rem >= 0 && n > rem {
		return d.errf(tag, ErrTruncated, off, "%s length runs past the end of the data (%d bytes left)", what, rem)
	}
	for i := len(d.stack) - 1; i >= 0; i-- {
		if e := d.stack[i].end; e >= 0 && d.in.pos+n > e {
			return d.errf(tag, ErrMalformed, off, "%s length runs past the end of its container at offset %d", what, e)
		}
	}
	return nil
}

// containerEnd returns where a sequence or item of defined length n ends.
// A declared length that runs past the end of the data or of an enclosing
// container is tolerated, as dcmtk and pydicom do (files edited without
// fixing their lengths exist): the container then ends there, and a
// warning says so.
func (d *Decoder) containerEnd(tag Tag, off int64, n int64, what string) int64 {
	end := d.in.pos + n
	limit, where := d.in.size, "the data"
	for i := len(d.stack) - 1; i >= 0; i-- {
		if e := d.stack[i].end; e >= 0 && (limit < 0 || e < limit) {
			limit, where = e, "its container"
		}
	}
	if limit >= 0 && end > limit {
		d.warnf("offset %d in %s: %s length runs past the end of %s at offset %d; ended there", off, tag, what, where, limit)
		end = limit
	}
	return end
}

func (d *Decoder) checkValue(tag Tag, off int64, n int64) error {
	if n > d.limits.MaxValueLength {
		return d.errf(tag, ErrLimit, off, "value length exceeds the limit of %d bytes", d.limits.MaxValueLength)
	}
	return d.checkFits(tag, off, n, "value")
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

func (d *Decoder) nextElement(f *frame) (Header, error) {
	off := d.in.pos
	b, err := d.in.peek(8)
	if err != nil {
		if errors.Is(err, io.EOF) && f.kind == frameDataset {
			return Header{}, io.EOF
		}
		if err == io.EOF && f.kind == frameItem && f.end >= 0 {
			d.warnf("offset %d in %s: data ends before the item's declared length; ended there", off, f.tag)
			return d.pop(), nil
		}
		what := "an element header"
		if f.kind == frameItem && f.end < 0 && err == io.EOF {
			what = "an item of undefined length (no item delimiter)"
		}
		return Header{}, d.ioErr(f.tag, off, what, err)
	}
	o := f.order()
	tag := NewTag(o.Uint16(b), o.Uint16(b[2:]))
	if tag.Group() == 0xFFFE {
		if tag == TagItemDelimitationItem && f.kind == frameItem && f.end < 0 {
			d.in.consume(8)
			return d.pop(), nil
		}
		return Header{}, d.errf(0, ErrMalformed, off, "unexpected %s among data elements", tag)
	}
	h := Header{Kind: KindElement, Tag: tag, Offset: off}
	if f.explicit {
		h.ExplicitVR = true
		vr := VR(b[4])<<8 | VR(b[5])
		switch {
		case vr.Known():
		case isUpper(b[4]) && isUpper(b[5]):
			// An unknown but well-formed VR (from a later edition of the
			// standard): PS3.5 7.1.2 says to read it with the long header.
		default:
			return Header{}, d.errf(tag, ErrMalformed, off, "invalid VR bytes %02X %02X in explicit VR data", b[4], b[5])
		}
		h.VR = vr
		if vr.LongHeader() || !vr.Known() {
			b, err = d.in.peek(12)
			if err != nil {
				return Header{}, d.ioErr(tag, off, "an element header", err)
			}
			h.Length = o.Uint32(b[8:])
			d.in.consume(12)
		} else {
			h.Length = uint32(o.Uint16(b[6:]))
			d.in.consume(8)
		}
	} else {
		h.Length = o.Uint32(b[4:])
		h.VR = implicitVR(tag)
		d.in.consume(8)
	}
	return d.classify(f, h)
}

// implicitVR is the VR an element gets when the stream does not say.
func implicitVR(tag Tag) VR {
	switch tag {
	case TagPixelData:
		return OW
	}
	e, ok := LookupTag(tag)
	if !ok || len(e.VRs) == 0 {
		return UN
	}
	vr := e.VRs[0]
	// "OB or OW" data in implicit VR is OW (PS3.5 A.1, and what dcmtk does).
	if vr == OB && len(e.VRs) > 1 && e.VRs[1] == OW {
		return OW
	}
	return vr
}

// classify decides what kind of token an element header starts.
func (d *Decoder) classify(f *frame, h Header) (Header, error) {
	undefined := h.Length == UndefinedLength
	switch {
	case h.VR == SQ:
		h.Kind = KindSequence
		return h, d.push(f, h, f.explicit, f.bigEndian)
	case undefined && (h.Tag == TagPixelData || h.Tag == TagFloatPixelData || h.Tag == TagDoubleFloatPixelData):
		h.Kind = KindEncapsulated
		if d.depth >= d.limits.MaxDepth {
			return Header{}, d.errf(h.Tag, ErrLimit, h.Offset, "nesting deeper than %d", d.limits.MaxDepth)
		}
		d.depth++
		d.stack = append(d.stack, frame{kind: frameFragments, end: -1, explicit: f.explicit, bigEndian: f.bigEndian, tag: h.Tag})
		return h, nil
	case undefined && h.ExplicitVR && h.VR == UN:
		// CP-246: a sequence that passed through an implicit-VR hop; its
		// content is Implicit VR Little Endian.
		h.Kind = KindSequence
		h.ImplicitItems = true
		return h, d.push(f, h, false, false)
	case undefined && !h.ExplicitVR:
		// Implicit VR and undefined length can only be a sequence (e.g. a
		// private one the dictionary does not know).
		h.Kind = KindSequence
		return h, d.push(f, h, false, f.bigEndian)
	case undefined:
		return Header{}, d.errf(h.Tag, ErrMalformed, h.Offset, "undefined length on VR %s, which is not a sequence", h.VR)
	}
	if err := d.checkValue(h.Tag, h.Offset, int64(h.Length)); err != nil {
		return Header{}, err
	}
	d.pending = int64(h.Length)
	d.swap = 0
	if f.bigEndian {
		if ws := h.VR.WordSize(); ws > 1 {
			d.swap = ws
		}
	}
	d.pendingHdr = h
	return h, nil
}

func (d *Decoder) push(f *frame, h Header, explicit, bigEndian bool) error {
	if d.depth >= d.limits.MaxDepth {
		return d.errf(h.Tag, ErrLimit, h.Offset, "sequences nested deeper than %d", d.limits.MaxDepth)
	}
	end := int64(-1)
	if h.Length != UndefinedLength {
		end = d.containerEnd(h.Tag, h.Offset, int64(h.Length), "sequence")
	}
	d.depth++
	d.stack = append(d.stack, frame{kind: frameSequence, end: end, explicit: explicit, bigEndian: bigEndian, tag: h.Tag})
	return nil
}

// atCleanEOF reports whether the data ends exactly here.
func (d *Decoder) atCleanEOF() bool {
	_, err := d.in.peek(1)
	return err == io.EOF
}

// Depth returns the current sequence nesting depth (0 at top level).
func (d *Decoder) Depth() int { return d.depth }

// Value reads the pending value of the last element or fragment into
// memory, in little-endian byte order. It returns nil for an empty value.
func (d *Decoder) Value() ([]byte, error) {
	n := d.pending
	if n == 0 {
		return nil, nil
	}
	buf, err := d.readN(n)
	if err != nil {
		return nil, err
	}
	if d.swap > 1 {
		swapBytes(buf, d.swap)
	}
	return buf, nil
}

// readN reads the pending value, growing the buffer as data actually
// arrives so that a lying length cannot make us allocate it up front.
func (d *Decoder) readN(n int64) ([]byte, error) {
	tag := d.pendingHdr.Tag
	off := d.in.pos
	const chunk = 1 << 20
	if b, ok := d.in.view(n); ok {
		d.pending = 0
		return b, nil
	}
	var buf []byte
	if rem := d.in.remaining(); rem >= 0 || n <= chunk {
		buf = make([]byte, n) // size verified against the data, or small
		if err := d.in.read(buf); err != nil {
			d.pending = 0
			return nil, d.ioErr(tag, off, "a value", err)
		}
	} else {
		buf = make([]byte, 0, chunk)
		for int64(len(buf)) < n {
			step := min(n-int64(len(buf)), chunk)
			if int64(cap(buf)-len(buf)) < step {
				nb := make([]byte, len(buf), min(n, int64(cap(buf))*2))
				copy(nb, buf)
				buf = nb
			}
			seg := buf[len(buf) : len(buf)+int(step)]
			if err := d.in.read(seg); err != nil {
				d.pending = 0
				return nil, d.ioErr(tag, off, "a value", err)
			}
			buf = buf[:len(buf)+int(step)]
		}
	}
	d.pending = 0
	return buf, nil
}

// ValueReader streams the pending value (in little-endian byte order). It
// must be drained or abandoned before the next call to Next, which skips
// whatever is left.
func (d *Decoder) ValueReader() io.Reader {
	vr := &valueReader{d: d}
	if d.swap > 1 {
		return &swapReader{r: vr, word: d.swap}
	}
	return vr
}

type valueReader struct{ d *Decoder }

func (v *valueReader) Read(p []byte) (int, error) {
	d := v.d
	if d.pending == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > d.pending {
		p = p[:d.pending]
	}
	if d.in.buffered() == 0 {
		if err := d.in.fill(1); err != nil {
			return 0, d.ioErr(d.pendingHdr.Tag, d.in.pos, "a value", err)
		}
	}
	n := copy(p, d.in.buf[d.in.r:d.in.w])
	d.in.consume(n)
	d.pending -= int64(n)
	return n, nil
}

// ValueRef returns the location of the pending value in a random-access
// source and consumes it without reading, when that is possible: the
// source is an io.ReaderAt of known size, not inflated, and the value needs
// no byte swapping. ok is false otherwise, and nothing is consumed.
func (d *Decoder) ValueRef() (ra io.ReaderAt, off, n int64, ok bool) {
	if d.in.ra == nil || d.swap > 1 {
		return nil, 0, 0, false
	}
	off, n = d.in.pos, d.pending
	if err := d.in.skip(n); err != nil {
		return nil, 0, 0, false
	}
	d.pending = 0
	return d.in.ra, off, n, true
}

// PeekTag returns the tag of the next element at the current level without
// consuming it; io.EOF at the end of the data.
func (d *Decoder) PeekTag() (Tag, error) {
	if d.pending > 0 {
		if err := d.in.skip(d.pending); err != nil {
			return 0, d.ioErr(d.pendingHdr.Tag, d.in.pos, "a value", err)
		}
		d.pending = 0
	}
	b, err := d.in.peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		return 0, d.ioErr(0, d.in.pos, "a tag", err)
	}
	o := d.top().order()
	return NewTag(o.Uint16(b), o.Uint16(b[2:])), nil
}

// swapBytes reverses the byte order of every word of size w in b.
func swapBytes(b []byte, w int) {
	n := len(b) - len(b)%w
	switch w {
	case 2:
		for i := 0; i < n; i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	case 4:
		for i := 0; i < n; i += 4 {
			b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
		}
	case 8:
		for i := 0; i < n; i += 8 {
			b[i], b[i+1], b[i+2], b[i+3], b[i+4], b[i+5], b[i+6], b[i+7] =
				b[i+7], b[i+6], b[i+5], b[i+4], b[i+3], b[i+2], b[i+1], b[i]
		}
	}
}

// swapReader swaps words of a stream; it keeps a partial word back until
// the rest arrives.
type swapReader struct {
	r    io.Reader
	word int
	buf  []byte
	out  []byte
	err  error
}

func (s *swapReader) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			if len(s.buf) > 0 { // trailing bytes that do not make a word
				s.out, s.buf = s.buf, nil
				break
			}
			return 0, s.err
		}
		tmp := make([]byte, 32<<10)
		n, err := s.r.Read(tmp)
		s.buf = append(s.buf, tmp[:n]...)
		s.err = err
		whole := len(s.buf) - len(s.buf)%s.word
		if whole > 0 {
			s.out = s.buf[:whole]
			swapBytes(s.out, s.word)
			s.buf = append([]byte(nil), s.buf[whole:]...)
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}
