package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/fsutil"
	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
	"github.com/aisedge/aisedge/internal/route"
	"github.com/aisedge/aisedge/internal/spool"
)

func testRecord(i int) *journalRecord {
	return &journalRecord{
		Meta: journalMeta{
			BackupPath: fmt.Sprintf("P/1.2/1.2.3/%d.dcm", i),
			Instance:   spool.Instance{StudyKey: "PRJ.S.V", SOPInstanceUID: fmt.Sprint("2.25.", i)},
			Session:    spool.Session{Project: "PRJ", Subject: "S", Visit: "V"},
		},
		Original: bytes.Repeat([]byte{byte(i)}, 100+i),
		Output:   bytes.Repeat([]byte{byte(i + 1)}, 50+i),
	}
}

func replayAll(t *testing.T, dir string) []*journalRecord {
	t.Helper()
	var got []*journalRecord
	if _, err := replayJournal(dir, func(r *journalRecord) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// writeJournal writes n test records into a journal in dir and closes it.
func writeJournal(t *testing.T, dir string, n int) {
	t.Helper()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := j.append(testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	j.close()
}

func segments(t *testing.T, dir string) []uint64 {
	t.Helper()
	ids, err := segmentIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestJournalReplay: records written and not applied come back, whole
// and in order, at the next start; the replayed segments are removed and
// new segments are numbered after them.
func TestJournalReplay(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	j.segBytes = 1000 // several segments
	for i := range 20 {
		if err := j.append(testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	j.close()
	if n := len(segments(t, dir)); n < 3 {
		t.Fatalf("%d segments, want several", n)
	}
	got := replayAll(t, dir)
	if len(got) != 20 {
		t.Fatalf("replayed %d records, want 20", len(got))
	}
	for i, r := range got {
		want := testRecord(i)
		if r.Meta != want.Meta || !bytes.Equal(r.Original, want.Original) || !bytes.Equal(r.Output, want.Output) {
			t.Errorf("record %d differs after replay", i)
		}
	}
	if ids := segments(t, dir); len(ids) != 0 {
		t.Errorf("segments left after replay: %v", ids)
	}
}

// TestJournalForgetsApplied: a segment is deleted once it is closed to new
// records and every record in it is applied; the open one stays.
func TestJournalForgetsApplied(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	j.segBytes = 1000
	var recs []*journalRecord
	for i := range 12 {
		r := testRecord(i)
		if err := j.append(r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if j.unapplied() != 12 {
		t.Errorf("unapplied %d, want 12", j.unapplied())
	}
	for _, r := range recs {
		j.applied(r)
	}
	if j.unapplied() != 0 {
		t.Errorf("unapplied %d after applying all, want 0", j.unapplied())
	}
	ids := segments(t, dir)
	if len(ids) > 1 {
		t.Errorf("segments %v left: only the one still open may stay", ids)
	}
	j.close()
	if got := replayAll(t, dir); len(got) != 0 {
		t.Errorf("%d applied records replayed", len(got))
	}
}

// TestJournalTornTail: a frame cut short or corrupted (the process died
// while writing it; it was never acknowledged) ends the segment; what was
// before it is replayed.
func TestJournalTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail func(frame []byte) []byte
	}{
		{"truncated", func(f []byte) []byte { return f[:len(f)/2] }},
		{"header only", func(f []byte) []byte { return f[:7] }},
		{"bad checksum", func(f []byte) []byte { f[len(f)-1] ^= 0xff; return f }},
		{"zeros", func(f []byte) []byte { return make([]byte, len(f)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeJournal(t, dir, 3)
			frame, err := encodeRecord(testRecord(3))
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(dir, segmentName(0)), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tc.tail(frame.bytes()))
			f.Close()
			if got := replayAll(t, dir); len(got) != 3 {
				t.Errorf("replayed %d records, want the 3 complete ones", len(got))
			}
		})
	}
}

// TestJournalReplayStopsOnFailure: a record that cannot be applied stops
// the replay and keeps its segment; the next replay starts again.
func TestJournalReplayStopsOnFailure(t *testing.T) {
	dir := t.TempDir()
	writeJournal(t, dir, 3)
	n := 0
	_, err := replayJournal(dir, func(r *journalRecord) error {
		if n++; n == 2 {
			return errors.New("disk full")
		}
		return nil
	})
	if err == nil {
		t.Fatal("replay reported no error")
	}
	if len(segments(t, dir)) != 1 {
		t.Fatal("the segment was removed although a record was not applied")
	}
	if got := replayAll(t, dir); len(got) != 3 {
		t.Errorf("second replay: %d records, want 3", len(got))
	}
}

// TestJournalGroupCommit: records that arrive while a flush runs share the
// next flush; each append returns only after a flush that covers it.
func TestJournalGroupCommit(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	var mu sync.Mutex
	flushes := 0
	first, release := make(chan struct{}), make(chan struct{})
	j.sync = func(f *os.File) error {
		mu.Lock()
		flushes++
		n := flushes
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release
		}
		return fdatasync(f)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); j.append(testRecord(0)) }()
	<-first
	for i := 1; i <= 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); j.append(testRecord(i)) }()
	}
	for j.commits.Waiting() < 10 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if flushes != 2 {
		t.Errorf("%d flushes for 11 records, want 2 (one running, one for the ten that came during it)", flushes)
	}
	if j.unapplied() != 11 {
		t.Errorf("unapplied %d, want 11", j.unapplied())
	}
}

// journalTestConfig is an edge configuration in dir whose route maps
// AISEDGE to project PROJ, without a server running.
func journalTestConfig(t *testing.T, dir string) Config {
	t.Helper()
	store, err := objfs.Open(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	table, err := route.Parse([]byte(`{"AETMap": {"AISEDGE": {"project": "PROJ"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := deid.NewKeys(testSalt)
	prof := deid.MustBuiltin("research-default")
	return Config{
		Name: "edge-a", DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", AETitle: "AISEDGE",
		Routes: table, Store: store, MinFreeBytes: -1, EventsOut: io.Discard,
		Engine: func(rt route.Route) (*deid.Engine, error) {
			return deid.New(deid.Config{Profile: prof, Keys: keys, Site: "edge-a", ProjectCode: rt.Project})
		},
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
}

// TestAcknowledgedBeforeAppliedIsReplayed: an instance whose C-STORE was
// answered (its journal record written) but whose copies never reached the
// facility backup and the spool (the process died first) is in both, byte
// for byte, after the next start; its acceptance took no flush besides the
// journal's.
func TestAcknowledgedBeforeAppliedIsReplayed(t *testing.T) {
	dir := t.TempDir()
	cfg := journalTestConfig(t, dir)
	table := cfg.Routes
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var dropped []*journalRecord
	e.Receiver.enqueue = func(r *journalRecord) { dropped = append(dropped, r) } // dies before applying

	src := filepath.Join(sharedTestData(t), "pydicom_CT_small.dcm")
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dicom.ReadFileBytes(orig, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "incoming.dcm")
	if err := os.WriteFile(tmp, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	backup := e.Backup.Path(f.Dataset, "") // before de-identification rewrites f
	syncs := 0
	err = e.Receiver.Store(context.Background(), &dimse.Instance{
		Path: tmp, Size: int64(len(orig)), File: f, Sync: func() error { syncs++; return nil },
		SOPClassUID: f.Dataset.String(dicom.TagSOPClassUID), SOPInstanceUID: f.Dataset.String(dicom.TagSOPInstanceUID),
		TransferSyntaxUID: f.TransferSyntax.UID, CallingAET: "MODALITY", CalledAET: "AISEDGE", Assoc: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || syncs != 0 {
		t.Fatalf("%d records handed to the appliers, received file flushed %d times; want 1 and 0", len(dropped), syncs)
	}
	if _, err := os.Stat(backup); !os.IsNotExist(err) {
		t.Fatalf("backup copy exists before the record was applied: %v", err)
	}
	if studies, _ := e.Spool.Studies(); len(studies) != 0 {
		t.Fatalf("spool has %d studies before the record was applied", len(studies))
	}
	// The process dies: nothing more is written. The next start replays.
	e.journal.close()
	e.Spool.Close()
	os.Remove(tmp)

	e2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e2.journal.close(); e2.Spool.Close() }()
	got, err := os.ReadFile(backup)
	if err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("backup copy after replay: %d bytes, err %v; want the %d original bytes", len(got), err, len(orig))
	}
	studies, _ := e2.Spool.Studies()
	if len(studies) != 1 || studies[0].Pending != 1 {
		t.Fatalf("spool after replay: %+v", studies)
	}
	pending, _ := e2.Spool.Pending(studies[0].Key)
	out, err := os.ReadFile(e2.Spool.ObjectPath(pending[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	// The record held the original only; replaying it de-identified it
	// as the live path would have (de-identification is deterministic).
	if !bytes.Equal(dropped[0].Original, orig) || len(dropped[0].Output) != 0 {
		t.Fatalf("journal record: %d original bytes (want %d), %d output bytes (want 0)", len(dropped[0].Original), len(orig), len(dropped[0].Output))
	}
	rt, _ := table.Lookup("AISEDGE")
	eng, err := cfg.Engine(rt)
	if err != nil {
		t.Fatal(err)
	}
	again, err := dicom.ReadFileBytes(orig, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Deidentify(again, deid.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := dicom.WriteFile(&want, res.File); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want.Bytes()) {
		t.Fatal("spooled copy after replay differs from the de-identified original")
	}
	if ids := segments(t, filepath.Join(cfg.DataDir, "journal")); len(ids) != 0 {
		t.Errorf("journal segments left after replay: %v", ids)
	}
}

// TestJournalArrivalQuarantinedOnce: a journal record whose instance
// de-identification holds (a JPEG 2000 secondary capture) makes one
// quarantine entry holding the original, even when the record is processed
// twice (a crash between the entry and the journal's note of it); an
// instance whose AE title lost its route between the acknowledgement and
// the processing (a restart with another routing) is held too.
func TestJournalArrivalQuarantinedOnce(t *testing.T) {
	dir := t.TempDir()
	e, err := New(journalTestConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e.journal.close(); e.Spool.Close() }()
	var records []*journalRecord
	e.Receiver.enqueue = func(r *journalRecord) { records = append(records, r) }
	store1 := func(name string) []byte {
		t.Helper()
		orig, err := os.ReadFile(filepath.Join(sharedTestData(t), name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := dicom.ReadFileBytes(orig, nil)
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "incoming.dcm")
		if err := os.WriteFile(tmp, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(tmp)
		o, err := e.Receiver.Accept(context.Background(), &dimse.Instance{
			Path: tmp, Size: int64(len(orig)), File: f,
			SOPClassUID: f.Dataset.String(dicom.TagSOPClassUID), SOPInstanceUID: f.Dataset.String(dicom.TagSOPInstanceUID),
			TransferSyntaxUID: f.TransferSyntax.UID, CallingAET: "MODALITY", CalledAET: "AISEDGE", Assoc: "test",
		})
		if err != nil || !o.Journaled {
			t.Fatalf("accept: %+v, %v; want journaled", o, err)
		}
		return orig
	}
	held := func() []QuarantineEntry {
		t.Helper()
		q, err := e.Receiver.Quarantine.List()
		if err != nil {
			t.Fatal(err)
		}
		return q
	}

	orig := store1("pydicom_JPEG2000.dcm")
	if len(held()) != 0 {
		t.Fatal("quarantined before the record was processed")
	}
	if at, ok := e.journal.oldestWaiting(); !ok || !at.Equal(records[0].Meta.Arrival.ReceivedAt) {
		t.Fatalf("oldest waiting: %v %v, want the record's arrival %v", at, ok, records[0].Meta.Arrival.ReceivedAt)
	}
	for range 2 {
		if err := e.applyRecord(records[0], fsutil.Synced); err != nil {
			t.Fatal(err)
		}
	}
	e.journal.applied(records[0])
	if at, ok := e.journal.oldestWaiting(); ok {
		t.Fatalf("oldest waiting %v after the only record was applied", at)
	}
	q := held()
	if len(q) != 1 {
		t.Fatalf("%d quarantine entries after processing the record twice, want 1", len(q))
	}
	if kept, err := os.ReadFile(e.Receiver.Quarantine.InstancePath(q[0].ID)); err != nil || !bytes.Equal(kept, orig) {
		t.Fatalf("quarantined instance: %d bytes, %v; want the %d original bytes", len(kept), err, len(orig))
	}

	store1("pydicom_CT_small.dcm")
	other, err := route.Parse([]byte(`{"AETMap": {"ELSEWHERE": {"project": "PROJ"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	e.Receiver.Routes = other
	if err := e.applyRecord(records[1], fsutil.Synced); err != nil {
		t.Fatal(err)
	}
	if q := held(); len(q) != 2 || !strings.Contains(strings.Join(q[1].Reasons, " "), reasonUnmapped) {
		t.Fatalf("quarantine after the route went away: %+v", q)
	}
	if studies, _ := e.Spool.Studies(); len(studies) != 0 {
		t.Fatalf("spool has %d studies; nothing should have gone through", len(studies))
	}
}

// TestWritev: more pieces than one writev takes, empty ones among them,
// reach the file whole and in order.
func TestWritev(t *testing.T) {
	var pieces [][]byte
	var want []byte
	for i := range 3*iovMax + 7 {
		p := bytes.Repeat([]byte{byte(i)}, i%5) // every fifth is empty
		pieces = append(pieces, p)
		want = append(want, p...)
	}
	path := filepath.Join(t.TempDir(), "w")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := writev(f, pieces); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Fatalf("file has %d bytes, want the %d written", len(got), len(want))
	}
}
