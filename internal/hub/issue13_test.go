package hub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
	"github.com/aisedge/aisedge/internal/xnat"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

const (
	sopMR = "1.2.840.10008.5.1.4.1.1.4"
	sopSC = "1.2.840.10008.5.1.4.1.1.7"
	sopSR = "1.2.840.10008.5.1.4.1.1.88.22"
)

// dicomFiles makes the staged files of a session: per series folder
// <number>.<description>, n small DICOM files of the SOP class.
func dicomFiles(series map[string]string, n int) map[string]string {
	out := map[string]string{}
	for folder, sop := range series {
		number, desc, _ := strings.Cut(folder, ".")
		mod := map[string]string{sopMR: "MR", sopSC: "OT", sopSR: "SR"}[sop]
		for i := 1; i <= n; i++ {
			uid := fmt.Sprintf("2.25.9.%s.%d", number, i)
			out[folder+"/DICOM/"+uid+".dcm"] = string(xnattest.MinimalDICOM(xnattest.Header{SOPClassUID: sop, SOPInstanceUID: uid,
				StudyInstanceUID: "2.25.9", SeriesInstanceUID: "2.25.9." + number, StudyDate: "20240601", StudyTime: "080000",
				Modality: mod, Manufacturer: "ACME", ModelName: "M", StationName: "MRI-3T", SeriesNumber: number, SeriesDescription: desc}))
		}
	}
	return out
}

// TestOriginalUploaderSessionNothingTwice: a session the original uploader
// (xnat-ingest) already put in XNAT — scans named by series number, typed by
// SOP class, the same files — is delivered again by the hub without a new
// scan or a file sent twice; afterwards the header pull has filled the
// session's date, modality and scanner and no twin scan appeared.
func TestOriginalUploaderSessionNothingTwice(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	srv, c := newXNAT(t)
	files := dicomFiles(map[string]string{"3.T1w": sopMR, "1001.Capture": sopSC, "1002.Report": sopSR}, 2)

	// What xnat-ingest left: scans <SeriesNumber> with types by SOP class,
	// resource DICOM with the files, no header pull yet.
	orig := xnat.Session{Project: "PROJ", Subject: "S1", Label: "V1", XSIType: "xnat:mrSessionData"}
	for _, folder := range []string{"3.T1w", "1001.Capture", "1002.Report"} {
		number, desc, _ := strings.Cut(folder, ".")
		sop := map[string]string{"3": sopMR, "1001": sopSC, "1002": sopSR}[number]
		r := xnat.Resource{Label: "DICOM", Format: "DICOM"}
		for p, data := range files {
			if strings.HasPrefix(p, folder+"/") {
				b := []byte(data)
				d, _ := manifest.Digest(p, strings.NewReader(data))
				r.Files = append(r.Files, xnat.File{Path: p[strings.LastIndex(p, "/")+1:], Size: d.Size, MD5: d.MD5,
					Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }})
			}
		}
		orig.Scans = append(orig.Scans, xnat.Scan{ScanSpec: xnat.ScanSpec{ID: number, XSIType: xnat.ScanXSITypeForSOPClasses(sop),
			Type: desc, SeriesDescription: desc}, Resources: []xnat.Resource{r}})
	}
	if _, err := c.Deliver(context.Background(), orig, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.ResetRequests()

	h, _ := newHub(t, store, &XNAT{Client: c})
	seal(t, store, "edge-a", "S1", 1, files)
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := srv.Count("PUT", "/files/"); n != 0 {
		t.Fatalf("%d uploads of files already there", n)
	}
	if n := srv.Count("PUT", "/scans/[^/]+$"); n != 0 {
		t.Fatalf("%d scan PUTs for scans already there", n)
	}
	scans := srv.Scans("PROJ", "V1")
	want := map[string]string{"3": "xnat:mrScanData", "1001": "xnat:scScanData", "1002": "xnat:srScanData"}
	if len(scans) != 3 {
		t.Fatalf("scans after delivery and header pull: %+v", scans)
	}
	for _, sc := range scans {
		if want[sc.ID] != sc.XSIType || sc.UID == "" {
			t.Errorf("scan %+v, want type %s and a UID from the header pull", sc, want[sc.ID])
		}
		for _, f := range srv.Files("PROJ", "V1", sc.ID, "DICOM") {
			if f.Versions != 1 {
				t.Errorf("%s/%s written %d times", sc.ID, f.Path, f.Versions)
			}
		}
	}
	ex := srv.Experiments("PROJ")[0]
	if ex.Date != "2024-06-01" || ex.Modality == "" || ex.Scanner != "MRI-3T" {
		t.Fatalf("session fields after delivery: %+v", ex)
	}
	if n := srv.Count("PUT", "^/data/experiments/"+ex.ID+"$"); n != 1 {
		t.Fatalf("%d header pulls", n)
	}
}

