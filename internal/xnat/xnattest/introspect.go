package xnattest

import (
	"regexp"
	"sort"
	"time"
)

// Request is one request as the emulator saw it.
type Request struct {
	Method    string
	Path      string // escaped path, e.g. /data/projects/P1
	Query     string // raw query
	UserAgent string
	Status    int           // the answer's status (0 for a hang-up before any answer)
	Time      time.Time     // when it arrived
	Duration  time.Duration // until its handler returned
}

// Requests returns the request log in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests clears the request log (faults keep their counters).
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.requestsGen++
}

// Count returns how many logged requests have the method ("" = any) and a
// path matching the regular expression pathRE ("" = any).
func (s *Server) Count(method, pathRE string) int {
	var re *regexp.Regexp
	if pathRE != "" {
		re = regexp.MustCompile(pathRE)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if (method == "" || r.Method == method) && (re == nil || re.MatchString(r.Path)) {
			n++
		}
	}
	return n
}

// LoginsCreated is the number of logins (server sessions) created (every
// Basic-auth request and every form login creates one).
func (s *Server) LoginsCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

// Logouts is the number of DELETE /data/JSESSION calls that ended a session.
func (s *Server) Logouts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logouts
}

// ActiveLogins is the number of logins neither invalidated nor idle
// past the timeout.
func (s *Server) ActiveLogins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	n := 0
	for _, se := range s.logins {
		if !se.invalid && now.Sub(se.last) <= s.opts.LoginTimeout {
			n++
		}
	}
	return n
}

// ConcurrentUploads is the number of uploads that arrived while another
// upload into the same resource was still being served (docs/xnat.md,
// "Uploading files": never do
// that).
func (s *Server) ConcurrentUploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.violations
}

// SubjectInfo describes a subject.
type SubjectInfo struct{ ID, Label string }

// ExperimentInfo describes an experiment. Time, UID, Modality, Scanner,
// Manufacturer and Model are filled by a header pull.
type ExperimentInfo struct {
	ID, Label, XSIType, Date, SubjectID, SubjectLabel string
	Time, UID, Modality, Scanner, Manufacturer, Model string
}

// ScanInfo describes a scan (UID: the Series Instance UID a header pull
// read).
type ScanInfo struct{ ID, XSIType, Type, SeriesDescription, UID string }

// ResourceInfo describes a resource.
type ResourceInfo struct {
	ID                     int
	Label, Format, Content string
}

// FileInfo describes a stored file.
type FileInfo struct {
	Path     string
	Size     int
	MD5      string // of the stored bytes
	Digest   string // what the catalog lists ("" while checksums were off)
	Versions int    // 1 + overwrites
	// Catalogued: listed by XNAT. Files lists what is on disk, which
	// includes files whose catalog entry was never written.
	Catalogued bool
}

// Projects lists project IDs.
func (s *Server) Projects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.projects {
		out = append(out, p.ID)
	}
	return out
}

func (s *Server) projectLocked(id string) *project {
	for _, p := range s.projects {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// Subjects lists a project's subjects.
func (s *Server) Subjects(projectID string) []SubjectInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectLocked(projectID)
	if p == nil {
		return nil
	}
	var out []SubjectInfo
	for _, sj := range p.subjects {
		out = append(out, SubjectInfo{ID: sj.ID, Label: sj.Label})
	}
	return out
}

// Experiments lists a project's experiments.
func (s *Server) Experiments(projectID string) []ExperimentInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectLocked(projectID)
	if p == nil {
		return nil
	}
	var out []ExperimentInfo
	for _, e := range p.experiments {
		out = append(out, ExperimentInfo{ID: e.ID, Label: e.Label, XSIType: e.XSIType, Date: e.Date,
			SubjectID: e.subj.ID, SubjectLabel: e.subj.Label, Time: e.Time, UID: e.UID, Modality: e.Modality,
			Scanner: e.Scanner, Manufacturer: e.Manufacturer, Model: e.Model})
	}
	return out
}

