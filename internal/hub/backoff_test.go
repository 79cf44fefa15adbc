package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
)

// Run's wait after a round: failures of destinations alone keep the
// interval (each destination backs off on its own); a failure of the
// hub's own doubles the wait per round up to maxBackoff.
func TestRoundWait(t *testing.T) {
	const interval = 10 * time.Second
	dest := func(name string) error {
		return &destinationError{dest: name, err: fmt.Errorf("%s: 503 service unavailable", name)}
	}
	listing := errors.New("hub: listing the bucket: connection refused")
	tests := []struct {
		name       string
		err        error
		failed     int
		wantWait   time.Duration
		wantFailed int
	}{
		{"good round resets", nil, 3, interval, 0},
		{"one destination", dest("pacs"), 0, interval, 0},
		{"destinations wrapped and joined", fmt.Errorf("hub: P.S.V generation 1: %w", errors.Join(dest("pacs"), dest("xnat"))), 2, interval, 0},
		{"hub-wide, first", listing, 0, interval, 1},
		{"hub-wide, third in a row", listing, 2, 4 * interval, 3},
		{"hub-wide among destinations", errors.Join(dest("pacs"), listing), 1, 2 * interval, 2},
		{"hub-wide, capped", listing, 20, maxBackoff, 21},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wait, failed := roundWait(tc.err, tc.failed, interval)
			if wait != tc.wantWait || failed != tc.wantFailed {
				t.Errorf("roundWait = %v, %d; want %v, %d", wait, failed, tc.wantWait, tc.wantFailed)
			}
		})
	}
}

// A destination that keeps failing backs off on its own: the rounds of
// Run go on delivering new sessions to the other destination, the failing
// one is tried again only when its backoff (doubling) has passed, the
// failure is not the hub's (no hub-wide backoff), and once it works it
// gets every generation that waited.
func TestFailingDestinationSlowsNoOther(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	ok := &ArchiveDir{ID: "ok", Dir: t.TempDir()}
	down := &failing{Destination: &ArchiveDir{ID: "down", Dir: t.TempDir()}, err: errors.New("503 service unavailable")}
	// The clock moves between rounds only (a round's goroutines end
	// before it returns).
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// One session at a time, so that which session meets the failing
	// destination first is known.
	h, err := Open(Config{Store: store, DataDir: t.TempDir(), EventsOut: &bytes.Buffer{}, Parallel: 1, Now: func() time.Time { return now },
		Destinations: []Target{{Dest: ok}, {Dest: down}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.setDestBackoff(time.Minute)
	round := func(step string, wantCalls int) {
		t.Helper()
		err := h.round(t.Context(), true)
		if down.err != nil && err == nil || hubWide(err) {
			t.Fatalf("%s: round error %v (hub-wide %v)", step, err, hubWide(err))
		}
		if down.calls != wantCalls {
			t.Fatalf("%s: %d deliveries tried at the failing destination, want %d", step, down.calls, wantCalls)
		}
	}
	s1, s2 := "staged/edge-a/PROJ.S1.V1/", "staged/edge-a/PROJ.S2.V1/"

	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa"})
	round("first failure", 1)
	seal(t, store, "edge-a", "S2", 1, map[string]string{"1.T1/DICOM/b.dcm": "bbb"})
	round("backing off", 1)
	if !h.DeliveredTo(s1, 1, "ok") || !h.DeliveredTo(s2, 1, "ok") {
		t.Fatal("the working destination did not get both sessions while the other backed off")
	}
	now = now.Add(time.Minute)
	round("first backoff passed", 2) // one attempt: S2 waits behind the renewed backoff
	now = now.Add(time.Minute)
	round("second backoff (2 min) not passed", 2)
	down.err = nil
	now = now.Add(time.Minute)
	round("second backoff passed", 4)
	if !h.Delivered(s1, 1) || !h.Delivered(s2, 1) || len(objects(t, store)) != 0 {
		t.Fatalf("after the destination works: delivered %v %v, objects %v", h.Delivered(s1, 1), h.Delivered(s2, 1), objects(t, store))
	}
	if h.backingOff("down") || len(h.retries) != 0 {
		t.Fatal("a delivery that worked did not clear the backoff")
	}
}

// countingResumer refuses the credentials until err is nil, counting
// Resume calls.
type countingResumer struct {
	*failing
	resumes int
}

func (r *countingResumer) Resume(context.Context) error {
	r.resumes++
	return r.err
}

// Refused credentials are not tried again every round: Run's rounds call
// Resume only when the paused destination's backoff has passed, and the
// pause slows no other destination. RunOnce tries at once.
func TestPausedDestinationBacksOff(t *testing.T) {
	store, _ := objfs.Open(t.TempDir())
	ok := &ArchiveDir{ID: "ok", Dir: t.TempDir()}
	refusing := &countingResumer{failing: &failing{Destination: &ArchiveDir{ID: "refusing", Dir: t.TempDir()},
		err: fmt.Errorf("%w: 401 Unauthorized", ErrCredentials)}}
	// The clock moves between rounds only (a round's goroutines end
	// before it returns).
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h, err := Open(Config{Store: store, DataDir: t.TempDir(), EventsOut: &bytes.Buffer{}, Now: func() time.Time { return now },
		Destinations: []Target{{Dest: ok}, {Dest: refusing}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.setDestBackoff(time.Minute)
	seal(t, store, "edge-a", "S1", 1, map[string]string{"1.T1/DICOM/a.dcm": "aaa"})
	if err := h.round(t.Context(), true); !errors.Is(err, ErrCredentials) || hubWide(err) {
		t.Fatalf("first round: %v (hub-wide %v)", err, hubWide(err))
	}
	seal(t, store, "edge-a", "S2", 1, map[string]string{"1.T1/DICOM/b.dcm": "bbb"})
	if err := h.round(t.Context(), true); !errors.Is(err, ErrCredentials) || hubWide(err) {
		t.Fatalf("paused round: %v (hub-wide %v)", err, hubWide(err))
	}
	if refusing.resumes != 0 || !h.DeliveredTo("staged/edge-a/PROJ.S2.V1/", 1, "ok") {
		t.Fatalf("while backing off: %d resumes (want 0), S2 delivered to ok %v", refusing.resumes, h.DeliveredTo("staged/edge-a/PROJ.S2.V1/", 1, "ok"))
	}
	now = now.Add(time.Minute)
	h.round(t.Context(), true)
	if refusing.resumes != 1 {
		t.Fatalf("after the backoff: %d resumes, want 1", refusing.resumes)
	}
	h.round(t.Context(), true)
	if refusing.resumes != 1 {
		t.Fatalf("a failed resume did not renew the backoff: %d resumes", refusing.resumes)
	}
	h.RunOnce(t.Context())
	if refusing.resumes != 2 {
		t.Fatalf("RunOnce did not try to resume: %d resumes", refusing.resumes)
	}
	refusing.err = nil
	if err := h.RunOnce(t.Context()); err != nil || h.Paused() != nil || len(objects(t, store)) != 0 {
		t.Fatalf("after the credentials work: %v, paused %+v, objects %v", err, h.Paused(), objects(t, store))
	}
}
