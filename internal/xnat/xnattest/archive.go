package xnattest

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// target is what an archive path names, resolved as far as it exists.
type target struct {
	kind string // projects, project, subjects, subject, experiments, experiment, scans, scan, resources, resource, files, file
	top  bool   // /data/experiments or /data/subjects listing

	proj *project
	subj *subject
	exp  *experiment
	scan *scan

	name     string      // the last path item's name (subject/experiment label, scan ID, resource label)
	subjNew  string      // .../subjects/{S}/experiments/{E} with S missing: S (a PUT creates it)
	owner    interface{} // resource owner for resources/resource/files/file
	res      *resource
	filePath string
}

var errNotFound = fmt.Errorf("The server has not found anything matching the request URI")

func (s *Server) findProject(p principal, id string) *project {
	for _, pr := range s.projects {
		if (pr.ID == id || (pr.SecondaryID != "" && pr.SecondaryID == id)) && p.canSee(pr) {
			return pr
		}
	}
	return nil
}

func findSubject(pr *project, key string) *subject {
	for _, sj := range pr.subjects {
		if sj.ID == key || sj.Label == key {
			return sj
		}
	}
	return nil
}

func findExperiment(pr *project, key string) *experiment {
	for _, e := range pr.experiments {
		if e.ID == key || e.Label == key {
			return e
		}
	}
	return nil
}

func findScan(e *experiment, id string) *scan {
	for _, sc := range e.scans {
		if sc.ID == id {
			return sc
		}
	}
	return nil
}

func resourcesOf(owner interface{}) *[]*resource {
	switch o := owner.(type) {
	case *project:
		return &o.resources
	case *subject:
		return &o.resources
	case *experiment:
		return &o.resources
	case *scan:
		return &o.resources
	}
	return nil
}

func findResource(owner interface{}, key string) *resource {
	for _, r := range *resourcesOf(owner) {
		if r.Label == key || strconv.Itoa(r.ID) == key {
			return r
		}
	}
	return nil
}

// walk resolves an archive path (segments after the REST root). It must be
// called with s.mu held. Every parent must exist; the last item may not
// (a PUT creates it).
func (s *Server) walk(p principal, segs []string) (target, error) {
	t, level, err := s.walkTop(p, segs)
	if err != nil || level == "" {
		return t, err
	}
	i := 2
	for i < len(segs) {
		coll := segs[i]
		last := i+1 == len(segs)
		if coll == "resources" {
			return walkResources(t, level, segs[i+1:])
		}
		switch {
		case level == "project" && coll == "subjects":
			if last {
				t.kind = "subjects"
				return t, nil
			}
			t.name = segs[i+1]
			t.subj = findSubject(t.proj, t.name)
			t.kind = "subject"
			if i+2 < len(segs) && t.subj == nil {
				// Only an experiment PUT may name a missing subject.
				if i+4 != len(segs) || segs[i+2] != "experiments" {
					return t, errNotFound
				}
				t.subjNew = t.name
			}
			level = "subject"
		case (level == "project" || level == "subject") && coll == "experiments":
			if last {
				t.kind = "experiments"
				return t, nil
			}
			t.name = segs[i+1]
			t.exp = findExperiment(t.proj, t.name)
			t.kind = "experiment"
			if i+2 < len(segs) {
				if t.exp == nil || t.subjNew != "" || (level == "subject" && t.exp.subj != t.subj) {
					return t, errNotFound
				}
				t.subj = t.exp.subj
			}
			level = "experiment"
		case level == "experiment" && coll == "scans":
			if t.exp == nil {
				return t, errNotFound
			}
			if last {
				t.kind = "scans"
				return t, nil
			}
			t.name = segs[i+1]
			t.scan = findScan(t.exp, t.name)
			t.kind = "scan"
			if i+2 < len(segs) && t.scan == nil {
				return t, errNotFound
			}
			level = "scan"
		default:
			return t, errNotFound
		}
		i += 2
	}
	return t, nil
}

// walkTop (s.mu held) resolves the first two segments: a top-level collection
// (level "") or the project, experiment or subject it names (the level to
// go on from).
func (s *Server) walkTop(p principal, segs []string) (t target, level string, err error) {
	switch segs[0] {
	case "projects":
		if len(segs) == 1 {
			t.kind = "projects"
			return t, "", nil
		}
		t.proj = s.findProject(p, segs[1])
		if t.proj == nil {
			return t, "", errNotFound
		}
		t.kind, t.name = "project", segs[1]
		level = "project"
	case "experiments":
		if len(segs) == 1 {
			t.kind, t.top = "experiments", true
			return t, "", nil
		}
		e := s.experiments[segs[1]]
		if e == nil || !p.canSee(e.proj) {
			return t, "", errNotFound
		}
		t.proj, t.subj, t.exp = e.proj, e.subj, e
		t.kind, t.name = "experiment", segs[1]
		level = "experiment"
	case "subjects":
		if len(segs) == 1 {
			t.kind, t.top = "subjects", true
			return t, "", nil
		}
		sj := s.subjects[segs[1]]
		if sj == nil || !p.canSee(sj.proj) {
			return t, "", errNotFound
		}
		t.proj, t.subj = sj.proj, sj
		t.kind, t.name = "subject", segs[1]
		level = "subject"
	default:
		return t, "", errNotFound
	}
	return t, level, nil
}

