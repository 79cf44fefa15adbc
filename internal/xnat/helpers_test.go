package xnat_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/xnat"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

const (
	user     = "svc-uploader"
	password = "s3cret-Pa55word"
)

var fastRetry = xnat.RetryPolicy{Attempts: 5, Initial: time.Millisecond, Max: 5 * time.Millisecond}

type tenv struct {
	t   *testing.T
	srv *xnattest.Server
}

func setup(t *testing.T, opts xnattest.Options) *tenv {
	t.Helper()
	srv := xnattest.New(opts)
	t.Cleanup(srv.Close)
	return populate(t, srv)
}

func populate(t *testing.T, srv *xnattest.Server) *tenv {
	srv.AddUser(user, password)
	srv.AddUser("viewer", "viewer-pw")
	srv.AddProject("P1", map[string]xnattest.Role{user: xnattest.Owner, "viewer": xnattest.Collaborator})
	srv.AddProject("HIDDEN", nil)
	return &tenv{t: t, srv: srv}
}

func (e *tenv) config() xnat.Config {
	return xnat.Config{URL: e.srv.URL, Username: user, Password: password, Retry: fastRetry}
}

func (e *tenv) client(mod func(*xnat.Config)) *xnat.Client {
	e.t.Helper()
	cfg := e.config()
	if mod != nil {
		mod(&cfg)
	}
	c, err := xnat.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// content is a deterministic synthetic file body.
func content(seed string, scan, i, size int) []byte {
	p := []byte(fmt.Sprintf("%s|%d|%d|", seed, scan, i))
	return bytes.Repeat(p, size/len(p)+1)[:size]
}

func fileOf(path string, data []byte) xnat.File {
	return xnat.File{Path: path, Size: int64(len(data)), MD5: md5hex(data),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// session builds a synthetic MR session: scans 1..n, each with a DICOM
// resource of perScan files of size bytes.
func session(label string, scans, perScan, size int) xnat.Session {
	s := xnat.Session{Project: "P1", Subject: "P1-SUBJ" + label, Label: label, XSIType: xnat.SessionXSIType("MR")}
	for sc := 1; sc <= scans; sc++ {
		r := xnat.Resource{Label: "DICOM", Format: "DICOM", Content: "RAW"}
		for i := 0; i < perScan; i++ {
			r.Files = append(r.Files, fileOf(fmt.Sprintf("1.2.826.0.1.%d.%d.dcm", sc, i), content(label, sc, i, size)))
		}
		s.Scans = append(s.Scans, xnat.Scan{
			ScanSpec:  xnat.ScanSpec{ID: fmt.Sprint(sc), XSIType: xnat.ScanXSIType("MR", `ORIGINAL\PRIMARY`, s.XSIType), Type: fmt.Sprintf("T%d", sc), SeriesDescription: fmt.Sprintf("series_%d", sc)},
			Resources: []xnat.Resource{r},
		})
	}
	return s
}

// checkStored asserts that XNAT holds exactly the session's files with
// their MD5s, each written once.
func (e *tenv) checkStored(s xnat.Session) {
	e.t.Helper()
	exps := e.srv.Experiments(s.Project)
	var found *xnattest.ExperimentInfo
	for i := range exps {
		if exps[i].Label == s.Label {
			found = &exps[i]
		}
	}
	if found == nil {
		e.t.Fatalf("experiment %s not in XNAT", s.Label)
	}
	if found.SubjectLabel != s.Subject || found.XSIType != s.XSIType {
		e.t.Fatalf("experiment %+v, want subject %s type %s", *found, s.Subject, s.XSIType)
	}
	scans := map[string]xnattest.ScanInfo{}
	for _, sc := range e.srv.Scans(s.Project, s.Label) {
		scans[sc.ID] = sc
	}
	for _, sc := range s.Scans {
		got, ok := scans[sc.ID]
		if !ok {
			e.t.Fatalf("scan %s missing", sc.ID)
		}
		if got.XSIType != sc.XSIType || got.Type != sc.Type || got.SeriesDescription != sc.SeriesDescription {
			e.t.Fatalf("scan %s = %+v, want %+v", sc.ID, got, sc.ScanSpec)
		}
		for _, r := range sc.Resources {
			var res *xnattest.ResourceInfo
			for _, ri := range e.srv.Resources(s.Project, s.Label, sc.ID) {
				if ri.Label == r.Label {
					res = &ri
				}
			}
			if res == nil || res.Format != r.Format {
				e.t.Fatalf("scan %s resource %s: %+v", sc.ID, r.Label, res)
			}
			files := map[string]xnattest.FileInfo{}
			for _, f := range e.srv.Files(s.Project, s.Label, sc.ID, r.Label) {
				files[f.Path] = f
			}
			if len(files) != len(r.Files) {
				e.t.Fatalf("scan %s: %d files stored, want %d", sc.ID, len(files), len(r.Files))
			}
			for _, f := range r.Files {
				got := files[f.Path]
				if got.MD5 != f.MD5 || got.Versions != 1 {
					e.t.Fatalf("scan %s file %s: %+v, want md5 %s written once", sc.ID, f.Path, got, f.MD5)
				}
			}
		}
	}
}

func countFiles(s xnat.Session) int {
	n := 0
	for _, sc := range s.Scans {
		for _, r := range sc.Resources {
			n += len(r.Files)
		}
	}
	return n
}
