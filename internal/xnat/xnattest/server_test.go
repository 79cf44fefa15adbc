package xnattest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests below check the emulator against the examples and tags of
// docs/xnat.md, one section at a time, with plain net/http.

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t   *testing.T
	s   *Server
	jar string // JSESSIONID
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	s.AddUser("svc", "pw")
	s.AddUser("viewer", "pw2")
	s.AddProject("P1", map[string]Role{"svc": Owner, "viewer": Collaborator})
	s.AddProject("HIDDEN", nil)
	return &env{t: t, s: s}
}

type resp struct {
	code int
	body string
	hdr  http.Header
}

// call sends a request; with basic it sends svc:pw, else the session cookie
// if one is known.
func (e *env) call(method, path string, body io.Reader, hdr map[string]string, basic bool) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.s.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("User-Agent", "emulator-test/1")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if basic {
		req.SetBasicAuth("svc", "pw")
	} else if e.jar != "" {
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: e.jar})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, string(b), res.Header}
}

func (e *env) login() {
	e.t.Helper()
	r := e.call("POST", "/data/JSESSION", nil, nil, true)
	if r.code != 200 {
		e.t.Fatalf("login: %d %s", r.code, r.body)
	}
	e.jar = r.body
}

func (e *env) must(method, path string, body io.Reader, hdr map[string]string, want int) resp {
	e.t.Helper()
	r := e.call(method, path, body, hdr, false)
	if r.code != want {
		e.t.Fatalf("%s %s: got %d, want %d: %s", method, path, r.code, want, r.body)
	}
	return r
}

type resultSet struct {
	ResultSet struct {
		Result       []map[string]string `json:"Result"`
		TotalRecords string              `json:"totalRecords"`
	} `json:"ResultSet"`
}

func rows(t *testing.T, r resp) []map[string]string {
	t.Helper()
	var rs resultSet
	if err := json.Unmarshal([]byte(r.body), &rs); err != nil {
		t.Fatalf("not a table: %v: %s", err, r.body)
	}
	return rs.ResultSet.Result
}

