// Package api serves the daemons' local HTTP endpoints. The read-only
// ones are Prometheus /metrics, /healthz (the process runs), /readyz (the
// receiver listens and every check added with AddCheck passes: the peers'
// reachability), /api/status (JSON for `aisedge status` and tests) and
// the HTML status page at / (page.go); everything they show is value-free:
// pseudonymous session names, counts, ages and reasons, and no error
// carries a file path. The operator actions (POST /api/{action}/{id}, e.g.
// quarantine-requeue) are served on the local unix socket (mode 0600, for
// the CLI) and, on the TCP status port, only when EnableTCPActions was
// called: then a request needs the bearer token, a Host that is an IP
// address, localhost or a configured name (no DNS rebinding), and must not
// come from another site's page (Sec-Fetch-Site/Origin). Every action is
// appended to the audit log (audit.go) before and after it runs, with the
// operator and reason the client sent and the socket peer's uid.
//
// The commands import it; it imports neither internal/edge nor
// internal/hub (their status parts are read through their JSON).
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aisedge/aisedge/internal/fsutil"
)

// StatusFunc returns one part of the status document.
type StatusFunc func() (any, error)

// ActionFunc performs an operator action on one item (e.g. requeue a
// quarantined instance); served as POST /api/{action}/{id}.
type ActionFunc func(ctx context.Context, id string) error

// TCPActions enables the actions on the TCP status port.
type TCPActions struct {
	// Token is the bearer token a request must carry
	// (Authorization: Bearer <token>); at least MinTokenLen characters.
	Token string
	// Hosts are the names (host or host:port) the Host header may carry
	// besides IP addresses and localhost, e.g. the name operators reach
	// the edge by. A browser that was made to resolve an attacker's name
	// to this address (DNS rebinding) sends that name and is refused.
	Hosts []string
}

// MinTokenLen is the shortest bearer token accepted.
const MinTokenLen = 32

// CheckToken reports whether tok may serve as the bearer token.
func CheckToken(tok string) error {
	switch {
	case tok == "":
		return errors.New("is empty (generate one with: openssl rand -hex 32)")
	case len(tok) < MinTokenLen:
		return fmt.Errorf("is %d characters long, shorter than %d (generate one with: openssl rand -hex 32)", len(tok), MinTokenLen)
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errors.New("contains white space or control characters (generate one with: openssl rand -hex 32)")
	}
	return nil
}

// Server is the HTTP server of one daemon: the TCP status port (Serve)
// and the local socket (ServeLocal).
type Server struct {
	tcp, local *http.Server
	ready      atomic.Bool
	reg        *prometheus.Registry
	parts      map[string]StatusFunc
	actions    map[string]ActionFunc
	log        *slog.Logger

	mu        sync.Mutex
	audit     *Audit
	checks    []readyCheck
	tcpAct    *TCPActions
	tokenHash [32]byte
	crossOrig *http.CrossOriginProtection
}

// New returns a server exposing reg, the named status parts and actions.
func New(reg *prometheus.Registry, parts map[string]StatusFunc, actions map[string]ActionFunc, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{reg: reg, parts: parts, actions: actions, log: log, crossOrig: http.NewCrossOriginProtection()}
	s.crossOrig.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	public := http.NewServeMux()
	s.readOnly(public)
	public.HandleFunc("POST /api/{action}/{id...}", s.tcpAction)
	public.HandleFunc("GET /confirm/{action}/{id...}", s.confirm)
	local := http.NewServeMux()
	s.readOnly(local)
	local.HandleFunc("POST /api/{action}/{id...}", func(w http.ResponseWriter, r *http.Request) { s.action(w, r, "socket") })
	s.tcp = &http.Server{Handler: public, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	s.local = &http.Server{Handler: local, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnContext: peerContext}
	return s
}

// readOnly adds the endpoints every listener serves.
func (s *Server) readOnly(mux *http.ServeMux) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready: starting", http.StatusServiceUnavailable)
			return
		}
		var failing []string
		for _, c := range s.runChecks() {
			if !c.OK {
				failing = append(failing, c.Error)
			}
		}
		if len(failing) > 0 {
			http.Error(w, "not ready: "+strings.Join(failing, "; "), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/status", s.status)
	mux.HandleFunc("GET /{$}", s.page)
}

// CheckTCPActions reports what EnableTCPActions would refuse in a.
func CheckTCPActions(a TCPActions) error {
	if err := CheckToken(a.Token); err != nil {
		return fmt.Errorf("action token %w", err)
	}
	for _, h := range a.Hosts {
		if _, err := normHost(h); err != nil {
			return fmt.Errorf("allowed host %q: %w", h, err)
		}
	}
	return nil
}

// EnableTCPActions serves the actions on the TCP status port under the
// rules of a (call before Serve).
func (s *Server) EnableTCPActions(a TCPActions) error {
	if err := CheckTCPActions(a); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tcpAct = &a
	s.tokenHash = sha256.Sum256([]byte(a.Token))
	return nil
}

// ServeHTTP serves one request as the TCP status port does (for tests and
// for embedding in another server).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.tcp.Handler.ServeHTTP(w, r) }

// LocalHandler serves requests as the local socket does: the read-only
// endpoints and the actions, without a token (the socket is 0600).
func (s *Server) LocalHandler() http.Handler { return s.local.Handler }

// SetReady marks the daemon started (/readyz answers 200 when every
// check added with AddCheck passes too).
func (s *Server) SetReady() { s.ready.Store(true) }

type readyCheck struct {
	name string
	f    func() error
}

// CheckResult is one readiness check in the status document.
type CheckResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// AddCheck adds a readiness check (e.g. a peer's reachability probe): the
// daemon is ready only while f returns nil. Its error is shown on /readyz,
// in the status document under "checks" and on the page, without paths.
func (s *Server) AddCheck(name string, f func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, readyCheck{name, f})
}

