package fault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"
)

// Class is the class of a failure.
type Class uint8

// The classes, in the order Classify gives them precedence (Held first).
const (
	Unknown Class = iota
	Transient
	Permanent
	Held
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case Held:
		return "held"
	default:
		return "unknown"
	}
}

// Markers wrapped by the errors of each class; test with errors.Is or,
// better, with Classify.
var (
	ErrTransient = errors.New("transient")
	ErrPermanent = errors.New("permanent")
	ErrHeld      = errors.New("held")
)

// Classifier is implemented by errors that know their class. Classify asks
// the first one in the error's chain; Unknown lets it look further.
type Classifier interface {
	FaultClass() Class
}

// MarkTransient marks err as transient. It returns nil for nil.
func MarkTransient(err error) error { return mark(ErrTransient, err) }

// MarkPermanent marks err as permanent. It returns nil for nil.
func MarkPermanent(err error) error { return mark(ErrPermanent, err) }

func mark(marker, err error) error {
	if err == nil {
		return nil
	}
	return &marked{marker: marker, err: err}
}

// marked keeps err's message unchanged: the class is for callers, not for
// the reader of the log.
type marked struct {
	marker error
	err    error
}

func (e *marked) Error() string   { return e.err.Error() }
func (e *marked) Unwrap() []error { return []error{e.marker, e.err} }

// Hold marks err as held for an operator, for reason (a short, value-free
// sentence such as "shipment held after a permanent failure"). The message
// is "reason: err". It returns nil for nil.
func Hold(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &HeldError{Reason: reason, Err: err}
}

// HeldError is an error held for an operator, with the reason.
type HeldError struct {
	Reason string
	Err    error
}

func (e *HeldError) Error() string   { return e.Reason + ": " + e.Err.Error() }
func (e *HeldError) Unwrap() []error { return []error{ErrHeld, e.Err} }

// HeldReason returns the reason of the first HeldError in err's chain.
func HeldReason(err error) (string, bool) {
	var he *HeldError
	if errors.As(err, &he) {
		return he.Reason, true
	}
	return "", false
}

// Classify returns err's class: Held if anything in its chain is held,
// then Permanent before Transient for markers, then the first Classifier
// with an opinion, then Network. nil and context errors are Unknown.
func Classify(err error) Class {
	if err == nil {
		return Unknown
	}
	switch {
	case errors.Is(err, ErrHeld):
		return Held
	case errors.Is(err, ErrPermanent):
		return Permanent
	case errors.Is(err, ErrTransient):
		return Transient
	}
	if c := classifierOf(err); c != Unknown {
		return c
	}
	return Network(err)
}

// classifierOf walks err's tree depth-first and returns the first class a
// Classifier gives other than Unknown.
func classifierOf(err error) Class {
	for err != nil {
		if c, ok := err.(Classifier); ok {
			if k := c.FaultClass(); k != Unknown {
				return k
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if k := classifierOf(e); k != Unknown {
					return k
				}
			}
			return Unknown
		default:
			return Unknown
		}
	}
	return Unknown
}

// IsTransient reports whether Classify(err) is Transient.
func IsTransient(err error) bool { return Classify(err) == Transient }

// IsPermanent reports whether Classify(err) is Permanent.
func IsPermanent(err error) bool { return Classify(err) == Permanent }

// IsHeld reports whether Classify(err) is Held.
func IsHeld(err error) bool { return Classify(err) == Held }

// Network sorts failures of the network and of TLS, wherever they are in
// err's chain: a certificate that does not verify (unknown authority,
// wrong host name, expired, not TLS at all) is Permanent; a refused,
// reset, aborted or timed-out connection, an unreachable host or network,
// a connection closed mid-answer (EOF), a DNS timeout or temporary
// failure, and a failed dial, read or write are Transient. A cancelled
// context or an exceeded deadline is Unknown (the caller gave up), and so
// is a name that does not resolve and anything else.
func Network(err error) Class {
	if err == nil {
		return Unknown
	}
	if isCertificate(err) {
		return Permanent
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Unknown
	}
	for _, errno := range []syscall.Errno{
		syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.ENETDOWN,
	} {
		if errors.Is(err, errno) {
			return Transient
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return Transient
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsTimeout || dns.IsTemporary {
			return Transient
		}
		return Unknown
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Transient
	}
	var oe *net.OpError
	if errors.As(err, &oe) && (oe.Op == "dial" || oe.Op == "read" || oe.Op == "write") {
		return Transient
	}
	return Unknown
}

// isCertificate reports TLS verification failures anywhere in err's chain.
func isCertificate(err error) bool {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		cve *tls.CertificateVerificationError
		sre x509.SystemRootsError
		rhe tls.RecordHeaderError
	)
	return errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) ||
		errors.As(err, &cve) || errors.As(err, &sre) || errors.As(err, &rhe)
}
