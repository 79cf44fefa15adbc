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

// upload handles PUT/POST …/resources/{R}/files[/{path}]: the parents
// resolved, the body read (raw, in-body or multipart) and archives
// extracted without the lock, then the files written under it.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, p principal, segs []string) {
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

	items, herr := readUpload(r, t.filePath)
	if herr == nil && r.URL.Query().Get("extract") == "true" {
		items, herr = extractArchives(items)
	}
	if herr == nil {
		for _, it := range items {
			if !cleanRelPath(it.path) {
				herr = &httpError{http.StatusBadRequest, "Invalid file path."}
				break
			}
		}
	}
	if herr != nil {
		writeStatusPage(w, herr.code, herr.msg)
		return
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
	if dups := s.storeLocked(t, items, r); len(dups) > 0 {
		b, _ := json.Marshal(map[string][]string{"duplicates": dups})
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// httpError is an answer refusing a request: a status and its message.
type httpError struct {
	code int
	msg  string
}

// readUpload reads an upload's files from its body: the body itself
// (inbody=true or a known file Content-Type; named by the path's file
// name) or the file parts of a multipart body (named by the path, else by
// their own file names).
func readUpload(r *http.Request, filePath string) ([]upItem, *httpError) {
	noData := &httpError{http.StatusBadRequest, "You didn't provide any data to upload."}
	inbody := r.URL.Query().Get("inbody") == "true"
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	multipartBody := strings.HasPrefix(ct, "multipart/")
	switch {
	case multipartBody && inbody:
		return nil, &httpError{http.StatusNotAcceptable, "Multipart content is not acceptable with inbody=true."}
	case inbody || knownUploadTypes[ct]:
		data, err := io.ReadAll(r.Body)
		switch {
		case err != nil:
			return nil, &httpError{http.StatusBadRequest, "Unable to read the request body."}
		case len(data) == 0 && inbody:
			// An empty in-body representation fails inside the server
			// (docs/xnat.md, "Uploading files").
			return nil, &httpError{http.StatusInternalServerError, "Internal Server Error"}
		case len(data) == 0:
			return nil, noData
		case filePath == "":
			return nil, &httpError{http.StatusBadRequest, "No file name was specified for the uploaded data."}
		}
		return []upItem{{path: filePath, data: data}}, nil
	case multipartBody && params["boundary"] != "":
		return readMultipart(r, filePath)
	default:
		return nil, noData
	}
}

// readMultipart reads the file parts of a multipart upload.
func readMultipart(r *http.Request, filePath string) ([]upItem, *httpError) {
	noData := &httpError{http.StatusBadRequest, "You didn't provide any data to upload."}
	unreadable := &httpError{http.StatusBadRequest, "Unable to read the multipart body."}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, noData
	}
	var items []upItem
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, unreadable
		}
		if part.FileName() == "" {
			continue
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, unreadable
		}
		name := filePath
		if name == "" {
			name = path.Base(part.FileName())
		}
		items = append(items, upItem{path: name, data: data})
	}
	if len(items) == 0 || len(items[0].data) == 0 {
		return nil, noData
	}
	return items, nil
}

// extractArchives replaces each archive (by its name) with its members
// (extract=true).
func extractArchives(items []upItem) ([]upItem, *httpError) {
	var expanded []upItem
	for _, it := range items {
		if !isArchiveName(it.path) {
			expanded = append(expanded, it)
			continue
		}
		members, err := extract(it.path, it.data)
		if err != nil {
			return nil, &httpError{http.StatusBadRequest, "Unable to extract " + path.Base(it.path) + ": " + err.Error()}
		}
		expanded = append(expanded, members...)
	}
	return expanded, nil
}

// storeLocked (s.mu held) writes the files into t's resource, creating
// it, and returns the paths not written because a file is already there
// (overwrite=true replaces it instead). The duplicate check looks at the
// disk, not the catalog: a file written but never catalogued is a
// duplicate too.
func (s *Server) storeLocked(t target, items []upItem, r *http.Request) []string {
	q := r.URL.Query()
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
	return dups
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