func md5s(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// "Logging in and staying logged in".
func TestAuthentication(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1700000000, 0)}
	e := newEnv(t, Options{LoginTimeout: 15 * time.Minute, Now: clk.Now})

	r := e.call("POST", "/data/JSESSION", nil, nil, true)
	if r.code != 200 || !regexp.MustCompile(`^[0-9A-F]{32}$`).MatchString(r.body) {
		t.Fatalf("POST /data/JSESSION: %d %q", r.code, r.body)
	}
	var sawID, sawExp bool
	for _, c := range r.hdr.Values("Set-Cookie") {
		if strings.HasPrefix(c, "JSESSIONID="+r.body) {
			sawID = true
		}
		if regexp.MustCompile(`^SESSION_EXPIRATION_TIME="\d+,900000"`).MatchString(c) {
			sawExp = true
		}
	}
	if !sawID || !sawExp {
		t.Fatalf("cookies: %q", r.hdr.Values("Set-Cookie"))
	}
	e.jar = r.body
	if g := e.must("GET", "/data/JSESSION", nil, nil, 200); g.body != e.jar {
		t.Fatalf("GET /data/JSESSION = %q, want %q", g.body, e.jar)
	}

	// Idle past the timeout: 401 with WWW-Authenticate for a non-browser.
	clk.Add(16 * time.Minute)
	r = e.call("GET", "/data/projects?format=json", nil, nil, false)
	if r.code != 401 || r.hdr.Get("WWW-Authenticate") != `Basic realm="XNAT Protected Area"` {
		t.Fatalf("expired session: %d %q", r.code, r.hdr.Get("WWW-Authenticate"))
	}
	// A browser gets the login page with 200.
	r = e.call("GET", "/data/projects?format=json", nil, map[string]string{"User-Agent": "Mozilla/5.0 (X11)"}, false)
	if r.code != 200 || !strings.HasPrefix(r.body, "<!DOCTYPE html>") {
		t.Fatalf("browser on expired session: %d %.40q", r.code, r.body)
	}
	// HTMLOnExpired gives everyone the login page for a stale cookie.
	e.s.SetHTMLOnExpired(true)
	r = e.call("GET", "/data/projects?format=json", nil, nil, false)
	if r.code != 200 || !strings.HasPrefix(r.body, "<!DOCTYPE html>") {
		t.Fatalf("HTMLOnExpired: %d %.40q", r.code, r.body)
	}
	e.s.SetHTMLOnExpired(false)

	// Wrong credentials.
	req, _ := http.NewRequest("POST", e.s.URL+"/data/JSESSION", nil)
	req.SetBasicAuth("svc", "wrong")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}

	// Every Basic-auth request creates a session; DELETE logs out.
	before := e.s.LoginsCreated()
	e.call("GET", "/data/projects?format=json", nil, nil, true)
	e.call("GET", "/data/projects?format=json", nil, nil, true)
	if got := e.s.LoginsCreated() - before; got != 2 {
		t.Fatalf("basic requests created %d sessions, want 2", got)
	}
	e.login()
	if r := e.must("DELETE", "/data/JSESSION", nil, nil, 200); r.body != "" {
		t.Fatalf("DELETE body %q", r.body)
	}
	if r := e.call("GET", "/data/JSESSION", nil, nil, false); r.code != 401 {
		t.Fatalf("after logout: %d", r.code)
	}

	// Form login (xnatpy) and alias tokens.
	r = e.call("PUT", "/data/services/auth", strings.NewReader("username=svc&password=pw"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, false)
	if r.code != 200 || len(r.body) != 32 {
		t.Fatalf("services/auth: %d %q", r.code, r.body)
	}
	e.jar = r.body
	r = e.must("GET", "/data/services/tokens/issue", nil, nil, 200)
	var tok map[string]interface{}
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || tok["alias"] == nil || tok["secret"] == nil || tok["estimatedExpirationTime"] == nil {
		t.Fatalf("token: %v %s", err, r.body)
	}
	req, _ = http.NewRequest("GET", e.s.URL+"/data/projects/P1?format=json", nil)
	req.SetBasicAuth(tok["alias"].(string), tok["secret"].(string))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("alias token: %d", res.StatusCode)
	}
	clk.Add(49 * time.Hour)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("expired alias token: %d", res.StatusCode)
	}
}

func TestSessionCap(t *testing.T) {
	e := newEnv(t, Options{MaxLoginsPerUser: 2})
	for i, want := range []int{200, 200, 401} {
		if r := e.call("POST", "/data/JSESSION", nil, nil, true); r.code != want {
			t.Fatalf("login %d: %d, want %d", i, r.code, want)
		}
	}
}

