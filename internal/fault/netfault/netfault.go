// Package netfault sorts failures of the network and of TLS into the
// classes of package fault, in one place for every client of the project
// (the object store, the XNAT client, the DICOM commands). Only packages
// that talk to a network import it, so that fault itself stays free of the
// network.
package netfault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/aisedge/aisedge/internal/fault"
)

// Classify sorts failures of the network and of TLS, wherever they are in
// err's chain: a certificate that does not verify (unknown authority,
// wrong host name, expired, not TLS at all) is fault.Permanent; a refused,
// reset, aborted or timed-out connection, an unreachable host or network,
// a connection closed mid-answer (EOF), a DNS timeout or temporary
// failure, and a failed dial, read or write are fault.Transient. A cancelled
// context or an exceeded deadline is fault.Unknown (the caller gave up), and so
// is a name that does not resolve and anything else.
func Classify(err error) fault.Class {
	if err == nil {
		return fault.Unknown
	}
	if isCertificate(err) {
		return fault.Permanent
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fault.Unknown
	}
	for _, errno := range []syscall.Errno{
		syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.ENETDOWN,
	} {
		if errors.Is(err, errno) {
			return fault.Transient
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return fault.Transient
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsTimeout || dns.IsTemporary {
			return fault.Transient
		}
		return fault.Unknown
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fault.Transient
	}
	var oe *net.OpError
	if errors.As(err, &oe) && (oe.Op == "dial" || oe.Op == "read" || oe.Op == "write") {
		return fault.Transient
	}
	return fault.Unknown
}

// IsConnection reports a failure to reach or keep a connection: what
// Classify calls transient (refused, reset, unreachable, closed
// mid-answer), a failed network operation of any kind (a dial that timed
// out with its context included) and a host name that does not resolve.
// Commands use it to tell "the peer cannot be reached" from the peer's
// own answer.
func IsConnection(err error) bool {
	var oe *net.OpError
	var dns *net.DNSError
	return Classify(err) == fault.Transient || errors.As(err, &oe) || errors.As(err, &dns)
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
