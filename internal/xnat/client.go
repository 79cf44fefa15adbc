package xnat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
)

// Client talks to one XNAT server as one account. It is safe for concurrent
// use; create one per hub and Close it at shutdown.
//
// Login life cycle (a login is what XNAT calls a server session,
// JSESSIONID; "session" alone is the image session being delivered):
//
//	(no login) --first call--> POST /data/JSESSION (Basic) --> [login]
//	[login] --every call--> Cookie: JSESSIONID=…, no credentials
//	[login] --idle ≥ heartbeat interval--> GET /data/JSESSION (keeps it alive)
//	[login] --401, or HTML page on a 2xx--> drop it, log in again, retry once
//	[login] --Close--> DELETE /data/JSESSION --> (closed)
type Client struct {
	cfg  Config
	base *url.URL
	hc   *http.Client
	log  *slog.Logger

	loginMu sync.Mutex // one login at a time

	mu       sync.Mutex
	sid      string
	gen      uint64        // bumped on each login
	idle     time.Duration // server's idle timeout (0 = not announced)
	lastUse  time.Time
	closed   bool
	hbStop   chan struct{}
	hbDone   chan struct{}
	hbActive bool

	locks keyedMutex

	// Credentials (under mu): replaced by SetCredentials and by alias
	// token renewal.
	user, pass   string
	tokenExpires time.Time // of the alias token held; zero = not known
	renewMu      sync.Mutex

	nRequests, nLogins, nRetries, nBytes atomic.Int64
}

// New checks the configuration and returns a client. It does not contact
// the server; the first call (or Login) logs in.
func New(cfg Config) (*Client, error) {
	base, err := parseBase(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, fmt.Errorf("xnat: username and password are required: %w", ErrInvalid)
	}
	cfg.setDefaults()
	rt, err := cfg.transport()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, base: base, log: cfg.Logger.With("component", "xnat"), user: cfg.Username, pass: cfg.Password}
	c.hc = &http.Client{Transport: rt, CheckRedirect: c.checkRedirect}
	c.locks.m = map[string]*lockEntry{}
	return c, nil
}

// String describes the client without credentials (fmt would otherwise
// print its unexported configuration field by field).
func (c *Client) String() string { return "xnat.Client{" + c.base.Redacted() + "}" }

// GoString is String.
func (c *Client) GoString() string { return c.String() }

// LogValue is String for slog.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

var errRedirectMethod = errors.New("refusing a redirect that would change the request method")

// checkRedirect refuses https→http (unless allowed) and any redirect that
// would turn a PUT/POST/DELETE into a GET (Go does that for 301/302/303,
// and a create would then look like a successful read).
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0]
	if first.URL.Scheme == "https" && req.URL.Scheme != "https" && !c.cfg.AllowInsecureRedirect {
		return ErrInsecureRedirect
	}
	if req.Method != first.Method {
		return fmt.Errorf("%w (%s became %s); configure the URL XNAT redirects to", errRedirectMethod, first.Method, req.Method)
	}
	return nil
}

// Stats are counters since the client was created.
type Stats struct {
	Requests  int64 // HTTP requests sent (including logins and heartbeats)
	Logins    int64 // POST /data/JSESSION calls
	Retries   int64 // calls repeated after a transient error
	BytesSent int64 // request body bytes of uploads
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.nRequests.Load(), Logins: c.nLogins.Load(), Retries: c.nRetries.Load(), BytesSent: c.nBytes.Load()}
}

type reqCounterKey struct{}

// withRequestCounter makes every request sent under ctx also count in *n.
func withRequestCounter(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, reqCounterKey{}, n)
}

// call describes one REST call.
type call struct {
	op     string
	method string
	path   string // escaped path below the base URL, starting with /data
	query  string // encoded query, without '?'
	// body, if set, returns a fresh body each time it is called (retries,
	// re-login) and its length (-1 if unknown).
	body   func() (io.ReadCloser, int64, error)
	upload bool // use UploadTimeout; count bytes
	// once: no retry of transient failures (the caller first checks what
	// the server did, e.g. after a 504 on an upload).
	once bool
	// reclassify, if set, may change the class of a non-2xx answer (by
	// XNAT's message) before the retry decision.
	reclassify func(*Error)
}

