package xnattest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
)

// knownUploadTypes are the Content-Types XNAT takes as a raw file body
// without inbody=true (docs/xnat.md, "Uploading files").
var knownUploadTypes = map[string]bool{
	"application/octet-stream":     true,
	"application/zip":              true,
	"application/x-zip-compressed": true,
	"application/dicom":            true,
	"application/x-tar":            true,
	"application/gzip":             true,
	"application/x-gzip":           true,
	"application/x-gtar":           true,
	"application/x-tar-gz":         true,
}

type upItem struct {
	path string
	data []byte
}

// upload handles PUT/POST …/resources/{R}/files[/{path}].
func (s *Server) upload(w http.ResponseWriter, r *http.Request, p principal, segs []string) {
	q := r.URL.Query()
	inbody := q.Get("inbody") == "true"
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	multipartBody := strings.HasPrefix(ct, "multipart/")

	// Resolve the parents first: a missing experiment or scan is a 404
	// whatever the body.
	s.mu.Lock()
	t, err := s.walk(p, segs)
	if err != nil || (t.kind != "files" && t.kind != "file") {
		s.mu.Unlock()
		writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
		return
	}
	key := resourceKey(t)
	s.inflight[key]++
	if s.inflight[key] > 1 {
		s.violations++
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[key]--
		s.mu.Unlock()
	}()

	var items []upItem
	switch {
	case multipartBody && inbody:
		writeStatusPage(w, http.StatusNotAcceptable, "Multipart content is not acceptable with inbody=true.")
		return
	case inbody || knownUploadTypes[ct]:
		data, err := io.ReadAll(r.Body)
		if err != nil {
			writeStatusPage(w, http.StatusBadRequest, "Unable to read the request body.")
			return
		}
		if len(data) == 0 && inbody {
			// An empty in-body representation fails inside the server
			// (docs/xnat.md, "Uploading files").
			writeStatusPage(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		if len(data) == 0 {
			writeStatusPage(w, http.StatusBadRequest, "You didn't provide any data to upload.")
			return
		}
		if t.filePath == "" {
			writeStatusPage(w, http.StatusBadRequest, "No file name was specified for the uploaded data.")
			return
		}
		items = append(items, upItem{path: t.filePath, data: data})
	case multipartBody && params["boundary"] != "":
		mr, err := r.MultipartReader()
		if err != nil {
			writeStatusPage(w, http.StatusBadRequest, "You didn't provide any data to upload.")
			return
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				writeStatusPage(w, http.StatusBadRequest, "Unable to read the multipart body.")
				return
			}
			if part.FileName() == "" {
				continue
			}
			data, err := io.ReadAll(part)
			if err != nil {
				writeStatusPage(w, http.StatusBadRequest, "Unable to read the multipart body.")
				return
			}
			name := t.filePath
			if name == "" {
				name = path.Base(part.FileName())
			}
			items = append(items, upItem{path: name, data: data})
		}
		if len(items) == 0 || len(items[0].data) == 0 {
			writeStatusPage(w, http.StatusBadRequest, "You didn't provide any data to upload.")
			return
		}
	default:
		writeStatusPage(w, http.StatusBadRequest, "You didn't provide any data to upload.")
		return
	}

	if q.Get("extract") == "true" {
		var expanded []upItem
		for _, it := range items {
			if !isArchiveName(it.path) {
				expanded = append(expanded, it)
				continue
			}
			members, err := extract(it.path, it.data)
			if err != nil {
				writeStatusPage(w, http.StatusBadRequest, "Unable to extract "+path.Base(it.path)+": "+err.Error())
				return
			}
			expanded = append(expanded, members...)
		}
		items = expanded
	}
	for _, it := range items {
		if !cleanRelPath(it.path) {
			writeStatusPage(w, http.StatusBadRequest, "Invalid file path.")
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// Parents may have gone while the body was read.
	t, err = s.walk(p, segs)
	if err != nil {
		writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
		return
	}
	if !p.canEdit(t.proj) {
		// No else-branch in the server's handler: 2xx, nothing written.
		w.WriteHeader(http.StatusOK)
		return
	}
	rs := t.res
	if rs == nil {
		rs = s.newResource(t.owner, t.name)
	}
	overwrite := q.Get("overwrite") == "true"
	catalog := !uncatalogued(r)
	dups := []string{}
	for _, it := range items {
		m := md5hex(it.data)
		digest := m
		if s.opts.ChecksumsDisabled {
			digest = ""
		}
		// The duplicate check looks at the disk, not the catalog: a file
		// written but never catalogued is a duplicate too.
		old := rs.files[it.path]
		if old != nil && !overwrite {
			dups = append(dups, it.path)
			continue
		}
		f := &file{Path: it.path, Data: it.data, MD5: m, Digest: digest, catalogued: catalog,
			Format: q.Get("format"), Content: q.Get("content"), Tags: q.Get("tags"), Versions: 1}
		if old != nil {
			f.Versions = old.Versions + 1
		} else {
			rs.order = append(rs.order, it.path)
		}
		rs.files[it.path] = f
	}
	if len(dups) > 0 {
		b, _ := json.Marshal(map[string][]string{"duplicates": dups})
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func resourceKey(t target) string {
	var parent string
	switch o := t.owner.(type) {
	case *project:
		parent = "p/" + o.ID
	case *subject:
		parent = "s/" + o.ID
	case *experiment:
		parent = "e/" + o.ID
	case *scan:
		parent = "e/" + o.exp.ID + "/" + o.ID
	}
	label := t.name
	if t.res != nil {
		label = t.res.Label
	}
	return parent + "/" + label
}

func isArchiveName(name string) bool {
	n := strings.ToLower(name)
	for _, ext := range []string{".zip", ".tar", ".gz", ".zar"} {
		if strings.HasSuffix(n, ext) {
			return true
		}
	}
	return false
}

// cleanRelPath accepts relative slash paths without empty, "." or ".."
// elements.
func cleanRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return false
		}
	}
	return true
}

// extract unpacks an archive; member paths are kept (a leading "./" is
// dropped), directories are skipped.
func extract(name string, data []byte) ([]upItem, error) {
	n := strings.ToLower(name)
	var out []upItem
	if strings.HasSuffix(n, ".zip") || strings.HasSuffix(n, ".zar") {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, err
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return nil, err
			}
			out = append(out, upItem{path: strings.TrimPrefix(f.Name, "./"), data: b})
		}
		return out, nil
	}
	var rd io.Reader = bytes.NewReader(data)
	if strings.HasSuffix(n, ".gz") {
		gz, err := gzip.NewReader(rd)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		rd = gz
	}
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, upItem{path: strings.TrimPrefix(h.Name, "./"), data: b})
	}
	if len(out) == 0 {
		return nil, errors.New("no files in archive")
	}
	return out, nil
}

