package hub

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/manifest"
	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
	"github.com/aisedge/aisedge/internal/xnat"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

func newXNAT(t *testing.T) (*xnattest.Server, *xnat.Client) {
	t.Helper()
	srv := xnattest.NewTLS(xnattest.Options{})
	t.Cleanup(srv.Close)
	srv.AddUser("hub", "hub-secret")
	srv.AddProject("PROJ", map[string]xnattest.Role{"hub": xnattest.Owner})
	c, err := xnat.New(xnat.Config{URL: srv.URL, Username: "hub", Password: "hub-secret", Transport: srv.HTTP.Client().Transport,
		Retry: xnat.RetryPolicy{Attempts: 3, Initial: time.Millisecond, Max: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return srv, c
}

// TestDeliverToXNAT: sealed sessions (a first generation and an append)
// appear in the emulated XNAT with the right hierarchy and MD5s; the
// bucket is empty afterwards and a second run changes nothing.
func TestDeliverToXNAT(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	srv, c := newXNAT(t)
	h, _ := newHub(t, store, &XNAT{Client: c})
	m1 := seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1w/DICOM/a.dcm": "aaa", "1.T1w/DICOM/b.dcm": "bbb", "2.DWI/DICOM/c.dcm": "ccc"})
	m2 := seal(t, store, "edge-a", "S1", 2, map[string]string{"3.late/DICOM/d.dcm": "ddd"})
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	exps := srv.Experiments("PROJ")
	if len(exps) != 1 || exps[0].Label != "V1" {
		t.Fatalf("experiments %+v", exps)
	}
	for _, m := range []*manifest.Manifest{m1, m2} {
		for _, f := range m.Files {
			parts := strings.SplitN(f.Path, "/", 3)
			number, _, _ := strings.Cut(parts[0], ".")
			data := srv.FileData("PROJ", "V1", ScanID(manifest.Series{Scan: parts[0], SeriesNumber: number}), "DICOM", parts[2])
			if d, _ := manifest.Digest(f.Path, strings.NewReader(string(data))); d.MD5 != f.MD5 {
				t.Errorf("%s: not in XNAT or wrong content", f.Path)
			}
		}
	}
	if left := objects(t, store); len(left) != 0 {
		t.Fatalf("bucket not empty: %v", left)
	}
	srv.ResetRequests()
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("second run made %d XNAT requests", n)
	}
}

func TestMissingProjectIsDeadLettered(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	srv, c := newXNAT(t)
	srv.RemoveProject("PROJ")
	h, _ := newHub(t, store, &XNAT{Client: c})
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1w/DICOM/a.dcm": "aaa"})
	if err := h.RunOnce(context.Background()); !IsPermanent(err) {
		t.Fatalf("got %v, want permanent", err)
	}
	if dl, _ := h.DeadLetters(); len(dl) != 1 || !strings.Contains(dl[0].Reason, "project") {
		t.Fatalf("dead letters %+v", dl)
	}
	if len(objects(t, store)) != 2 {
		t.Fatal("objects of an undelivered session deleted")
	}
}

// TestBadGatewayStorm: XNAT answers 502 for a while; the hub keeps the
// session, retries on later rounds and delivers once XNAT is back.
func TestBadGatewayStorm(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	srv, c := newXNAT(t)
	h, _ := newHub(t, store, &XNAT{Client: c})
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1w/DICOM/a.dcm": "aaa"})
	srv.Inject(xnattest.Fault{Status: http.StatusBadGateway})
	err := h.RunOnce(context.Background())
	if err == nil || IsPermanent(err) {
		t.Fatalf("during the storm: %v", err)
	}
	srv.ClearFaults()
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(objects(t, store)) != 0 {
		t.Fatal("not delivered after the storm")
	}
	if dl, _ := h.DeadLetters(); len(dl) != 0 {
		t.Fatal("transient storm dead-lettered")
	}
}