// "Addresses and formats", "Reading": reads and existence checks.
func TestReads(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	r := e.must("GET", "/data/projects?format=json", nil, nil, 200)
	rs := rows(t, r)
	if len(rs) != 1 || rs[0]["ID"] != "P1" || rs[0]["URI"] != "/data/projects/P1" {
		t.Fatalf("projects: %v", rs)
	}
	for _, k := range []string{"secondary_ID", "name", "description", "pi_firstname", "pi_lastname"} {
		if _, ok := rs[0][k]; !ok {
			t.Errorf("project row lacks %s", k)
		}
	}
	if !strings.Contains(r.body, `"totalRecords":"1"`) {
		t.Errorf("totalRecords must be a string: %s", r.body)
	}
	for _, p := range []string{"/data/projects/P1", "/data/archive/projects/P1", "/REST/projects/P1"} {
		r := e.must("GET", p+"?format=json", nil, nil, 200)
		var obj struct {
			Items []struct {
				Meta       map[string]interface{} `json:"meta"`
				DataFields map[string]string      `json:"data_fields"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(r.body), &obj); err != nil || len(obj.Items) != 1 || obj.Items[0].DataFields["ID"] != "P1" ||
			obj.Items[0].Meta["xsi:type"] != "xnat:projectData" {
			t.Fatalf("%s: %v %s", p, err, r.body)
		}
	}
	// Unknown and invisible projects are both 404, as an HTML status page.
	for _, p := range []string{"/data/projects/NOPE", "/data/projects/HIDDEN", "/data/projects/NOPE/subjects", "/data/projects/NOPE/experiments"} {
		r := e.must("GET", p+"?format=json", nil, nil, 404)
		if !strings.Contains(r.body, "<h3>") || strings.HasPrefix(strings.TrimSpace(r.body), "{") {
			t.Fatalf("%s: error body is not a status page: %s", p, r.body)
		}
	}
	e.must("GET", "/data/projects/P1/subjects/NOPE?format=json", nil, nil, 404)
	e.must("GET", "/data/projects/P1/experiments/NOPE?format=json", nil, nil, 404)
	e.must("GET", "/data/experiments/NOPE/scans?format=json", nil, nil, 404)
	// Alias works in paths.
	e.s.SetProjectAlias("P1", "P1ALIAS")
	e.must("GET", "/data/projects/P1ALIAS?format=json", nil, nil, 200)
}

// "Creating the hierarchy", and the codes of "Errors and retries".
func TestCreate(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	r := e.must("PUT", "/data/projects/P1/subjects/SUBJ1?xsiType=xnat:subjectData", nil, nil, 201)
	if r.body != "XNAT_S00001" {
		t.Fatalf("subject ID %q", r.body)
	}
	if r := e.must("PUT", "/data/projects/P1/subjects/SUBJ1", nil, nil, 200); r.body != "XNAT_S00001" {
		t.Fatalf("repeat subject PUT body %q", r.body)
	}
	e.must("PUT", "/data/projects/P1/subjects/bad.label", nil, nil, 417)
	e.must("PUT", "/data/projects/NOPE/subjects/S", nil, nil, 404)

	// Experiment: no xsiType → 417; created 201; repeat 200.
	e.must("PUT", "/data/projects/P1/subjects/SUBJ1/experiments/SESS1", nil, nil, 417)
	r = e.must("PUT", "/data/projects/P1/subjects/SUBJ1/experiments/SESS1?xsiType=xnat:mrSessionData&req_format=qs&xnat:mrSessionData/date=2024-05-01", nil, nil, 201)
	eid := r.body
	if eid != "XNAT_E00001" {
		t.Fatalf("experiment ID %q", eid)
	}
	if r := e.must("PUT", "/data/projects/P1/subjects/SUBJ1/experiments/SESS1?xsiType=xnat:mrSessionData", nil, nil, 200); r.body != eid {
		t.Fatalf("repeat experiment body %q", r.body)
	}
	e.must("PUT", "/data/projects/P1/subjects/SUBJ1/experiments/SESS2?xsiType=xnat:mrSessionData&xnat:ctSessionData/date=2024-05-01", nil, nil, 422)
	e.must("PUT", "/data/projects/P1/subjects/SUBJ1/experiments/SESS2?xsiType=xnat:mrScanData", nil, nil, 422)
	// Any xnat:*Data session type is accepted.
	e.must("PUT", "/data/projects/P1/subjects/SUBJ1/experiments/SESS3?xsiType=xnat:otherDicomSessionData", nil, nil, 201)
	// Missing subject is auto-created.
	e.must("PUT", "/data/projects/P1/subjects/SUBJ9/experiments/SESS9?xsiType=xnat:ctSessionData", nil, nil, 201)
	if got := e.s.Subjects("P1"); len(got) != 2 || got[1].Label != "SUBJ9" {
		t.Fatalf("subjects %v", got)
	}
	// Same label under another subject → 409 (label in use).
	e.must("PUT", "/data/projects/P1/subjects/SUBJ9/experiments/SESS1?xsiType=xnat:mrSessionData", nil, nil, 409)

	// Existence idiom.
	r = e.must("GET", "/data/projects/P1/experiments/SESS1?format=json", nil, nil, 200)
	if !strings.Contains(r.body, `"xsi:type":"xnat:mrSessionData"`) || !strings.Contains(r.body, `"ID":"`+eid+`"`) {
		t.Fatalf("experiment JSON %s", r.body)
	}
	e.must("GET", "/data/projects/P1/experiments/"+eid+"?format=json", nil, nil, 200)
	e.must("GET", "/data/experiments/"+eid+"?format=json", nil, nil, 200)
	rs := rows(t, e.must("GET", "/data/projects/P1/experiments?format=json", nil, nil, 200))
	if len(rs) != 3 || rs[0]["xsiType"] != "xnat:mrSessionData" || rs[0]["date"] != "2024-05-01" || rs[0]["URI"] != "/data/experiments/"+eid {
		t.Fatalf("experiments %v", rs)
	}
	rs = rows(t, e.must("GET", "/data/experiments?format=json&label=SESS9", nil, nil, 200))
	if len(rs) != 1 || rs[0]["subject_label"] != "SUBJ9" || rs[0]["subject_ID"] == "" {
		t.Fatalf("filtered /data/experiments %v", rs)
	}

	// Scans: xsiType required every time.
	base := "/data/experiments/" + eid + "/scans/3"
	e.must("PUT", base, nil, nil, 417)
	e.must("PUT", base+"?xsiType=xnat:imageScanData", nil, nil, 400)
	// 200 for a new scan too (ScanResource never sets 201); 409 when the
	// type of an existing scan would change.
	e.must("PUT", base+"?xsiType=xnat:mrScanData&type=T1w&xnat:mrScanData/series_description=T1w_mprage", nil, nil, 200)
	e.must("PUT", base+"?xsiType=xnat:mrScanData&type=T1w", nil, nil, 200)
	if r := e.must("PUT", base+"?xsiType=xnat:scScanData", nil, nil, 409); !strings.Contains(r.body, "differs from existing xsiType") {
		t.Fatalf("409 body %s", r.body)
	}
	e.must("PUT", base+"?type=T1w", nil, nil, 417)
	rs = rows(t, e.must("GET", "/data/experiments/"+eid+"/scans?format=json", nil, nil, 200))
	if len(rs) != 1 || rs[0]["ID"] != "3" || rs[0]["type"] != "T1w" || rs[0]["series_description"] != "T1w_mprage" ||
		rs[0]["xsiType"] != "xnat:mrScanData" || rs[0]["URI"] != base || rs[0]["xnat_imagescandata_id"] == "" {
		t.Fatalf("scans %v", rs)
	}
	e.must("PUT", "/data/experiments/"+eid+"/scans/4/resources/DICOM", nil, nil, 404)

	// Resources: 409 on re-create; listing has no ID/URI.
	e.must("PUT", base+"/resources/DICOM?format=DICOM&content=RAW", nil, nil, 200)
	r = e.must("PUT", base+"/resources/DICOM?format=DICOM", nil, nil, 409)
	if !strings.Contains(r.body, "Specified resource already exists.") {
		t.Fatalf("409 body %s", r.body)
	}
	rs = rows(t, e.must("GET", base+"/resources?format=json", nil, nil, 200))
	if len(rs) != 1 || rs[0]["label"] != "DICOM" || rs[0]["format"] != "DICOM" || rs[0]["content"] != "RAW" || rs[0]["xnat_abstractresource_id"] == "" {
		t.Fatalf("resources %v", rs)
	}
	if _, ok := rs[0]["URI"]; ok {
		t.Fatalf("resource rows carry no URI: %v", rs[0])
	}
	if rs := rows(t, e.must("GET", "/data/experiments/"+eid+"/scans/3/resources/NOPE/files?format=json", nil, nil, 200)); len(rs) != 0 {
		t.Fatalf("unknown resource files %v", rs)
	}
	// Projects are never created.
	e.must("PUT", "/data/projects/NEWP", nil, nil, 404)
	e.must("PUT", "/data/projects/P1", nil, nil, 403)
}

func TestPermissions(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	e.must("PUT", "/data/projects/P1/subjects/S1/experiments/E1?xsiType=xnat:mrSessionData", nil, nil, 201)
	e.must("PUT", "/data/projects/P1/experiments/E1/scans/1?xsiType=xnat:mrScanData", nil, nil, 200)
	// The collaborator sees but may not edit; an upload is 2xx with nothing written.
	req, _ := http.NewRequest("POST", e.s.URL+"/data/JSESSION", nil)
	req.SetBasicAuth("viewer", "pw2")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	e.jar = string(b)
	e.must("GET", "/data/projects/P1?format=json", nil, nil, 200)
	e.must("PUT", "/data/projects/P1/subjects/S2", nil, nil, 403)
	e.must("PUT", "/data/projects/P1/experiments/E1/scans/1/resources/DICOM", nil, nil, 403)
	e.must("PUT", "/data/projects/P1/experiments/E1/scans/1/resources/DICOM/files/a.dcm?inbody=true", strings.NewReader("x"), nil, 200)
	if f := e.s.Files("P1", "E1", "1", "DICOM"); len(f) != 0 {
		t.Fatalf("collaborator upload stored %v", f)
	}
	e.must("DELETE", "/data/projects/P1/experiments/E1/scans/1", nil, nil, 403)
	// The owner may delete.
	e.login()
	e.must("PUT", "/data/projects/P1/experiments/E1/scans/1/resources/DICOM/files/a.dcm?inbody=true", strings.NewReader("x"), nil, 200)
	e.must("DELETE", "/data/projects/P1/experiments/E1/scans/1/resources/DICOM/files/a.dcm", nil, nil, 200)
	e.must("DELETE", "/data/projects/P1/experiments/E1/scans/1/resources/DICOM/files/a.dcm", nil, nil, 404)
	e.must("DELETE", "/data/projects/P1/experiments/E1/scans/1", nil, nil, 200)
	e.must("DELETE", "/data/projects/P1/subjects/S1", nil, nil, 200)
	e.must("GET", "/data/projects/P1/experiments/E1?format=json", nil, nil, 404)
}

func tarGz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	// Members in name order: the archive's order is the order XNAT lists
	// the files in, which tests compare.
	for _, name := range slices.Sorted(maps.Keys(files)) {
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// "Uploading files", "Verification" (checksums).
func TestUploads(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	eid := e.must("PUT", "/data/projects/P1/subjects/S1/experiments/E1?xsiType=xnat:mrSessionData", nil, nil, 201).body
	e.must("PUT", "/data/experiments/"+eid+"/scans/1?xsiType=xnat:mrScanData", nil, nil, 200)
	res := "/data/experiments/" + eid + "/scans/1/resources/DICOM"

	// Raw body with inbody=true; the missing resource is created on the fly.
	e.must("PUT", res+"/files/a.dcm?inbody=true", strings.NewReader("AAAA"), nil, 200)
	// Known upload type without inbody.
	e.must("PUT", res+"/files/sub/b.dcm", strings.NewReader("BBBB"), map[string]string{"Content-Type": "application/octet-stream"}, 200)
	// Empty body: in-body it fails inside the server (500, nothing
	// stored); without inbody it is "no data" (400).
	e.must("PUT", res+"/files/c.dcm?inbody=true", strings.NewReader(""), nil, 500)
	e.must("PUT", res+"/files/c.dcm", strings.NewReader(""), map[string]string{"Content-Type": "application/octet-stream"}, 400)
	// Multipart with inbody=true → 406; multipart alone → part filename.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "m.dcm")
	fw.Write([]byte("MMMM"))
	mw.Close()
	e.must("POST", res+"/files?inbody=true", bytes.NewReader(mp.Bytes()), map[string]string{"Content-Type": mw.FormDataContentType()}, 406)
	e.must("POST", res+"/files", bytes.NewReader(mp.Bytes()), map[string]string{"Content-Type": mw.FormDataContentType()}, 200)

	// Duplicate without overwrite: 200, duplicates JSON, untouched.
	r := e.must("PUT", res+"/files/a.dcm?inbody=true", strings.NewReader("ZZZZ"), nil, 200)
	if r.body != `{"duplicates":["a.dcm"]}` || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("duplicate answer %q %q", r.body, r.hdr.Get("Content-Type"))
	}
	if got := string(e.s.FileData("P1", "E1", "1", "DICOM", "a.dcm")); got != "AAAA" {
		t.Fatalf("duplicate overwrote: %q", got)
	}
	e.must("PUT", res+"/files/a.dcm?inbody=true&overwrite=true", strings.NewReader("YYYY"), nil, 200)
	if got := string(e.s.FileData("P1", "E1", "1", "DICOM", "a.dcm")); got != "YYYY" {
		t.Fatalf("overwrite=true did not replace: %q", got)
	}

	// tar.gz with extract=true: members kept, archive not stored, existing
	// members reported as duplicates.
	arc := tarGz(t, map[string]string{"x/1.dcm": "one", "./2.dcm": "two", "sub/b.dcm": "changed"})
	r = e.must("PUT", res+"/files/upload.tar.gz?extract=true&inbody=true", bytes.NewReader(arc), nil, 200)
	if r.body != `{"duplicates":["sub/b.dcm"]}` {
		t.Fatalf("extract answer %q", r.body)
	}
	files := e.s.Files("P1", "E1", "1", "DICOM")
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	if strings.Join(paths, ",") != "2.dcm,a.dcm,m.dcm,sub/b.dcm,x/1.dcm" {
		t.Fatalf("stored %v", paths)
	}
	// Without extract the archive is stored as a file.
	e.must("PUT", res+"/files/keep.tar.gz?inbody=true", bytes.NewReader(arc), nil, 200)

	// Listing: Name = basename, URI = parent/resources/<numeric id>/files/<path>, digest = MD5.
	rs := rows(t, e.must("GET", res+"/files?format=json", nil, nil, 200))
	rid := e.s.Resources("P1", "E1", "1")[0].ID
	found := false
	for _, row := range rs {
		if row["URI"] == "/data/experiments/"+eid+"/scans/1/resources/"+itoa(rid)+"/files/x/1.dcm" {
			found = true
			if row["Name"] != "1.dcm" || row["Size"] != "3" || row["digest"] != md5s([]byte("one")) || row["collection"] != "DICOM" || row["cat_ID"] != itoa(rid) {
				t.Fatalf("file row %v", row)
			}
		}
	}
	if !found {
		t.Fatalf("x/1.dcm not listed: %v", rs)
	}
	// Resource by numeric ID.
	if rs2 := rows(t, e.must("GET", "/data/experiments/"+eid+"/scans/1/resources/"+itoa(rid)+"/files?format=json", nil, nil, 200)); len(rs2) != len(rs) {
		t.Fatalf("by numeric id: %d rows, want %d", len(rs2), len(rs))
	}
	// File reads.
	if r := e.must("GET", res+"/files/x/1.dcm", nil, nil, 200); r.body != "one" {
		t.Fatalf("file body %q", r.body)
	}
	if r := e.must("HEAD", res+"/files/x/1.dcm", nil, nil, 200); r.hdr.Get("Content-Length") != "3" {
		t.Fatalf("HEAD length %q", r.hdr.Get("Content-Length"))
	}
	r = e.must("GET", res+"/files/nope.dcm", nil, nil, 404)
	if !strings.Contains(r.body, "Unable to find file.") {
		t.Fatalf("missing file body %s", r.body)
	}
	e.must("GET", res+"/files/nope.dcm?accept-not-found=true", nil, nil, 204)
	// Missing experiment or scan → 404.
	e.must("PUT", "/data/experiments/XNAT_E99999/scans/1/resources/DICOM/files/a.dcm?inbody=true", strings.NewReader("x"), nil, 404)
	e.must("PUT", "/data/experiments/"+eid+"/scans/99/resources/DICOM/files/a.dcm?inbody=true", strings.NewReader("x"), nil, 404)
}

func TestChecksumsOffAndRefresh(t *testing.T) {
	e := newEnv(t, Options{ChecksumsDisabled: true})
	e.login()
	eid := e.must("PUT", "/data/projects/P1/subjects/S1/experiments/E1?xsiType=xnat:ctSessionData", nil, nil, 201).body
	e.must("PUT", "/data/experiments/"+eid+"/scans/2?xsiType=xnat:ctScanData", nil, nil, 200)
	res := "/data/experiments/" + eid + "/scans/2/resources/DICOM"
	e.must("PUT", res+"/files/a.dcm?inbody=true", strings.NewReader("abc"), nil, 200)
	rs := rows(t, e.must("GET", res+"/files?format=json", nil, nil, 200))
	if rs[0]["digest"] != "" {
		t.Fatalf("checksums off but digest %q", rs[0]["digest"])
	}
	stats := rows(t, e.must("GET", "/data/experiments/"+eid+"/scans/2/resources?format=json", nil, nil, 200))
	if stats[0]["file_count"] != "" {
		t.Fatalf("stats populated before refresh: %v", stats[0])
	}
	// Refresh that does not help.
	e.s.SetRefreshLeavesDigestsEmpty(true)
	e.must("POST", "/data/services/refresh/catalog?resource=/archive/experiments/"+eid+"/scans/2/resources/DICOM&options=checksum,populateStats", nil, nil, 200)
	if rs := rows(t, e.must("GET", res+"/files?format=json", nil, nil, 200)); rs[0]["digest"] != "" {
		t.Fatalf("refresh computed digest although told not to")
	}
	e.s.SetRefreshLeavesDigestsEmpty(false)
	e.must("POST", "/data/services/refresh/catalog?resource=/archive/experiments/"+eid+"&options=checksum,populateStats", nil, nil, 200)
	if rs := rows(t, e.must("GET", res+"/files?format=json", nil, nil, 200)); rs[0]["digest"] != md5s([]byte("abc")) {
		t.Fatalf("refresh digest %q", rs[0]["digest"])
	}
	stats = rows(t, e.must("GET", "/data/experiments/"+eid+"/scans/2/resources?format=json", nil, nil, 200))
	if stats[0]["file_count"] != "1" || stats[0]["file_size"] != "3" {
		t.Fatalf("stats after populateStats: %v", stats[0])
	}
	e.must("POST", "/data/services/refresh/catalog?resource=/archive/experiments/XNAT_E99999&options=checksum", nil, nil, 404)
}

func TestFaults(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	h := e.s.Inject(Fault{Method: "GET", Path: `^/data/projects$`, Nth: 2, Times: 2, Status: 502})
	codes := []int{}
	for i := 0; i < 5; i++ {
		codes = append(codes, e.call("GET", "/data/projects", nil, nil, false).code)
	}
	if want := []int{200, 502, 502, 200, 200}; !equalInts(codes, want) || h.Fired() != 2 {
		t.Fatalf("codes %v (fired %d), want %v", codes, h.Fired(), want)
	}
	e.s.Inject(Fault{Path: `/scans`, Nth: 1, ExpireLogins: true})
	e.must("GET", "/data/projects", nil, nil, 200)
	if r := e.call("GET", "/data/experiments/X/scans", nil, nil, false); r.code != 401 {
		t.Fatalf("after ExpireLogins: %d", r.code)
	}
	e.login()
	e.s.Inject(Fault{Path: `/hang`, HangUp: true})
	req, _ := http.NewRequest("GET", e.s.URL+"/data/hang", nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("hang-up answered %d", res.StatusCode)
	}
	e.s.Inject(Fault{Path: `/slow`, Delay: 50 * time.Millisecond})
	start := time.Now()
	e.call("GET", "/data/slow", nil, nil, false)
	if time.Since(start) < 50*time.Millisecond {
		t.Fatalf("delay not applied")
	}
	if n := e.s.Count("GET", `^/data/projects$`); n != 6 {
		t.Fatalf("Count = %d", n)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConcurrentUploadDetected(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	eid := e.must("PUT", "/data/projects/P1/subjects/S1/experiments/E1?xsiType=xnat:mrSessionData", nil, nil, 201).body
	e.must("PUT", "/data/experiments/"+eid+"/scans/1?xsiType=xnat:mrScanData", nil, nil, 200)
	url := e.s.URL + "/data/experiments/" + eid + "/scans/1/resources/DICOM/files/"
	put := func(name string, body io.Reader) {
		req, _ := http.NewRequest("PUT", url+name+"?inbody=true", body)
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: e.jar})
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}
	// One upload whose body is still arriving while a second one comes in.
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() { put("slow.dcm", pr); close(done) }()
	pw.Write([]byte("part"))
	// The second upload starts once the first is under way in the
	// server, however long that takes.
	for !uploading(e.s) {
		time.Sleep(5 * time.Millisecond)
	}
	put("fast.dcm", strings.NewReader("x"))
	pw.Close()
	<-done
	if e.s.ConcurrentUploads() != 1 {
		t.Fatalf("ConcurrentUploads = %d, want 1", e.s.ConcurrentUploads())
	}
}

// uploading reports whether an upload is in progress in s.
func uploading(s *Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.inflight {
		if n > 0 {
			return true
		}
	}
	return false
}

func TestGuestAccess(t *testing.T) {
	e := newEnv(t, Options{AllowGuest: true})
	r := e.call("GET", "/data/projects/P1?format=json", nil, nil, false)
	if r.code != 404 || !strings.Contains(strings.Join(r.hdr.Values("Set-Cookie"), ";"), "JSESSIONID=") {
		t.Fatalf("guest: %d %q", r.code, r.hdr.Values("Set-Cookie"))
	}
	e.login()
	e.must("GET", "/data/projects/P1?format=json", nil, nil, 200)
	e.s.ExpireLogins()
	// A stale cookie becomes a new guest session, not a 401.
	r = e.call("GET", "/data/projects/P1?format=json", nil, nil, false)
	if r.code != 404 || !strings.Contains(strings.Join(r.hdr.Values("Set-Cookie"), ";"), "JSESSIONID=") {
		t.Fatalf("stale cookie on a guest site: %d %q", r.code, r.hdr.Values("Set-Cookie"))
	}
}

// TestResetRequestsWhileServing: a request still being served when a test
// resets the request log (a killed client's upload held by a Delay fault)
// finishes without touching the new log, and the emulator keeps answering.
func TestResetRequestsWhileServing(t *testing.T) {
	e := newEnv(t, Options{})
	h := e.s.Inject(Fault{Method: "GET", Path: "/data/projects/P1", Delay: 300 * time.Millisecond})
	done := make(chan resp, 1)
	go func() { done <- e.call("GET", "/data/projects/P1?format=json", nil, nil, true) }()
	for deadline := time.Now().Add(30 * time.Second); h.Fired() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the delayed request never arrived")
		}
	}
	e.s.ResetRequests()
	if r := <-done; r.code != http.StatusOK {
		t.Fatalf("delayed request: %d %s", r.code, r.body)
	}
	if r := e.call("GET", "/data/projects/P1?format=json", nil, nil, true); r.code != http.StatusOK {
		t.Fatalf("after the reset: %d %s", r.code, r.body)
	}
	if reqs := e.s.Requests(); len(reqs) != 1 || reqs[0].Status != http.StatusOK {
		t.Fatalf("request log after the reset: %+v", reqs)
	}
}