// refreshCatalog handles POST /data/services/refresh/catalog
// (RefreshCatalog service over CatalogUtils): for each resource named,
// "append" adds files found on disk but missing from the catalog,
// "checksum" computes missing digests, "populateStats" updates the
// resource's file count and size.
func (s *Server) refreshCatalog(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	opts := map[string]bool{}
	for _, o := range strings.Split(q.Get("options"), ",") {
		opts[strings.TrimSpace(o)] = true
	}
	res := q["resource"]
	if len(res) == 0 {
		writeStatusPage(w, http.StatusBadRequest, "No resource specified.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var targets []*resource
	for _, rp := range res {
		rp = strings.TrimPrefix(rp, "/data")
		rp = strings.TrimPrefix(rp, "/archive")
		segs := strings.Split(strings.Trim(rp, "/"), "/")
		if len(segs) == 0 || segs[0] == "" {
			writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
			return
		}
		t, err := s.walk(p, segs)
		if err != nil {
			writeStatusPage(w, http.StatusNotFound, err.Error())
			return
		}
		if !p.canEdit(t.proj) {
			writeStatusPage(w, http.StatusForbidden, "Specified user account has insufficient edit privileges.")
			return
		}
		switch t.kind {
		case "experiment":
			if t.exp == nil {
				writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
				return
			}
			targets = append(targets, t.exp.resources...)
			for _, sc := range t.exp.scans {
				targets = append(targets, sc.resources...)
			}
		case "scan":
			if t.scan == nil {
				writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
				return
			}
			targets = append(targets, t.scan.resources...)
		case "resource":
			if t.res == nil {
				writeStatusPage(w, http.StatusNotFound, errNotFound.Error())
				return
			}
			targets = append(targets, t.res)
		default:
			writeStatusPage(w, http.StatusBadRequest, "Unsupported resource path.")
			return
		}
	}
	for _, rs := range targets {
		for _, f := range rs.files {
			if opts["append"] && !f.catalogued {
				// A file on disk that the catalog lacks gets an entry.
				f.catalogued = true
				if s.opts.ChecksumsDisabled {
					f.Digest = ""
				}
			}
			if opts["checksum"] && f.catalogued && f.Digest == "" && !s.opts.RefreshLeavesDigestsEmpty {
				f.Digest = f.MD5
			}
		}
		if opts["populateStats"] {
			rs.statsPopulated = true
			rs.statCount, rs.statSize = 0, 0
			for _, f := range rs.files {
				if f.catalogued {
					rs.statCount++
					rs.statSize += int64(len(f.Data))
				}
			}
		}
	}
	w.WriteHeader(http.StatusOK)
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}
