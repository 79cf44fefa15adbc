package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aisedge/aisedge/internal/manifest"
	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
)

// named gives a destination another name.
type named struct {
	Destination
	name string
}

func (n named) Name() string { return n.name }

// failing fails every delivery with err until err is nil, counting calls.
// The hub's sessions run in parallel: the fields are read and set by the
// test between rounds only, calls under mu.
type failing struct {
	Destination
	err   error
	mu    sync.Mutex
	calls int
}

func (f *failing) Deliver(ctx context.Context, m *manifest.Manifest, dir string) error {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	return f.Destination.Deliver(ctx, m, dir)
}

// events returns the event lines of a buffer.
func eventLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// Several destinations: each generation goes to every destination that
// takes its project; one that fails is retried alone on the next round
// (the others' deliveries are recorded and not repeated), and the bucket
// is cleared only once all have it.
func TestSeveralDestinations(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	all := &ArchiveDir{ID: "all", Dir: t.TempDir()}
	onlyProj := &failing{Destination: &ArchiveDir{ID: "proj", Dir: t.TempDir()}, err: errors.New("503 service unavailable")}
	other := &failing{Destination: &ArchiveDir{ID: "other", Dir: t.TempDir()}}
	var ev bytes.Buffer
	h, err := Open(Config{Store: store, DataDir: t.TempDir(), EventsOut: &ev, Registry: prometheus.NewRegistry(), Destinations: []Target{
		{Dest: all}, {Dest: onlyProj, Projects: []string{"PROJ"}}, {Dest: other, Projects: []string{"OTHER"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa"})
	if err := h.RunOnce(t.Context()); err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "proj: 503") {
		t.Fatalf("first round: %v", err)
	}
	if !h.DeliveredTo("staged/edge-a/PROJ.S1.V1/", 1, "all") || h.Delivered("staged/edge-a/PROJ.S1.V1/", 1) {
		t.Fatal("the working destination's delivery is not recorded on its own")
	}
	if len(objects(t, store)) != 2 {
		t.Fatal("the bucket was cleared before every destination had the generation")
	}
	for dest, want := range map[string]float64{"proj": 1, "all": 0, "": 0} {
		var got dto.Metric
		if err := h.metrics.failures.WithLabelValues("transient", dest).Write(&got); err != nil || got.GetCounter().GetValue() != want {
			t.Errorf("transient failures of %q: %v (%v), want %v", dest, got.GetCounter().GetValue(), err, want)
		}
	}
	onlyProj.err = nil
	allBefore := ev.Len()
	if err := h.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ev.String()[allBefore:], `"destination":"all"`) {
		t.Error("the second round delivered to the destination that had the generation")
	}
	if onlyProj.calls != 2 || other.calls != 0 {
		t.Errorf("calls: proj %d (want 2), other %d (want 0: not its project)", onlyProj.calls, other.calls)
	}
	if len(objects(t, store)) != 0 {
		t.Fatal("not cleared after every destination had it")
	}
	// Events: delivery_* name the destination; no xnat_upload_* for
	// destinations that are not XNAT. The destinations of a generation
	// are delivered to at once, so only each one's events are in order.
	got := map[string][]string{}
	for _, e := range eventLines(t, &ev) {
		d := fmt.Sprint(e["destination"])
		got[d] = append(got[d], fmt.Sprint(e["event"]))
	}
	want := map[string][]string{
		"all":  {"delivery_started", "delivery_completed"},
		"proj": {"delivery_started", "delivery_failed", "delivery_started", "delivery_completed"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events by destination\n got %v\nwant %v", got, want)
	}
}

// A project no destination takes is dead-lettered, not delivered nowhere.
func TestNoDestinationForProject(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	h, err := Open(Config{Store: store, DataDir: t.TempDir(), EventsOut: &bytes.Buffer{},
		Destinations: []Target{{Dest: &ArchiveDir{Dir: t.TempDir()}, Projects: []string{"OTHER"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa"})
	if err := h.RunOnce(t.Context()); !IsPermanent(err) {
		t.Fatalf("got %v, want permanent", err)
	}
	if dl, _ := h.DeadLetters(); len(dl) != 1 || !strings.Contains(dl[0].Reason, "no destination takes project PROJ") {
		t.Fatalf("dead letters %+v", dl)
	}
}

// Two destinations of one name are refused: records are kept by name.
func TestDestinationNamesUnique(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	_, err := Open(Config{Store: store, DataDir: t.TempDir(),
		Destinations: []Target{{Dest: &ArchiveDir{Dir: t.TempDir()}}, {Dest: named{&ArchiveDir{Dir: t.TempDir()}, "archive"}}}})
	if err == nil || !strings.Contains(err.Error(), `two destinations named "archive"`) {
		t.Fatalf("got %v", err)
	}
}

// An XNAT destination also writes the original's xnat_upload_* lines,
// with the original's fields, beside delivery_*.
func TestXNATCompatEvents(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	_, c := newXNAT(t)
	h, ev := newHub(t, store, &XNAT{Client: c})
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1w/DICOM/a.dcm": "aaa"})
	if err := h.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	byEvent := map[string]map[string]any{}
	for _, e := range eventLines(t, ev) {
		byEvent[e["event"].(string)] = e
	}
	for _, name := range []string{"started", "completed"} {
		x, d := byEvent["xnat_upload_"+name], byEvent["delivery_"+name]
		if x == nil || d == nil {
			t.Fatalf("%s: xnat_upload %v, delivery %v", name, x, d)
		}
		if _, ok := x["destination"]; ok || d["destination"] != "xnat" {
			t.Errorf("%s: destination field: xnat_upload %v, delivery %v", name, x["destination"], d["destination"])
		}
		for _, k := range []string{"files", "bytes", "session"} {
			if x[k] != d[k] || x[k] == nil {
				t.Errorf("%s: %s differs: %v, %v", name, k, x[k], d[k])
			}
		}
	}
	if _, ok := byEvent["xnat_upload_completed"]["duration_s"]; !ok {
		t.Error("xnat_upload_completed without duration_s (the original's dashboards read it)")
	}
}

// resumable is a failing destination that can check its credentials.
type resumable struct{ *failing }

func (r resumable) Resume(context.Context) error { return r.err }

// A destination that refuses the hub's credentials is paused on its own:
// the others keep receiving sessions, its generations wait in the bucket,
// and once its credentials work it gets them and the bucket is cleared.
func TestPauseIsPerDestination(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	ok := &ArchiveDir{ID: "ok", Dir: t.TempDir()}
	refusing := resumable{&failing{Destination: &ArchiveDir{ID: "refusing", Dir: t.TempDir()},
		err: fmt.Errorf("%w: 401 Unauthorized", ErrCredentials)}}
	h, err := Open(Config{Store: store, DataDir: t.TempDir(), EventsOut: &bytes.Buffer{}, Destinations: []Target{{Dest: ok}, {Dest: refusing}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa"})
	if err := h.RunOnce(t.Context()); !errors.Is(err, ErrCredentials) {
		t.Fatalf("first round: %v", err)
	}
	if p := h.Pauses(); len(p) != 1 || p[0].Destination != "refusing" {
		t.Fatalf("pauses %+v", p)
	}
	// While it is paused, a new session reaches the other destination
	// and the paused one is not tried (only its Resume is).
	seal(t, store, "edge-a", "S2", 1, map[string]string{"1.T1/DICOM/b.dcm": "bbb"})
	calls := refusing.calls
	if err := h.RunOnce(t.Context()); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("second round: %v", err)
	}
	if !h.DeliveredTo("staged/edge-a/PROJ.S2.V1/", 1, "ok") || refusing.calls != calls {
		t.Fatalf("while paused: delivered to ok %v, deliveries tried at the paused one %d", h.DeliveredTo("staged/edge-a/PROJ.S2.V1/", 1, "ok"), refusing.calls-calls)
	}
	if dl, _ := h.DeadLetters(); len(dl) != 0 || len(objects(t, store)) != 4 {
		t.Fatalf("dead letters %v, objects %v", dl, objects(t, store))
	}
	refusing.err = nil
	if err := h.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h.Paused() != nil || len(objects(t, store)) != 0 {
		t.Fatalf("after the credentials work: paused %+v, objects %v", h.Paused(), objects(t, store))
	}
}