// reply is a received answer (body read in full, up to a limit).
type reply struct {
	status   int
	header   http.Header
	body     []byte
	newLogin bool // the server set a JSESSIONID other than the one sent
}

const maxReplyBytes = 256 << 20

// do runs a call: log in if needed, send, re-login once on 401 or an HTML
// page on a 2xx, and retry transient failures per Config.Retry. A non-2xx
// answer is returned as an *Error carrying the status.
func (c *Client) do(ctx context.Context, cl call) (*reply, error) {
	var out *reply
	relogged := false
	attempt := 0
	policy := c.cfg.Retry
	if cl.once {
		policy.Attempts = 1
	}
	err := policy.Do(ctx, func(ctx context.Context) error {
		attempt++
		if attempt > 1 {
			c.nRetries.Add(1)
		}
		for {
			sid, gen, err := c.loggedIn(ctx)
			if err != nil {
				return err
			}
			c.maybeRenewToken(ctx, sid)
			rep, err := c.send(ctx, cl, sid, nil)
			if err != nil {
				return err
			}
			// Our login was not recognised if the answer is a 401, an
			// HTML page on a 2xx, or comes with a new JSESSIONID (a site
			// with guest access silently starts a guest login, and would
			// then answer 404 for a project that exists).
			authFail := rep.status == http.StatusUnauthorized ||
				(rep.status >= 200 && rep.status < 300 && looksHTML(rep.body)) || rep.newLogin
			if authFail {
				c.dropLogin(gen)
				if relogged {
					return &Error{Op: cl.op, Method: cl.method, Path: cl.path, Status: rep.status,
						Msg: "still unauthorised after a fresh login", Err: ErrAuth, kind: fault.Transient}
				}
				relogged = true
				c.log.Info("xnat login rejected; logging in again", "op", cl.op, "status", rep.status)
				continue
			}
			if rep.status < 200 || rep.status >= 300 {
				return c.statusError(cl, rep)
			}
			out = rep
			return nil
		}
	})
	return out, err
}

func (c *Client) statusError(cl call, rep *reply) *Error {
	e := &Error{Op: cl.op, Method: cl.method, Path: cl.path, Status: rep.status,
		Msg: serverMessage(rep.body), kind: classifyStatus(rep.status)}
	if ra := rep.header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	}
	if rep.status >= 300 && rep.status < 400 {
		e.Msg = "unexpected redirect to " + rep.header.Get("Location")
	}
	if cl.reclassify != nil {
		cl.reclassify(e)
	}
	return e
}

