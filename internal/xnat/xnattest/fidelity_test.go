package xnattest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Behaviours of the real server the client must live with (docs/xnat.md,
// "The emulator"), one test each.

func newSession(t *testing.T, e *env) (eid, res string) {
	t.Helper()
	eid = e.must("PUT", "/data/projects/P1/subjects/S1/experiments/E1?xsiType=xnat:ctSessionData", nil, nil, 201).body
	e.must("PUT", "/data/experiments/"+eid+"/scans/1?xsiType=xnat:ctScanData", nil, nil, 200)
	return eid, "/data/experiments/" + eid + "/scans/1/resources/DICOM"
}

// TestDiskAndCatalog: an upload whose catalog write fails (500 after the
// files were written) leaves files on disk that no listing shows, that a
// resend reports as duplicates, and that a refresh with "append" brings
// into the catalog.
func TestDiskAndCatalog(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	eid, res := newSession(t, e)
	e.s.Inject(Fault{Method: "PUT", Path: `/files/`, Nth: 1, Uncatalogued: true, Status: 500})
	body := tarGz(t, map[string]string{"a.dcm": "AAAA", "b.dcm": "BB"})
	e.must("PUT", res+"/files/upload.tar.gz?extract=true&inbody=true", bytes.NewReader(body), nil, 500)
	if rs := rows(t, e.must("GET", res+"/files?format=json", nil, nil, 200)); len(rs) != 0 {
		t.Fatalf("uncatalogued files listed: %v", rs)
	}
	if fs := e.s.Files("P1", "E1", "1", "DICOM"); len(fs) != 2 || fs[0].Catalogued {
		t.Fatalf("on disk: %+v", fs)
	}
	e.must("GET", res+"/files/a.dcm", nil, nil, 404)
	r := e.must("PUT", res+"/files/upload.tar.gz?extract=true&inbody=true", bytes.NewReader(body), nil, 200)
	var d struct{ Duplicates []string }
	if json.Unmarshal([]byte(r.body), &d); len(d.Duplicates) != 2 {
		t.Fatalf("resend answer %q", r.body)
	}
	e.must("POST", "/data/services/refresh/catalog?resource=/archive/experiments/"+eid+"/scans/1/resources/DICOM&options=append,checksum,populateStats", nil, nil, 200)
	rs := rows(t, e.must("GET", res+"/files?format=json", nil, nil, 200))
	if len(rs) != 2 || rs[0]["digest"] != md5s([]byte("AAAA")) {
		t.Fatalf("after append: %v", rs)
	}
}

// TestFaultAfterWork: a 504 after the work and a hang-up after the work
// both leave the files written and catalogued.
func TestFaultAfterWork(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	_, res := newSession(t, e)
	e.s.Inject(Fault{Method: "PUT", Path: `/files/a\.dcm`, After: true, Status: 504})
	e.must("PUT", res+"/files/a.dcm?inbody=true", strings.NewReader("AAAA"), nil, 504)
	e.s.Inject(Fault{Method: "PUT", Path: `/files/b\.dcm`, After: true, HangUp: true})
	req, _ := http.NewRequest("PUT", e.s.URL+res+"/files/b.dcm?inbody=true", strings.NewReader("BB"))
	req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: e.jar})
	if r, err := http.DefaultClient.Do(req); err == nil {
		r.Body.Close()
		t.Fatalf("hang-up answered %d", r.StatusCode)
	}
	if rs := rows(t, e.must("GET", res+"/files?format=json", nil, nil, 200)); len(rs) != 2 {
		t.Fatalf("listing %v", rs)
	}
}

// TestAliasTokensAndLockedAccounts: alias tokens log in like passwords
// until they expire; a token session may issue the next token; a locked
// account is refused with 401 whatever it presents.
func TestAliasTokensAndLockedAccounts(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Now: clk.Now, LoginTimeout: 100 * time.Hour})
	alias, secret, exp := e.s.IssueToken("svc")
	if got := exp.Sub(clk.Now()); got != 48*time.Hour {
		t.Fatalf("token lifetime %v", got)
	}
	login := func(u, p string) resp { return e.callAs("POST", "/data/JSESSION", u, p) }
	if r := login(alias, secret); r.code != 200 {
		t.Fatalf("token login %d", r.code)
	}
	e.jar = login(alias, secret).body
	r := e.must("GET", "/data/services/tokens/issue", nil, nil, 200)
	var tok struct {
		Alias, Secret           string
		EstimatedExpirationTime int64
	}
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || tok.Alias == "" || tok.EstimatedExpirationTime != clk.Now().Add(48*time.Hour).UnixMilli() {
		t.Fatalf("issue: %v %s", err, r.body)
	}
	clk.Add(48*time.Hour + time.Second)
	if r := login(alias, secret); r.code != 401 || r.hdr.Get("WWW-Authenticate") == "" {
		t.Fatalf("expired token: %d", r.code)
	}
	if r := login(tok.Alias, tok.Secret); r.code != 401 {
		t.Fatalf("second token outlived its 48 h: %d", r.code)
	}
	e.s.LockUser("svc", true)
	if r := login("svc", "pw"); r.code != 401 {
		t.Fatalf("locked account: %d", r.code)
	}
	e.s.LockUser("svc", false)
	e.s.SetPassword("svc", "new")
	if r := login("svc", "pw"); r.code != 401 {
		t.Fatalf("old password: %d", r.code)
	}
	if r := login("svc", "new"); r.code != 200 {
		t.Fatalf("new password: %d", r.code)
	}
}

