package xnattest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Role is a user's role in a project.
type Role string

// Project roles (docs/xnat.md, "The emulator"). Owners and members may
// create and edit;
// collaborators may only read.
const (
	Owner        Role = "owner"
	Member       Role = "member"
	Collaborator Role = "collaborator"
)

// Options configure a Server. The zero value is a site that requires login,
// has checksums on and a 15 minute login (JSESSIONID) timeout.
type Options struct {
	// AllowGuest lets unauthenticated requests, and requests with a stale
	// login cookie, through as a guest without any project role
	// (requireLogin=false). Like a servlet container, the server then
	// starts a new (guest) login and sets its JSESSIONID.
	AllowGuest bool
	// ChecksumsDisabled turns the site's checksums preference off: files
	// written while it is set get an empty digest.
	ChecksumsDisabled bool
	// RefreshLeavesDigestsEmpty makes the catalog refresh service answer
	// 200 without computing missing digests.
	RefreshLeavesDigestsEmpty bool
	// LoginTimeout is the idle timeout of a login (default 15m).
	LoginTimeout time.Duration
	// HTMLOnExpired answers a stale or missing login with 200 and the
	// HTML login page even for non-browser clients (as some sites behind
	// SSO do); browser User-Agents always get it.
	HTMLOnExpired bool
	// MaxLoginsPerUser caps concurrent logins per user (default 1000).
	MaxLoginsPerUser int
	// TokenLifetime is how long an alias token is valid (default 48h, the
	// server's default).
	TokenLifetime time.Duration
	// ProxyMaxBodyBytes makes a reverse proxy in front of XNAT refuse
	// request bodies larger than this with 413 (0 = no limit).
	ProxyMaxBodyBytes int64
	// Now is the server's clock (default time.Now).
	Now func() time.Time
}

// Server is the emulator. Create it with New or NewTLS (or NewHandler to
// serve it yourself); Close it when done.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:1234 (no context path).
	URL string
	// HTTP is the underlying httptest server (its Client() trusts the
	// TLS certificate of NewTLS servers).
	HTTP *httptest.Server

	opts Options
	mux  http.Handler // the REST routes (routes.go)

	mu          sync.Mutex
	users       map[string]*user
	tokens      map[string]*token
	logins      map[string]*login
	projects    []*project
	subjects    map[string]*subject    // by accession ID
	experiments map[string]*experiment // by accession ID
	resources   map[int]*resource      // by numeric ID
	nSubject    int
	nExperiment int
	nResource   int
	nScanRow    int

	faults   []*FaultHandle
	latency  time.Duration
	requests []Request
	// requestsGen counts ResetRequests calls.
	requestsGen int
	created     int // server sessions created
	logouts     int

	inflight   map[string]int
	violations int
}

type user struct {
	name, password string
	admin          bool
	locked         bool
}

type token struct {
	alias, secret, user string
	expires             time.Time
}

// login is what XNAT calls a server session (JSESSIONID): the state of
// one logged-in client. The emulator says "login" for it, since "session"
// in this project is the imaging session (an XNAT experiment).
type login struct {
	id      string
	user    string
	last    time.Time
	csrf    string
	invalid bool
	guest   bool
}

type project struct {
	ID, SecondaryID, Name, Description string
	roles                              map[string]Role
	subjects                           []*subject
	experiments                        []*experiment
	resources                          []*resource
}

type subject struct {
	ID, Label              string
	proj                   *project
	insertDate, insertUser string
	resources              []*resource
}

type experiment struct {
	ID, Label, XSIType, Date string
	// Filled by a header pull.
	Time, UID, Modality, Scanner, Manufacturer, Model string
	proj                                              *project
	subj                                              *subject
	insertDate                                        string
	scans                                             []*scan
	resources                                         []*resource
}

type scan struct {
	ID, XSIType, Type, SeriesDescription, Quality, Note string
	UID, Modality                                       string // filled by a header pull
	rowID                                               int
	exp                                                 *experiment
	resources                                           []*resource
}

type resource struct {
	ID                                 int
	Label, Format, Content, Desc, Tags string
	category                           string
	parentURI                          string
	files                              map[string]*file
	order                              []string
	statsPopulated                     bool
	statCount                          int
	statSize                           int64
	owner                              interface{} // *project, *subject, *experiment or *scan
}

type file struct {
	Path                  string
	Data                  []byte
	MD5                   string // of Data, always known to the emulator
	Digest                string // what the catalog says ("" when checksums were off)
	Format, Content, Tags string
	Versions              int // 1 + number of overwrites
	// catalogued: listed in the resource's catalog. A file can be on disk
	// without it (an upload whose catalog write failed).
	catalogued bool
}

// New starts a plain-HTTP emulator.
func New(opts Options) *Server {
	s := newServer(opts)
	s.HTTP = httptest.NewServer(s)
	s.URL = s.HTTP.URL
	return s
}

// NewTLS starts an HTTPS emulator with httptest's self-signed certificate;
// s.HTTP.Certificate() is the CA a client must trust.
func NewTLS(opts Options) *Server {
	s := newServer(opts)
	s.HTTP = httptest.NewTLSServer(s)
	s.URL = s.HTTP.URL
	return s
}

