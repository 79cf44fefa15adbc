package edge

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/fsutil"
)

// TestJournalSettlesAfterFlush: records applied with deferred flushes count
// as applied only once a flush of the file systems returned; a failed flush
// is reported and retried, and until one succeeds the records stay (their
// segment is not deleted, a close leaves them for the replay).
func TestJournalSettlesAfterFlush(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	j.segBytes = 1 // every group seals its segment: deleted once applied
	var mu sync.Mutex
	fail, flushes, reported := true, 0, 0
	j.startSettler(func() error {
		mu.Lock()
		defer mu.Unlock()
		flushes++
		if fail {
			return errors.New("EIO")
		}
		return nil
	}, func(err error, retryIn time.Duration) {
		mu.Lock()
		reported++
		mu.Unlock()
	})
	var recs []*journalRecord
	for i := range 5 {
		r := testRecord(i)
		if err := j.append(r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	for _, r := range recs {
		j.appliedDeferred(r)
	}
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return flushes, reported }
	waitFor(t, func() bool { f, r := count(); return f >= 2 && r >= 2 })
	if n := j.unapplied(); n != 5 {
		t.Fatalf("%d records unapplied while every flush fails, want 5", n)
	}
	if len(segments(t, dir)) == 0 {
		t.Fatal("segments deleted before their records' files were flushed")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	waitFor(t, func() bool { return j.unapplied() == 0 })
	j.close()
	if ids := segments(t, dir); len(ids) != 0 {
		t.Errorf("segments %v left after every record settled", ids)
	}
}

// TestJournalCloseKeepsUnflushed: a close while the flush fails leaves the
// records for the next start's replay.
func TestJournalCloseKeepsUnflushed(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	j.startSettler(func() error { return errors.New("EIO") }, func(error, time.Duration) {})
	for i := range 3 {
		r := testRecord(i)
		if err := j.append(r); err != nil {
			t.Fatal(err)
		}
		j.appliedDeferred(r)
	}
	j.close()
	if got := replayAll(t, dir); len(got) != 3 {
		t.Fatalf("%d records replayed after a close with unflushed records, want 3", len(got))
	}
}

// TestDeferredWritesRepairedByReplay: an instance applied with deferred
// flushes whose files a power loss took (the facility backup copy cut
// short, the spool file gone) is whole in both after the next start,
// since its journal record stayed until a flush; the spool counts it once.
func TestDeferredWritesRepairedByReplay(t *testing.T) {
	dir := t.TempDir()
	cfg := journalTestConfig(t, dir)
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var records []*journalRecord
	e.Receiver.enqueue = func(r *journalRecord) { records = append(records, r) }
	orig, err := os.ReadFile(filepath.Join(sharedTestData(t), "pydicom_CT_small.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := dicom.ReadFileBytes(orig, nil)
	if err != nil {
		t.Fatal(err)
	}
	backup := e.Backup.Path(f.Dataset, "")
	o, err := e.Receiver.Accept(context.Background(), &dimse.Instance{
		Data: bytes.Clone(orig), Size: int64(len(orig)), File: f,
		SOPClassUID: f.Dataset.String(dicom.TagSOPClassUID), SOPInstanceUID: f.Dataset.String(dicom.TagSOPInstanceUID),
		TransferSyntaxUID: f.TransferSyntax.UID, CallingAET: "MODALITY", CalledAET: "AISEDGE", Assoc: "test",
	})
	if err != nil || !o.Journaled || len(records) != 1 {
		t.Fatalf("accept: %+v, %v, %d records; want one journaled", o, err, len(records))
	}
	// Applied without a flush and not handed to the settler: the power
	// goes before the next flush.
	if err := e.applyRecord(records[0], fsutil.Deferred); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.journal.oldestWaiting(); !ok {
		t.Fatal("a record whose files are not flushed no longer holds back staging")
	}
	studies, _ := e.Spool.Studies()
	if len(studies) != 1 {
		t.Fatalf("spool: %+v", studies)
	}
	pending, _ := e.Spool.Pending(studies[0].Key)
	object := e.Spool.ObjectPath(pending[0].ID)
	want, err := os.ReadFile(object)
	if err != nil {
		t.Fatal(err)
	}
	// What a power loss leaves of unflushed writes.
	if err := os.Truncate(backup, int64(len(orig)/3)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(object); err != nil {
		t.Fatal(err)
	}
	e.journal.close()
	e.Spool.Close()

	e2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e2.journal.close(); e2.Spool.Close() }()
	if got, err := os.ReadFile(backup); err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("backup copy after replay: %d bytes, %v; want the %d original bytes", len(got), err, len(orig))
	}
	if got, err := os.ReadFile(object); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("spool file after replay: %d bytes, %v; want the %d de-identified bytes", len(got), err, len(want))
	}
	studies, _ = e2.Spool.Studies()
	if len(studies) != 1 || studies[0].Pending != 1 {
		t.Fatalf("spool after replay: %+v; want one study with one instance", studies)
	}
}
