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

func (s *Server) archive(w http.ResponseWriter, r *http.Request, p principal, segs []string) {
	// Uploads read their body before taking the lock.
	if len(segs) >= 2 && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
		for i := range segs {
			if segs[i] == "files" && i >= 2 && segs[i-2] == "resources" {
				s.upload(w, r, p, segs)
				return
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.walk(p, segs)
	if err != nil {
		writeStatusPage(w, http.StatusNotFound, err.Error())
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.get(w, r, p, t)
	case http.MethodPut:
		s.put(w, r, p, t)
	case http.MethodDelete:
		s.del(w, p, t)
	default:
		writeStatusPage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, p principal, t target) {
	switch t.kind {
	case "projects":
		tb := &table{title: "Projects", cols: []string{"ID", "secondary_ID", "name", "description", "pi_firstname", "pi_lastname", "URI"}}
		for _, pr := range s.projects {
			if p.canSee(pr) {
				tb.rows = append(tb.rows, map[string]string{"ID": pr.ID, "secondary_ID": pr.SecondaryID, "name": pr.Name,
					"description": pr.Description, "pi_firstname": "", "pi_lastname": "", "URI": "/data/projects/" + pr.ID})
			}
		}
		writeTable(w, r, tb)
	case "project":
		writeItem(w, r, item{XSIType: "xnat:projectData", Fields: map[string]string{
			"ID": t.proj.ID, "secondary_ID": t.proj.SecondaryID, "name": t.proj.Name, "description": t.proj.Description}})
	case "subjects":
		tb := &table{title: "Subjects", cols: []string{"ID", "project", "label", "insert_date", "insert_user", "URI"}}
		var list []*subject
		if t.top {
			for _, pr := range s.projects {
				if p.canSee(pr) {
					list = append(list, pr.subjects...)
				}
			}
		} else {
			list = t.proj.subjects
		}
		for _, sj := range list {
			tb.rows = append(tb.rows, map[string]string{"ID": sj.ID, "project": sj.proj.ID, "label": sj.Label,
				"insert_date": sj.insertDate, "insert_user": sj.insertUser, "URI": "/data/subjects/" + sj.ID})
		}
		writeTable(w, r, tb)
	case "subject":
		if t.subj == nil {
			writeStatusPage(w, http.StatusNotFound, "Unable to find subject "+t.name)
			return
		}
		writeItem(w, r, item{XSIType: "xnat:subjectData", Fields: map[string]string{
			"ID": t.subj.ID, "label": t.subj.Label, "project": t.subj.proj.ID}})
	case "experiments":
		cols := []string{"ID", "project", "date", "xsiType", "label", "insert_date", "URI"}
		var list []*experiment
		switch {
		case t.top:
			cols = append(cols, "subject_ID", "subject_label")
			for _, pr := range s.projects {
				if p.canSee(pr) {
					list = append(list, pr.experiments...)
				}
			}
		case t.subj != nil:
			for _, e := range t.proj.experiments {
				if e.subj == t.subj {
					list = append(list, e)
				}
			}
		default:
			list = t.proj.experiments
		}
		tb := &table{title: "Experiments", cols: cols}
		for _, e := range list {
			row := map[string]string{"ID": e.ID, "project": e.proj.ID, "date": e.Date, "xsiType": e.XSIType,
				"label": e.Label, "insert_date": e.insertDate, "URI": "/data/experiments/" + e.ID}
			if t.top {
				row["subject_ID"], row["subject_label"] = e.subj.ID, e.subj.Label
			}
			tb.rows = append(tb.rows, row)
		}
		writeTable(w, r, tb)
	case "experiment":
		if t.exp == nil || t.subjNew != "" || (t.subj != nil && t.exp.subj != t.subj) {
			writeStatusPage(w, http.StatusNotFound, "Unable to find experiment "+t.name)
			return
		}
		writeItem(w, r, experimentItem(t.exp))
	case "scans":
		tb := &table{title: "Scans", cols: []string{"xnat_imagescandata_id", "ID", "type", "quality", "xsiType", "note", "series_description", "URI"}}
		for _, sc := range t.exp.scans {
			tb.rows = append(tb.rows, map[string]string{"xnat_imagescandata_id": itoa(sc.rowID), "ID": sc.ID, "type": sc.Type,
				"quality": sc.Quality, "xsiType": sc.XSIType, "note": sc.Note, "series_description": sc.SeriesDescription,
				"URI": "/data/experiments/" + t.exp.ID + "/scans/" + sc.ID})
		}
		writeTable(w, r, tb)
	case "scan":
		if t.scan == nil {
			writeStatusPage(w, http.StatusNotFound, "Unable to find scan "+t.name)
			return
		}
		writeItem(w, r, scanItem(t.scan))
	case "resources":
		tb := &table{title: "Resources", cols: []string{"xnat_abstractresource_id", "label", "element_name", "category",
			"cat_id", "cat_desc", "file_count", "file_size", "tags", "content", "format"}}
		for _, rs := range *resourcesOf(t.owner) {
			tb.rows = append(tb.rows, resourceRow(rs))
		}
		writeTable(w, r, tb)
	case "resource":
		if t.res == nil {
			writeStatusPage(w, http.StatusNotFound, "Unable to find resource "+t.name)
			return
		}
		tb := &table{title: "Resources", cols: []string{"xnat_abstractresource_id", "label", "element_name", "category",
			"cat_id", "cat_desc", "file_count", "file_size", "tags", "content", "format"}}
		tb.rows = append(tb.rows, resourceRow(t.res))
		writeTable(w, r, tb)
	case "files":
		tb := &table{title: "Files", cols: []string{"Name", "Size", "URI", "collection", "file_tags", "file_format",
			"file_content", "cat_ID", "digest"}}
		if t.res != nil {
			for _, fp := range t.res.order {
				f := t.res.files[fp]
				if !f.catalogued {
					continue
				}
				name := fp
				if i := strings.LastIndex(fp, "/"); i >= 0 {
					name = fp[i+1:]
				}
				tb.rows = append(tb.rows, map[string]string{"Name": name, "Size": strconv.Itoa(len(f.Data)),
					"URI": t.res.parentURI + "/resources/" + itoa(t.res.ID) + "/files/" + fp, "collection": t.res.Label,
					"file_tags": f.Tags, "file_format": f.Format, "file_content": f.Content, "cat_ID": itoa(t.res.ID),
					"digest": f.Digest})
			}
		}
		writeTable(w, r, tb)
	case "file":
		var f *file
		if t.res != nil {
			f = t.res.files[t.filePath]
		}
		if f == nil || !f.catalogued {
			if r.URL.Query().Get("accept-not-found") == "true" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			writeStatusPage(w, http.StatusNotFound, "Unable to find file.")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(f.Data)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(f.Data)
		}
	default:
		writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
	}
}

func experimentItem(e *experiment) item {
	it := item{XSIType: e.XSIType, Fields: map[string]string{"ID": e.ID, "label": e.Label, "project": e.proj.ID,
		"subject_ID": e.subj.ID, "date": e.Date}}
	for k, v := range map[string]string{"time": e.Time, "UID": e.UID, "modality": e.Modality, "scanner": e.Scanner,
		"scanner/manufacturer": e.Manufacturer, "scanner/model": e.Model} {
		if v != "" {
			it.Fields[k] = v
		}
	}
	var scans []item
	for _, sc := range e.scans {
		scans = append(scans, scanItem(sc))
	}
	if len(scans) > 0 {
		it.Children = append(it.Children, child{Field: "scans/scan", Items: scans})
	}
	return it
}

func scanItem(sc *scan) item {
	it := item{XSIType: sc.XSIType, Fields: map[string]string{"ID": sc.ID, "type": sc.Type,
		"series_description": sc.SeriesDescription, "quality": sc.Quality, "note": sc.Note,
		"image_session_ID": sc.exp.ID, "xnat_imagescandata_id": itoa(sc.rowID)}}
	if sc.UID != "" {
		it.Fields["UID"], it.Fields["modality"] = sc.UID, sc.Modality
	}
	var files []item
	for _, rs := range sc.resources {
		files = append(files, item{XSIType: "xnat:resourceCatalog", Fields: map[string]string{
			"label": rs.Label, "format": rs.Format, "content": rs.Content, "xnat_abstractresource_id": itoa(rs.ID)}})
	}
	if len(files) > 0 {
		it.Children = append(it.Children, child{Field: "file", Items: files})
	}
	return it
}

func resourceRow(rs *resource) map[string]string {
	count, size := "", ""
	if rs.statsPopulated {
		count, size = itoa(rs.statCount), strconv.FormatInt(rs.statSize, 10)
	}
	return map[string]string{"xnat_abstractresource_id": itoa(rs.ID), "label": rs.Label, "element_name": "xnat:resourceCatalog",
		"category": rs.category, "cat_id": itoa(rs.ID), "cat_desc": rs.Desc, "file_count": count, "file_size": size,
		"tags": rs.Tags, "content": rs.Content, "format": rs.Format}
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
