package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
)

// Actor is who asked for an operator action, and why. Operator and Reason
// are what the client sent (the CLI sends --operator, default $USER, and
// --reason); UID is the peer's user id as the kernel reports it on the
// local socket; Via is "socket" or "http" (bearer token).
type Actor struct {
	Operator string `json:"operator,omitempty"`
	UID      *int   `json:"uid,omitempty"`
	Via      string `json:"via"`
	Reason   string `json:"reason,omitempty"`
}

type actorKey struct{}

// ActorFrom returns the actor of an action's request (the zero Actor
// outside one).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// WithActor returns ctx carrying a (tests, and callers that perform
// actions in-process).
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// Limits on what a client may send with an action.
const (
	maxReason   = 500
	maxOperator = 64
)

// actionBody is the optional JSON body of POST /api/{action}/{id}.
type actionBody struct {
	Operator string `json:"operator"`
	Reason   string `json:"reason"`
}

// readActor reads the request's actor: the body's operator and reason,
// the socket peer's uid, the transport.
func readActor(r *http.Request, via string) (Actor, error) {
	a := Actor{Via: via}
	if uid, ok := r.Context().Value(peerUIDKey{}).(int); ok {
		a.UID = &uid
	}
	if isForm(r) {
		if err := r.ParseForm(); err != nil {
			return a, err
		}
		// A form's text area may hold several lines: one line here.
		return checkActor(a, r.PostForm.Get("operator"), strings.Join(strings.Fields(r.PostForm.Get("reason")), " "))
	}
	if r.Body == nil {
		return a, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<10))
	if err != nil {
		return a, err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return a, nil
	}
	var body actionBody
	if err := json.Unmarshal(b, &body); err != nil {
		return a, fmt.Errorf("the body must be JSON {\"operator\": ..., \"reason\": ...}: %v", err)
	}
	return checkActor(a, body.Operator, body.Reason)
}

// isForm reports whether r carries an HTML form (the status page's).
func isForm(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// checkActor sets and checks the operator and reason a client sent.
func checkActor(a Actor, operator, reason string) (Actor, error) {
	a.Operator, a.Reason = strings.TrimSpace(operator), strings.TrimSpace(reason)
	switch {
	case len(a.Reason) > maxReason:
		return a, fmt.Errorf("reason is %d bytes long, at most %d", len(a.Reason), maxReason)
	case len(a.Operator) > maxOperator:
		return a, fmt.Errorf("operator is %d bytes long, at most %d", len(a.Operator), maxOperator)
	case strings.ContainsFunc(a.Reason+a.Operator, func(r rune) bool { return unicode.IsControl(r) }):
		return a, errors.New("operator and reason must be one line of printable text")
	}
	return a, nil
}

type peerUIDKey struct{}

// peerContext adds the local socket peer's uid to a connection's context.
func peerContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *syscall.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return ctx
	}
	return context.WithValue(ctx, peerUIDKey{}, int(cred.Uid))
}

// AuditRecord is one line of the audit log.
type AuditRecord struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	ID     string    `json:"id"`
	Actor
	// Phase is "requested" (written before the action runs) or "done".
	Phase string `json:"phase"`
	// Result is "ok" or "failed" (phase done); Error the failure, without
	// paths.
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Audit is an append-only log of operator actions: one JSON line per
// record, written with O_APPEND and fsynced before the action runs and
// after it. It holds ids (keyed or pseudonymous), operator names and
// reasons, never original values; operators are asked not to write
// patient data into reasons.
type Audit struct {
	mu sync.Mutex
	f  *os.File
}

// OpenAudit opens (creating, 0600) the audit log at path.
func OpenAudit(path string) (*Audit, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &Audit{f: f}, nil
}

// Record appends rec.
func (a *Audit) Record(rec AuditRecord) error {
	if a == nil {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return a.f.Sync()
}

// Close closes the log.
func (a *Audit) Close() error {
	if a == nil {
		return nil
	}
	return a.f.Close()
}
