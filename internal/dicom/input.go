package dicom

import (
	"bytes"
	"errors"
	"io"
)

// input is the decoder's buffered source. It tracks the absolute position of
// the next unread byte and, when the source is random-access (an
// io.ReaderAt of known size, not transformed by inflation), lets the decoder
// skip values without reading them and hand out references to them.
type input struct {
	src      io.Reader
	ra       io.ReaderAt // non-nil: positions are offsets into ra
	size     int64       // size of the data when known, else -1
	buf      []byte
	r, w     int
	pos      int64 // absolute position of buf[r]
	inflated bool  // positions count inflated bytes
	srcErr   error // sticky error from src
	// whole: buf[0:w] holds every byte of the source from the start
	// position on (a small random-access file read in one call). buf is
	// then never compacted nor refilled, so values can be handed out as
	// sub-slices of it instead of copies (see Decoder.readN).
	whole bool
}

const inputBufSize = 64 << 10

// BytesReader reads a DICOM stream held in memory. Parsing from it copies
// nothing: the values of the parsed data set are sub-slices of the bytes,
// which must therefore not change while the data set is in use.
type BytesReader struct {
	*bytes.Reader
	b []byte
}

// NewBytesReader reads b.
func NewBytesReader(b []byte) *BytesReader { return &BytesReader{bytes.NewReader(b), b} }

// Bytes returns every byte the reader reads (not only the unread ones).
func (r *BytesReader) Bytes() []byte { return r.b }

func newInput(r io.Reader) *input {
	if br, ok := r.(*BytesReader); ok {
		start := br.Size() - int64(br.Len())
		rest := br.b[start:]
		return &input{src: bytes.NewReader(nil), ra: br, size: br.Size(), buf: rest, w: len(rest), pos: start, whole: true, srcErr: io.EOF}
	}
	in := &input{src: r, size: -1}
	ra, size, ok := randomAccess(r)
	bufSize := inputBufSize
	if ok && size < int64(bufSize) {
		// Small files need no more than their own size (plus room for a
		// header peek past the end).
		bufSize = max(int(size), 256)
	}
	in.buf = make([]byte, bufSize)
	if ok {
		in.ra, in.size = ra, size
		// Start reading at the reader's current position if it has one.
		start := int64(0)
		if s, ok := r.(io.Seeker); ok {
			if p, err := s.Seek(0, io.SeekCurrent); err == nil {
				start = p
			}
		}
		in.pos = start
		in.src = io.NewSectionReader(ra, start, size-start)
		if size-start <= int64(len(in.buf)) {
			n, err := io.ReadFull(in.src, in.buf[:size-start])
			in.w = n
			switch {
			case err == nil:
				in.whole, in.srcErr = true, io.EOF
			case errors.Is(err, io.ErrUnexpectedEOF):
				in.srcErr = io.EOF // the file is shorter than it said
			default:
				in.srcErr = err
			}
		}
	}
	return in
}

// randomAccess reports whether r can be read at arbitrary offsets and how
// big it is. *os.File, *bytes.Reader, *strings.Reader and
// *io.SectionReader qualify.
func randomAccess(r io.Reader) (io.ReaderAt, int64, bool) {
	ra, ok := r.(io.ReaderAt)
	if !ok {
		return nil, 0, false
	}
	if s, ok := r.(interface{ Size() int64 }); ok {
		return ra, s.Size(), true
	}
	if f, ok := r.(statter); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return ra, fi.Size(), true
		}
	}
	return nil, 0, false
}

// buffered returns the number of bytes available without reading.
func (in *input) buffered() int { return in.w - in.r }

// remaining returns the bytes left before the end of data, or -1 if unknown.
func (in *input) remaining() int64 {
	if in.size < 0 {
		return -1
	}
	return in.size - in.pos
}

// fill tries to make at least n (<= len(buf)) bytes available. It returns
// io.EOF when no byte at all is left and io.ErrUnexpectedEOF when some but
// fewer than n are.
func (in *input) fill(n int) error {
	if in.buffered() >= n {
		return nil
	}
	if in.whole {
		if in.buffered() == 0 {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	if in.r > 0 {
		copy(in.buf, in.buf[in.r:in.w])
		in.w -= in.r
		in.r = 0
	}
	for in.w < n && in.srcErr == nil {
		m, err := in.src.Read(in.buf[in.w:])
		in.w += m
		if err != nil {
			in.srcErr = err
		}
	}
	if in.w >= n {
		return nil
	}
	if in.srcErr != nil && !errors.Is(in.srcErr, io.EOF) {
		return in.srcErr
	}
	if in.w == 0 {
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

// peek returns the next n bytes without consuming them.
func (in *input) peek(n int) ([]byte, error) {
	if err := in.fill(n); err != nil {
		return in.buf[in.r:in.w], err
	}
	return in.buf[in.r : in.r+n], nil
}

func (in *input) consume(n int) {
	in.r += n
	in.pos += int64(n)
}

// view consumes the next n bytes and returns them as a sub-slice of the
// buffer (capacity n, so appending copies), when the whole source is
// buffered; ok is false otherwise and nothing is consumed.
func (in *input) view(n int64) (b []byte, ok bool) {
	if !in.whole || n > int64(in.buffered()) {
		return nil, false
	}
	b = in.buf[in.r : in.r+int(n) : in.r+int(n)]
	in.consume(int(n))
	return b, true
}

// read fills p completely or fails with io.ErrUnexpectedEOF / io.EOF.
func (in *input) read(p []byte) error {
	n := copy(p, in.buf[in.r:in.w])
	in.consume(n)
	if n == len(p) {
		return nil
	}
	if in.srcErr != nil {
		if errors.Is(in.srcErr, io.EOF) {
			if n == 0 {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		return in.srcErr
	}
	m, err := io.ReadFull(in.src, p[n:])
	in.pos += int64(m)
	if err != nil {
		if errors.Is(err, io.EOF) && n > 0 {
			err = io.ErrUnexpectedEOF
		}
		in.srcErr = err
		return err
	}
	return nil
}

// skip advances n bytes, without reading them when the source is
// random-access.
func (in *input) skip(n int64) error {
	if b := int64(in.buffered()); n <= b {
		in.consume(int(n))
		return nil
	}
	if in.ra != nil {
		if in.pos+n > in.size {
			return io.ErrUnexpectedEOF
		}
		in.pos += n
		in.r, in.w = 0, 0
		in.srcErr, in.whole = nil, false
		in.src = io.NewSectionReader(in.ra, in.pos, in.size-in.pos)
		return nil
	}
	b := in.buffered()
	in.consume(b)
	n -= int64(b)
	m, err := io.CopyN(io.Discard, in.src, n)
	in.pos += m
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		in.srcErr = err
		return err
	}
	return nil
}

// rest returns a reader of everything not yet consumed.
func (in *input) rest() io.Reader {
	if in.buffered() == 0 {
		return in.src
	}
	return io.MultiReader(&sliceReader{b: in.buf[in.r:in.w]}, in.src)
}

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}
