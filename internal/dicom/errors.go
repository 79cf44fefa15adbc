package dicom

import (
	"errors"
	"fmt"
)

// Kinds of parse failure; a *ParseError wraps exactly one of them, so callers
// test with errors.Is.
var (
	// ErrTruncated: the data ends before an element, value or item does.
	ErrTruncated = errors.New("truncated")
	// ErrMalformed: the bytes cannot be a valid encoding (bad VR, bad item
	// tag, lengths that contradict their container, ...).
	ErrMalformed = errors.New("malformed")
	// ErrLimit: a configured safety limit (nesting depth, value length,
	// memory) would be exceeded.
	ErrLimit = errors.New("limit exceeded")
	// ErrNotDICOM: the input is neither a Part 10 file nor a plausible raw
	// data set.
	ErrNotDICOM = errors.New("not DICOM")
	// ErrUnsupported: a valid encoding this codec does not handle (e.g. an
	// unknown transfer syntax).
	ErrUnsupported = errors.New("unsupported")
)

// ParseError reports where and why decoding failed.
type ParseError struct {
	// Offset is the byte offset of the problem. For deflated data sets it is
	// the offset in the inflated stream, which Inflated says.
	Offset   int64
	Inflated bool
	// Tag is the element being decoded, or zero when not inside one.
	Tag  Tag
	Kind error
	Msg  string
}

func (e *ParseError) Error() string {
	where := fmt.Sprintf("offset %d", e.Offset)
	if e.Inflated {
		where = fmt.Sprintf("inflated offset %d", e.Offset)
	}
	if e.Tag != 0 {
		where += " in " + e.Tag.String()
	}
	return fmt.Sprintf("dicom: %s: %s: %s", where, e.Kind, e.Msg)
}

// Unwrap returns the kind (ErrTruncated, ErrMalformed, ...).
func (e *ParseError) Unwrap() error { return e.Kind }
