// Package quarantine owns the one layout of a quarantine folder, written by
// the edge's receiver (instances that must not move on) and by `aisedge
// deid` (inputs it would not de-identify): one folder per entry,
// <Dir>/<id>/, holding the original as instance.dcm and its value-free
// record as entry.json. The original stays on site; the record names no
// original value (reasons are codes, tag paths and counts; the SOP
// Instance UID appears only hashed).
//
// internal/edge and cmd/aisedge import it; it imports internal/fsutil.
package quarantine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/fsutil"
)

// Store is a quarantine folder.
type Store struct {
	Dir string
	// Copy makes Put copy the original rather than link it (the deid
	// command's inputs are the user's files, which the quarantine must not
	// share).
	Copy bool
}

// Entry is one quarantined original's record. Nothing in it is an
// original value.
type Entry struct {
	ID         string    `json:"id"`
	ReceivedAt time.Time `json:"receivedAt"`
	// CalledAET and CallingAET are the association's (edge only).
	CalledAET  string `json:"calledAET"`
	CallingAET string `json:"callingAET"`
	// SOPHash is the keyed hash of the SOP Instance UID (edge only).
	SOPHash string   `json:"sopHash"`
	Reasons []string `json:"reasons"`
	// Requeues counts the operator's requeues and releases that held the
	// instance again; LastRequeue is the last of them.
	Requeues    int       `json:"requeues,omitempty"`
	LastRequeue time.Time `json:"lastRequeue,omitzero"`
	// Engine and Report are the de-identification engine's version and its
	// value-free report (deid command only).
	Engine string          `json:"engine,omitempty"`
	Report json.RawMessage `json:"report,omitempty"`
}

// Code is the entry's reason code: its first reason's (ReasonCode).
func (e Entry) Code() string {
	if len(e.Reasons) == 0 {
		return ""
	}
	return ReasonCode(e.Reasons[0])
}

// ReasonCode is a reason's code, as aisedge_deid_quarantined_total labels
// it: the text before the first ':' or " at " (reasons read "code[ at
// path][: detail]").
func ReasonCode(reason string) string {
	code, _, _ := strings.Cut(reason, ":")
	code, _, _ = strings.Cut(code, " at ")
	return code
}

const (
	instanceFile = "instance.dcm"
	entryFile    = "entry.json"
)

// validID is what an entry's id may be: one safe path element.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func checkID(id string) error {
	if !validID.MatchString(id) {
		return errors.New("bad quarantine id")
	}
	return nil
}

// Put stores the original at src under entry e, durably; without an ID e
// gets one from its time and SOPHash.
func (s *Store) Put(src string, e Entry) (Entry, error) {
	if e.ID == "" {
		e.ID = newID(e)
	}
	if err := checkID(e.ID); err != nil {
		return e, err
	}
	dir := filepath.Join(s.Dir, e.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return e, err
	}
	dst := filepath.Join(dir, instanceFile)
	var err error
	if s.Copy {
		err = fsutil.CopyFileSync(src, dst, 0o600)
	} else {
		err = fsutil.LinkOrCopy(src, dst, -1)
	}
	if err != nil {
		return e, err
	}
	if err := s.Update(e); err != nil {
		return e, err
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return e, err
	}
	return e, fsutil.SyncDir(s.Dir)
}

// Update rewrites an entry's record.
func (s *Store) Update(e Entry) error {
	if err := checkID(e.ID); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(&e, "", "  ")
	return fsutil.WriteFileSync(filepath.Join(s.Dir, e.ID, entryFile), b, 0o600)
}

// List returns the entries, oldest first.
func (s *Store) List() ([]Entry, error) {
	dirs, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, d := range dirs {
		if e, err := s.Get(d.Name()); err == nil {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	return out, nil
}

// Get returns one entry.
func (s *Store) Get(id string) (Entry, error) {
	var e Entry
	if err := checkID(id); err != nil {
		return e, err
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, id, entryFile))
	if err != nil {
		return e, err
	}
	err = json.Unmarshal(b, &e)
	return e, err
}

// InstancePath is the original of an entry.
func (s *Store) InstancePath(id string) string { return filepath.Join(s.Dir, id, instanceFile) }

// Remove deletes an entry (after a successful requeue, or a discard).
func (s *Store) Remove(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(s.Dir, id))
}

// newID is a new entry's id: its time, and a hash of the SOP hash and the
// clock so that two entries of one second differ.
func newID(e Entry) string {
	return fmt.Sprintf("%s-%s", e.ReceivedAt.UTC().Format("20060102T150405Z"), shortHash(fmt.Sprintf("%s|%d", e.SOPHash, time.Now().UnixNano())))
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
