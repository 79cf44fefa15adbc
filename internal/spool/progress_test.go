package spool

import (
	"fmt"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/fsutil"
)

// addSeries adds an instance of a given series at the clock's time.
func addSeries(t *testing.T, s *Spool, study, sop, series, number, content string) {
	t.Helper()
	w := write(t, s, content)
	in := Instance{StudyKey: study, SOPInstanceUID: sop, SeriesUID: series, SeriesNumber: number, SeriesDescription: "AX T1",
		Modality: "MR", Size: w.Size, SHA256: w.SHA256, MD5: w.MD5}
	if _, err := s.AddInstance(w.Path, in, sess, fsutil.Synced); err != nil {
		t.Fatal(err)
	}
}

func stageAll(t *testing.T, s *Spool, study string) *Shipment {
	t.Helper()
	pending, err := s.Pending(study)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range pending {
		ids = append(ids, in.ID)
	}
	sh, err := s.Stage(study, ids)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// TestProgressAndShipped follows one session through its life cycle and
// checks the counts at each step, then the shipped history's per-series
// counts and receive times.
func TestProgressAndShipped(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s, err := Open(t.TempDir(), Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	type counts struct{ received, staged, uploaded, sealed int }
	progress := func() (counts, bool) {
		t.Helper()
		ps, err := s.InFlight()
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 0 {
			return counts{}, false
		}
		if len(ps) != 1 || ps[0].Session != sess {
			t.Fatalf("in flight: %+v", ps)
		}
		return counts{ps[0].Received, ps[0].Staged, ps[0].Uploaded, ps[0].Sealed}, true
	}
	step := func(name string, want counts) {
		t.Helper()
		got, ok := progress()
		if !ok || got != want {
			t.Errorf("%s: progress %+v (in flight %v), want %+v", name, got, ok, want)
		}
	}

	addSeries(t, s, "st1", "2.25.1", "2.25.100", "10", "a")
	clk.add(2 * time.Second)
	addSeries(t, s, "st1", "2.25.2", "2.25.100", "10", "bb")
	clk.add(3 * time.Second)
	addSeries(t, s, "st1", "2.25.3", "2.25.200", "2", "ccc")
	step("received", counts{3, 0, 0, 0})

	stageAll(t, s, "st1")
	step("staged", counts{3, 3, 0, 0})

	if err := s.UpdateShipment("st1", 1, func(x *Shipment) { x.State = Uploaded }); err != nil {
		t.Fatal(err)
	}
	step("uploaded", counts{3, 3, 3, 0})

	clk.add(time.Minute)
	if err := s.Seal("st1", 1); err != nil {
		t.Fatal(err)
	}
	if got, ok := progress(); ok {
		t.Errorf("sealed session still in flight: %+v", got)
	}

	// A late series: generation 2, the earlier one counted as sealed.
	clk.add(time.Minute)
	addSeries(t, s, "st1", "2.25.4", "2.25.300", "3", "dddd")
	step("late series", counts{4, 3, 3, 3})
	stageAll(t, s, "st1")
	step("late series staged", counts{4, 4, 3, 3})
	if err := s.UpdateShipment("st1", 2, func(x *Shipment) { x.Held = true }); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.InFlight(); len(ps) != 1 || !ps[0].Held || ps[0].Generations != 2 {
		t.Errorf("held generation not shown: %+v", ps)
	}

	hist, err := s.Shipped(10)
	if err != nil || len(hist) != 1 {
		t.Fatalf("shipped history %+v %v", hist, err)
	}
	g := hist[0]
	if g.Generation != 1 || g.Session != sess || g.Instances() != 3 || !g.StagedAt.Equal(t0.Add(5*time.Second)) || !g.SealedAt.Equal(t0.Add(5*time.Second+time.Minute)) {
		t.Errorf("shipped generation %+v", g)
	}
	want := []SeriesSummary{
		{SeriesNumber: "2", SeriesDescription: "AX T1", Modality: "MR", Instances: 1, Bytes: 3, FirstReceived: t0.Add(5 * time.Second), LastReceived: t0.Add(5 * time.Second)},
		{SeriesNumber: "10", SeriesDescription: "AX T1", Modality: "MR", Instances: 2, Bytes: 3, FirstReceived: t0, LastReceived: t0.Add(2 * time.Second)},
	}
	if fmt.Sprint(g.Series) != fmt.Sprint(want) {
		t.Errorf("series\n got %+v\nwant %+v", g.Series, want)
	}
}

// TestShippedIsBounded: the history keeps the latest ShippedKeep seals.
func TestShippedIsBounded(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)}
	s, err := Open(t.TempDir(), Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range ShippedKeep + 5 {
		study := fmt.Sprintf("st%03d", i)
		addSeries(t, s, study, "2.25.1", "2.25.9", "1", study)
		stageAll(t, s, study)
		clk.add(time.Second)
		if err := s.Seal(study, 1); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Shipped(10 * ShippedKeep)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != ShippedKeep {
		t.Fatalf("history holds %d, want %d", len(all), ShippedKeep)
	}
	if first, last := all[0].StudyKey, all[len(all)-1].StudyKey; first != fmt.Sprintf("st%03d", ShippedKeep+4) || last != "st005" {
		t.Errorf("history runs %s .. %s, want the latest first and the oldest five pruned", first, last)
	}
}
