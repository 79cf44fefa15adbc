package xnat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
	"github.com/aisedge/aisedge/internal/fault/netfault"
)

// Sentinel causes; test with errors.Is. Every one of them is permanent
// except ErrAuth, which is transient: credentials are fixed (a rotated
// secret file, an unlocked account, a new alias token) without touching
// the data, so the caller pauses and tries again rather than giving up on
// the data.
var (
	// ErrProjectNotFound: the project does not exist or the account cannot
	// see it (XNAT answers 404 for both). Projects are never created.
	ErrProjectNotFound = errors.New("project does not exist in XNAT or is not visible to the account")
	// ErrAuth: login refused (wrong password, expired alias token, locked
	// account), or a call still unauthorised after one re-login.
	// Transient, but never retried by the client itself: repeated failed
	// logins lock XNAT accounts.
	ErrAuth = errors.New("XNAT authentication failed (check the hub's XNAT credentials)")
	// ErrInsecureRedirect: an https:// URL redirected to http:// and
	// Config.AllowInsecureRedirect is off.
	ErrInsecureRedirect = errors.New("refusing a redirect from https:// to http:// (set AllowInsecureRedirect to permit it)")
	// ErrConflict: XNAT already holds something else under our name (a
	// file with other content, an experiment label under another subject
	// or of another type). Nothing is overwritten.
	ErrConflict = errors.New("conflicting content already in XNAT; not overwritten")
	// ErrNotStored: XNAT accepted an upload (2xx) but the files are not in
	// the resource listing (e.g. the account lacks edit rights).
	ErrNotStored = errors.New("XNAT accepted the upload but did not store the files (edit rights?)")
	// ErrSourceMismatch: a file's bytes do not match its manifest MD5 or
	// size, so it was not (or must not be) delivered.
	ErrSourceMismatch = errors.New("file content does not match its manifest entry")
	// ErrInvalid: the request itself is unusable (bad label, path or
	// digest), refused before anything is sent.
	ErrInvalid = errors.New("invalid input")
	// ErrClosed: the client has been closed.
	ErrClosed = errors.New("XNAT client is closed")
)

// Error is the error of one XNAT operation. It never contains credentials:
// XNAT URLs carry none, and login failures say only that login failed.
type Error struct {
	Op     string // what the client was doing, e.g. "create subject"
	Method string // HTTP method, "" when no request was involved
	Path   string // request path (no query)
	Status int    // HTTP status; 0 when no answer was received
	Msg    string // XNAT's message (the <h3> of its status page) or a local one
	Err    error  // cause, if any

	// RetryAfter is the server's Retry-After hint, if it gave one.
	RetryAfter time.Duration

	kind fault.Class
}

// FaultClass implements fault.Classifier: the class the client gave the
// error when it made it (by status, by transport failure, by what it was
// doing).
func (e *Error) FaultClass() fault.Class { return e.kind }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("xnat: ")
	b.WriteString(e.Op)
	if e.Method != "" {
		fmt.Fprintf(&b, ": %s %s", e.Method, e.Path)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsTransient reports whether err is worth retrying later with backoff:
// 5xx answers (500, 502, 503, 504), 408/429, timeouts, refused or reset
// connections and other network failures, and refused credentials
// (ErrAuth; the hub pauses delivery on those).
func IsTransient(err error) bool { return classify(err) == fault.Transient }

// IsPermanent reports whether err will not go away by retrying: 403,
// 404 (project), 409 conflicts, other 4xx validation errors, certificate
// errors, an insecure redirect, bad input. The hub
// dead-letters these with the error text as the reason.
func IsPermanent(err error) bool { return classify(err) == fault.Permanent }

func classify(err error) fault.Class {
	if err == nil {
		return fault.Unknown
	}
	for _, s := range []error{ErrProjectNotFound, ErrInsecureRedirect, ErrConflict, ErrNotStored,
		ErrSourceMismatch, ErrInvalid} {
		if errors.Is(err, s) {
			return fault.Permanent
		}
	}
	if errors.Is(err, ErrAuth) {
		return fault.Transient
	}
	var ve *VerifyError
	if errors.As(err, &ve) {
		if len(ve.V.Mismatched) > 0 {
			return fault.Permanent
		}
		return fault.Transient
	}
	var xe *Error
	if errors.As(err, &xe) && xe.kind != fault.Unknown {
		return xe.kind
	}
	if errors.Is(err, context.Canceled) {
		return fault.Unknown
	}
	return classifyNet(err)
}

// classifyStatus sorts an HTTP status (already known not to be 2xx).
func classifyStatus(code int) fault.Class {
	switch {
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return fault.Transient
	default:
		return fault.Permanent
	}
}

// classifyNet sorts a transport error (an error from http.Client.Do) with
// netfault.Classify, and then by two rules of its own: a request that ran out
// of time is transient (the next try gets a fresh deadline), and so is any
// other failure of the transport; a refused redirect is permanent.
func classifyNet(err error) fault.Class {
	if errors.Is(err, ErrInsecureRedirect) || errors.Is(err, errRedirectMethod) {
		return fault.Permanent
	}
	if k := netfault.Classify(err); k != fault.Unknown {
		return k
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return fault.Transient
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fault.Transient
	}
	return fault.Unknown
}

// statusOf returns the HTTP status carried by err (0 if none).
func statusOf(err error) int {
	var xe *Error
	if errors.As(err, &xe) {
		return xe.Status
	}
	return 0
}

// serverMessage extracts the message of an XNAT status page (the text of
// its <h3>), or a short prefix of a plain-text body. Error bodies are never
// parsed as JSON.
func serverMessage(body []byte) string {
	s := string(body)
	if i := strings.Index(strings.ToLower(s), "<h3>"); i >= 0 {
		rest := s[i+4:]
		if j := strings.Index(strings.ToLower(rest), "</h3>"); j >= 0 {
			rest = rest[:j]
		}
		return clip(strings.TrimSpace(stripTags(rest)), 200)
	}
	if looksHTML(body) {
		return ""
	}
	return clip(strings.TrimSpace(s), 200)
}

func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// looksHTML reports whether a body is an HTML page (docs/xnat.md, "Quirks
// of the real server": any 2xx body
// starting <!DOCTYPE or <html> is an authentication failure).
func looksHTML(body []byte) bool {
	s := strings.TrimLeft(string(body[:min(len(body), 64)]), " \t\r\n\ufeff")
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "<!doctype") || strings.HasPrefix(l, "<html")
}

// VerifyError reports a resource whose listing does not match the
// manifest. It is permanent when a file differs (nothing is overwritten),
// transient when files are only missing (a retry fills the gaps).
type VerifyError struct {
	V Verification
}

func (e *VerifyError) Error() string {
	var parts []string
	if n := len(e.V.Missing); n > 0 {
		parts = append(parts, fmt.Sprintf("%d missing (first %s)", n, e.V.Missing[0]))
	}
	if n := len(e.V.Mismatched); n > 0 {
		m := e.V.Mismatched[0]
		parts = append(parts, fmt.Sprintf("%d differing (first %s: %s %s in XNAT, %s in manifest)", n, m.Path, m.By, m.Got, m.Want))
	}
	return fmt.Sprintf("xnat: verify %s: %s", e.V.Ref, strings.Join(parts, ", "))
}

func asError(err error) (*Error, bool) {
	var xe *Error
	if errors.As(err, &xe) {
		return xe, true
	}
	return nil, false
}
