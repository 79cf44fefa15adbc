package deid

import (
	"errors"
	"fmt"

	"github.com/aisedge/aisedge/internal/fault"
)

// Error kinds. Every error returned by this package wraps exactly one of
// them, so that callers (the spool, the CLI) can decide with errors.Is, or
// with fault.Classify, whether to retry, quarantine or alert. A quarantine
// decision is not an error: it is an Outcome.
var (
	// ErrInvalidInput: the input (a DICOM file, a profile, a key) is
	// unusable as given; retrying cannot help. Instances are quarantined.
	// It is marked fault.Permanent.
	ErrInvalidInput = fault.MarkPermanent(errors.New("invalid input"))
	// ErrPermanent: processing cannot succeed for this input with this
	// configuration (e.g. a value cannot be encoded); quarantine. It is
	// fault.ErrPermanent.
	ErrPermanent = fault.ErrPermanent
	// ErrTransient: an I/O failure that may succeed later (disk full,
	// read error); retry. It is fault.ErrTransient.
	ErrTransient = fault.ErrTransient
)

// kindError wraps an error with its kind and the operation. Messages never
// contain original values (only tags, counts and hashed identifiers).
type kindError struct {
	kind error
	op   string
	err  error
}

func (e *kindError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("deid: %s: %v", e.op, e.kind)
	}
	return fmt.Sprintf("deid: %s: %v", e.op, e.err)
}

func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func invalidf(op string, format string, args ...any) error {
	return &kindError{kind: ErrInvalidInput, op: op, err: fmt.Errorf(format, args...)}
}

func permanent(op string, err error) error {
	return &kindError{kind: ErrPermanent, op: op, err: err}
}

func transient(op string, err error) error {
	return &kindError{kind: ErrTransient, op: op, err: err}
}

// IsTransient reports whether err may succeed on retry.
func IsTransient(err error) bool { return fault.IsTransient(err) }