type namedResult struct {
	Name string
	CheckResult
}

func (s *Server) runChecks() []namedResult {
	s.mu.Lock()
	checks := append([]readyCheck(nil), s.checks...)
	s.mu.Unlock()
	out := make([]namedResult, 0, len(checks))
	for _, c := range checks {
		r := namedResult{Name: c.name, CheckResult: CheckResult{OK: true}}
		if err := c.f(); err != nil {
			r.OK, r.Error = false, PublicError(err)
		}
		out = append(out, r)
	}
	return out
}

// Serve serves the TCP status port on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return serve(s.tcp, ln) }

// ServeLocal serves the local API (read-only endpoints and actions) on ln,
// a listener from ListenUnix, until Shutdown.
func (s *Server) ServeLocal(ln net.Listener) error { return serve(s.local, ln) }

func serve(srv *http.Server, ln net.Listener) error {
	err := srv.Serve(ln)
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// Shutdown stops both servers.
func (s *Server) Shutdown(ctx context.Context) error {
	return errors.Join(s.tcp.Shutdown(ctx), s.local.Shutdown(ctx))
}

// tcpAction serves an action on the TCP status port.
func (s *Server) tcpAction(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	a, want := s.tcpAct, s.tokenHash
	s.mu.Unlock()
	if a == nil {
		http.Error(w, "actions are served on the local socket only (aisedge quarantine requeue ID on the host)", http.StatusNotFound)
		return
	}
	if !hostAllowed(r.Host, a.Hosts) {
		s.log.Warn("action refused: Host not allowed", "host", r.Host, "remote", r.RemoteAddr)
		http.Error(w, "host not allowed", http.StatusMisdirectedRequest)
		return
	}
	if err := s.crossOrig.Check(r); err != nil {
		s.log.Warn("action refused: cross-origin request", "origin", r.Header.Get("Origin"), "secFetchSite", r.Header.Get("Sec-Fetch-Site"), "remote", r.RemoteAddr)
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && isForm(r) {
		// The status page's confirmation form sends the token as a field.
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err == nil {
			tok, ok = r.PostForm.Get("token"), r.PostForm.Get("token") != ""
		}
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		s.log.Warn("action refused: missing or wrong bearer token", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="aisedge"`)
		http.Error(w, "a bearer token is required", http.StatusUnauthorized)
		return
	}
	s.action(w, r, "http")
}

// SetAudit makes every action append to a (before it runs and after).
func (s *Server) SetAudit(a *Audit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit = a
}

// action performs an action, recorded in the audit log before and after;
// its error goes back without file paths (the log has it whole).
func (s *Server) action(w http.ResponseWriter, r *http.Request, via string) {
	name := r.PathValue("action")
	act, ok := s.actions[name]
	if !ok {
		http.Error(w, "no such action", http.StatusNotFound)
		return
	}
	id := r.PathValue("id")
	if !validID(id) {
		http.Error(w, "invalid id", http.StatusBadRequest)
		return
	}
	actor, err := readActor(r, via)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	audit := s.audit
	s.mu.Unlock()
	rec := AuditRecord{Time: time.Now().UTC(), Action: name, ID: id, Actor: actor, Phase: "requested"}
	if err := audit.Record(rec); err != nil {
		s.log.Error("action refused: the audit log cannot be written", "action", name, "err", err)
		http.Error(w, "the audit log cannot be written; no action taken", http.StatusInternalServerError)
		return
	}
	err = act(WithActor(r.Context(), actor), id)
	rec.Time, rec.Phase, rec.Result = time.Now().UTC(), "done", "ok"
	if err != nil {
		rec.Result, rec.Error = "failed", PublicError(err)
	}
	if aerr := audit.Record(rec); aerr != nil {
		s.log.Error("audit log write failed after the action", "action", name, "id", id, "err", aerr)
	}
	s.log.Info("operator action", "action", name, "id", id, "operator", actor.Operator, "via", via, "result", rec.Result)
	if isForm(r) {
		// The status page's form: a page with the result.
		txt := actionTexts[name]
		code := http.StatusOK
		if err != nil {
			code = http.StatusConflict
			s.log.Warn("action failed", "action", name, "id", id, "err", err)
		}
		s.renderConfirm(w, code, confirmData{Action: name, ID: id, Title: txt.Title, Done: true, Error: rec.Error})
		return
	}
	if err != nil {
		s.log.Warn("action failed", "action", name, "id", id, "err", err)
		http.Error(w, PublicError(err), http.StatusConflict)
		return
	}
	w.Write([]byte("ok\n"))
}

// validID refuses ids that could name something outside the item's
// folder: empty or "." / ".." segments, backslashes, control characters.
func validID(id string) bool {
	if id == "" || len(id) > 1024 || strings.ContainsAny(id, "\\") || strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return false
	}
	for seg := range strings.SplitSeq(id, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return !strings.HasPrefix(id, "/")
}

// normHost lower-cases a host or host:port and drops a trailing dot.
func normHost(h string) (string, error) {
	h = strings.ToLower(strings.TrimSpace(h))
	if h == "" {
		return "", errors.New("empty")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = h, ""
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" || strings.ContainsAny(host, "/@ ") {
		return "", errors.New("not a host name")
	}
	if port != "" {
		return net.JoinHostPort(host, port), nil
	}
	return host, nil
}

// hostAllowed reports whether the Host header names this server by an IP
// address, localhost or one of the allowed names (with any port, or the
// port the entry gives).
func hostAllowed(hostHdr string, allowed []string) bool {
	h, err := normHost(hostHdr)
	if err != nil {
		return false
	}
	name := h
	if host, _, err := net.SplitHostPort(h); err == nil {
		name = host
	}
	if _, err := netip.ParseAddr(name); err == nil || name == "localhost" {
		return true
	}
	for _, a := range allowed {
		a, err := normHost(a)
		if err == nil && (a == name || a == h) {
			return true
		}
	}
	return false
}

// PublicError is err's text without file paths (fsutil.PublicError).
func PublicError(err error) string { return fsutil.PublicError(err) }

// CheckSocketPath reports whether a unix socket can be made at path
// (ListenUnix binds a name in a fresh folder beside it first).
func CheckSocketPath(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	const limit = 107 // sun_path is 108 bytes on Linux, NUL included
	tmp := len("/.s1234567890/s")
	if len(abs) > limit || len(filepath.Dir(abs))+tmp > limit {
		return fmt.Errorf("is too long for a unix socket (at most %d bytes, its folder's at most %d)", limit, limit-tmp)
	}
	return nil
}

// ListenUnix returns a listener on a unix socket at path, mode 0600, for
// ServeLocal. The socket is bound in a fresh 0700 folder beside path,
// made 0600 there and renamed into place, so that no other user can
// connect in between. A stale socket at path is replaced; a live one (a
// daemon still answers) or anything that is not a socket is an error.
// Closing the listener removes the socket.
func (s *Server) ListenUnix(path string) (net.Listener, error) {
	if err := CheckSocketPath(path); err != nil {
		return nil, fmt.Errorf("socket %s %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket: refusing to replace it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another daemon answers on this socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	tmp, err := os.MkdirTemp(dir, ".s")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bound := filepath.Join(tmp, "s")
	ln, err := net.Listen("unix", bound)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(bound, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(bound, path); err != nil {
		ln.Close()
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &unixListener{Listener: ln, path: path, fi: fi}, nil
}

// unixListener removes its socket on Close unless another one replaced it.
type unixListener struct {
	net.Listener
	path string
	fi   fs.FileInfo
	once sync.Once
}

func (l *unixListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() {
		if fi, e := os.Lstat(l.path); e == nil && os.SameFile(fi, l.fi) {
			os.Remove(l.path)
		}
	})
	return err
}

// Status collects the status document.
func (s *Server) Status() map[string]any {
	ready := s.ready.Load()
	doc := map[string]any{"time": time.Now().UTC(), "started": ready}
	if cs := s.runChecks(); len(cs) > 0 {
		m := map[string]CheckResult{}
		for _, c := range cs {
			m[c.Name] = c.CheckResult
			ready = ready && c.OK
		}
		doc["checks"] = m
	}
	doc["ready"] = ready
	for name, f := range s.parts {
		v, err := f()
		if err != nil {
			s.log.Warn("status part failed", "part", name, "err", err)
			doc[name] = map[string]string{"error": PublicError(err)}
			continue
		}
		doc[name] = v
	}
	return doc
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.Status()); err != nil {
		s.log.Error("writing status", "err", err)
	}
}
