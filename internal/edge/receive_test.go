package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/events"
	"github.com/aisedge/aisedge/internal/route"
	"github.com/aisedge/aisedge/internal/spool"
	"github.com/aisedge/aisedge/internal/testpeer/samples"
)

const testSalt = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func sharedTestData(t testing.TB) string { return samples.Dir(t) }

type testEdge struct {
	recv    *Receiver
	dir     string
	events  *bytes.Buffer
	logs    *bytes.Buffer
	stager  *Stager
	staging string
}

func newTestEdge(t *testing.T) *testEdge {
	t.Helper()
	dir := t.TempDir()
	table, err := route.Parse([]byte(`{"AETMap": {"AISEDGE": {"project": "PROJ"}}, "Defaults": {"FacilityBackupDir": "/unused"}}`))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := deid.NewKeys(testSalt)
	if err != nil {
		t.Fatal(err)
	}
	prof := deid.MustBuiltin("research-default")
	sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	evbuf, logs := &bytes.Buffer{}, &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	r := &Receiver{
		Routes: table,
		Engine: func(rt route.Route) (*deid.Engine, error) {
			return deid.New(deid.Config{Profile: prof, Keys: keys, Site: "edge-a", ProjectCode: rt.Project})
		},
		Spool:      sp,
		Backup:     &Backup{Dir: filepath.Join(dir, "backup")},
		Quarantine: &Quarantine{Dir: filepath.Join(dir, "quarantine")},
		Events:     events.New(evbuf, "orthanc-deid", "edge-a", nil),
		Log:        log,
		Now:        time.Now,
	}
	st := &Stager{Spool: sp, Dir: filepath.Join(dir, "staging"), Edge: "edge-a", Quiet: 0, Log: log, Now: time.Now}
	return &testEdge{recv: r, dir: dir, events: evbuf, logs: logs, stager: st, staging: st.Dir}
}

// receive simulates the receiver's hand-over: a copy of the file in the
// temp dir, as dimse would leave it.
func (e *testEdge) receive(t *testing.T, src, calledAET string) error {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dicom.ReadFileBytes(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(e.dir, "incoming.dcm")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp)
	return e.recv.Store(context.Background(), &dimse.Instance{
		Path: tmp, Size: int64(len(b)), SOPClassUID: f.Dataset.String(dicom.TagSOPClassUID),
		SOPInstanceUID: f.Dataset.String(dicom.TagSOPInstanceUID), TransferSyntaxUID: f.TransferSyntax.UID,
		CallingAET: "MODALITY", CalledAET: calledAET, Assoc: "test",
	})
}

