package hub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aisedge/aisedge/internal/objstore"
	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
)

// TestRecentDeliveries: each verified delivery is listed in the status,
// latest first, with its per-series counts and its timings; a dead letter
// is not; the history is bounded.
func TestRecentDeliveries(t *testing.T) {
	clock := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	h, store := archiveHub(t, &clock)
	m1 := seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa", "1.T1/DICOM/b.dcm": "bb", "2.DWI/DICOM/c.dcm": "c"})
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute)
	seal(t, store, "edge-b", "S2", 1, map[string]string{"5.CT/DICOM/e.dcm": "eeee"})
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := h.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Recent) != 2 || st.Recent[0].Session != "PROJ.S2.V1" || st.Recent[1].Session != "PROJ.S1.V1" {
		t.Fatalf("recent deliveries %+v", st.Recent)
	}
	d := st.Recent[1]
	slices.SortFunc(d.Series, func(a, b DeliveredSeries) int { return bytes.Compare([]byte(a.Scan), []byte(b.Scan)) })
	want := Delivery{Base: "staged/edge-a/PROJ.S1.V1/", Generation: 1, Edge: "edge-a", Session: "PROJ.S1.V1", Files: 3, Bytes: 6,
		StagedAt: m1.CreatedAt, StartedAt: clock.Add(-time.Minute), At: clock.Add(-time.Minute),
		Series: []DeliveredSeries{{Scan: "1.T1", Files: 2}, {Scan: "2.DWI", Files: 1}}}
	if fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("delivery\n got %+v\nwant %+v", d, want)
	}

	// The history keeps the latest RecentKeep.
	err = h.db.Update(func(tx *bolt.Tx) error {
		for i := range RecentKeep {
			clock = clock.Add(time.Second)
			if err := recordRecent(tx, Delivery{Base: fmt.Sprintf("staged/e/P.S%03d.V/", i), Generation: 1, At: clock}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := h.RecentDeliveries(2 * RecentKeep)
	if err != nil || len(all) != RecentKeep || all[0].Base != fmt.Sprintf("staged/e/P.S%03d.V/", RecentKeep-1) {
		t.Fatalf("bounded history: %d entries, first %+v, %v", len(all), all[0], err)
	}
}

// archiveHub opens a hub on a folder bucket that delivers to an archive
// folder, its clock read from *clock; it closes when the test ends.
func archiveHub(t *testing.T, clock *time.Time) (*Hub, objstore.Store) {
	t.Helper()
	store, err := objfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := Open(Config{Store: store, Destinations: []Target{{Dest: &ArchiveDir{Dir: t.TempDir()}}}, DataDir: t.TempDir(),
		EventsOut: io.Discard, Now: func() time.Time { return *clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, store
}
