package edge

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/fault"
	"github.com/aisedge/aisedge/internal/fsutil"
	"github.com/aisedge/aisedge/internal/groupcommit"
	"github.com/aisedge/aisedge/internal/spool"
)

// The journal is the edge's write-ahead record of accepted instances
// (docs/edge.md, "The acknowledgement path"). One record holds everything
// an instance's acceptance means: the original's bytes and its facility
// backup path, the de-identified bytes and their spool record. A C-STORE
// is answered once its record is on disk; a record reaches the disk with
// one flush, shared by every record that arrived while the previous flush
// ran (group commit). Appliers then write each record's two copies the
// usual way (facility backup, spool) and the journal forgets it; a record
// that was not applied when the process stopped is applied again at the
// next start (applying is idempotent: the backup copy is replaced with the
// same bytes, the spool recognises an instance it has by its digest).
//
// Files: journal/<id>.wal, segments of at most journalSegmentBytes, each a
// sequence of frames: "AEJ1", payload length (uint32 BE), CRC-32C of the
// payload (uint32 BE), payload. The payload is the metadata as JSON
// (uint32 BE length first), then the original (uint64 BE length first),
// then the de-identified copy (uint64 BE length first). A frame that is
// incomplete or fails its CRC ends the segment: it was being written when
// the process stopped and was never acknowledged.
type journal struct {
	dir      string
	segBytes int64
	// sync flushes a segment's data (tests count the calls).
	sync func(*os.File) error

	commits *groupcommit.Group[*journalWrite]

	mu       sync.Mutex
	cur      *segment
	nextID   uint64
	inflight int // records written and not yet applied
	// waiting are the records of originals written and not yet applied,
	// in the order written (so, within a flush's time, of arrival).
	waiting     []*journalRecord
	waitingHead int

	// Deferred flushes (startSettler): appliers write a record's files
	// without flushing them and hand it to settling; the settler flushes
	// the file systems they are on, once for all records handed over
	// meanwhile, and only then counts them applied. Until then a record
	// stays in its segment (replayed after a power loss, which writes its
	// files again) and in waiting (the stager does not stage a session
	// that may hold its unflushed files).
	flush      func() error
	flushError func(err error, retryIn time.Duration)
	settling   []*journalRecord
	settleWake chan struct{}
	settleStop chan struct{}
	settleDone chan struct{}
}

// journalSegmentBytes: a segment is closed to new records after this many
// bytes, and deleted once every record in it is applied.
const journalSegmentBytes = 64 << 20

// journalMeta is what a record says besides the two copies' bytes. It
// stays on site: the journal is in the edge's data folder, like the
// facility backup whose path it names.
type journalMeta struct {
	BackupPath string `json:"backupPath"`
	// Arrival: the record holds an original, acknowledged before
	// de-identification, which its applier performs (arrival.go).
	Arrival *arrivalMeta `json:"arrival,omitempty"`
	// Instance and Session: the record also holds the de-identified copy
	// (records of versions that de-identified before the response; still
	// applied as they were).
	Instance spool.Instance `json:"instance,omitzero"`
	Session  spool.Session  `json:"session,omitzero"`
}

// journalRecord is one accepted instance.
type journalRecord struct {
	Meta     journalMeta
	Original []byte
	Output   []byte

	seg  *segment // where it was written; nil when replayed
	done bool     // applied (journal.mu)
	// parsed is Original parsed (its values views of Original), handed
	// from the acknowledgement to the applier; nil when replayed.
	parsed *dicom.File
}

type segment struct {
	id      uint64
	path    string
	f       *os.File
	size    int64
	records int
	applied int
	sealed  bool
}

type journalWrite struct {
	frame frame
	rec   *journalRecord
}

var journalMagic = []byte("AEJ1")

var crc32c = crc32.MakeTable(crc32.Castagnoli)

func segmentName(id uint64) string { return fmt.Sprintf("%016x.wal", id) }

// openJournal opens the journal in dir for writing, after replay has
// applied and removed what was there.
func openJournal(dir string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ids, err := segmentIDs(dir)
	if err != nil {
		return nil, err
	}
	j := &journal{dir: dir, segBytes: journalSegmentBytes, sync: fdatasync}
	if len(ids) > 0 {
		j.nextID = ids[len(ids)-1] + 1
	}
	j.commits = groupcommit.New(func(group []*journalWrite, errs []error) {
		err := j.write(group)
		for i := range errs {
			errs[i] = err
		}
	})
	return j, nil
}

