package hub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
)

// seal writes a session generation into the store the way an edge does:
// files first, manifest last.
func seal(t *testing.T, s objstore.Store, edge, subject string, gen int, files map[string]string) *manifest.Manifest {
	t.Helper()
	m := &manifest.Manifest{Version: manifest.Version, Edge: edge, Project: "PROJ", Subject: subject, Visit: "V1",
		Folder: "PROJ." + subject + ".V1", Generation: gen, Modality: "MR", ProfileHash: "h", CreatedAt: time.Now().UTC().Truncate(time.Second)}
	series := map[string]*manifest.Series{}
	for p, content := range files {
		f, _ := manifest.Digest(p, strings.NewReader(content))
		m.Files = append(m.Files, f)
		scan := strings.SplitN(p, "/", 2)[0]
		if series[scan] == nil {
			// An edge takes the number from the header; the folder starts
			// with it.
			number, _, _ := strings.Cut(scan, ".")
			series[scan] = &manifest.Series{Scan: scan, SeriesNumber: number}
		}
		series[scan].Files++
		if _, err := s.Put(context.Background(), "staged/"+edge+"/"+m.Folder+"/"+p, strings.NewReader(content), int64(len(content)), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, se := range series {
		m.Series = append(m.Series, *se)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), "staged/"+edge+"/"+m.Folder+"/"+manifest.NameFor(gen), bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	return m
}

func newHub(t *testing.T, store objstore.Store, dest Destination) (*Hub, *bytes.Buffer) {
	t.Helper()
	var ev bytes.Buffer
	h, err := Open(Config{Store: store, Destinations: []Target{{Dest: dest}}, DataDir: t.TempDir(), EventsOut: &ev})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, &ev
}

func objects(t *testing.T, s objstore.Store) []string {
	var keys []string
	for info, err := range s.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

// remote hides the fs store's local files, so the hub downloads objects as
// it does from S3 instead of reading them in place.
type remote struct{ objstore.Store }

// bothWays runs a test with the hub reading a local bucket in place and
// downloading from it.
func bothWays(t *testing.T, test func(t *testing.T, store, hubView objstore.Store, dir string)) {
	for _, tc := range []struct {
		name string
		view func(objstore.Store) objstore.Store
	}{
		{"in place", func(s objstore.Store) objstore.Store { return s }},
		{"downloaded", func(s objstore.Store) objstore.Store { return remote{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			store, err := objfs.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			test(t, store, tc.view(store), dir)
		})
	}
}

func TestDeliverToArchive(t *testing.T) { bothWays(t, testDeliverToArchive) }

func testDeliverToArchive(t *testing.T, store, hubView objstore.Store, _ string) {
	arch := &ArchiveDir{Dir: t.TempDir()}
	h, ev := newHub(t, hubView, arch)
	m1 := seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa", "1.T1/DICOM/b.dcm": "bbb", "2.DWI/DICOM/c.dcm": "ccc"})
	m2 := seal(t, store, "edge-a", "S1", 2, map[string]string{"3.late/DICOM/d.dcm": "ddd"})
	seal(t, store, "edge-b", "S2", 1, map[string]string{"1.CT/DICOM/e.dcm": "eee"})
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*manifest.Manifest{m1, m2} {
		for _, f := range m.Files {
			b, err := os.ReadFile(arch.FilePath(m, f.Path))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := manifest.Digest(f.Path, bytes.NewReader(b)); got != f {
				t.Errorf("%s delivered wrong", f.Path)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(arch.Dir, "PROJ", "S1", "V1", "scans", "3.late", "resources", "DICOM", "files", "d.dcm")); err != nil {
		t.Fatal("append not in the same session:", err)
	}
	if left := objects(t, store); len(left) != 0 {
		t.Fatalf("bucket not empty: %v", left)
	}
	if !strings.Contains(ev.String(), `"event":"delivery_completed"`) {
		t.Fatal("no completion event")
	}
	// A second run changes nothing.
	before := ev.Len()
	if err := h.RunOnce(context.Background()); err != nil || ev.Len() != before {
		t.Fatalf("second run did something: %v", err)
	}
}

func TestTamperedObjectIsDeadLettered(t *testing.T) {
	for _, tamper := range []struct {
		name string
		do   func(t *testing.T, store objstore.Store, dir string)
	}{
		{"overwritten through the store", func(t *testing.T, store objstore.Store, _ string) {
			store.Put(context.Background(), "staged/edge-a/PROJ.S1.V1/1.T1/DICOM/a.dcm", strings.NewReader("evil"), 4, objstore.PutOptions{})
		}},
		{"same size, edited behind the store's back", func(t *testing.T, _ objstore.Store, dir string) {
			p := filepath.Join(dir, "staged/edge-a/PROJ.S1.V1/1.T1/DICOM/a.dcm")
			if err := os.WriteFile(p, []byte("aab"), 0o644); err != nil {
				t.Fatal(err)
			}
			// Keep the recorded modification time: only the bytes tell.
			past := time.Now().Add(-time.Hour)
			os.Chtimes(p, past, past)
		}},
	} {
		t.Run(tamper.name, func(t *testing.T) {
			bothWays(t, func(t *testing.T, store, hubView objstore.Store, dir string) {
				testTampered(t, store, hubView, func() { tamper.do(t, store, dir) })
			})
		})
	}
}

func testTampered(t *testing.T, store, hubView objstore.Store, tamper func()) {
	arch := &ArchiveDir{Dir: t.TempDir()}
	h, _ := newHub(t, hubView, arch)
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa"})
	seal(t, store, "edge-a", "S1", 2, map[string]string{"2.T2/DICOM/b.dcm": "bbb"})
	// Someone changes an object after the seal.
	tamper()
	err := h.RunOnce(context.Background())
	if !IsPermanent(err) {
		t.Fatalf("got %v, want a permanent failure", err)
	}
	dl, _ := h.DeadLetters()
	if len(dl) != 1 || dl[0].Generation != 1 {
		t.Fatalf("dead letters %+v", dl)
	}
	// Generation 2 waits behind generation 1; nothing was delivered.
	if ents, _ := os.ReadDir(arch.Dir); len(ents) != 0 {
		t.Fatal("something was delivered")
	}
	if len(objects(t, store)) != 4 {
		t.Fatal("objects were deleted")
	}
	// The operator fixes the object and requeues.
	store.Put(context.Background(), "staged/edge-a/PROJ.S1.V1/1.T1/DICOM/a.dcm", strings.NewReader("aaa"), 3, objstore.PutOptions{})
	if err := h.Requeue("staged/edge-a/PROJ.S1.V1/", 1); err != nil {
		t.Fatal(err)
	}
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(objects(t, store)) != 0 {
		t.Fatal("not delivered after requeue")
	}
}

// flaky fails the first n deliveries with a transient error.
type flaky struct {
	Destination
	n int
}

func (f *flaky) Deliver(ctx context.Context, m *manifest.Manifest, dir string) error {
	if f.n > 0 {
		f.n--
		return errors.New("502 bad gateway")
	}
	return f.Destination.Deliver(ctx, m, dir)
}

func TestTransientFailureRetries(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	arch := &ArchiveDir{Dir: t.TempDir()}
	h, _ := newHub(t, store, &flaky{Destination: arch, n: 2})
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa"})
	for i := range 2 {
		if err := h.RunOnce(context.Background()); err == nil || IsPermanent(err) {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if dl, _ := h.DeadLetters(); len(dl) != 0 {
		t.Fatal("transient failure dead-lettered")
	}
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(objects(t, store)) != 0 {
		t.Fatal("not delivered")
	}
}

// TestCrashAfterDeliveryFinishesCleanup: a hub that recorded the delivery
// but died before deleting finishes the deletion without delivering again.
func TestCrashAfterDeliveryFinishesCleanup(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	arch := &ArchiveDir{Dir: t.TempDir()}
	dataDir := t.TempDir()
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa"})
	h, err := Open(Config{Store: store, Destinations: []Target{{Dest: arch}}, DataDir: dataDir, Retain: true, EventsOut: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.Close()
	counting := &countingDest{Destination: arch}
	var ev bytes.Buffer
	h, err = Open(Config{Store: store, Destinations: []Target{{Dest: counting}}, DataDir: dataDir, EventsOut: &ev})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if counting.n != 0 {
		t.Fatalf("delivered %d times again", counting.n)
	}
	if left := objects(t, store); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

type countingDest struct {
	Destination
	n int
}

func (c *countingDest) Deliver(ctx context.Context, m *manifest.Manifest, dir string) error {
	c.n++
	return c.Destination.Deliver(ctx, m, dir)
}

// TestLegacyLayout: sessions the original system mirrored to
// staged/<PROJECT.SUBJECT.VISIT>/ (no seal of ours, its own MANIFEST.json)
// are delivered once they have settled, and cleared afterwards.
func TestLegacyLayout(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	arch := &ArchiveDir{Dir: t.TempDir()}
	now := time.Now()
	var ev bytes.Buffer
	h, err := Open(Config{Store: store, Destinations: []Target{{Dest: arch}}, DataDir: t.TempDir(), EventsOut: &ev, LegacySettle: time.Minute,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for k, v := range map[string]string{
		"staged/PROJ.PROJ-ABC.SESS1/1.T1/DICOM/a.dcm": "aaa",
		"staged/PROJ.PROJ-ABC.SESS1/2.T2/DICOM/b.dcm": "bbbb",
		"staged/PROJ.PROJ-ABC.SESS1/MANIFEST.json":    `{"xnat-ingest": "its own format"}`,
	} {
		if _, err := store.Put(context.Background(), k, strings.NewReader(v), int64(len(v)), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(objects(t, store)) != 3 {
		t.Fatal("an unsettled legacy session was taken")
	}
	now = now.Add(2 * time.Minute)
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(arch.Dir, "PROJ", "PROJ-ABC", "SESS1", "scans", "2.T2", "resources", "DICOM", "files", "b.dcm")
	if b, err := os.ReadFile(p); err != nil || string(b) != "bbbb" {
		t.Fatalf("legacy file not delivered: %v", err)
	}
	if left := objects(t, store); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

// Status reports each edge's last delivery and count (fleet status shows
// them per site); an edge with nothing delivered has no entry.
func TestStatusPerEdge(t *testing.T) {
	clock := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	h, store := archiveHub(t, &clock)
	st, err := h.Status()
	if err != nil || st.Edges != nil {
		t.Fatalf("before any delivery: %+v, %v", st.Edges, err)
	}
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa"})
	seal(t, store, "edge-b", "S2", 1, map[string]string{"1.CT/DICOM/e.dcm": "eee"})
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	seal(t, store, "edge-a", "S1", 2, map[string]string{"2.T2/DICOM/b.dcm": "bbb"})
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err = h.Status()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]EdgeDelivery{
		"edge-a": {LastDelivery: clock, Delivered: 2},
		"edge-b": {LastDelivery: clock.Add(-time.Hour), Delivered: 1},
	}
	if len(st.Edges) != len(want) {
		t.Fatalf("edges %+v", st.Edges)
	}
	for name, w := range want {
		if got := st.Edges[name]; !got.LastDelivery.Equal(w.LastDelivery) || got.Delivered != w.Delivered {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}
}
