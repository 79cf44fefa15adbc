package xnat_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/xnat"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

// Tests for what a real XNAT does that the emulator used not to (one per
// behaviour of docs/xnat.md the hub depends on).

const (
	sopCT  = "1.2.840.10008.5.1.4.1.1.2"
	sopSC  = "1.2.840.10008.5.1.4.1.1.7"
	sopSR  = "1.2.840.10008.5.1.4.1.1.88.22"
	sopSEG = "1.2.840.10008.5.1.4.1.1.66.4"
	sopMR  = "1.2.840.10008.5.1.4.1.1.4"
)

type dseries struct {
	number, desc, modality, sop string
	files                       int
}

// dicomSession builds a session of small DICOM files the emulator's header
// pull can read: scan ID = series number, scan type from the SOP class.
func dicomSession(label, sessType string, series ...dseries) xnat.Session {
	s := xnat.Session{Project: "P1", Subject: "P1-SUBJ" + label, Label: label, XSIType: sessType, PullHeaders: true}
	for _, se := range series {
		r := xnat.Resource{Label: "DICOM", Format: "DICOM", Content: "RAW"}
		for i := 0; i < se.files; i++ {
			uid := fmt.Sprintf("2.25.%s.%s.%d", label[len(label)-1:], se.number, i+1)
			r.Files = append(r.Files, fileOf(uid+".dcm", xnattest.MinimalDICOM(xnattest.Header{
				SOPClassUID: se.sop, SOPInstanceUID: uid, StudyInstanceUID: "2.25.77", SeriesInstanceUID: "2.25.77." + se.number,
				StudyDate: "20250314", StudyTime: "093000", Modality: se.modality, Manufacturer: "ACME", ModelName: "M1",
				StationName: "STATION1", SeriesNumber: se.number, SeriesDescription: se.desc})))
		}
		typ := xnat.ScanXSITypeForSOPClasses(se.sop)
		s.Scans = append(s.Scans, xnat.Scan{ScanSpec: xnat.ScanSpec{ID: se.number, XSIType: typ, Type: se.desc, SeriesDescription: se.desc},
			Resources: []xnat.Resource{r}})
	}
	return s
}

// Item 1: after the upload the client has XNAT pull the DICOM headers;
// the session's date, modality and scanner are then filled.
func TestHeaderPullFillsSession(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	s := dicomSession("HP1", "xnat:ctSessionData", dseries{"2", "Chest", "CT", sopCT, 3}, dseries{"1001", "Dose", "OT", sopSC, 1})
	rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.HeadersPulled || rep.Experiment.Date != "2025-03-14" || rep.Experiment.Modality != "CT" ||
		rep.Experiment.Scanner != "STATION1" || len(rep.MissingFields) != 0 {
		t.Fatalf("report %+v", rep)
	}
	ex := e.srv.Experiments("P1")[0]
	if ex.Date != "2025-03-14" || ex.Modality != "CT" || ex.Scanner != "STATION1" || ex.UID != "2.25.77" {
		t.Fatalf("session in XNAT %+v", ex)
	}
	if n := e.srv.Count("PUT", "^/data/experiments/"+rep.ExperimentID+"$"); n != 1 {
		t.Fatalf("%d header pulls", n)
	}
	// Item 2: series-number scan IDs, so the pull adds no twin.
	if scans := e.srv.Scans("P1", "HP1"); len(scans) != 2 || scans[0].UID == "" {
		t.Fatalf("scans after the pull %+v", scans)
	}
}

