package xnattest

import (
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
// When it fires it waits Delay, then expires every session if
// ExpireSessions is set, then hangs up without an answer if HangUp is set,
// or answers Status (with Header and Body; an HTML status page when Body is
// empty) if Status is set; otherwise the request is served normally.
type Fault struct {
	Method string
	Path   string
	Match  func(*http.Request) bool
	Nth    int
	Times  int

	Delay          time.Duration
	ExpireSessions bool
	HangUp         bool
	Status         int
	Header         http.Header
	Body           string
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
// answered (or hung up).
func (s *Server) applyFaults(w http.ResponseWriter, r *http.Request) bool {
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
				return true
			}
		}
		if f.ExpireSessions {
			s.ExpireSessions()
		}
		if f.HangUp {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return true
				}
			}
			if hj, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
				if h2, ok := hj.Unwrap().(http.Hijacker); ok {
					if conn, _, err := h2.Hijack(); err == nil {
						conn.Close()
						return true
					}
				}
			}
			panic(http.ErrAbortHandler)
		}
		if f.Status != 0 {
			for k, vs := range f.Header {
				for _, v := range vs {
					w.Header().Add(k, v)
				}
			}
			if f.Body != "" {
				w.WriteHeader(f.Status)
				w.Write([]byte(f.Body))
			} else {
				writeStatusPage(w, f.Status, http.StatusText(f.Status))
			}
			return true
		}
	}
	return false
}
