package hub

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/manifest"
)

// DICOM is a Destination that forwards each session's instances to a PACS
// with C-STORE (the project's own DIMSE client, internal/dimse), as they
// are: de-identified, in the transfer syntax they were received in when the
// PACS accepts it (re-encoded between uncompressed syntaxes otherwise). A
// PACS has no notion of XNAT's project, subject and session: it files the
// instances by their own patient, study and series attributes.
//
// Verified means the PACS answered each C-STORE with a success or warning
// status. Redelivery: the instances the PACS acknowledged are written to a
// journal in StateDir (one file per generation, synced every journalSync
// acknowledgements and at the end, kept for journalKeep once the
// generation is complete); a redelivery after a crash sends only the
// others, and a redelivery of a complete generation (the hub died before
// its record) sends nothing. Those acknowledged after the journal's last
// sync are sent again, and the PACS, which keys instances by SOP Instance
// UID, holds them once.
//
// Error classes: an association rejected because the PACS does not know
// the calling or called AE title, and status 0124 (not authorised), are
// ErrCredentials; a file that is not a DICOM instance, a SOP class or
// transfer syntax the PACS refuses, and failure statuses other than "out
// of resources" (A7xx) and "processing failure" (0110) are permanent;
// everything else (no connection, a timeout, an abort, A7xx) is transient.
type DICOM struct {
	// ID is the destination's name (default "dicom").
	ID string
	// Addr is the PACS's host:port.
	Addr string
	// CalledAET is the PACS's AE title; CallingAET the hub's (default
	// "AISEDGE").
	CalledAET, CallingAET string
	// Parallel is the number of concurrent associations (default 2).
	Parallel int
	// Timeout bounds connecting, negotiating and each response (default
	// 60 s).
	Timeout time.Duration
	// StateDir holds the journals (required; the hub's data folder).
	StateDir string
	Log      *slog.Logger
}

// journalSync is how many acknowledgements a journal gathers between
// syncs; journalKeep how long the journal of a complete generation is kept
// (the hub records a delivery moments after it completes).
const (
	journalSync = 64
	journalKeep = 7 * 24 * time.Hour
)

// Name implements Destination.
func (d *DICOM) Name() string { return cmp.Or(d.ID, "dicom") }

func (d *DICOM) dial() dimse.DialConfig {
	return dimse.DialConfig{CallingAET: cmp.Or(d.CallingAET, "AISEDGE"), CalledAET: d.CalledAET, Timeout: d.Timeout, Logger: d.Log}
}