// Item 2: XNAT's header pull keys scans by series number; scans named
// otherwise get twins. Series-number IDs do not.
func TestSeriesNumberScanIDs(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	good := dicomSession("SN1", "xnat:mrSessionData", dseries{"3", "T1w", "MR", sopMR, 2}, dseries{"4", "T2w", "MR", sopMR, 2})
	if _, err := c.Deliver(ctx, good, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	if scans := e.srv.Scans("P1", "SN1"); len(scans) != 2 {
		t.Fatalf("series-number IDs: %d scans", len(scans))
	}
	// A session an older hub delivered with scan IDs like 3_T1w: an append
	// is delivered, but the header pull, which would add a twin of every
	// such scan, is not asked for.
	old := dicomSession("SN2", "xnat:mrSessionData", dseries{"3", "T1w", "MR", sopMR, 2})
	old.Scans[0].ID, old.PullHeaders = "3_T1w", false
	if _, err := c.Deliver(ctx, old, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	late := dicomSession("SN2", "xnat:mrSessionData", dseries{"5", "DWI", "MR", sopMR, 1})
	rep, err := c.Deliver(ctx, late, xnat.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.HeadersPulled || !strings.Contains(rep.HeaderPullSkipped, "3_T1w") {
		t.Fatalf("report %+v", rep)
	}
	if scans := e.srv.Scans("P1", "SN2"); len(scans) != 2 {
		t.Fatalf("scans %+v", scans)
	}
}

// Item 3: scan types follow the SOP class as XNAT 1.9 maps them, so the
// header pull accepts them; a scan typed otherwise makes the pull fail
// with a permanent conflict.
func TestScanTypesBySOPClass(t *testing.T) {
	for uid, want := range map[string]string{sopCT: "xnat:ctScanData", sopSC: "xnat:scScanData", sopSR: "xnat:srScanData",
		sopSEG: "xnat:segScanData", sopMR: "xnat:mrScanData", "1.2.840.10008.5.1.4.1.1.128": "xnat:petScanData"} {
		if got := xnat.ScanXSITypeForSOPClasses(uid); got != want || got != xnattest.ScanTypeForSOPClasses(uid) {
			t.Errorf("%s: client %s, emulator %s, want %s", uid, got, xnattest.ScanTypeForSOPClasses(uid), want)
		}
	}
	if got := xnat.ScanXSITypeForSOPClasses("1.2.3.4"); got != "" {
		t.Errorf("unknown SOP class: %q, want \"\" (caller falls back)", got)
	}
	if got := xnat.ScanXSITypeForSOPClasses(sopSC, sopCT); got != "xnat:ctScanData" {
		t.Errorf("precedence: %s", got)
	}
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	s := dicomSession("ST1", "xnat:ctSessionData", dseries{"1", "CT", "CT", sopCT, 1}, dseries{"2", "Capture", "OT", sopSC, 1},
		dseries{"3", "Report", "SR", sopSR, 1}, dseries{"4", "Seg", "SEG", sopSEG, 1})
	if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1": "xnat:ctScanData", "2": "xnat:scScanData", "3": "xnat:srScanData", "4": "xnat:segScanData"}
	for _, sc := range e.srv.Scans("P1", "ST1") {
		if want[sc.ID] != sc.XSIType {
			t.Errorf("scan %s: %s, want %s", sc.ID, sc.XSIType, want[sc.ID])
		}
	}
	wrong := dicomSession("ST2", "xnat:ctSessionData", dseries{"3", "Report", "SR", sopSR, 1})
	wrong.Scans[0].XSIType = "xnat:ctScanData" // typed by the session, as before
	_, err := c.Deliver(ctx, wrong, xnat.DeliverOptions{})
	if !errors.Is(err, xnat.ErrConflict) || !xnat.IsPermanent(err) || !strings.Contains(err.Error(), "Modification of scan modality") {
		t.Fatalf("mistyped scan: %v", err)
	}
}

// Item 4: an append whose modalities compute another session type is
// delivered into the session as it is.
func TestSessionTypeStableAcrossAppends(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	first := dicomSession("PC1", xnat.SessionXSIType("CT"), dseries{"2", "CT", "CT", sopCT, 2})
	if _, err := c.Deliver(ctx, first, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	later := dicomSession("PC1", xnat.SessionXSIType("OT"), dseries{"1001", "Capture", "OT", sopSC, 1})
	if later.XSIType == first.XSIType {
		t.Fatal("test needs another computed type")
	}
	rep, err := c.Deliver(ctx, later, xnat.DeliverOptions{})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if ex := e.srv.Experiments("P1"); len(ex) != 1 || ex[0].XSIType != "xnat:ctSessionData" || rep.ScansCreated != 1 {
		t.Fatalf("after the append %+v, report %+v", ex, rep)
	}
}

// Item 5: files on disk but not in the catalog (an upload whose catalog
// write failed with a 500) are repaired with a catalog refresh (append),
// not resent for ever as duplicates.
func TestFilesOnDiskNotCatalogued(t *testing.T) {
	for _, mode := range []xnat.UploadMode{xnat.Archive, xnat.PerFile} {
		t.Run(mode.String(), func(t *testing.T) {
			e := setup(t, xnattest.Options{})
			c := e.client(nil)
			s := session("UC1", 2, 3, 200)
			e.srv.Inject(xnattest.Fault{Method: "PUT", Path: "/scans/1/resources/DICOM/files/", Nth: 1, Uncatalogued: true, Status: 500})
			if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode}); err != nil {
				t.Fatal(err)
			}
			e.checkStored(s)
			refresh := 0
			for _, r := range e.srv.Requests() {
				if r.Path == "/data/services/refresh/catalog" && strings.Contains(r.Query, "append") {
					refresh++
				}
			}
			if refresh == 0 {
				t.Fatal("no refresh with append")
			}
			// Files left uncatalogued by an earlier run: the next delivery
			// repairs the catalog and sends nothing.
			for _, f := range s.Scans[1].Resources[0].Files {
				e.srv.Uncatalog("P1", "UC1", "2", "DICOM", f.Path)
			}
			rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Files != 6 || e.srv.Files("P1", "UC1", "2", "DICOM")[0].Versions != 1 {
				t.Fatalf("repair: %+v", rep)
			}
			for _, f := range e.srv.Files("P1", "UC1", "2", "DICOM") {
				if !f.Catalogued {
					t.Fatalf("%s still uncatalogued", f.Path)
				}
			}
		})
	}
}

// Item 7: refused credentials are transient, never retried in a loop;
// new credentials are taken without a new client.
func TestCredentialsRefused(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	e.srv.LockUser(user, true)
	err := c.EnsureProject(ctx, "P1")
	if !errors.Is(err, xnat.ErrAuth) || !xnat.IsTransient(err) || xnat.IsPermanent(err) {
		t.Fatalf("locked: %v", err)
	}
	if n := c.Stats().Logins; n != 1 {
		t.Fatalf("%d logins for a locked account, want 1 (each failure counts towards lockout)", n)
	}
	e.srv.LockUser(user, false)
	e.srv.SetPassword(user, "rotated")
	if err := c.EnsureProject(ctx, "P1"); !errors.Is(err, xnat.ErrAuth) {
		t.Fatalf("old password: %v", err)
	}
	if err := c.SetCredentials(user, "rotated"); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureProject(ctx, "P1"); err != nil {
		t.Fatalf("new password: %v", err)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Item 7: alias tokens are accepted as credentials and renewed before they
// expire, so a hub keeps working over many token lifetimes.
func TestAliasTokenRenewed(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	srv := xnattest.New(xnattest.Options{Now: clk.Now})
	t.Cleanup(srv.Close)
	e := populate(t, srv)
	alias, secret, _ := srv.IssueToken(user)
	var renewed []string
	c := e.client(func(cfg *xnat.Config) {
		cfg.Username, cfg.Password, cfg.AliasToken, cfg.Now, cfg.KeepAlive = alias, secret, true, clk.Now, -1
		cfg.OnTokenRenewed = func(a, _ string, _ time.Time) { renewed = append(renewed, a) }
	})
	for day := 0; day < 6; day++ {
		if err := c.EnsureProject(ctx, "P1"); err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
		if left := c.TokenExpires().Sub(clk.Now()); left < 12*time.Hour {
			t.Fatalf("day %d: token held expires in %v", day, left)
		}
		clk.Add(20 * time.Hour) // the server session idles out too
	}
	if len(renewed) < 3 || renewed[0] == alias {
		t.Fatalf("renewals %v", renewed)
	}
}

// Item 8: a proxy's 413 splits the batch down to single files; a file too
// big on its own is a permanent error naming the limit.
func TestProxy413SplitsBatches(t *testing.T) {
	e := setup(t, xnattest.Options{ProxyMaxBodyBytes: 2500})
	c := e.client(nil)
	s := session("PX1", 1, 6, 1000)
	for i := range s.Scans[0].Resources[0].Files { // incompressible, so that archives exceed the limit
		f := &s.Scans[0].Resources[0].Files[i]
		*f = fileOf(f.Path, noise(f.Path, 1000))
	}
	rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.checkStored(s)
	refused := 0
	for _, r := range e.srv.Requests() {
		if r.Status == http.StatusRequestEntityTooLarge {
			refused++
		}
	}
	if rep.Files != 6 || refused == 0 || e.srv.Count("PUT", "/files/") < 3 {
		t.Fatalf("report %+v, %d refused", rep, refused)
	}
	big := session("PX2", 1, 1, 4000)
	_, err = c.Deliver(ctx, big, xnat.DeliverOptions{})
	if !xnat.IsPermanent(err) || !strings.Contains(err.Error(), "body size limit") {
		t.Fatalf("single file over the limit: %v", err)
	}
}

// noise is deterministic incompressible content.
func noise(seed string, n int) []byte {
	var out []byte
	h := sha256.Sum256([]byte(seed))
	for len(out) < n {
		out = append(out, h[:]...)
		h = sha256.Sum256(h[:])
	}
	return out[:n]
}

// Item 8: a 504 (or a lost connection) after XNAT did the work: the client
// checks what arrived before sending anything again.
func TestGatewayTimeoutChecksFirst(t *testing.T) {
	for _, f := range []xnattest.Fault{{Status: http.StatusGatewayTimeout}, {HangUp: true}} {
		e := setup(t, xnattest.Options{})
		c := e.client(nil)
		s := session("GT1", 1, 5, 500)
		f.Method, f.Path, f.Nth, f.After = "PUT", "/files/upload", 1, true
		e.srv.Inject(f)
		if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
			t.Fatal(err)
		}
		e.checkStored(s)
		if n := e.srv.Count("PUT", "/files/"); n != 1 {
			t.Fatalf("%+v: %d uploads, want the one that did the work", f, n)
		}
	}
}

// Item 8: a 0-byte file is delivered (in an archive: XNAT fails an empty
// in-body upload with 500).
func TestZeroByteFile(t *testing.T) {
	for _, mode := range []xnat.UploadMode{xnat.Archive, xnat.PerFile} {
		e := setup(t, xnattest.Options{})
		c := e.client(nil)
		s := session("ZB1", 1, 2, 100)
		s.Scans[0].Resources[0].Files = append(s.Scans[0].Resources[0].Files, fileOf("empty.dcm", nil))
		if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode}); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		e.checkStored(s)
		for _, r := range e.srv.Requests() {
			if r.Status == http.StatusInternalServerError {
				t.Fatalf("%s: a request failed with 500: %+v", mode, r)
			}
		}
	}
}

// Item 9: XNAT answers every scan PUT with 200, creating or not; the
// report counts the scans this delivery created all the same.
func TestScanPUTAnswers200(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	s := session("SC200", 3, 1, 100)
	rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{})
	if err != nil || rep.ScansCreated != 3 {
		t.Fatalf("first: %+v %v", rep, err)
	}
	puts := 0
	for _, r := range e.srv.Requests() {
		if r.Method == "PUT" && strings.Contains(r.Path, "/scans/") && !strings.Contains(r.Path, "/resources") {
			puts++
			if r.Status != http.StatusOK {
				t.Fatalf("scan PUT answered %d", r.Status)
			}
		}
	}
	if puts != 3 {
		t.Fatalf("%d scan PUTs", puts)
	}
	s.Scans = append(s.Scans, session("SC200", 4, 1, 100).Scans[3])
	if rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil || rep.ScansCreated != 1 {
		t.Fatalf("append: %+v %v", rep, err)
	}
}

// Item 7: an expired alias token is refused like a wrong password:
// ErrAuth, transient, one login.
func TestExpiredAliasToken(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	srv := xnattest.New(xnattest.Options{Now: clk.Now})
	t.Cleanup(srv.Close)
	e := populate(t, srv)
	alias, secret, _ := srv.IssueToken(user)
	clk.Add(48*time.Hour + time.Minute)
	c := e.client(func(cfg *xnat.Config) { cfg.Username, cfg.Password, cfg.AliasToken = alias, secret, true })
	err := c.EnsureProject(ctx, "P1")
	if !errors.Is(err, xnat.ErrAuth) || !xnat.IsTransient(err) || c.Stats().Logins != 1 {
		t.Fatalf("expired token: %v (%d logins)", err, c.Stats().Logins)
	}
}
