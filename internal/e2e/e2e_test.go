package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/testpeer/samples"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/s3"
	"github.com/aisedge/aisedge/internal/route"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
	"github.com/aisedge/aisedge/internal/xnat"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

func TestMain(m *testing.M) { os.Exit(seaweed.Main(m)) }

const salt = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

func sharedTestData(t testing.TB) string { return samples.Dir(t) }

// series writes n copies of CT_small as one series of one study.
func series(t *testing.T, patient, study, ser string, number, n int) string {
	t.Helper()
	return samples.Series{PatientID: patient, AccessionNumber: "ACC" + patient, StudyUID: study, SeriesUID: ser, SeriesNumber: number, N: n}.Write(t)
}

func storescu(t *testing.T, addr, dir string) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("storescu", "-aec", "AISEDGE", "+sd", "+r", host, port, dir)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func count(t *testing.T, s objstore.Store, prefix, contains string) int {
	n := 0
	for info, err := range s.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info.Key, contains) {
			n++
		}
	}
	return n
}

// TestPipeline: scanner (dcmtk storescu) → edge → real SeaweedFS over TLS
// with the edge's put-only key → hub with the admin key → XNAT (emulator).
// Two studies; the second gets a late series after its session shipped,
// which arrives as an append to the same XNAT session. Afterwards the
// bucket is empty and every file in XNAT has the manifest's MD5.
func TestPipeline(t *testing.T) {
	if _, err := exec.LookPath("storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	srv := seaweed.Start(t)
	edgeStore, err := s3.New(srv.Config(srv.Edge("edge-a")))
	if err != nil {
		t.Fatal(err)
	}
	adminStore, err := s3.New(srv.Config(srv.Admin))
	if err != nil {
		t.Fatal(err)
	}
	// Leftovers of other tests in the shared bucket are not ours to touch.
	before := count(t, adminStore, "staged/edge-a/", "/MANIFEST")

	keys, _ := deid.NewKeys(salt)
	prof := deid.MustBuiltin("research-default")
	table, err := route.Parse([]byte(`{"AETMap": {"AISEDGE": {"project": "PROJ"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := edge.New(edge.Config{
		Name: "edge-a", DataDir: t.TempDir(), Listen: "127.0.0.1:0", AETitle: "AISEDGE", Routes: table,
		Engine: func(rt route.Route) (*deid.Engine, error) {
			return deid.New(deid.Config{Profile: prof, Keys: keys, Site: "edge-a", ProjectCode: rt.Project})
		},
		Store: edgeStore, Layout: edgeStore.Layout(), Quiet: 2 * time.Second, Tick: 200 * time.Millisecond,
		MinFreeBytes: -1, Log: log, EventsOut: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	edgeDone := make(chan error, 1)
	go func() { edgeDone <- e.Run(ctx, func(a net.Addr) { addrc <- a.String() }) }()
	addr := <-addrc

	storescu(t, addr, series(t, "PAT1", "1.2.826.0.1.3680043.8.1055.9.1", "1.2.826.0.1.3680043.8.1055.9.1.1", 1, 4))
	storescu(t, addr, series(t, "PAT2", "1.2.826.0.1.3680043.8.1055.9.2", "1.2.826.0.1.3680043.8.1055.9.2.1", 1, 3))
	waitFor(t, 60*time.Second, "two sealed sessions", func() bool { return count(t, adminStore, "staged/edge-a/", "/MANIFEST") == before+2 })
	storescu(t, addr, series(t, "PAT2", "1.2.826.0.1.3680043.8.1055.9.2", "1.2.826.0.1.3680043.8.1055.9.2.2", 2, 2))
	waitFor(t, 60*time.Second, "the append sealed", func() bool { return count(t, adminStore, "staged/edge-a/", "/MANIFEST") == before+3 })
	cancel()
	if err := <-edgeDone; err != nil {
		t.Fatal(err)
	}

	x := xnattest.NewTLS(xnattest.Options{})
	defer x.Close()
	x.AddUser("hub", "hub-secret")
	x.AddProject("PROJ", map[string]xnattest.Role{"hub": xnattest.Owner})
	client, err := xnat.New(xnat.Config{URL: x.URL, Username: "hub", Password: "hub-secret", Transport: x.HTTP.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	h, err := hub.Open(hub.Config{Store: adminStore, Prefix: "staged/edge-a/", Destinations: []hub.Target{{Dest: &hub.XNAT{Client: client}}}, DataDir: t.TempDir(), EventsOut: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	exps := x.Experiments("PROJ")
	if len(exps) != 2 {
		t.Fatalf("XNAT has %d sessions, want 2: %+v", len(exps), exps)
	}
	files := 0
	for _, ex := range exps {
		// XNAT's header pull filled the session from the de-identified
		// headers, and found every series under its number (no twin scan
		// without files).
		if ex.Date == "" || ex.Modality == "" || ex.Scanner == "" {
			t.Errorf("session %s after the header pull: date %q, modality %q, scanner %q", ex.Label, ex.Date, ex.Modality, ex.Scanner)
		}
		for _, sc := range x.Scans("PROJ", ex.Label) {
			if sc.UID == "" || len(x.Files("PROJ", ex.Label, sc.ID, "DICOM")) == 0 {
				t.Errorf("session %s scan %+v: not matched by the header pull, or a twin", ex.Label, sc)
			}
			files += len(x.Files("PROJ", ex.Label, sc.ID, "DICOM"))
		}
	}
	if files != 9 {
		t.Fatalf("XNAT holds %d files, want 9", files)
	}
	if n := count(t, adminStore, "staged/edge-a/", ""); n != 0 {
		t.Fatalf("%d objects left in the bucket", n)
	}
	// A second run changes nothing: no XNAT request at all.
	x.ResetRequests()
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(x.Requests()); n != 0 {
		t.Fatalf("second hub run made %d XNAT requests", n)
	}
}