// TestProxyBodyLimit: a proxy in front answers 413 for a body over its
// limit; XNAT never sees it.
func TestProxyBodyLimit(t *testing.T) {
	e := newEnv(t, Options{ProxyMaxBodyBytes: 10})
	e.login()
	_, res := newSession(t, e)
	r := e.must("PUT", res+"/files/a.dcm?inbody=true", strings.NewReader(strings.Repeat("x", 11)), nil, 413)
	if !strings.Contains(r.body, "413 Request Entity Too Large") {
		t.Fatalf("413 body %q", r.body)
	}
	e.must("PUT", res+"/files/a.dcm?inbody=true", strings.NewReader("0123456789"), nil, 200)
	if fs := e.s.Files("P1", "E1", "1", "DICOM"); len(fs) != 1 {
		t.Fatalf("files %+v", fs)
	}
}

// TestPullDataFromHeaders: the header pull keys scans by series number
// (a scan with another ID gets a twin), types them by SOP class, refuses
// a type change, and fills the session's fields.
func TestPullDataFromHeaders(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	eid := e.must("PUT", "/data/projects/P1/subjects/S1/experiments/E1?xsiType=xnat:ctSessionData", nil, nil, 201).body
	ct := Header{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", SOPInstanceUID: "1.2.3.1", StudyInstanceUID: "1.2.3",
		SeriesInstanceUID: "1.2.3.4", StudyDate: "20240102", StudyTime: "101112", Modality: "CT", Manufacturer: "ACME",
		ModelName: "Scan 9", StationName: "CT01", SeriesNumber: "3", SeriesDescription: "Chest"}
	sc := ct
	sc.SOPClassUID, sc.SOPInstanceUID, sc.SeriesInstanceUID, sc.Modality, sc.SeriesNumber, sc.SeriesDescription =
		"1.2.840.10008.5.1.4.1.1.7", "1.2.3.2", "1.2.3.5", "OT", "1001", "Dose report"
	put := func(scanID, typ string, h Header) {
		e.must("PUT", "/data/experiments/"+eid+"/scans/"+scanID+"?xsiType="+typ, nil, nil, 200)
		e.must("PUT", "/data/experiments/"+eid+"/scans/"+scanID+"/resources/DICOM/files/"+h.SOPInstanceUID+".dcm?inbody=true",
			bytes.NewReader(MinimalDICOM(h)), nil, 200)
	}
	put("3", "xnat:ctScanData", ct)
	put("1001_Dose", "xnat:scScanData", sc) // not the series number: gets a twin
	e.must("PUT", "/data/experiments/"+eid+"?pullDataFromHeaders=true", nil, nil, 200)
	ex := e.s.Experiments("P1")[0]
	if ex.Date != "2024-01-02" || ex.Time != "10:11:12" || ex.Modality != "CT" || ex.Scanner != "CT01" ||
		ex.Manufacturer != "ACME" || ex.Model != "Scan 9" || ex.UID != "1.2.3" {
		t.Fatalf("session fields %+v", ex)
	}
	scans := e.s.Scans("P1", "E1")
	if len(scans) != 3 || scans[2].ID != "1001" || scans[2].XSIType != "xnat:scScanData" || scans[0].UID != "1.2.3.4" {
		t.Fatalf("scans %+v", scans)
	}
	// A scan typed against its SOP class makes the pull fail.
	put("5", "xnat:ctScanData", Header{SOPClassUID: "1.2.840.10008.5.1.4.1.1.88.22", SOPInstanceUID: "1.2.3.9",
		SeriesNumber: "5", Modality: "SR"})
	r := e.must("PUT", "/data/experiments/"+eid+"?pullDataFromHeaders=true", nil, nil, 500)
	if !strings.Contains(r.body, "Modification of scan modality not supported") {
		t.Fatalf("pull body %s", r.body)
	}
}

// TestReadHeaderSkipsSequences: the header reader steps over sequences of
// undefined length, in explicit and implicit VR.
func TestReadHeaderSkipsSequences(t *testing.T) {
	h := Header{SOPClassUID: "1.2.840.10008.5.1.4.1.1.4", Modality: "MR", SeriesNumber: "7", StationName: "MR1"}
	b := MinimalDICOM(h)
	// Insert (0008,1032) SQ of undefined length, one item of undefined
	// length holding a code value, before Modality... appended here after
	// (0008,0030) is enough: the reader must resume after it.
	var sq bytes.Buffer
	sq.Write([]byte{0x08, 0x00, 0x32, 0x10, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	sq.Write([]byte{0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF})
	writeElem(&sq, dtag{0x0008, 0x0100}, "SH", []byte("AB"))
	sq.Write([]byte{0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0})
	sq.Write([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0})
	i := bytes.Index(b, []byte{0x08, 0x00, 0x60, 0x00})
	b = append(append(append([]byte(nil), b[:i]...), sq.Bytes()...), b[i:]...)
	got, err := readHeader(b)
	if err != nil || got.Modality != "MR" || got.SeriesNumber != "7" || got.StationName != "MR1" {
		t.Fatalf("explicit: %+v %v", got, err)
	}
	if _, err := readHeader([]byte("not dicom")); err == nil {
		t.Fatal("non-DICOM read")
	}
}

// callAs sends one request with Basic auth as user:pass.
func (e *env) callAs(method, path, user, pass string) resp {
	e.t.Helper()
	saved := e.jar
	defer func() { e.jar = saved }()
	e.jar = ""
	req, _ := http.NewRequest(method, e.s.URL+path, nil)
	req.Header.Set("User-Agent", "emulator-test/1")
	req.SetBasicAuth(user, pass)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, string(b), res.Header}
}