// Deliver implements Destination.
func (d *DICOM) Deliver(ctx context.Context, m *manifest.Manifest, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j, err := openJournal(d.StateDir, m)
	if err != nil {
		return fmt.Errorf("dicom: %w", err)
	}
	defer j.close()
	var pending []*dimse.FileInstance
	digest := map[string]string{} // path → the file's SHA-256
	for _, f := range m.Files {
		if j.done[f.SHA256] {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		fi, err := dimse.ReadFileInstance(p)
		if errors.Is(err, dimse.ErrNotSendable) {
			return fmt.Errorf("%w: dicom: %s is not a DICOM instance a PACS takes", ErrPermanent, f.Path)
		}
		if err != nil {
			return fmt.Errorf("dicom: reading %s: %w", f.Path, unwrapPath(err))
		}
		pending = append(pending, fi)
		digest[p] = f.SHA256
	}
	sum := dimse.SendFiles(ctx, d.Addr, pending, dimse.SendOptions{Dial: d.dial(), Parallel: cmp.Or(d.Parallel, 2),
		OnResult: func(r dimse.SendResult) {
			if r.Err == nil {
				j.add(digest[r.File.Path])
			}
		}})
	if err := j.sync(); err != nil {
		return fmt.Errorf("dicom: journal: %w", err)
	}
	log := cmp.Or(d.Log, slog.New(slog.DiscardHandler))
	log.Info("instances sent", "destination", d.Name(), "session", m.Folder, "generation", m.Generation,
		"sent", sum.Sent, "warnings", sum.Warnings, "failed", sum.Failed, "acknowledged_before", len(m.Files)-len(pending))
	if sum.Failed > 0 {
		return fmt.Errorf("dicom: %d of %d instances not stored: %w", sum.Failed, len(pending), classifyDIMSE(sum.Failures))
	}
	return nil
}

// unwrapPath drops the path from an error (it names the hub's work
// folder, of no use to the operator).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// classifyDIMSE returns the most telling failure, marked with its class:
// refused credentials before permanent before transient.
func classifyDIMSE(failures []dimse.SendResult) error {
	var permanent, transient error
	for _, r := range failures {
		err := r.Err
		var rej *dimse.Rejection
		var st *dimse.StatusError
		switch {
		case errors.As(err, &rej) && rej.Source == 1 && (rej.Reason == 3 || rej.Reason == 7):
			return fmt.Errorf("%w: association rejected (%s)", ErrCredentials, rejectionText(rej))
		case errors.As(err, &st) && st.Status == 0x0124:
			return fmt.Errorf("%w: %w", ErrCredentials, err)
		case errors.As(err, &st) && st.Status&0xFF00 != 0xA700 && st.Status != 0x0110,
			errors.Is(err, dimse.ErrNoContext), errors.Is(err, dimse.ErrNotSendable):
			if permanent == nil {
				permanent = fmt.Errorf("%w: %w", ErrPermanent, err)
			}
		case errors.As(err, &rej):
			if transient == nil {
				transient = fmt.Errorf("association rejected (%s)", rejectionText(rej))
			}
		default:
			if transient == nil {
				transient = unwrapPath(err)
			}
		}
	}
	return cmp.Or(permanent, transient)
}

func rejectionText(r *dimse.Rejection) string {
	reason := map[[2]byte]string{{1, 3}: "calling AE title not recognised", {1, 7}: "called AE title not recognised",
		{1, 1}: "no reason given", {3, 1}: "temporary congestion", {3, 2}: "local limit exceeded"}[[2]byte{r.Source, r.Reason}]
	if reason == "" {
		reason = fmt.Sprintf("source %d, reason %d", r.Source, r.Reason)
	}
	kind := "permanent"
	if r.Result == 2 {
		kind = "transient"
	}
	return kind + ", " + reason
}

// Resume implements Resumer: an association and a C-ECHO with the
// configured AE titles.
func (d *DICOM) Resume(ctx context.Context) error {
	c, err := dimse.Dial(ctx, d.Addr, d.dial())
	if err != nil {
		return classifyDIMSE([]dimse.SendResult{{Err: err}})
	}
	defer c.Release()
	if err := c.Echo(ctx); err != nil {
		return classifyDIMSE([]dimse.SendResult{{Err: err}})
	}
	return nil
}

// journal records the files of one generation the PACS acknowledged, by
// SHA-256, one per line.
type journal struct {
	path string
	done map[string]bool

	mu       sync.Mutex
	f        *os.File
	w        *bufio.Writer
	unsynced int
	err      error
}

func openJournal(stateDir string, m *manifest.Manifest) (*journal, error) {
	if stateDir == "" {
		return nil, errors.New("no state folder for the journal")
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	key := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", m.Edge, m.Folder, m.Generation))
	pruneJournals(stateDir, time.Now())
	j := &journal{path: filepath.Join(stateDir, hex.EncodeToString(key[:16])+".journal"), done: map[string]bool{}}
	if b, err := os.ReadFile(j.path); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if len(l) == 64 { // a line cut short by a crash is not counted
				j.done[l] = true
			}
		}
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	j.f, j.w = f, bufio.NewWriter(f)
	return j, nil
}

func (j *journal) add(sha string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.w.WriteString(sha + "\n")
	if j.unsynced++; j.unsynced >= journalSync {
		j.syncLocked()
	}
}

func (j *journal) syncLocked() {
	if err := j.w.Flush(); err != nil && j.err == nil {
		j.err = err
	}
	if err := j.f.Sync(); err != nil && j.err == nil {
		j.err = err
	}
	j.unsynced = 0
}

func (j *journal) sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.syncLocked()
	return j.err
}

func (j *journal) close() { j.f.Close() }

// prune removes the journals not written to for journalKeep.
func pruneJournals(stateDir string, now time.Time) {
	ents, _ := os.ReadDir(stateDir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".journal") && now.Sub(info.ModTime()) > journalKeep {
			os.Remove(filepath.Join(stateDir, e.Name()))
		}
	}
}
