package objstore

import (
	"context"
	"errors"
	"slices"

	"github.com/aisedge/aisedge/internal/fault"
	"github.com/aisedge/aisedge/internal/fault/netfault"
)

// Kinds of failure. Backends wrap their errors in *Error with one of these as
// Kind, so errors.Is(err, ErrAccessDenied) and the Is* helpers work on any
// backend's errors.
var (
	// ErrNotExist: there is no object under the key (S3 404 NoSuchKey).
	ErrNotExist = errors.New("object does not exist")
	// ErrAccessDenied: the credentials may not do this (S3 401/403). Permanent.
	ErrAccessDenied = errors.New("access denied")
	// ErrChecksum: the data does not match the checksums given to Put, or
	// what the server echoed does not match what was sent. Permanent.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrInvalid: the request itself is wrong (bad key, wrong size, S3 400
	// validation errors, missing bucket). Permanent.
	ErrInvalid = errors.New("invalid request")
	// ErrUnsupported: the backend, as configured, cannot do this (e.g. Stat
	// with a put-only key). Permanent.
	ErrUnsupported = errors.New("operation not supported")
	// ErrCertificate: the server's TLS certificate is not trusted (wrong CA
	// bundle, expired, wrong host name). Permanent.
	ErrCertificate = errors.New("server certificate not trusted")
	// ErrUnavailable: the server is overloaded or failing (S3 5xx, 429,
	// SlowDown, RequestTimeout). Transient.
	ErrUnavailable = errors.New("service unavailable")
	// ErrMismatch: VerifyListed found the object but its size or ETag
	// differ from what was uploaded; upload it again.
	ErrMismatch = errors.New("listed object differs from the upload")
)

// Error is the error every backend returns: the operation, the key (or
// prefix, for List), the kind of failure (one of the Err* values above, or
// nil when unclassified) and the underlying cause.
type Error struct {
	Op   string // "put", "stat", "list", "get", "delete"
	Key  string
	Kind error
	Err  error
}

func (e *Error) Error() string {
	msg := "objstore: " + e.Op
	if e.Key != "" {
		msg += " " + e.Key
	}
	if e.Kind != nil {
		msg += ": " + e.Kind.Error()
	}
	if e.Err != nil && e.Err != e.Kind {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// FaultClass implements fault.Classifier: the permanent kinds are
// Permanent, ErrUnavailable is Transient, the others (and none) Unknown.
func (e *Error) FaultClass() fault.Class {
	switch {
	case e.Kind == ErrUnavailable:
		return fault.Transient
	case slices.Contains(permanentKinds, e.Kind):
		return fault.Permanent
	}
	return fault.Unknown
}

// Is reports whether target is e's kind, so errors.Is(err, ErrNotExist) works.
func (e *Error) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// IsNotExist reports whether err means that the object does not exist.
func IsNotExist(err error) bool {
	return errors.Is(err, ErrNotExist)
}

// IsPermanent reports whether retrying the same request cannot succeed
// without an operator or the caller changing something: access denied,
// untrusted certificate, checksum mismatch, invalid request, unsupported
// operation. A missing object is not permanent in this sense (see
// IsNotExist); neither is a cancelled context.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	for _, k := range permanentKinds {
		if errors.Is(err, k) {
			return true
		}
	}
	return netfault.Classify(err) == fault.Permanent
}

var permanentKinds = []error{ErrAccessDenied, ErrCertificate, ErrChecksum, ErrInvalid, ErrUnsupported}

// IsTransient reports whether the same request may succeed later: server
// errors (5xx, throttling), timeouts, refused or reset connections, a
// connection closed mid-response. Context cancellation and deadline errors
// are not transient (the caller gave up), and no permanent error is.
func IsTransient(err error) bool {
	if err == nil || IsPermanent(err) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	return netfault.Classify(err) == fault.Transient
}