// send performs one HTTP exchange. basic, if set, is sent as Basic auth
// (login only); otherwise the login cookie sid (if any).
func (c *Client) send(ctx context.Context, cl call, sid string, basic *[2]string) (*reply, error) {
	timeout := c.cfg.Timeout
	if cl.upload {
		timeout = c.cfg.UploadTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	target := c.base.Scheme + "://" + c.base.Host + c.base.EscapedPath() + cl.path
	if cl.query != "" {
		target += "?" + cl.query
	}
	var body io.ReadCloser
	length := int64(0)
	if cl.body != nil {
		b, n, err := cl.body()
		if err != nil {
			return nil, &Error{Op: cl.op, Msg: "open upload body", Err: err, kind: classifyLocal(err)}
		}
		body, length = b, n
	}
	req, err := http.NewRequestWithContext(rctx, cl.method, target, body)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, &Error{Op: cl.op, Method: cl.method, Path: cl.path, Err: err, kind: fault.Permanent}
	}
	if body != nil {
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/octet-stream")
		req.GetBody = func() (io.ReadCloser, error) {
			b, _, err := cl.body()
			return b, err
		}
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Accept", "application/json, text/plain, */*")
	if basic != nil {
		req.SetBasicAuth(basic[0], basic[1])
	} else if sid != "" {
		req.Header.Set("Cookie", "JSESSIONID="+sid)
	}
	c.nRequests.Add(1)
	if n, ok := ctx.Value(reqCounterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	c.mu.Lock()
	if sid != "" {
		c.lastUse = c.cfg.Now()
	}
	c.mu.Unlock()
	start := time.Now()
	res, err := c.hc.Do(req)
	if err != nil {
		k := classify(err)
		if ctx.Err() != nil {
			// The caller gave up; that is neither transient nor permanent.
			return nil, &Error{Op: cl.op, Method: cl.method, Path: cl.path, Err: ctx.Err()}
		}
		if k == fault.Unknown {
			k = fault.Transient
		}
		c.log.Debug("xnat request failed", "method", cl.method, "path", cl.path, "dur", time.Since(start), "err", err)
		return nil, &Error{Op: cl.op, Method: cl.method, Path: cl.path, Err: unwrapURLError(err), kind: k}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxReplyBytes))
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Op: cl.op, Method: cl.method, Path: cl.path, Err: ctx.Err()}
		}
		return nil, &Error{Op: cl.op, Method: cl.method, Path: cl.path, Status: res.StatusCode,
			Msg: "reading the answer", Err: err, kind: fault.Transient}
	}
	if cl.upload {
		c.nBytes.Add(length)
	}
	newLogin := c.noteCookies(res, sid)
	c.log.Debug("xnat request", "method", cl.method, "path", cl.path, "status", res.StatusCode, "dur", time.Since(start))
	return &reply{status: res.StatusCode, header: res.Header, body: data, newLogin: newLogin}, nil
}

// unwrapURLError drops *url.Error's wrapping (its text repeats the URL).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func classifyLocal(err error) fault.Class {
	if errors.Is(err, ErrSourceMismatch) || errors.Is(err, ErrInvalid) {
		return fault.Permanent
	}
	// Reading the source (e.g. a local file) failed: let the caller retry.
	return fault.Transient
}

// noteCookies picks up SESSION_EXPIRATION_TIME (the idle timeout) and
// reports whether the server set a JSESSIONID other than sid.
func (c *Client) noteCookies(res *http.Response, sid string) bool {
	newLogin := false
	for _, sc := range res.Header.Values("Set-Cookie") {
		name, rest, ok := strings.Cut(sc, "=")
		if !ok {
			continue
		}
		val, _, _ := strings.Cut(rest, ";")
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.TrimSpace(name) {
		case "SESSION_EXPIRATION_TIME":
			_, ms, ok := strings.Cut(val, ",")
			if n, err := strconv.ParseInt(strings.TrimSpace(ms), 10, 64); ok && err == nil && n > 0 {
				c.mu.Lock()
				c.idle = time.Duration(n) * time.Millisecond
				c.mu.Unlock()
			}
		case "JSESSIONID":
			if sid != "" && val != "" && val != sid {
				newLogin = true
			}
		}
	}
	return newLogin
}

// loggedIn returns a usable login's JSESSIONID, logging in when there is
// none or when the last one has surely idled out.
func (c *Client) loggedIn(ctx context.Context) (string, uint64, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return "", 0, &Error{Op: "login", Err: ErrClosed, kind: fault.Permanent}
	}
	if c.sid != "" && !c.staleLocked() {
		sid, gen := c.sid, c.gen
		c.mu.Unlock()
		return sid, gen, nil
	}
	gen := c.gen
	c.mu.Unlock()
	return c.login(ctx, gen)
}

// staleLocked: idle for (almost) the whole server timeout, e.g. after the
// process was suspended or heartbeats failed.
func (c *Client) staleLocked() bool {
	if c.idle <= 0 || c.lastUse.IsZero() {
		return false
	}
	margin := min(20*time.Second, c.idle/4)
	return c.cfg.Now().Sub(c.lastUse) > c.idle-margin
}

// dropLogin forgets login generation gen (if still current).
func (c *Client) dropLogin(gen uint64) {
	c.mu.Lock()
	if c.gen == gen {
		c.sid = ""
	}
	c.mu.Unlock()
}

// login creates a login (server session) with POST /data/JSESSION and Basic auth, unless
// another goroutine already replaced generation seenGen.
func (c *Client) login(ctx context.Context, seenGen uint64) (string, uint64, error) {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	if c.sid != "" && c.gen != seenGen && !c.staleLocked() {
		sid, gen := c.sid, c.gen
		c.mu.Unlock()
		return sid, gen, nil
	}
	c.mu.Unlock()

	c.nLogins.Add(1)
	cl := call{op: "login", method: http.MethodPost, path: "/data/JSESSION"}
	c.mu.Lock()
	creds := [2]string{c.user, c.pass}
	c.mu.Unlock()
	rep, err := c.send(ctx, cl, "", &creds)
	if err != nil {
		return "", 0, err
	}
	if rep.status == http.StatusUnauthorized || rep.status == http.StatusForbidden ||
		(rep.status >= 200 && rep.status < 300 && looksHTML(rep.body)) {
		return "", 0, &Error{Op: "login", Method: cl.method, Path: cl.path, Status: rep.status, Err: ErrAuth, kind: fault.Transient}
	}
	if rep.status < 200 || rep.status >= 300 {
		return "", 0, c.statusError(cl, rep)
	}
	sid := strings.TrimSpace(string(rep.body))
	if !validToken(sid) {
		sid = ""
		for _, ck := range (&http.Response{Header: rep.header}).Cookies() {
			if ck.Name == "JSESSIONID" {
				sid = ck.Value
			}
		}
	}
	if sid == "" {
		return "", 0, &Error{Op: "login", Method: cl.method, Path: cl.path, Status: rep.status,
			Msg: "no session ID in the answer", kind: fault.Transient}
	}
	c.mu.Lock()
	c.sid = sid
	c.gen++
	gen := c.gen
	c.lastUse = c.cfg.Now()
	c.startHeartbeatLocked()
	c.mu.Unlock()
	c.log.Debug("xnat login ok")
	c.maybeRenewToken(ctx, sid)
	return sid, gen, nil
}

// SetCredentials replaces the account name and password (or alias token
// and secret) used from the next login on, e.g. after the secret files
// were rotated. The current login is kept while XNAT accepts it.
func (c *Client) SetCredentials(username, password string) error {
	if username == "" || password == "" {
		return fmt.Errorf("xnat: username and password are required: %w", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if username != c.user || password != c.pass {
		c.user, c.pass = username, password
		c.tokenExpires = time.Time{}
	}
	return nil
}

// TokenExpires is when the alias token the client holds expires (zero when
// not known or not using a token).
func (c *Client) TokenExpires() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokenExpires
}

// maybeRenewToken replaces the alias token by a fresh one (GET
// /data/services/tokens/issue in login sid) when its expiry is unknown or
// less than TokenRenewBefore away. Failures are logged and tried again on
// a later call: the token held still works until it expires.
func (c *Client) maybeRenewToken(ctx context.Context, sid string) {
	if !c.cfg.AliasToken || sid == "" {
		return
	}
	c.mu.Lock()
	due := c.tokenExpires.IsZero() || c.cfg.Now().After(c.tokenExpires.Add(-c.cfg.TokenRenewBefore))
	c.mu.Unlock()
	if !due || !c.renewMu.TryLock() {
		return
	}
	defer c.renewMu.Unlock()
	rep, err := c.send(ctx, call{op: "renew alias token", method: http.MethodGet, path: "/data/services/tokens/issue",
		query: query{}.add("format", "json").String()}, sid, nil)
	if err == nil && (rep.status != http.StatusOK || looksHTML(rep.body)) {
		err = c.statusError(call{op: "renew alias token", method: http.MethodGet, path: "/data/services/tokens/issue"}, rep)
	}
	var tok struct {
		Alias   string `json:"alias"`
		Secret  string `json:"secret"`
		Expires int64  `json:"estimatedExpirationTime"`
	}
	if err == nil {
		if jerr := json.Unmarshal(rep.body, &tok); jerr != nil || tok.Alias == "" || tok.Secret == "" || tok.Expires <= 0 {
			err = &Error{Op: "renew alias token", Msg: "answer has no alias, secret and expiry", kind: fault.Transient}
		}
	}
	if err != nil {
		c.log.Warn("xnat alias token not renewed; will try again", "err", err)
		return
	}
	exp := time.UnixMilli(tok.Expires)
	c.mu.Lock()
	c.user, c.pass, c.tokenExpires = tok.Alias, tok.Secret, exp
	c.mu.Unlock()
	c.log.Info("xnat alias token renewed", "expires", exp.UTC())
	if c.cfg.OnTokenRenewed != nil {
		c.cfg.OnTokenRenewed(tok.Alias, tok.Secret, exp)
	}
}

// validToken reports whether s can be a JSESSIONID or an accession ID as
// XNAT answers them: 1-128 characters of [0-9A-Za-z._-].
func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Login logs in now (if not logged in), e.g. to check the credentials at
// start-up.
func (c *Client) Login(ctx context.Context) error {
	return c.cfg.Retry.Do(ctx, func(ctx context.Context) error {
		_, _, err := c.loggedIn(ctx)
		return err
	})
}

// heartbeatInterval: half the idle timeout less 20 s (xnatpy's rule), but
// at least a quarter of it; 7 min when the server announced nothing.
func (c *Client) heartbeatIntervalLocked() time.Duration {
	if c.cfg.KeepAlive > 0 {
		return c.cfg.KeepAlive
	}
	idle := c.idle
	if idle <= 0 {
		idle = 15 * time.Minute
	}
	d := idle/2 - 20*time.Second
	if d < idle/4 {
		d = idle / 4
	}
	return max(d, 50*time.Millisecond)
}

func (c *Client) startHeartbeatLocked() {
	if c.hbActive || c.cfg.KeepAlive < 0 || c.closed {
		return
	}
	c.hbActive = true
	c.hbStop = make(chan struct{})
	c.hbDone = make(chan struct{})
	go c.heartbeat(c.hbStop, c.hbDone)
}

// heartbeat keeps the login alive while the client is idle (or busy with
// one long upload) with GET /data/JSESSION.
func (c *Client) heartbeat(stop, done chan struct{}) {
	defer close(done)
	for {
		c.mu.Lock()
		d := c.heartbeatIntervalLocked()
		c.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		c.mu.Lock()
		sid, gen := c.sid, c.gen
		due := sid != "" && c.cfg.Now().Sub(c.lastUse) >= d
		c.mu.Unlock()
		if !due {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		rep, err := c.send(ctx, call{op: "heartbeat", method: http.MethodGet, path: "/data/JSESSION"}, sid, nil)
		cancel()
		switch {
		case err != nil:
			c.log.Debug("xnat heartbeat failed", "err", err)
		case rep.status == http.StatusUnauthorized || looksHTML(rep.body) || rep.status >= 400 || rep.newLogin:
			c.dropLogin(gen)
		}
	}
}

// Close logs out (DELETE /data/JSESSION) and stops the heartbeat. Later
// calls fail with ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	sid := c.sid
	c.sid = ""
	stop, done := c.hbStop, c.hbDone
	c.hbActive = false
	c.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	var err error
	if sid != "" {
		var rep *reply
		rep, err = c.send(ctx, call{op: "logout", method: http.MethodDelete, path: "/data/JSESSION"}, sid, nil)
		if err == nil && (rep.status < 200 || rep.status >= 300) && rep.status != http.StatusUnauthorized {
			err = c.statusError(call{op: "logout", method: http.MethodDelete, path: "/data/JSESSION"}, rep)
		}
	}
	c.hc.CloseIdleConnections()
	return err
}

// Preflight makes the original's start-up check: an unauthenticated GET of
// the base URL without following redirects; a redirect from https:// to
// http:// fails with ErrInsecureRedirect unless allowed.
func (c *Client) Preflight(ctx context.Context) error {
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, c.base.String()+"/", nil)
	if err != nil {
		return &Error{Op: "preflight", Err: err, kind: fault.Permanent}
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	c.nRequests.Add(1)
	res, err := hc.Do(req)
	if err != nil {
		k := classifyNet(err)
		if k == fault.Unknown {
			k = fault.Transient
		}
		return &Error{Op: "preflight", Method: "GET", Path: c.base.Path + "/", Err: unwrapURLError(err), kind: k}
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if loc := res.Header.Get("Location"); loc != "" && c.base.Scheme == "https" && !c.cfg.AllowInsecureRedirect {
		if u, err := res.Request.URL.Parse(loc); err == nil && u.Scheme == "http" {
			return &Error{Op: "preflight", Method: "GET", Path: c.base.Path + "/", Status: res.StatusCode,
				Err: ErrInsecureRedirect, kind: fault.Permanent}
		}
	}
	if res.StatusCode >= 500 {
		return &Error{Op: "preflight", Method: "GET", Path: c.base.Path + "/", Status: res.StatusCode, kind: fault.Transient}
	}
	return nil
}

// keyedMutex serialises work per key (a resource): never two uploads into
// one resource at once. Waiting honours ctx.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	ch   chan struct{}
	refs int
}

func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &lockEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// bytesBody returns a body factory for an in-memory payload.
func bytesBody(b []byte) func() (io.ReadCloser, int64, error) {
	return func() (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	}
}
