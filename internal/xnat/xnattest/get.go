package xnattest

// GET on the archive: one function per kind of path (the routes of
// routes.go), answering tables and items as XNAT does.

import (
	"net/http"
	"strconv"
	"strings"
)

// resourceCols are the columns of a resources table.
var resourceCols = []string{"xnat_abstractresource_id", "label", "element_name", "category",
	"cat_id", "cat_desc", "file_count", "file_size", "tags", "content", "format"}

// getter answers the GET (or HEAD) of a resolved archive path.
type getter func(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target)

// getProjects: GET /projects: the projects the caller sees.
func getProjects(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
	tb := &table{title: "Projects", cols: []string{"ID", "secondary_ID", "name", "description", "pi_firstname", "pi_lastname", "URI"}}
	for _, pr := range s.projects {
		if p.canSee(pr) {
			tb.rows = append(tb.rows, map[string]string{"ID": pr.ID, "secondary_ID": pr.SecondaryID, "name": pr.Name,
				"description": pr.Description, "pi_firstname": "", "pi_lastname": "", "URI": "/data/projects/" + pr.ID})
		}
	}
	writeTable(w, r, tb)
}

// getProject: GET of a project.
func getProject(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
	writeItem(w, r, item{XSIType: "xnat:projectData", Fields: map[string]string{
		"ID": t.proj.ID, "secondary_ID": t.proj.SecondaryID, "name": t.proj.Name, "description": t.proj.Description}})
}

// getSubjects: GET /subjects (every visible project's) or a project's
// subjects.
func getSubjects(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
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
}

// getSubject: GET of a subject.
func getSubject(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
	if t.subj == nil {
		writeStatusPage(w, http.StatusNotFound, "Unable to find subject "+t.name)
		return
	}
	writeItem(w, r, item{XSIType: "xnat:subjectData", Fields: map[string]string{
		"ID": t.subj.ID, "label": t.subj.Label, "project": t.subj.proj.ID}})
}

// getExperiments: GET /experiments (every visible project's, with the
// subject's ID and label), a project's or a subject's experiments.
func getExperiments(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
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
}

// getExperiment: GET of an experiment, with its scans.
func getExperiment(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
	if t.exp == nil || t.subjNew != "" || (t.subj != nil && t.exp.subj != t.subj) {
		writeStatusPage(w, http.StatusNotFound, "Unable to find experiment "+t.name)
		return
	}
	writeItem(w, r, experimentItem(t.exp))
}

// getScans: GET of an experiment's scans.
func getScans(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
	tb := &table{title: "Scans", cols: []string{"xnat_imagescandata_id", "ID", "type", "quality", "xsiType", "note", "series_description", "URI"}}
	for _, sc := range t.exp.scans {
		tb.rows = append(tb.rows, map[string]string{"xnat_imagescandata_id": itoa(sc.rowID), "ID": sc.ID, "type": sc.Type,
			"quality": sc.Quality, "xsiType": sc.XSIType, "note": sc.Note, "series_description": sc.SeriesDescription,
			"URI": "/data/experiments/" + t.exp.ID + "/scans/" + sc.ID})
	}
	writeTable(w, r, tb)
}

// getScan: GET of a scan, with its resources.
func getScan(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
	if t.scan == nil {
		writeStatusPage(w, http.StatusNotFound, "Unable to find scan "+t.name)
		return
	}
	writeItem(w, r, scanItem(t.scan))
}

// getResources: GET of an owner's resources.
func getResources(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
	tb := &table{title: "Resources", cols: resourceCols}
	for _, rs := range *resourcesOf(t.owner) {
		tb.rows = append(tb.rows, resourceRow(rs))
	}
	writeTable(w, r, tb)
}

// getResource: GET of one resource: its row of the resources table.
func getResource(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
	if t.res == nil {
		writeStatusPage(w, http.StatusNotFound, "Unable to find resource "+t.name)
		return
	}
	tb := &table{title: "Resources", cols: resourceCols}
	tb.rows = append(tb.rows, resourceRow(t.res))
	writeTable(w, r, tb)
}

// getFiles: GET of a resource's catalogued files (with their digests while
// checksums were on when they were written).
func getFiles(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
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
}

// getFile: GET or HEAD of a catalogued file's bytes; accept-not-found=true
// turns the 404 of a missing file into a 204.
func getFile(s *Server, w http.ResponseWriter, r *http.Request, p principal, t target) {
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
