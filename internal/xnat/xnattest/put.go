package xnattest

// PUT on the archive: projects' subjects, experiments, scans and
// resources created or changed as XNAT does it.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

func (s *Server) now() string { return s.opts.Now().Format("2006-01-02 15:04:05.0") }

// put dispatches a PUT by what the path names; each kind has its handler.
func (s *Server) put(w http.ResponseWriter, r *http.Request, p principal, t target) {
	q := r.URL.Query()
	xsi := q.Get("xsiType")
	switch t.kind {
	case "project":
		writeStatusPage(w, http.StatusForbidden, "Specified user account has insufficient create privileges for projects.")
	case "subject":
		s.putSubject(w, p, t, q, xsi)
	case "experiment":
		s.putExperiment(w, p, t, q, xsi)
	case "scan":
		s.putScan(w, p, t, q, xsi)
	case "resource":
		s.putResource(w, p, t, q)
	default:
		writeStatusPage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

// putSubject (SubjectResource): 201 with the new ID, 200 with the ID of an
// existing subject.
func (s *Server) putSubject(w http.ResponseWriter, p principal, t target, q url.Values, xsi string) {
	if !p.canEdit(t.proj) {
		writeStatusPage(w, http.StatusForbidden, "Specified user account has insufficient create privileges for subjects in the "+t.proj.ID+" project.")
		return
	}
	if xsi != "" && !strings.EqualFold(xsi, "xnat:subjectData") {
		writeStatusPage(w, http.StatusUnprocessableEntity, "Wrong document type: "+xsi)
		return
	}
	if _, ok := xsiFields(q, "xnat:subjectData"); !ok {
		writeStatusPage(w, http.StatusUnprocessableEntity, "Wrong xsiType key")
		return
	}
	if t.subj != nil {
		writeText(w, http.StatusOK, t.subj.ID)
		return
	}
	if !labelRE.MatchString(t.name) {
		writeStatusPage(w, http.StatusExpectationFailed, "Invalid character in subject label.")
		return
	}
	sj := s.newSubject(t.proj, t.name, p)
	writeText(w, http.StatusCreated, sj.ID)
}

// putResource (CatalogResource): creates the resource; 409 when the label
// exists.
func (s *Server) putResource(w http.ResponseWriter, p principal, t target, q url.Values) {
	if !p.canEdit(t.proj) {
		writeStatusPage(w, http.StatusForbidden, "Specified user account has insufficient edit privileges for resources in the "+t.proj.ID+" project.")
		return
	}
	if t.res != nil {
		writeStatusPage(w, http.StatusConflict, "Specified resource already exists.")
		return
	}
	rs := s.newResource(t.owner, t.name)
	rs.Format, rs.Content, rs.Desc, rs.Tags = q.Get("format"), q.Get("content"), q.Get("description"), q.Get("tags")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) newSubject(pr *project, label string, p principal) *subject {
	s.nSubject++
	sj := &subject{ID: fmt.Sprintf("XNAT_S%05d", s.nSubject), Label: label, proj: pr, insertDate: s.now()}
	if p.user != nil {
		sj.insertUser = p.user.name
	}
	pr.subjects = append(pr.subjects, sj)
	s.subjects[sj.ID] = sj
	return sj
}

func validExperimentType(t string) bool {
	if !strings.HasPrefix(t, "xnat:") || !strings.HasSuffix(t, "Data") || len(t) <= len("xnat:Data") {
		return false
	}
	lt := strings.ToLower(t)
	return !strings.HasSuffix(lt, "scandata") && lt != "xnat:subjectdata" && lt != "xnat:projectdata"
}

func (s *Server) putExperiment(w http.ResponseWriter, p principal, t target, q url.Values, xsi string) {
	if !p.canEdit(t.proj) {
		writeStatusPage(w, http.StatusForbidden, "Specified user account has insufficient create privileges for experiments in the "+t.proj.ID+" project.")
		return
	}
	typ := xsi
	if typ == "" && t.exp != nil {
		typ = t.exp.XSIType
	}
	if typ == "" {
		writeStatusPage(w, http.StatusExpectationFailed, "Need PUT Contents")
		return
	}
	if !validExperimentType(typ) {
		writeStatusPage(w, http.StatusUnprocessableEntity, "Wrong document type: "+typ)
		return
	}
	fields, ok := xsiFields(q, typ)
	if !ok {
		writeStatusPage(w, http.StatusUnprocessableEntity, "Wrong xsiType key")
		return
	}
	if t.exp != nil {
		// Existing label: a PUT updates it, but may not move it to another
		// subject or change its type.
		if t.subjNew != "" || (t.subj != nil && t.exp.subj != t.subj) || (xsi != "" && !strings.EqualFold(xsi, t.exp.XSIType)) {
			writeStatusPage(w, http.StatusConflict, "Label "+t.exp.Label+" is already in use in project "+t.proj.ID+".")
			return
		}
		if l, ok := fields["label"]; ok && l != t.exp.Label {
			writeStatusPage(w, http.StatusConflict, "Relabelling via PUT is not supported.")
			return
		}
		if pj, ok := fields["project"]; ok && pj != t.proj.ID {
			writeStatusPage(w, http.StatusConflict, "Moving between projects via PUT is not supported.")
			return
		}
		if d, ok := fields["date"]; ok {
			t.exp.Date = d
		}
		if q.Get("pullDataFromHeaders") == "true" {
			if err := s.pullDataFromHeaders(t.exp); err != nil {
				writeStatusPage(w, http.StatusInternalServerError, err.Error())
				return
			}
		}
		writeText(w, http.StatusOK, t.exp.ID)
		return
	}
	if !labelRE.MatchString(t.name) {
		writeStatusPage(w, http.StatusExpectationFailed, "Invalid character in experiment label.")
		return
	}
	if t.subjNew != "" {
		// Missing subject: auto-created with that label.
		if !labelRE.MatchString(t.subjNew) {
			writeStatusPage(w, http.StatusExpectationFailed, "Invalid character in subject label.")
			return
		}
		t.subj = s.newSubject(t.proj, t.subjNew, p)
	}
	if t.subj == nil {
		// /data/projects/{P}/experiments/{E}: a new experiment needs a subject.
		writeStatusPage(w, http.StatusBadRequest, "Experiment "+t.name+" needs a subject.")
		return
	}
	s.nExperiment++
	e := &experiment{ID: fmt.Sprintf("XNAT_E%05d", s.nExperiment), Label: t.name, XSIType: typ, Date: fields["date"],
		proj: t.proj, subj: t.subj, insertDate: s.now()}
	t.proj.experiments = append(t.proj.experiments, e)
	s.experiments[e.ID] = e
	writeText(w, http.StatusCreated, e.ID)
}

func (s *Server) putScan(w http.ResponseWriter, p principal, t target, q url.Values, xsi string) {
	if !p.canEdit(t.proj) {
		writeStatusPage(w, http.StatusForbidden, "Specified user account has insufficient edit privileges for experiments in the "+t.proj.ID+" project.")
		return
	}
	switch {
	case xsi == "":
		writeStatusPage(w, http.StatusExpectationFailed, "Need PUT Contents")
		return
	case strings.EqualFold(xsi, "xnat:imageScanData"):
		writeStatusPage(w, http.StatusBadRequest, "Multiple scan modalities are not supported; specify a concrete scan xsiType.")
		return
	case !strings.HasPrefix(xsi, "xnat:") || !strings.HasSuffix(strings.ToLower(xsi), "scandata"):
		writeStatusPage(w, http.StatusUnprocessableEntity, "Wrong document type: "+xsi)
		return
	}
	fields, ok := xsiFields(q, xsi)
	if !ok {
		writeStatusPage(w, http.StatusUnprocessableEntity, "Wrong xsiType key")
		return
	}
	for _, k := range []string{"type", "quality", "note", "series_description"} {
		if v := q.Get(k); v != "" {
			if _, set := fields[k]; !set {
				fields[k] = v
			}
		}
	}
	// ScanResource.handlePut: the type of an existing scan may not change
	// (unless it is the abstract xnat:imageScanData), and the answer is 200
	// whether the scan was created or updated: the handler never sets 201.
	sc := t.scan
	if sc != nil && !strings.EqualFold(sc.XSIType, "xnat:imageScanData") && !strings.EqualFold(sc.XSIType, xsi) {
		writeStatusPage(w, http.StatusConflict, "Specified xsiType differs from existing xsiType")
		return
	}
	if sc == nil {
		sc = s.newScan(t.exp, t.name)
	}
	sc.XSIType = xsi
	if v, ok := fields["type"]; ok {
		sc.Type = v
	}
	if v, ok := fields["series_description"]; ok {
		sc.SeriesDescription = v
	}
	if v, ok := fields["quality"]; ok {
		sc.Quality = v
	}
	if v, ok := fields["note"]; ok {
		sc.Note = v
	}
	writeText(w, http.StatusOK, sc.ID)
}

func (s *Server) newScan(e *experiment, id string) *scan {
	s.nScanRow++
	sc := &scan{ID: id, rowID: s.nScanRow, exp: e}
	e.scans = append(e.scans, sc)
	return sc
}

func (s *Server) newResource(owner interface{}, label string) *resource {
	s.nResource++
	rs := &resource{ID: s.nResource, Label: label, files: map[string]*file{}, owner: owner}
	switch o := owner.(type) {
	case *project:
		rs.parentURI, rs.category = "/data/projects/"+o.ID, "resources"
	case *subject:
		rs.parentURI, rs.category = "/data/subjects/"+o.ID, "resources"
	case *experiment:
		rs.parentURI, rs.category = "/data/experiments/"+o.ID, "resources"
	case *scan:
		rs.parentURI, rs.category = "/data/experiments/"+o.exp.ID+"/scans/"+o.ID, "scans"
	}
	list := resourcesOf(owner)
	*list = append(*list, rs)
	s.resources[rs.ID] = rs
	return rs
}
