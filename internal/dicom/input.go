package dicom

import (
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
}

const inputBufSize = 64 << 10

func newInput(r io.Reader) *input {
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
		in.srcErr = nil
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