func segmentIDs(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".wal")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// frame is a record's frame as the pieces written one after another: the
// header with the metadata and the original's length, the original, the
// output's length, the output. The record's bytes are written from where
// they are, not copied into the frame.
type frame [][]byte

func (f frame) size() int {
	n := 0
	for _, p := range f {
		n += len(p)
	}
	return n
}

// bytes joins the pieces (tests).
func (f frame) bytes() []byte {
	b := make([]byte, 0, f.size())
	for _, p := range f {
		b = append(b, p...)
	}
	return b
}

func encodeRecord(r *journalRecord) (frame, error) {
	meta, err := json.Marshal(&r.Meta)
	if err != nil {
		return nil, err
	}
	n := 4 + len(meta) + 8 + len(r.Original) + 8 + len(r.Output)
	head := make([]byte, 12, 12+4+len(meta)+8)
	copy(head, journalMagic)
	binary.BigEndian.PutUint32(head[4:], uint32(n))
	head = binary.BigEndian.AppendUint32(head, uint32(len(meta)))
	head = append(head, meta...)
	head = binary.BigEndian.AppendUint64(head, uint64(len(r.Original)))
	mid := binary.BigEndian.AppendUint64(nil, uint64(len(r.Output)))
	sum := crc32.Update(0, crc32c, head[12:])
	sum = crc32.Update(sum, crc32c, r.Original)
	sum = crc32.Update(sum, crc32c, mid)
	sum = crc32.Update(sum, crc32c, r.Output)
	binary.BigEndian.PutUint32(head[8:], sum)
	return frame{head, r.Original, mid, r.Output}, nil
}

// append writes r to the journal and returns once it is on disk.
func (j *journal) append(r *journalRecord) error {
	frame, err := encodeRecord(r)
	if err != nil {
		return err
	}
	if err := j.commits.Do(&journalWrite{frame: frame, rec: r}); err != nil {
		return fmt.Errorf("edge journal: %w", err)
	}
	return nil
}

// write appends a group's frames to the current segment with one write
// and one flush. On failure the segment is abandoned (its tail may hold
// part of the group) and the next group starts a new one.
func (j *journal) write(group []*journalWrite) error {
	seg, err := j.segment()
	if err != nil {
		return err
	}
	size := 0
	pieces := make([][]byte, 0, 4*len(group))
	for _, w := range group {
		size += w.frame.size()
		pieces = append(pieces, w.frame...)
	}
	if err := writev(seg.f, pieces); err != nil {
		j.abandon(seg)
		return fmt.Errorf("edge journal: %w", err)
	}
	if err := j.sync(seg.f); err != nil {
		j.abandon(seg)
		return fmt.Errorf("edge journal: flush: %w", err)
	}
	j.mu.Lock()
	seg.size += int64(size)
	seg.records += len(group)
	j.inflight += len(group)
	for _, w := range group {
		w.rec.seg = seg
		if w.rec.Meta.Arrival != nil {
			j.waiting = append(j.waiting, w.rec)
		}
	}
	if seg.size >= j.segBytes {
		j.sealLocked(seg)
	}
	j.mu.Unlock()
	return nil
}

// segment returns the segment open for writing, creating one (its folder
// entry made durable) if needed.
func (j *journal) segment() (*segment, error) {
	j.mu.Lock()
	seg := j.cur
	id := j.nextID
	j.mu.Unlock()
	if seg != nil {
		return seg, nil
	}
	path := filepath.Join(j.dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("edge journal: %w", err)
	}
	if err := fsutil.SyncDir(j.dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("edge journal: %w", err)
	}
	seg = &segment{id: id, path: path, f: f}
	j.mu.Lock()
	j.cur, j.nextID = seg, id+1
	j.mu.Unlock()
	return seg, nil
}

// abandon stops writing to seg after a failed write: its records stay
// until applied (it is deleted then, like any sealed segment).
func (j *journal) abandon(seg *segment) {
	j.mu.Lock()
	j.sealLocked(seg)
	j.mu.Unlock()
}

