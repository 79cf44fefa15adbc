package edge

import (
	"bytes"
	"context"
	"fmt"
	iofs "io/fs"
	"iter"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
	"github.com/aisedge/aisedge/internal/route"
	"github.com/aisedge/aisedge/internal/testpeer/samples"
)

// seriesFiles writes n copies of CT_small as one series of one study, with
// new SOP Instance UIDs, and returns their folder.
func seriesFiles(t *testing.T, study, series string, seriesNumber, n int) string {
	return samples.Series{StudyUID: study, SeriesUID: series, SeriesNumber: seriesNumber, N: n}.Write(t)
}

// storescu sends the files of dir to the edge at addr. The edge's clock
// stands still meanwhile (see holdClock).
func storescu(t *testing.T, clock *holdClock, addr, aet, dir string) {
	t.Helper()
	defer clock.hold()()
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("storescu", "-aec", aet, "-aet", "MODALITY", "+sd", "+r", host, port, dir)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
}

// TestEdgeEndToEnd: storescu sends two studies, the second in two series
// with the second series sent after the quiet period; the bucket ends up
// with sealed sessions whose manifests match the objects, and the late
// series as an append (generation 2) of the same session.
func TestEdgeEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	dir := t.TempDir()
	store, err := objfs.Open(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	addr, clock, events, stop, e := runEdgeE(t, dir, store)
	if st, _ := e.Status(); !st.LastUpload.IsZero() {
		t.Errorf("last upload %v before anything was uploaded", st.LastUpload)
	}
	storescu(t, clock, addr, "AISEDGE", seriesFiles(t, "1.2.826.0.1.3680043.8.1055.7.1", "1.2.826.0.1.3680043.8.1055.7.1.1", 1, 5))
	storescu(t, clock, addr, "AISEDGE", seriesFiles(t, "1.2.826.0.1.3680043.8.1055.7.2", "1.2.826.0.1.3680043.8.1055.7.2.1", 1, 3))
	waitFor(t, func() bool { return countManifests(t, store) == 2 })
	if st, _ := e.Status(); st.LastUpload.IsZero() {
		t.Error("no last upload after two seals")
	}
	// The late series of study 2, after its session was sealed.
	storescu(t, clock, addr, "AISEDGE", seriesFiles(t, "1.2.826.0.1.3680043.8.1055.7.2", "1.2.826.0.1.3680043.8.1055.7.2.2", 2, 2))
	waitFor(t, func() bool { return countManifests(t, store) == 3 })
	// Local copies go once the seal is verified, a moment after the
	// manifest is in the bucket: stopping before that would cut the seal
	// short (the next start would finish it).
	objects := filepath.Join(dir, "data", "spool", "objects")
	waitFor(t, func() bool { ents, _ := os.ReadDir(objects); return len(ents) == 0 })
	stop()

	// Every manifest matches the objects listed beside it.
	var gens []int
	for info, err := range store.List(context.Background(), "staged/edge-a/") {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(info.Key, "/MANIFEST") {
			continue
		}
		rc, err := store.Get(context.Background(), info.Key)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		m, err := manifest.Parse(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		gens = append(gens, m.Generation)
		for _, f := range m.Files {
			key := "staged/edge-a/" + m.Folder + "/" + f.Path
			if _, err := objstore.VerifyListed(context.Background(), store, key, f.Size, f.MD5); err != nil {
				t.Errorf("%s: %v", key, err)
			}
		}
	}
	if fmt.Sprint(gens) != "[1 1 2]" && fmt.Sprint(gens) != "[1 2 1]" {
		t.Errorf("generations %v, want two first shipments and one append", gens)
	}
	// Local copies stay gone after the stop.
	if ents, _ := os.ReadDir(objects); len(ents) != 0 {
		t.Errorf("%d spool files left after sealing", len(ents))
	}
	for _, ev := range []string{`"event":"startup"`, `"event":"alias_configured"`, `"event":"upload_started"`, `"event":"upload_completed"`, `"component":"s3-uploader"`} {
		if !strings.Contains(events.String(), ev) {
			t.Errorf("no %s event", ev)
		}
	}
}

func countManifests(t *testing.T, s objstore.Store) int {
	n := 0
	for info, err := range s.List(context.Background(), "staged/") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info.Key, "/MANIFEST") {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds, for up to 5 minutes: a ceiling, not
// a budget (the edge stages and ships within a few of its 200 ms ticks
// after the quiet period; a loaded machine only makes that slower).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	const ceiling = 5 * time.Minute
	deadline := time.Now().Add(ceiling)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", ceiling)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// holdClock is the edge's clock in these tests: the real one, except that
// it stands still while held. storescu holds it while it sends, so that
// no study turns quiet (and is sealed) in the middle of its series because
// the machine was slow between two of its instances: a series sent in one
// storescu run always lands in one session.
type holdClock struct {
	mu   sync.Mutex
	held time.Time
}

func (c *holdClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held.IsZero() {
		return c.held
	}
	return time.Now()
}

// hold stops the clock until the returned function is called.
func (c *holdClock) hold() (release func()) {
	c.mu.Lock()
	c.held = time.Now()
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.held = time.Time{}
		c.mu.Unlock()
	}
}

// runEdge runs an edge (AE title AISEDGE → project PROJ, quiet period 2 s)
// on dir with store as its bucket; it returns the receiver's address, the
// edge's clock, the event stream and a stop function that fails the test
// if Run failed.
func runEdge(t *testing.T, dir string, store objstore.Store) (string, *holdClock, *syncWriter, func()) {
	t.Helper()
	addr, clock, events, stop, _ := runEdgeE(t, dir, store)
	return addr, clock, events, stop
}

// runEdgeE is runEdge that also returns the edge.
func runEdgeE(t *testing.T, dir string, store objstore.Store) (string, *holdClock, *syncWriter, func(), *Edge) {
	t.Helper()
	table, err := route.Parse([]byte(`{"AETMap": {"AISEDGE": {"project": "PROJ"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := deid.NewKeys(testSalt)
	prof := deid.MustBuiltin("research-default")
	events := &syncWriter{w: &bytes.Buffer{}}
	clock := &holdClock{}
	e, err := New(Config{
		Name: "edge-a", DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", AETitle: "AISEDGE",
		Routes: table, Store: store, Quiet: 2 * time.Second, Tick: 200 * time.Millisecond,
		MinFreeBytes: -1, EventsOut: events, Now: clock.Now, OriginalComponents: true,
		Engine: func(rt route.Route) (*deid.Engine, error) {
			return deid.New(deid.Config{Profile: prof, Keys: keys, Site: "edge-a", ProjectCode: rt.Project})
		},
		Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addrc := make(chan string, 1)
	go func() { done <- e.Run(ctx, func(a net.Addr) { addrc <- a.String() }) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return <-addrc, clock, events, stop, e
}

// listLies is a bucket whose listing misrepresents one object: omitted
// (lost after the Put) or with another ETag (not what was sent).
type listLies struct {
	objstore.Store
	match string // keys containing it are misrepresented
	omit  bool
}

func (l listLies) List(ctx context.Context, prefix string) iter.Seq2[objstore.Info, error] {
	return func(yield func(objstore.Info, error) bool) {
		for info, err := range l.Store.List(ctx, prefix) {
			if err == nil && strings.Contains(info.Key, l.match) {
				if l.omit {
					continue
				}
				info.ETag = "00000000000000000000000000000000"
			}
			if !yield(info, err) {
				return
			}
		}
	}
}

// TestNoSealUnlessTheBucketHasEverything: a bucket that lost an object
// after its Put, or lists another ETag than the Put returned, gets no
// seal, and the staged copies stay.
func TestNoSealUnlessTheBucketHasEverything(t *testing.T) {
	if _, err := exec.LookPath("storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	for _, omit := range []bool{true, false} {
		t.Run(fmt.Sprintf("omitted=%v", omit), func(t *testing.T) {
			dir := t.TempDir()
			fs, err := objfs.Open(filepath.Join(dir, "bucket"))
			if err != nil {
				t.Fatal(err)
			}
			store := listLies{Store: fs, match: "/DICOM/", omit: omit}
			addr, clock, events, stop, e := runEdgeE(t, dir, store)
			storescu(t, clock, addr, "AISEDGE", seriesFiles(t, "1.2.826.0.1.3680043.8.1055.9.1", "1.2.826.0.1.3680043.8.1055.9.1.1", 1, 3))
			waitFor(t, func() bool { return strings.Contains(events.String(), `"event":"upload_failed"`) })
			// The store answers (reachable), but nothing was uploaded: the
			// status has no last upload, and the error.
			if st, err := e.Status(); err != nil || !st.LastUpload.IsZero() || st.LastError == "" || !st.ObjectStore.Reachable {
				t.Errorf("status after failed uploads: last upload %v, last error %q, store %+v (%v)", st.LastUpload, st.LastError, st.ObjectStore, err)
			}
			stop()
			if n := countManifests(t, fs); n != 0 {
				t.Fatalf("%d sessions sealed over a bucket that misses or misstates an object", n)
			}
			if strings.Contains(events.String(), `"event":"upload_completed"`) {
				t.Fatal("upload reported complete")
			}
			staged := 0
			filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d iofs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasSuffix(p, ".dcm") && strings.Contains(p, "staging") {
					staged++
				}
				return nil
			})
			if staged != 3 {
				t.Fatalf("%d staged files left, want the 3 kept", staged)
			}
		})
	}
}

// syncWriter serialises writes for a buffer shared across goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// TestEdgeKeepsOriginalsReceivedInMemory: instances small enough to be
// received into memory (no temporary file) still leave their original,
// byte for byte, in the facility backup, and in the quarantine when they
// do not go through (an unmapped AE title here).
func TestEdgeKeepsOriginalsReceivedInMemory(t *testing.T) {
	if _, err := exec.LookPath("storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	dir := t.TempDir()
	store, err := objfs.Open(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	addr, clock, _, stop, e := runEdgeE(t, dir, store)
	mapped := seriesFiles(t, "1.2.826.0.1.3680043.8.1055.8.1", "1.2.826.0.1.3680043.8.1055.8.1.1", 1, 3)
	unmapped := seriesFiles(t, "1.2.826.0.1.3680043.8.1055.8.2", "1.2.826.0.1.3680043.8.1055.8.2.1", 1, 2)
	storescu(t, clock, addr, "AISEDGE", mapped)
	storescu(t, clock, addr, "NOBODY", unmapped)
	stop() // the appliers drain

	// The data set bytes of what was sent, by SOP Instance UID.
	sent := map[string][]byte{}
	for _, d := range []string{mapped, unmapped} {
		ents, _ := os.ReadDir(d)
		for _, ent := range ents {
			b, err := os.ReadFile(filepath.Join(d, ent.Name()))
			if err != nil {
				t.Fatal(err)
			}
			f, err := dicom.ReadFileBytes(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			sent[f.Dataset.String(dicom.TagSOPInstanceUID)] = dataSetBytes(t, b)
		}
	}
	if len(sent) != 5 {
		t.Fatalf("%d files sent, want 5", len(sent))
	}
	kept := map[string]int{}
	err = filepath.WalkDir(e.Backup.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		sop := strings.TrimSuffix(filepath.Base(p), ".dcm")
		want, ok := sent[sop]
		if !ok {
			t.Errorf("backup holds %s, which was not sent", filepath.Base(p))
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !sameDataSet(dataSetBytes(t, b), want) {
			t.Errorf("backup copy of %s differs from what was sent", sop)
		}
		kept[sop]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != len(sent) {
		t.Errorf("backup holds %d of the %d instances sent", len(kept), len(sent))
	}
	q, err := e.Receiver.Quarantine.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 2 {
		t.Fatalf("%d quarantine entries, want the 2 unmapped instances", len(q))
	}
	for _, ent := range q {
		b, err := os.ReadFile(e.Receiver.Quarantine.InstancePath(ent.ID))
		if err != nil {
			t.Fatal(err)
		}
		f, err := dicom.ReadFileBytes(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := sent[f.Dataset.String(dicom.TagSOPInstanceUID)]; !sameDataSet(dataSetBytes(t, b), want) {
			t.Errorf("quarantined instance %s differs from what was sent", ent.ID)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "data", "spool", "tmp", "*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// sameDataSet reports whether got is the data set sent: want's bytes, but
// for the Data Set Trailing Padding (FFFC,FFFC) at its end, which storescu
// does not send.
func sameDataSet(got, want []byte) bool {
	if len(got) > len(want) || !bytes.Equal(got, want[:len(got)]) {
		return false
	}
	return len(got) == len(want) || bytes.HasPrefix(want[len(got):], []byte{0xfc, 0xff, 0xfc, 0xff})
}

// dataSetBytes is a Part 10 file's data set, after its file meta group.
func dataSetBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	off, err := dimse.Part10DataOffset(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return b[off:]
}
