package edge

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
	"github.com/aisedge/aisedge/internal/fsutil"
	"github.com/aisedge/aisedge/internal/spool"
)

// appliers write journal records (journal.go) to their places: the
// original to the facility backup, the de-identified copy to the spool.
// Many run at once so that the spool's group commit (one bolt flush for
// every instance waiting) keeps both cores busy; their files are flushed
// by the journal's settler, once for many records. The records they hold
// are bounded in bytes. A record whose
// application fails is retried with backoff; one still unapplied when the
// edge stops stays in the journal and is applied at the next start.
type appliers struct {
	e     *Edge
	ch    chan *journalRecord
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	mu    sync.RWMutex
	state int // 0 not started, 1 running, 2 stopped

	bytesMu   sync.Mutex
	bytesFree sync.Cond
	held      int64 // bytes of the records queued or being applied
}

// applierCount: enough concurrent appliers to share flushes (measured
// when each applier still flushed its own files: 4 gave 166 small MR/s on
// one association, 32 gave 290; with the settler, 8 and 32 measured the
// same within the noise of a shared machine).
const applierCount = 32

// applierBytes bounds the records queued or being applied; past it the
// receiver waits (back-pressure). Each record being applied holds its
// parse and output besides, so the heap is a few times this.
const applierBytes = 32 << 20

func newAppliers(e *Edge) *appliers {
	ctx, stop := context.WithCancel(context.Background())
	a := &appliers{e: e, ch: make(chan *journalRecord, 256), ctx: ctx, stop: stop}
	a.bytesFree.L = &a.bytesMu
	return a
}

func recordBytes(r *journalRecord) int64 { return int64(len(r.Original) + len(r.Output)) }

// hold waits until r fits in the byte budget (a record alone always fits).
func (a *appliers) hold(r *journalRecord) {
	n := recordBytes(r)
	a.bytesMu.Lock()
	for a.held > 0 && a.held+n > applierBytes {
		a.bytesFree.Wait()
	}
	a.held += n
	a.bytesMu.Unlock()
}

func (a *appliers) release(r *journalRecord) {
	a.bytesMu.Lock()
	a.held -= recordBytes(r)
	a.bytesFree.Broadcast()
	a.bytesMu.Unlock()
}

// start runs the appliers until stop.
func (a *appliers) start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state != 0 {
		return
	}
	a.state = 1
	for range applierCount {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for r := range a.ch {
				a.applyRetrying(r)
				a.release(r)
			}
		}()
	}
}

// enqueue hands a written record over; when the appliers are not
// running, the caller applies it (once: the journal keeps it otherwise).
func (a *appliers) enqueue(r *journalRecord) {
	a.mu.RLock()
	if a.state == 1 {
		// A full queue or budget slows the receiver down: back-pressure.
		a.hold(r)
		a.ch <- r
		a.mu.RUnlock()
		return
	}
	a.mu.RUnlock()
	if err := a.e.applyRecord(r, fsutil.Synced); err != nil {
		a.e.cfg.Log.Error("applying a journal record failed; it stays in the journal for the next start", "err", fsutil.PublicError(err))
		return
	}
	a.e.journal.applied(r)
}

// stopAndDrain applies what is queued and stops the appliers; once ctx
// ends, a record that keeps failing is left in the journal instead.
func (a *appliers) stopAndDrain(ctx context.Context) {
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			a.stop() // appliers stop retrying; a waiting receiver gets through
		case <-finished:
		}
	}()
	a.mu.Lock()
	if a.state != 1 {
		a.state = 2
		a.mu.Unlock()
		return
	}
	a.state = 2
	close(a.ch)
	a.mu.Unlock()
	a.wg.Wait()
	a.stop()
}

func (a *appliers) applyRetrying(r *journalRecord) {
	backoff := fault.Backoff{Initial: 200 * time.Millisecond, Max: 30 * time.Second}
	d := fsutil.Synced
	if a.e.journal.deferring() {
		d = fsutil.Deferred
	}
	for attempt := 1; ; attempt++ {
		err := a.e.applyRecord(r, d)
		if err == nil {
			if d == fsutil.Deferred {
				a.e.journal.appliedDeferred(r)
			} else {
				a.e.journal.applied(r)
			}
			return
		}
		wait := backoff.Wait(attempt)
		a.e.cfg.Log.Error("applying a journal record failed; retrying", "err", fsutil.PublicError(err), "retryIn", wait.String())
		if fault.Sleep(a.ctx, wait) != nil {
			return // stays in the journal
		}
	}
}

// applyRecord writes a record's facility backup copy and spool instance,
// durable as d says (Deferred: once the journal's settler flushed): for a
// record of an original, after de-identifying it (applyArrival). Applying
// a record again is harmless and repairs what a power loss left of
// deferred writes: the backup copy is replaced by the same bytes,
// de-identification gives the same output, whose file the spool replaces
// (it recognises the instance by its digest), and a quarantine entry keeps
// its name and is linked anew.
func (e *Edge) applyRecord(r *journalRecord, d fsutil.Durability) error {
	if r.Meta.Arrival != nil {
		return e.Receiver.applyArrival(r, d)
	}
	if err := e.Backup.WriteBytes(r.Meta.BackupPath, r.Original, d); err != nil {
		return err
	}
	w, err := e.Spool.WriteTemp(d, func(w io.Writer) error { _, err := w.Write(r.Output); return err })
	if err != nil {
		return err
	}
	in := r.Meta.Instance
	in.Size, in.SHA256, in.MD5 = w.Size, w.SHA256, w.MD5
	res, err := e.Spool.AddInstance(w.Path, in, r.Meta.Session, d)
	if err != nil {
		os.Remove(w.Path)
		return err
	}
	if res == spool.AddedDuplicate {
		e.cfg.Log.Warn("a different instance with the same SOP Instance UID arrived; both kept", "session", in.StudyKey)
	}
	return nil
}