// TestSessionForScanIDsAndTypes: scan ID = series number (from the
// manifest, else the folder), type by SOP class.
func TestSessionForScanIDsAndTypes(t *testing.T) {
	dir := t.TempDir()
	files := dicomFiles(map[string]string{"007.T1w": sopMR, "1001.Capture": sopSC, "1002.Mixed": sopSC}, 1)
	// A series holding two SOP classes is typed as XNAT does, by
	// precedence over all its files (MR before SC), not by its first file.
	files["1002.Mixed/DICOM/2.25.9.1002.9.dcm"] = string(xnattest.MinimalDICOM(xnattest.Header{SOPClassUID: sopMR,
		SOPInstanceUID: "2.25.9.1002.9", Modality: "MR", SeriesNumber: "1002"}))
	m := &manifest.Manifest{Project: "P", Subject: "S", Visit: "V", Modality: "MR"}
	for p, data := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o700)
		os.WriteFile(filepath.Join(dir, p), []byte(data), 0o600)
		d, _ := manifest.Digest(p, strings.NewReader(data))
		m.Files = append(m.Files, d)
	}
	m.Series = []manifest.Series{{Scan: "007.T1w", SeriesNumber: "007", Modality: "MR", SeriesDescription: "T1w"},
		{Scan: "1001.Capture", SeriesNumber: "1001", Modality: "OT", SeriesDescription: "Capture"},
		{Scan: "1002.Mixed", SeriesNumber: "1002", Modality: "OT", SeriesDescription: "Mixed"}}
	s := SessionFor(m, dir)
	if !s.PullHeaders || len(s.Scans) != 3 || s.Scans[0].ID != "7" || s.Scans[0].XSIType != "xnat:mrScanData" ||
		s.Scans[1].ID != "1001" || s.Scans[1].XSIType != "xnat:scScanData" || s.Scans[2].XSIType != "xnat:mrScanData" {
		t.Fatalf("session %+v", s)
	}
	// Without a series number (staged as 0.<description>) a series keeps
	// its folder name, apart from other unnumbered series.
	for _, c := range []struct {
		se   manifest.Series
		want string
	}{{manifest.Series{Scan: "0.Scout", SeriesNumber: ""}, "0_Scout"}, {manifest.Series{Scan: "0.Other"}, "0_Other"},
		{manifest.Series{Scan: "0.Zero", SeriesNumber: "0"}, "0"}, {manifest.Series{Scan: "12.X", SeriesNumber: " 12 "}, "12"}} {
		if got := ScanID(c.se); got != c.want {
			t.Errorf("ScanID(%+v) = %s, want %s", c.se, got, c.want)
		}
	}
}