func (j *journal) sealLocked(seg *segment) {
	if seg.sealed {
		return
	}
	seg.sealed = true
	if j.cur == seg {
		j.cur = nil
	}
	j.removeIfDoneLocked(seg)
}

// applied records that r's two copies are durable in their places.
func (j *journal) applied(r *journalRecord) {
	j.mu.Lock()
	j.appliedLocked(r)
	j.mu.Unlock()
}

func (j *journal) appliedLocked(r *journalRecord) {
	if r.seg == nil {
		return
	}
	r.seg.applied++
	j.inflight--
	r.done = true
	for j.waitingHead < len(j.waiting) && j.waiting[j.waitingHead].done {
		j.waiting[j.waitingHead] = nil
		j.waitingHead++
	}
	if j.waitingHead > 1024 && j.waitingHead*2 > len(j.waiting) {
		j.waiting = append(j.waiting[:0], j.waiting[j.waitingHead:]...)
		j.waitingHead = 0
	}
	j.removeIfDoneLocked(r.seg)
}

// settleGather is how long the settler lets applied records gather
// before it flushes them together. It delays only when records count as
// applied (journal segments deleted, sessions staged), never a response.
const settleGather = 20 * time.Millisecond

// startSettler starts flushing records applied with deferred flushes
// (appliedDeferred): flush flushes every file system the appliers write
// to; a failed flush is reported to onError and retried with backoff.
func (j *journal) startSettler(flush func() error, onError func(err error, retryIn time.Duration)) {
	j.flush, j.flushError = flush, onError
	j.settleWake = make(chan struct{}, 1)
	j.settleStop, j.settleDone = make(chan struct{}), make(chan struct{})
	go j.settler()
}

// deferring reports whether appliers may defer their flushes.
func (j *journal) deferring() bool { return j.flush != nil }

// appliedDeferred records that r's files are written but not flushed: it
// counts as applied once the settler's next flush returned.
func (j *journal) appliedDeferred(r *journalRecord) {
	j.mu.Lock()
	j.settling = append(j.settling, r)
	j.mu.Unlock()
	select {
	case j.settleWake <- struct{}{}:
	default:
	}
}

func (j *journal) settler() {
	defer close(j.settleDone)
	backoff := fault.Backoff{Initial: 200 * time.Millisecond, Max: 30 * time.Second}
	failures := 0
	for {
		select {
		case <-j.settleWake:
		case <-j.settleStop:
			j.settle() // a failure leaves the records for the next start
			return
		}
		// Let records gather: a flush per record (one association, one
		// record at a time) would cost more than the fsyncs it replaces.
		select {
		case <-time.After(settleGather):
		case <-j.settleStop:
		}
		if err := j.settle(); err != nil {
			failures++
			wait := backoff.Wait(failures)
			j.flushError(err, wait)
			select {
			case <-time.After(wait):
			case <-j.settleStop:
				j.settle()
				return
			}
			select { // try again even if nothing new arrives
			case j.settleWake <- struct{}{}:
			default:
			}
			continue
		}
		failures = 0
	}
}

// settle flushes and counts applied the records handed over so far.
func (j *journal) settle() error {
	j.mu.Lock()
	batch := j.settling
	j.settling = nil
	j.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := j.flush(); err != nil {
		j.mu.Lock()
		j.settling = append(batch, j.settling...)
		j.mu.Unlock()
		return err
	}
	j.mu.Lock()
	for _, r := range batch {
		j.appliedLocked(r)
	}
	j.mu.Unlock()
	return nil
}

// oldestWaiting is the arrival time of the earliest original acknowledged
// and not yet through de-identification into the spool or the quarantine;
// ok is false when there is none. The stager does not call a session
// complete while such an instance, which may belong to it, could still
// extend it (Stager.Waiting).
func (j *journal) oldestWaiting() (at time.Time, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.waitingHead == len(j.waiting) {
		return time.Time{}, false
	}
	return j.waiting[j.waitingHead].Meta.Arrival.ReceivedAt, true
}

func (j *journal) removeIfDoneLocked(seg *segment) {
	if seg.sealed && seg.applied == seg.records && seg.f != nil {
		seg.f.Close()
		seg.f = nil
		os.Remove(seg.path)
	}
}

