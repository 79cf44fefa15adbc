package xnattest

// The REST routes: Go 1.22 http.ServeMux patterns under each root XNAT
// answers its API under, one pattern per shape of archive path.

import (
	"net/http"
	"net/url"
	"strings"
)

// roots are the prefixes XNAT answers its REST API under.
var roots = []string{"/data", "/data/archive", "/REST"}

// The archive's item paths below a root, by level. A project's subjects
// and experiments are also reached from the top (/subjects/{ID},
// /experiments/{ID}), an experiment also through its subject.
var (
	projectPaths    = []string{"/projects/{project}"}
	subjectPaths    = []string{"/projects/{project}/subjects/{subject}", "/subjects/{subject}"}
	experimentPaths = []string{
		"/projects/{project}/experiments/{experiment}",
		"/projects/{project}/subjects/{subject}/experiments/{experiment}",
		"/experiments/{experiment}",
		"/subjects/{subject}/experiments/{experiment}",
	}
	scanPaths = under(experimentPaths, "/scans/{scan}")
	// resourceOwners are the paths that have resources.
	resourceOwners = concat(projectPaths, subjectPaths, experimentPaths, scanPaths)
)

// archiveRoute is one shape of archive path and the kind of target walk
// resolves it to.
type archiveRoute struct {
	kind string
	path string // below the root
	get  getter
	// upload: a PUT or POST is an upload of files into the resource.
	upload bool
}

// archiveRoutes lists every archive path the emulator answers: listings,
// items, resources and files.
func archiveRoutes() []archiveRoute {
	var out []archiveRoute
	add := func(kind string, get getter, paths ...string) {
		for _, p := range paths {
			out = append(out, archiveRoute{kind: kind, path: p, get: get})
		}
	}
	add("projects", getProjects, "/projects")
	add("project", getProject, projectPaths...)
	add("subjects", getSubjects, "/subjects")
	add("subjects", getSubjects, under(projectPaths, "/subjects")...)
	add("subject", getSubject, subjectPaths...)
	add("experiments", getExperiments, "/experiments")
	add("experiments", getExperiments, under(concat(projectPaths, subjectPaths), "/experiments")...)
	add("experiment", getExperiment, experimentPaths...)
	add("scans", getScans, under(experimentPaths, "/scans")...)
	add("scan", getScan, scanPaths...)
	add("resources", getResources, under(resourceOwners, "/resources")...)
	add("resource", getResource, under(resourceOwners, "/resources/{resource}")...)
	n := len(out)
	add("files", getFiles, under(resourceOwners, "/resources/{resource}/files")...)
	add("file", getFile, under(resourceOwners, "/resources/{resource}/files/{file...}")...)
	for i := n; i < len(out); i++ {
		out[i].upload = true
	}
	return out
}

func under(paths []string, suffix string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p + suffix
	}
	return out
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// routes is the REST API on http.ServeMux patterns, under each root.
// Every route but the form login authenticates first; a path under a root
// that no route names is a 404 after authentication, as in XNAT. An
// archive path may end in a slash (XNAT ignores it).
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	notFound := func(w http.ResponseWriter, _ *http.Request, _ principal, _ []string) {
		writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
	}
	service := func(h func(*Server, http.ResponseWriter, *http.Request, principal)) authedHandler {
		return func(w http.ResponseWriter, r *http.Request, p principal, _ []string) { h(s, w, r, p) }
	}
	// handle registers a pattern and, unless it ends in a {name...}
	// wildcard (which takes a trailing slash), its trailing-slash twin.
	handle := func(pattern string, h http.Handler) {
		mux.Handle(pattern, h)
		if !strings.HasSuffix(pattern, "...}") {
			mux.Handle(pattern+"/{$}", h)
		}
	}
	archive := archiveRoutes()
	for _, root := range roots {
		// Form login needs no prior authentication.
		mux.HandleFunc("PUT "+root+"/services/auth", s.formLogin)
		mux.Handle(root+"/JSESSION", s.authed(s.jsession, false))
		mux.Handle("GET "+root+"/services/tokens/issue", s.authed(service((*Server).issueToken), true))
		mux.Handle("POST "+root+"/services/refresh/catalog", s.authed(service((*Server).refreshCatalog), true))
		for _, rt := range archive {
			h := s.archiveItem(rt.kind, rt.get)
			if rt.upload {
				h = s.uploadOr(h)
			}
			handle(root+rt.path, s.authed(h, true))
		}
		mux.Handle(root, s.authed(notFound, true))
		mux.Handle(root+"/", s.authed(notFound, true))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
	})
	return mux
}

// archiveItem serves the GET (get), PUT, and DELETE of one route's kind of
// archive path, once walk has resolved it.
func (s *Server) archiveItem(kind string, get getter) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p principal, segs []string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		t, err := s.walk(p, segs)
		if err == nil && t.kind != kind {
			// The patterns and walk disagree: a bug of the emulator.
			err = errNotFound
		}
		if err != nil {
			writeStatusPage(w, http.StatusNotFound, err.Error())
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			get(s, w, r, p, t)
		case http.MethodPut:
			s.put(w, r, p, t)
		case http.MethodDelete:
			s.del(w, p, t)
		default:
			writeStatusPage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		}
	}
}

// uploadOr serves a PUT or POST as an upload (which reads its body before
// taking the lock), other methods with h. The methods share one pattern:
// a method pattern for the uploads would be more general in path than the
// trailing-slash twins and conflict with them.
func (s *Server) uploadOr(h authedHandler) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p principal, segs []string) {
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			s.upload(w, r, p, segs)
			return
		}
		h(w, r, p, segs)
	}
}

// authedHandler serves an authenticated request, given the path's
// segments below the root.
type authedHandler func(w http.ResponseWriter, r *http.Request, p principal, segs []string)

// authed authenticates a request and, for browser-like clients with a
// login, demands the CSRF token of writes (docs/xnat.md, "Logging in
// and staying logged in") when csrf is set.
func (s *Server) authed(h authedHandler, csrf bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs, ok := splitPath(r.URL)
		if !ok {
			writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
			return
		}
		p, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if csrf && isBrowser(r) && p.login != nil && mutating(r.Method) && r.URL.Query().Get("XNAT_CSRF") != p.login.csrf {
			writeStatusPage(w, http.StatusForbidden, "Forbidden: missing XNAT_CSRF token")
			return
		}
		h(w, r, p, segs)
	})
}

// splitPath strips the REST root (/data, /data/archive or /REST) and
// returns the unescaped path segments.
func splitPath(u *url.URL) ([]string, bool) {
	p := u.EscapedPath()
	switch {
	case p == "/data/archive" || strings.HasPrefix(p, "/data/archive/"):
		p = strings.TrimPrefix(p, "/data/archive")
	case p == "/data" || strings.HasPrefix(p, "/data/"):
		p = strings.TrimPrefix(p, "/data")
	case p == "/REST" || strings.HasPrefix(p, "/REST/"):
		p = strings.TrimPrefix(p, "/REST")
	default:
		return nil, false
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, true
	}
	raw := strings.Split(p, "/")
	out := make([]string, 0, len(raw))
	for _, seg := range raw {
		v, err := url.PathUnescape(seg)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}