func TestReceiveDeidentifiesIntoSpool(t *testing.T) {
	e := newTestEdge(t)
	src := filepath.Join(sharedTestData(t), "pydicom_CT_small.dcm")
	if err := e.receive(t, src, "AISEDGE"); err != nil {
		t.Fatal(err)
	}
	orig, _ := dicom.Open(src, nil)
	defer orig.Close()
	name, _ := orig.Dataset.Text(dicom.NewTag(0x0010, 0x0010))
	pid := orig.Dataset.String(dicom.NewTag(0x0010, 0x0020))

	// The original is in the facility backup, in the original layout.
	bp := e.recv.Backup.Path(orig.Dataset, "")
	if _, err := os.Stat(bp); err != nil {
		t.Fatalf("backup missing: %v", err)
	}
	studies, _ := e.recv.Spool.Studies()
	if len(studies) != 1 || studies[0].Pending != 1 || studies[0].Project != "PROJ" {
		t.Fatalf("studies %+v", studies)
	}
	pending, _ := e.recv.Spool.Pending(studies[0].Key)
	out, err := os.ReadFile(e.recv.Spool.ObjectPath(pending[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, phi := range []string{name, pid, orig.Dataset.String(dicom.TagSOPInstanceUID)} {
		if phi != "" && bytes.Contains(out, []byte(phi)) {
			t.Errorf("spooled output contains an original identifier")
		}
		if phi != "" && (strings.Contains(e.logs.String(), phi) || strings.Contains(e.events.String(), phi)) {
			t.Errorf("logs or events contain an original identifier")
		}
	}
	if !strings.Contains(e.events.String(), `"event":"instance_deidentified"`) {
		t.Errorf("no instance_deidentified event: %s", e.events.String())
	}
	// Same instance again: idempotent.
	if err := e.receive(t, src, "AISEDGE"); err != nil {
		t.Fatal(err)
	}
	pending, _ = e.recv.Spool.Pending(studies[0].Key)
	if len(pending) != 1 {
		t.Fatalf("re-send made %d instances", len(pending))
	}
}

func TestReceiveUnmappedAETIsQuarantined(t *testing.T) {
	e := newTestEdge(t)
	src := filepath.Join(sharedTestData(t), "pydicom_MR_small_implicit.dcm")
	if err := e.receive(t, src, "NOBODY"); err != nil {
		t.Fatal(err)
	}
	q, _ := e.recv.Quarantine.List()
	if len(q) != 1 || !strings.Contains(q[0].Reasons[0], "no project mapped") {
		t.Fatalf("quarantine %+v", q)
	}
	orig, _ := dicom.Open(src, nil)
	defer orig.Close()
	if _, err := os.Stat(e.recv.Backup.Path(orig.Dataset, "NOBODY")); err != nil {
		t.Fatal("unmapped original not in __unmapped_aet__ backup")
	}
	if st, _ := e.recv.Spool.Studies(); len(st) != 0 {
		t.Fatal("unmapped instance reached the spool")
	}
}

func TestReceiveUnparseableIsKept(t *testing.T) {
	e := newTestEdge(t)
	src := filepath.Join(sharedTestData(t), "pydicom_MR_truncated.dcm")
	b, _ := os.ReadFile(src)
	tmp := filepath.Join(e.dir, "bad.dcm")
	os.WriteFile(tmp, b, 0o600)
	err := e.recv.Store(context.Background(), &dimse.Instance{Path: tmp, CalledAET: "AISEDGE", SOPInstanceUID: "1.2.3"})
	var se *dimse.StatusError
	if !errors.As(err, &se) || se.Status != statusCannotUnderstand {
		t.Fatalf("got %v, want C000", err)
	}
	q, _ := e.recv.Quarantine.List()
	if len(q) != 1 || !strings.Contains(q[0].Reasons[0], "truncated") {
		t.Fatalf("quarantine %+v", q)
	}
	kept, _ := os.ReadFile(e.recv.Quarantine.InstancePath(q[0].ID))
	if !bytes.Equal(kept, b) {
		t.Fatal("quarantined bytes differ from what was received")
	}
}

func TestReceiveStudyStagesAsOneSession(t *testing.T) {
	e := newTestEdge(t)
	dir := t.TempDir()
	// Two instances of one study: CT_small under two SOP Instance UIDs.
	src := filepath.Join(sharedTestData(t), "pydicom_CT_small.dcm")
	f, _ := dicom.Open(src, nil)
	var paths []string
	for i, uid := range []string{"1.2.826.0.1.3680043.8.1055.1.1", "1.2.826.0.1.3680043.8.1055.1.2"} {
		f.Dataset.SetString(dicom.TagSOPInstanceUID, dicom.UI, uid)
		f.Meta.SetString(dicom.TagMediaStorageSOPInstanceUID, dicom.UI, uid)
		p := filepath.Join(dir, string(rune('a'+i))+".dcm")
		out, _ := os.Create(p)
		if err := dicom.WriteFile(out, f); err != nil {
			t.Fatal(err)
		}
		out.Close()
		paths = append(paths, p)
	}
	f.Close()
	for _, p := range paths {
		if err := e.receive(t, p, "AISEDGE"); err != nil {
			t.Fatal(err)
		}
	}
	if q, _ := e.recv.Quarantine.List(); len(q) > 0 {
		t.Fatalf("quarantined: %+v", q)
	}
	ships, err := e.stager.StageReady()
	if err != nil || len(ships) != 1 {
		t.Fatalf("%+v %v", ships, err)
	}
	m, err := e.stager.ReadManifest(ships[0].Session, 1)
	if err != nil || len(m.Files) != 2 {
		t.Fatalf("%+v %v", m, err)
	}
}

// TestAcceptOutcomes: Accept says what became of each instance: stored in
// a session, quarantined with reasons, or quarantined and refused.
func TestAcceptOutcomes(t *testing.T) {
	data := sharedTestData(t)
	for _, tc := range []struct {
		name, file, aet string
		quarantined     bool
		reason, status  string
	}{
		{"stored", "pydicom_CT_small.dcm", "AISEDGE", false, "", ""},
		{"unmapped called AE title", "pydicom_MR_small_implicit.dcm", "NOBODY", true, "no project mapped", ""},
		{"unparseable", "pydicom_MR_truncated.dcm", "AISEDGE", true, "truncated", "c000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEdge(t)
			b, err := os.ReadFile(filepath.Join(data, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			tmp := filepath.Join(e.dir, "in.dcm")
			os.WriteFile(tmp, b, 0o600)
			in := &dimse.Instance{Path: tmp, Size: int64(len(b)), CalledAET: tc.aet, CallingAET: "MODALITY", Assoc: "test"}
			if f, err := dicom.ReadFileBytes(b, nil); err == nil {
				in.SOPInstanceUID, in.SOPClassUID = f.Dataset.String(dicom.TagSOPInstanceUID), f.Dataset.String(dicom.TagSOPClassUID)
			}
			o, err := e.recv.Accept(context.Background(), in)
			if o.Quarantined != tc.quarantined {
				t.Fatalf("outcome %+v (err %v), want quarantined %v", o, err, tc.quarantined)
			}
			if tc.reason != "" && (len(o.Reasons) == 0 || !strings.Contains(o.Reasons[0], tc.reason)) {
				t.Errorf("reasons %q, want one with %q", o.Reasons, tc.reason)
			}
			var se *dimse.StatusError
			switch {
			case tc.status == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.status != "" && (!errors.As(err, &se) || fmt.Sprintf("%04x", se.Status) != tc.status):
				t.Errorf("status %v, want %s", err, tc.status)
			}
			if !tc.quarantined {
				st, _ := e.recv.Spool.Studies()
				if len(st) != 1 || st[0].Key != o.Session || o.Session == "" {
					t.Errorf("stored in session %q; spool studies %+v", o.Session, st)
				}
			}
		})
	}
}