// unapplied is the number of records written but not yet applied.
func (j *journal) unapplied() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.inflight
}

// close writes what is queued, then stops. A segment with records not
// applied stays on disk for the next start.
func (j *journal) close() {
	j.commits.Close()
	if j.settleStop != nil {
		select {
		case <-j.settleStop:
		default:
			close(j.settleStop)
		}
		<-j.settleDone
	}
	j.mu.Lock()
	if seg := j.cur; seg != nil {
		j.sealLocked(seg)
		if seg.f != nil {
			seg.f.Close()
			seg.f = nil
		}
	}
	j.mu.Unlock()
}

// replayJournal applies every record of every segment in dir, oldest
// first, and removes each segment once all its records are applied. A
// record that cannot be applied stops the replay with its error: the
// segment stays, nothing is lost, and the edge does not start until the
// cause (a full disk, a permission) is fixed.
func replayJournal(dir string, apply func(*journalRecord) error) (int, error) {
	ids, err := segmentIDs(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		path := filepath.Join(dir, segmentName(id))
		m, err := replaySegment(path, apply)
		n += m
		if err != nil {
			return n, fmt.Errorf("edge journal %s: %w", segmentName(id), err)
		}
		if err := os.Remove(path); err != nil {
			return n, err
		}
	}
	if len(ids) > 0 {
		if err := fsutil.SyncDir(dir); err != nil {
			return n, err
		}
	}
	return n, nil
}

func replaySegment(path string, apply func(*journalRecord) error) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	n := 0
	for {
		r, err := readRecord(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, errTornRecord) {
				return n, nil // the end, or a record never acknowledged
			}
			return n, err
		}
		if err := apply(r); err != nil {
			return n, err
		}
		n++
	}
}

// errTornRecord: a frame that was not completely written.
var errTornRecord = errors.New("incomplete record")

func readRecord(br *bufio.Reader) (*journalRecord, error) {
	var head [12]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, errTornRecord
	}
	if string(head[:4]) != string(journalMagic) {
		return nil, errTornRecord
	}
	n := binary.BigEndian.Uint32(head[4:])
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return nil, errTornRecord
	}
	if crc32.Checksum(payload, crc32c) != binary.BigEndian.Uint32(head[8:]) {
		return nil, errTornRecord
	}
	r := &journalRecord{}
	rest, meta, ok := cut32(payload)
	if !ok {
		return nil, errTornRecord
	}
	if err := json.Unmarshal(meta, &r.Meta); err != nil {
		return nil, fmt.Errorf("record metadata: %w", err)
	}
	rest, r.Original, ok = cut64(rest)
	if !ok {
		return nil, errTornRecord
	}
	if _, r.Output, ok = cut64(rest); !ok {
		return nil, errTornRecord
	}
	return r, nil
}

func cut32(b []byte) (rest, v []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := uint64(binary.BigEndian.Uint32(b))
	if uint64(len(b)-4) < n {
		return nil, nil, false
	}
	return b[4+n:], b[4 : 4+n], true
}

func cut64(b []byte) (rest, v []byte, ok bool) {
	if len(b) < 8 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint64(b)
	if uint64(len(b)-8) < n {
		return nil, nil, false
	}
	return b[8+n:], b[8 : 8+n], true
}

// fdatasync flushes a file's data and the size that reads it back.
// writev writes every piece, in order, with as few system calls as the
// kernel allows (writev(2), at most iovMax pieces each).
func writev(f *os.File, pieces [][]byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	pieces = slices.DeleteFunc(slices.Clone(pieces), func(p []byte) bool { return len(p) == 0 })
	for len(pieces) > 0 {
		batch := pieces[:min(len(pieces), iovMax)]
		var n int
		var werr error
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Writev(int(fd), batch)
			return werr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			return &os.PathError{Op: "writev", Path: f.Name(), Err: werr}
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		// Skip what was written, splitting a piece written in part.
		for n > 0 {
			if n < len(pieces[0]) {
				pieces[0] = pieces[0][n:]
				break
			}
			n -= len(pieces[0])
			pieces = pieces[1:]
		}
	}
	return nil
}

// iovMax is the most pieces one writev takes (Linux's UIO_MAXIOV).
const iovMax = 1024

func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