func newServer(opts Options) *Server {
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = 15 * time.Minute
	}
	if opts.MaxLoginsPerUser <= 0 {
		opts.MaxLoginsPerUser = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 48 * time.Hour
	}
	s := &Server{
		opts:        opts,
		users:       map[string]*user{},
		tokens:      map[string]*token{},
		logins:      map[string]*login{},
		subjects:    map[string]*subject{},
		experiments: map[string]*experiment{},
		resources:   map[int]*resource{},
		inflight:    map[string]int{},
	}
	s.mux = s.routes()
	return s
}

// NewHandler makes an emulator that listens nowhere: the caller serves
// it (it is an http.Handler), as the xnatemu command does in a pod. URL
// and HTTP stay empty.
func NewHandler(opts Options) *Server { return newServer(opts) }

// Close shuts the server down (nothing for a NewHandler emulator).
func (s *Server) Close() {
	if s.HTTP != nil {
		s.HTTP.Close()
	}
}

// AddUser adds a site user with a password.
func (s *Server) AddUser(name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name] = &user{name: name, password: password}
}

// AddAdmin adds a site administrator (sees and may edit every project).
func (s *Server) AddAdmin(name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name] = &user{name: name, password: password, admin: true}
}

// SetProxyMaxBody sets Options.ProxyMaxBodyBytes.
func (s *Server) SetProxyMaxBody(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.ProxyMaxBodyBytes = n
}

// AddProject creates a project (projects are never created over REST) and
// grants roles, given as user, role pairs.
func (s *Server) AddProject(id string, grants map[string]Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &project{ID: id, Name: id, roles: map[string]Role{}}
	for u, r := range grants {
		p.roles[u] = r
	}
	s.projects = append(s.projects, p)
}

// SetProjectAlias sets a project's secondary ID, which also works in paths.
func (s *Server) SetProjectAlias(id, alias string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.projects {
		if p.ID == id {
			p.SecondaryID = alias
		}
	}
}

// RemoveProject deletes a project and everything in it.
func (s *Server) RemoveProject(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.projects {
		if p.ID == id {
			for _, sj := range p.subjects {
				delete(s.subjects, sj.ID)
			}
			for _, e := range p.experiments {
				delete(s.experiments, e.ID)
			}
			s.projects = append(s.projects[:i], s.projects[i+1:]...)
			return
		}
	}
}

// SetChecksums turns the site's checksums preference on or off for files
// written from now on.
func (s *Server) SetChecksums(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.ChecksumsDisabled = !on
}

// SetRefreshLeavesDigestsEmpty makes the catalog refresh service not
// compute digests (or compute them again, with false).
func (s *Server) SetRefreshLeavesDigestsEmpty(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.RefreshLeavesDigestsEmpty = v
}

// SetLatency adds a delay before every request is served.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetHTMLOnExpired switches Options.HTMLOnExpired.
func (s *Server) SetHTMLOnExpired(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.HTMLOnExpired = v
}

// ExpireLogins invalidates every login (server session) now.
func (s *Server) ExpireLogins() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireAllLocked()
}

func (s *Server) expireAllLocked() {
	for _, se := range s.logins {
		se.invalid = true
	}
}

func newID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// ServeHTTP implements http.Handler: request log, latency, faults,
// authentication, then the REST routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	s.mu.Lock()
	idx, gen := len(s.requests), s.requestsGen
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		UserAgent: r.UserAgent(), Time: s.opts.Now(),
	})
	lat := s.latency
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		// A request still being served when the log was reset (a test's
		// ResetRequests while a killed client's request is held) is not
		// in the new log.
		if gen == s.requestsGen && idx < len(s.requests) {
			s.requests[idx].Status = rec.status
			s.requests[idx].Duration = s.opts.Now().Sub(s.requests[idx].Time)
		}
	}()
	if lat > 0 {
		time.Sleep(lat)
	}
	if s.proxyRefuses(rec, r) {
		return
	}
	after, answered := s.applyFaults(rec, r)
	if answered {
		return
	}
	if after != nil {
		// The work is done, then the answer is lost (docs/xnat.md, "The
		// emulator": faults after the work).
		s.mux.ServeHTTP(&discardWriter{h: http.Header{}}, withFault(r, after))
		after.answer(rec)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// proxyRefuses plays a reverse proxy with a body size limit (nginx's
// client_max_body_size): 413 with the proxy's own HTML page, before XNAT
// sees the request.
func (s *Server) proxyRefuses(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	limit := s.opts.ProxyMaxBodyBytes
	s.mu.Unlock()
	if limit <= 0 || r.ContentLength <= limit {
		return false
	}
	// nginx answers from the Content-Length and drains the rest of the body
	// (lingering close), so the client reads the 413 rather than a reset.
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	fmt.Fprint(w, "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"+
		"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
	return true
}

// discardWriter takes the answer of a request whose real answer a fault
// replaces.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.wrote = true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// mutating reports whether a method writes.
func mutating(m string) bool {
	return m == http.MethodPut || m == http.MethodPost || m == http.MethodDelete
}

func itoa(n int) string { return strconv.Itoa(n) }
