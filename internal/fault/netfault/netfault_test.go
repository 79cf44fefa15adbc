package netfault

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/aisedge/aisedge/internal/fault"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Put", URL: "https://s3/b/k", Err: err} }
	const (
		unknown   = fault.Unknown
		transient = fault.Transient
		permanent = fault.Permanent
	)
	for _, tc := range []struct {
		name string
		err  error
		want fault.Class
	}{
		{"nil", nil, unknown},
		{"plain", errors.New("plain"), unknown},
		{"unknown authority", urlErr(x509.UnknownAuthorityError{}), permanent},
		{"hostname", urlErr(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"}), permanent},
		{"system roots", x509.SystemRootsError{}, permanent},
		{"connection refused", urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), transient},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, transient},
		{"network down", fmt.Errorf("x: %w", syscall.ENETDOWN), transient},
		{"unexpected EOF", urlErr(io.ErrUnexpectedEOF), transient},
		{"EOF", io.EOF, transient},
		{"closed", net.ErrClosed, transient},
		{"timeout", urlErr(timeoutErr{}), transient},
		{"dns timeout", &net.DNSError{Err: "timeout", Name: "s3", IsTimeout: true}, transient},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "s3", IsNotFound: true}, unknown},
		{"dial of a missing name", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}, unknown},
		{"listen", &net.OpError{Op: "listen", Err: errors.New("x")}, unknown},
		{"canceled", urlErr(context.Canceled), unknown},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Fatalf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestIsConnection(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("association rejected"), false},
		{"refused", fmt.Errorf("association with h:104: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"reset", os.NewSyscallError("read", syscall.ECONNRESET), true},
		{"closed mid-answer", io.ErrUnexpectedEOF, true},
		{"dial timed out with its context", &net.OpError{Op: "dial", Net: "tcp", Err: context.DeadlineExceeded}, true},
		{"name does not resolve", &net.DNSError{Err: "no such host", Name: "pacs", IsNotFound: true}, true},
		{"certificate", x509.UnknownAuthorityError{}, false},
		{"canceled", context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsConnection(tc.err); got != tc.want {
				t.Fatalf("IsConnection(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