// walkResources resolves what follows ".../resources" at level (of the
// resource owner in t): the resources, one resource, its files or a file.
func walkResources(t target, level string, rest []string) (target, error) {
	var owner interface{}
	switch level {
	case "project":
		owner = t.proj
	case "subject":
		owner = t.subj
	case "experiment":
		owner = t.exp
	case "scan":
		owner = t.scan
	}
	t.owner = owner
	if len(rest) == 0 {
		t.kind = "resources"
		return t, nil
	}
	t.name = rest[0]
	t.res = findResource(owner, t.name)
	if len(rest) == 1 {
		t.kind = "resource"
		return t, nil
	}
	if rest[1] != "files" {
		return t, errNotFound
	}
	if len(rest) == 2 {
		t.kind = "files"
		return t, nil
	}
	t.kind = "file"
	t.filePath = strings.Join(rest[2:], "/")
	return t, nil
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// xsiFields collects the "<type>/<field>=value" parameters of a PUT. A key
// naming a different type than xsiType is a 422 (wrong xsiType key).
func xsiFields(q url.Values, xsiType string) (map[string]string, bool) {
	out := map[string]string{}
	for k, vs := range q {
		i := strings.Index(k, "/")
		if i < 0 || !strings.Contains(k[:i], ":") {
			continue
		}
		if !strings.EqualFold(k[:i], xsiType) {
			return nil, false
		}
		out[strings.ToLower(k[i+1:])] = vs[0]
	}
	return out, true
}

// del handles DELETE: owners only (members and collaborators get 403).
func (s *Server) del(w http.ResponseWriter, p principal, t target) {
	if t.kind == "project" || t.proj == nil {
		writeStatusPage(w, http.StatusForbidden, "Projects cannot be deleted here.")
		return
	}
	if p.roleOf(t.proj) != Owner {
		writeStatusPage(w, http.StatusForbidden, "Specified user account has insufficient delete privileges in the "+t.proj.ID+" project.")
		return
	}
	notFound := func() { writeStatusPage(w, http.StatusNotFound, errNotFound.Error()) }
	switch t.kind {
	case "file":
		if t.res == nil || t.res.files[t.filePath] == nil {
			notFound()
			return
		}
		delete(t.res.files, t.filePath)
		for i, fp := range t.res.order {
			if fp == t.filePath {
				t.res.order = append(t.res.order[:i], t.res.order[i+1:]...)
				break
			}
		}
	case "resource":
		if t.res == nil {
			notFound()
			return
		}
		list := resourcesOf(t.owner)
		*list = removeResource(*list, t.res)
		delete(s.resources, t.res.ID)
	case "scan":
		if t.scan == nil {
			notFound()
			return
		}
		for i, sc := range t.exp.scans {
			if sc == t.scan {
				t.exp.scans = append(t.exp.scans[:i], t.exp.scans[i+1:]...)
				break
			}
		}
	case "experiment":
		if t.exp == nil || t.subjNew != "" || (t.subj != nil && t.exp.subj != t.subj) {
			notFound()
			return
		}
		s.removeExperiment(t.exp)
	case "subject":
		if t.subj == nil {
			notFound()
			return
		}
		for _, e := range append([]*experiment(nil), t.proj.experiments...) {
			if e.subj == t.subj {
				s.removeExperiment(e)
			}
		}
		for i, sj := range t.proj.subjects {
			if sj == t.subj {
				t.proj.subjects = append(t.proj.subjects[:i], t.proj.subjects[i+1:]...)
				break
			}
		}
		delete(s.subjects, t.subj.ID)
	default:
		writeStatusPage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	w.WriteHeader(http.StatusOK)
}

func removeResource(list []*resource, rs *resource) []*resource {
	for i, r := range list {
		if r == rs {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

func (s *Server) removeExperiment(e *experiment) {
	for i, x := range e.proj.experiments {
		if x == e {
			e.proj.experiments = append(e.proj.experiments[:i], e.proj.experiments[i+1:]...)
			break
		}
	}
	delete(s.experiments, e.ID)
}
