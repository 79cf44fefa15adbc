package xnattest

import (
	"context"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// Fault describes a misbehaviour injected before a request reaches the
// emulated XNAT. A request matches when Method (if set), Path (a regular
// expression on the escaped request path, if set) and Match (if set) all
// agree. Matching requests are counted; the fault fires on the Nth of them
// (1-based; 0 means from the first) and on the Times-1 following ones
// (Times 0 means 1 when Nth > 0 and "forever" when Nth == 0).
//
// When it fires it waits Delay, then expires every login if
// ExpireLogins is set, then hangs up without an answer if HangUp is set,
// or answers Status (with Header and Body; an HTML status page when Body is
// empty) if Status is set; otherwise the request is served normally.
//
// With After set, the request is first served in full (files written,
// objects created) and only then is the answer replaced by the hang-up or
// Status: a proxy that gave up (504) while Tomcat carried on, or an error
// after the work was done (500). Uncatalogued (uploads only, implies After)
// writes the files to disk but leaves them out of the resource's catalog,
// as when the catalog write fails: XNAT then lists nothing new but reports
// the files as duplicates on a resend.
type Fault struct {
	Method string
	Path   string
	Match  func(*http.Request) bool
	Nth    int
	Times  int

	After        bool
	Uncatalogued bool

	Delay        time.Duration
	ExpireLogins bool
	HangUp       bool
	Status       int
	Header       http.Header
	Body         string
}

// FaultHandle is an injected fault.
type FaultHandle struct {
	f       Fault
	re      *regexp.Regexp
	mu      sync.Mutex
	seen    int
	fired   int
	removed bool
}

// Inject adds a fault; faults are checked in the order they were added and
// every firing one applies (the first that answers ends the request).
func (s *Server) Inject(f Fault) *FaultHandle {
	h := &FaultHandle{f: f}
	if f.Path != "" {
		h.re = regexp.MustCompile(f.Path)
	}
	s.mu.Lock()
	s.faults = append(s.faults, h)
	s.mu.Unlock()
	return h
}

// Fired reports how many requests the fault has fired on.
func (h *FaultHandle) Fired() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fired
}

// Remove disables the fault.
func (h *FaultHandle) Remove() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removed = true
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (h *FaultHandle) fires(r *http.Request) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.removed {
		return false
	}
	if h.f.Method != "" && h.f.Method != r.Method {
		return false
	}
	if h.re != nil && !h.re.MatchString(r.URL.EscapedPath()) {
		return false
	}
	if h.f.Match != nil && !h.f.Match(r) {
		return false
	}
	h.seen++
	first := h.f.Nth
	if first <= 0 {
		first = 1
	}
	times := h.f.Times
	if times <= 0 {
		if h.f.Nth > 0 {
			times = 1
		} else {
			times = int(^uint(0) >> 1)
		}
	}
	if h.seen < first || h.seen-first >= times {
		return false
	}
	h.fired++
	return true
}

// applyFaults runs the firing faults; it reports whether the request was
// answered (or hung up). The first firing fault with After (or
// Uncatalogued) is returned instead, for ServeHTTP to apply once the
// request has been served.
func (s *Server) applyFaults(w http.ResponseWriter, r *http.Request) (after *FaultHandle, answered bool) {
	s.mu.Lock()
	faults := append([]*FaultHandle(nil), s.faults...)
	s.mu.Unlock()
	for _, h := range faults {
		if !h.fires(r) {
			continue
		}
		f := h.f
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return nil, true
			}
		}
		if f.ExpireLogins {
			s.ExpireLogins()
		}
		if f.After || f.Uncatalogued {
			if after == nil {
				after = h
			}
			continue
		}
		if f.HangUp || f.Status != 0 {
			h.answer(w)
			return nil, true
		}
	}
	return after, false
}

type faultKey struct{}

// withFault marks a request served under an After fault.
func withFault(r *http.Request, h *FaultHandle) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), faultKey{}, h))
}

// uncatalogued reports whether an upload must leave its files out of the
// catalog.
func uncatalogued(r *http.Request) bool {
	h, ok := r.Context().Value(faultKey{}).(*FaultHandle)
	return ok && h.f.Uncatalogued
}

// answer hangs up or writes the fault's status.
func (h *FaultHandle) answer(w http.ResponseWriter) {
	f := h.f
	if f.HangUp {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		if hj, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
			if h2, ok := hj.Unwrap().(http.Hijacker); ok {
				if conn, _, err := h2.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
		}
		panic(http.ErrAbortHandler)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.Body != "" {
		w.WriteHeader(status)
		w.Write([]byte(f.Body))
		return
	}
	writeStatusPage(w, status, http.StatusText(status))
}