// TestCredentialsPauseDelivery: refused credentials (a locked account,
// then a rotated password) pause delivery instead of dead-lettering
// everything: status, metric and no new attempts while paused; once the
// secret file holds working credentials, the hub resumes by itself.
func TestCredentialsPauseDelivery(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	srv, c := newXNAT(t)
	secret := filepath.Join(t.TempDir(), "xnat-pass")
	os.WriteFile(secret, []byte("hub-secret\n"), 0o600)
	dest := &XNAT{Client: c, Credentials: func() (string, string, error) {
		b, err := os.ReadFile(secret)
		return "hub", strings.TrimSpace(string(b)), err
	}}
	dest.NoteCredentials("hub", "hub-secret")
	reg := prometheus.NewRegistry()
	h, err := Open(Config{Store: store, Destinations: []Target{{Dest: dest}}, DataDir: t.TempDir(), EventsOut: &strings.Builder{}, Registry: reg, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1w/DICOM/a.dcm": "aaa"})
	seal(t, store, "edge-a", "S1", 2, map[string]string{"2.T2w/DICOM/b.dcm": "bbb"})

	srv.LockUser("hub", true)
	err = h.RunOnce(context.Background())
	if err == nil || IsPermanent(err) {
		t.Fatalf("locked account: %v", err)
	}
	if dl, _ := h.DeadLetters(); len(dl) != 0 {
		t.Fatalf("dead-lettered on credentials: %+v", dl)
	}
	st, _ := h.Status()
	if st.Paused == nil || !strings.Contains(st.Paused.Reason, "credentials") {
		t.Fatalf("status %+v", st.Paused)
	}
	if logins := srv.Count("POST", "^/data/JSESSION$"); logins != 1 {
		t.Fatalf("%d logins while the account is locked, want 1 (no retry loop)", logins)
	}
	if !strings.Contains(scrape(t, reg), "aisedge_hub_delivery_paused 1") {
		t.Fatal("metric does not show the pause")
	}
	// Still refused: one login per round, no delivery attempted.
	srv.ResetRequests()
	if err := h.RunOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("second round: %v", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d requests while paused, want the one login", n)
	}
	// The operator unlocks the account but the password was rotated: the
	// new secret file is read at the next round, and delivery resumes.
	srv.LockUser("hub", false)
	srv.SetPassword("hub", "rotated")
	os.WriteFile(secret, []byte("rotated\n"), 0o600)
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.Paused() != nil || len(objects(t, store)) != 0 {
		t.Fatalf("not resumed: paused %+v, objects %v", h.Paused(), objects(t, store))
	}
	if !strings.Contains(scrape(t, reg), "aisedge_hub_delivery_paused 0") {
		t.Fatal("metric still shows the pause")
	}
}

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestAppendKeepsSessionType: a PET/CT received CT first, then an
// OT-only append (whose modalities alone compute another session type), is
// delivered into the same session, which keeps its type; nothing is
// dead-lettered.
func TestAppendKeepsSessionType(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	srv, c := newXNAT(t)
	h, _ := newHub(t, store, &XNAT{Client: c})
	m1 := seal(t, store, "edge-a", "S1", 1, map[string]string{"2.CT/DICOM/a.dcm": "aaa"})
	m2 := seal(t, store, "edge-a", "S1", 2, map[string]string{"1001.Capture/DICOM/b.dcm": "bbb"})
	for _, m := range []struct {
		m   *manifest.Manifest
		mod string
	}{{m1, "CT"}, {m2, "OT"}} {
		m.m.Modality = m.mod
		for i := range m.m.Series {
			m.m.Series[i].Modality = m.mod
		}
		b, err := m.m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		key := "staged/edge-a/" + m.m.Folder + "/" + manifest.NameFor(m.m.Generation)
		if _, err := store.Put(context.Background(), key, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if xnat.SessionXSIType("OT") == xnat.SessionXSIType("CT") {
		t.Fatal("test needs two session types")
	}
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dl, _ := h.DeadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters %+v", dl)
	}
	ex := srv.Experiments("PROJ")
	if len(ex) != 1 || ex[0].XSIType != "xnat:ctSessionData" || len(srv.Scans("PROJ", ex[0].Label)) != 2 {
		t.Fatalf("experiments %+v, scans %+v", ex, srv.Scans("PROJ", "V1"))
	}
}