func (s *Server) experimentLocked(projectID, exp string) *experiment {
	p := s.projectLocked(projectID)
	if p == nil {
		return nil
	}
	return findExperiment(p, exp)
}

// Scans lists an experiment's scans (experiment by label or ID).
func (s *Server) Scans(projectID, exp string) []ScanInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.experimentLocked(projectID, exp)
	if e == nil {
		return nil
	}
	var out []ScanInfo
	for _, sc := range e.scans {
		out = append(out, ScanInfo{ID: sc.ID, XSIType: sc.XSIType, Type: sc.Type, SeriesDescription: sc.SeriesDescription, UID: sc.UID})
	}
	return out
}

func (s *Server) scanResourcesLocked(projectID, exp, scanID string) *[]*resource {
	e := s.experimentLocked(projectID, exp)
	if e == nil {
		return nil
	}
	if scanID == "" {
		return &e.resources
	}
	sc := findScan(e, scanID)
	if sc == nil {
		return nil
	}
	return &sc.resources
}

// Resources lists the resources of a scan (scanID "" = of the experiment).
func (s *Server) Resources(projectID, exp, scanID string) []ResourceInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.scanResourcesLocked(projectID, exp, scanID)
	if list == nil {
		return nil
	}
	var out []ResourceInfo
	for _, rs := range *list {
		out = append(out, ResourceInfo{ID: rs.ID, Label: rs.Label, Format: rs.Format, Content: rs.Content})
	}
	return out
}

func (s *Server) resourceLocked(projectID, exp, scanID, label string) *resource {
	list := s.scanResourcesLocked(projectID, exp, scanID)
	if list == nil {
		return nil
	}
	for _, rs := range *list {
		if rs.Label == label {
			return rs
		}
	}
	return nil
}

// Files lists a resource's files sorted by path.
func (s *Server) Files(projectID, exp, scanID, resource string) []FileInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.resourceLocked(projectID, exp, scanID, resource)
	if rs == nil {
		return nil
	}
	var out []FileInfo
	for _, f := range rs.files {
		out = append(out, FileInfo{Path: f.Path, Size: len(f.Data), MD5: f.MD5, Digest: f.Digest, Versions: f.Versions,
			Catalogued: f.catalogued})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// FileData returns a stored file's bytes (nil if absent).
func (s *Server) FileData(projectID, exp, scanID, resource, path string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.resourceLocked(projectID, exp, scanID, resource)
	if rs == nil || rs.files[path] == nil {
		return nil
	}
	return append([]byte(nil), rs.files[path].Data...)
}

// RemoveFile deletes a stored file (to simulate a gap). It reports whether
// the file existed.
func (s *Server) RemoveFile(projectID, exp, scanID, resource, path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.resourceLocked(projectID, exp, scanID, resource)
	if rs == nil || rs.files[path] == nil {
		return false
	}
	delete(rs.files, path)
	for i, p := range rs.order {
		if p == path {
			rs.order = append(rs.order[:i], rs.order[i+1:]...)
			break
		}
	}
	return true
}

// CorruptFile replaces a stored file's bytes (and its catalog digest, as a
// refresh would) to simulate damage. It reports whether the file existed.
func (s *Server) CorruptFile(projectID, exp, scanID, resource, path string, data []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.resourceLocked(projectID, exp, scanID, resource)
	if rs == nil || rs.files[path] == nil {
		return false
	}
	f := rs.files[path]
	f.Data = append([]byte(nil), data...)
	f.MD5 = md5hex(f.Data)
	if f.Digest != "" {
		f.Digest = f.MD5
	}
	return true
}

// Uncatalog drops a file's catalog entry and leaves the file on disk (the
// state an interrupted upload leaves). It reports whether the file existed.
func (s *Server) Uncatalog(projectID, exp, scanID, resource, path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.resourceLocked(projectID, exp, scanID, resource)
	if rs == nil || rs.files[path] == nil {
		return false
	}
	rs.files[path].catalogued = false
	return true
}
