// Package spool owns the edge's durable state between receiving an instance
// and sealing its session in the bucket: the de-identified instance files
// and a transactional state store (bbolt) recording instances, studies and
// shipments.
//
// Durability rule: a file is written to tmp/, renamed into objects/ and,
// with fsutil.Synced, fsynced with its directory before its record is
// committed (an fsynced bbolt transaction). With fsutil.Deferred the
// caller flushes the file system later and keeps what it needs to add the
// instance again until then (the edge's journal); adding it again replaces
// its file. Files without a record after a crash were never acknowledged
// and are removed at Open. Files are deleted only when their shipment is
// sealed (verified in the bucket).
//
// Study life cycle (per study key; the edge uses the XNAT session folder
// PROJECT.SUBJECT.VISIT, since studies sharing an accession number form one
// session):
//
//	             AddInstance                 Stage (quiet period or force timeout)
//	(none) ──────────────▶ open ──────────────────────────────▶ idle
//	                        ▲                                    │
//	                        └──────── AddInstance (late series) ─┘  → next generation
//
// Shipment life cycle (per study and generation):
//
//	staged ──▶ uploaded (every file verified in the bucket) ──▶ sealed (manifest written last)
//
// Only pseudonymous values are stored here (remapped UIDs, pseudonym
// labels, digests); original identities never enter the spool.
package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aisedge/aisedge/internal/fsutil"
	"github.com/aisedge/aisedge/internal/groupcommit"
	"github.com/aisedge/aisedge/internal/session"
)

var (
	bucketInstances = []byte("instances")
	bucketStudies   = []byte("studies")
	bucketShipments = []byte("shipments")
)

// ErrNotFound is returned for unknown studies or shipments.
var ErrNotFound = errors.New("spool: not found")

// Instance is the record of one de-identified instance.
type Instance struct {
	// ID names the instance's file: objects/<ID>.dcm.
	ID       string `json:"id"`
	StudyKey string `json:"study"`
	// SOPInstanceUID is the de-identified (remapped) UID.
	SOPInstanceUID    string    `json:"sop"`
	SeriesUID         string    `json:"series"`
	SeriesNumber      string    `json:"seriesNumber,omitempty"`
	SeriesDescription string    `json:"seriesDescription,omitempty"`
	Modality          string    `json:"modality,omitempty"`
	Size              int64     `json:"size"`
	SHA256            string    `json:"sha256"`
	MD5               string    `json:"md5"`
	ReceivedAt        time.Time `json:"receivedAt"`
	// Generation is the shipment the instance belongs to; 0 until staged.
	Generation int `json:"generation"`
	// Duplicate marks a second, different instance with the same SOP
	// Instance UID: both are kept and shipped (never silently lost).
	Duplicate bool `json:"duplicate,omitempty"`
	// Released: the shipment was sealed and the file deleted; the record
	// stays so that a re-sent identical instance is recognised.
	Released bool `json:"released,omitempty"`
}

// Session identifies the session (XNAT's image session, an experiment) a
// study becomes, with its label and the profile that named it.
type Session struct {
	Project string `json:"project"`
	Subject string `json:"subject"`
	// Visit is the pseudonymous visit (session.ID's; "session" in the
	// spool's records, as written before the name was settled).
	Visit string `json:"session"`
	// Label is the XNAT experiment label, unique in the project.
	Label string `json:"label,omitempty"`
	// ProfileHash identifies the de-identification profile and key.
	ProfileHash string `json:"profileHash"`
}

// ID is the session's identity.
func (s Session) ID() session.ID {
	return session.ID{Project: s.Project, Subject: s.Subject, Visit: s.Visit}
}

// Study is the record of one study: the instances grouped under one
// study key, staged together. The edge keys a study by its session
// folder, so one study becomes one session (Session) and its shipments
// are that session's generations.
type Study struct {
	Key string `json:"key"`
	Session
	Modality string `json:"modality,omitempty"`
	// FirstAt is when the first unstaged instance arrived; LastAt when the
	// latest did.
	FirstAt time.Time `json:"firstAt"`
	LastAt  time.Time `json:"lastAt"`
	// Pending counts instances not yet staged.
	Pending int `json:"pending"`
	// Generation counts the shipments staged so far.
	Generation int `json:"generation"`
}

// Open reports whether the study has instances waiting to be staged.
func (s *Study) Open() bool { return s.Pending > 0 }

// ShipmentState is a shipment's position in its life cycle.
type ShipmentState string

// Shipment states.
const (
	Staged   ShipmentState = "staged"
	Uploaded ShipmentState = "uploaded"
	Sealed   ShipmentState = "sealed"
)

// Shipment is one generation of a study, staged for upload.
type Shipment struct {
	StudyKey   string `json:"study"`
	Generation int    `json:"generation"`
	Session
	State    ShipmentState `json:"state"`
	StagedAt time.Time     `json:"stagedAt"`
	SealedAt time.Time     `json:"sealedAt,omitzero"`
	// Attempts and LastError record upload failures (value-free text).
	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"lastError,omitempty"`
	// Held: a permanent failure; the shipment waits for an operator.
	Held bool `json:"held,omitempty"`
}

// Key returns the shipment's key in the store.
func (s *Shipment) Key() string { return shipmentKey(s.StudyKey, s.Generation) }

// instKey keys instance records by study, so that a study's instances are
// one prefix scan.
func instKey(study, id string) []byte { return []byte(study + "\x00" + id) }

func shipmentKey(study string, gen int) string { return fmt.Sprintf("%s/%08d", study, gen) }

// Spool is the durable state of one edge. It is safe for concurrent use.
type Spool struct {
	dir     string
	db      *bolt.DB
	now     func() time.Time
	commits *groupcommit.Group[func(*bolt.Tx) error]
	dirs    fsutil.DirSyncer // the objects folder, synced once for concurrent adds
}

// Options tune Open.
type Options struct {
	// Now replaces the clock (tests).
	Now func() time.Time
}

// Open opens (creating if needed) the spool in dir and removes files left
// by interrupted writes.
func Open(dir string, opts Options) (*Spool, error) {
	for _, d := range []string{dir, filepath.Join(dir, "tmp"), filepath.Join(dir, "objects")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	// The free-page list is not written at each commit (one page write
	// less per instance); bolt rebuilds it from the pages at open.
	db, err := bolt.Open(filepath.Join(dir, "state.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("spool: opening state store %s: %w", filepath.Join(dir, "state.db"), err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketInstances, bucketStudies, bucketShipments} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, db: db, now: opts.Now, commits: groupcommit.New(commitRecords(db))}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.recover(); err != nil {
		s.commits.Close()
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the state store.
func (s *Spool) Close() error {
	s.commits.Close()
	return s.db.Close()
}

// TmpDir is where callers write files before AddInstance adopts them.
func (s *Spool) TmpDir() string { return filepath.Join(s.dir, "tmp") }

// ObjectPath returns the path of an instance's file.
func (s *Spool) ObjectPath(id string) string { return filepath.Join(s.dir, "objects", id+".dcm") }

// recover removes temporary files and objects that have no record.
func (s *Spool) recover() error {
	tmp, _ := os.ReadDir(s.TmpDir())
	for _, e := range tmp {
		os.Remove(filepath.Join(s.TmpDir(), e.Name()))
	}
	objs, err := os.ReadDir(filepath.Join(s.dir, "objects"))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return s.db.View(func(tx *bolt.Tx) error {
		known := map[string]bool{}
		err := tx.Bucket(bucketInstances).ForEach(func(_, v []byte) error {
			var in Instance
			if err := json.Unmarshal(v, &in); err != nil {
				return err
			}
			// A released instance's file is deleted right after its seal
			// commits; a crash in between leaves it, so it goes here.
			known[in.ID] = !in.Released
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range objs {
			if !known[strings.TrimSuffix(e.Name(), ".dcm")] {
				os.Remove(filepath.Join(s.dir, "objects", e.Name()))
			}
		}
		return nil
	})
}

// deferredGather is how long an add with deferred durability waits for
// others to share its transaction (measured: one bolt transaction, with
// its two fdatasyncs, cost about 250 µs of CPU per small instance when
// each add committed alone).
const deferredGather = 10 * time.Millisecond

// AddResult says what AddInstance did.
type AddResult int

// AddInstance outcomes.
const (
	// Added: a new instance.
	Added AddResult = iota
	// AlreadyHave: the same SOP instance with identical bytes was already
	// recorded (a re-send); nothing changed.
	AlreadyHave
	// AddedDuplicate: a different instance with an already-recorded SOP
	// Instance UID; kept beside the first and flagged.
	AddedDuplicate
)

// AddInstance adopts the file at tmpPath (inside TmpDir, written by
// WriteTemp with the same d) as the instance described by in, within the
// study's session, and commits the record. in.ID is derived here. When it
// returns nil the record is durable, and with d fsutil.Synced the file
// too: the instance may be acknowledged. With fsutil.Deferred the file's
// folder entry is not flushed and the caller flushes the file system
// before it forgets the instance's bytes (SyncFS).
//
// Adding an instance the spool has (same SOP Instance UID, same digest)
// and has not shipped yet replaces its file with the new one: after a
// power loss a record can name a file whose deferred flush never
// happened, and adding the instance again from the edge's journal repairs
// it. A shipped one (its file deleted) stays as it is.
func (s *Spool) AddInstance(tmpPath string, in Instance, sess Session, d fsutil.Durability) (AddResult, error) {
	base := studyKeyHash(in.StudyKey + "|" + in.SOPInstanceUID)
	in.ID = base
	in.Generation = 0
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = s.now().UTC()
	}
	result := Added
	released := false // AlreadyHave: shipped, its file deleted
	// Decide the ID first (read-only), so the rename happens before the
	// commit that makes it visible.
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInstances)
		for i := 0; ; i++ {
			id := base
			if i > 0 {
				id = fmt.Sprintf("%s-%d", base, i)
			}
			v := b.Get(instKey(in.StudyKey, id))
			if v == nil {
				in.ID = id
				if i > 0 {
					result, in.Duplicate = AddedDuplicate, true
				}
				return nil
			}
			var old Instance
			if err := json.Unmarshal(v, &old); err != nil {
				return err
			}
			if old.SHA256 == in.SHA256 {
				in.ID, result, released = id, AlreadyHave, old.Released
				return nil
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	if released {
		os.Remove(tmpPath)
		return AlreadyHave, nil
	}
	dst := s.ObjectPath(in.ID)
	if err := os.Rename(tmpPath, dst); err != nil {
		return 0, fmt.Errorf("spool: adopting instance file: %w", err)
	}
	if d == fsutil.Synced {
		if err := s.dirs.Sync(filepath.Dir(dst)); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
	}
	if result == AlreadyHave {
		return AlreadyHave, nil
	}
	rec, _ := json.Marshal(&in)
	commit := s.commits.Do
	if d == fsutil.Deferred {
		// Nobody waits on this add but the edge's journal settler: let it
		// share a transaction with the adds of the next few milliseconds
		// (one association delivers them one at a time).
		commit = func(fn func(*bolt.Tx) error) error { return s.commits.DoGathered(fn, deferredGather) }
	}
	err = commit(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInstances)
		if v := b.Get(instKey(in.StudyKey, in.ID)); v != nil {
			// A concurrent identical add won the race.
			var old Instance
			if json.Unmarshal(v, &old) == nil && old.SHA256 == in.SHA256 {
				result = AlreadyHave
				return nil
			}
			return fmt.Errorf("instance %s recorded concurrently with different content", in.ID)
		}
		if err := b.Put(instKey(in.StudyKey, in.ID), rec); err != nil {
			return err
		}
		return s.touchStudy(tx, in, sess)
	})
	if err != nil {
		os.Remove(dst)
		return 0, fmt.Errorf("spool: recording instance: %w", err)
	}
	return result, nil
}

func (s *Spool) touchStudy(tx *bolt.Tx, in Instance, sess Session) error {
	b := tx.Bucket(bucketStudies)
	st := Study{Key: in.StudyKey, Session: sess}
	if v := b.Get([]byte(in.StudyKey)); v != nil {
		if err := json.Unmarshal(v, &st); err != nil {
			return err
		}
		if st.Session != sess {
			return fmt.Errorf("study %s maps to another session than before (profile or route changed)", in.StudyKey)
		}
	}
	if st.Pending == 0 {
		st.FirstAt = in.ReceivedAt
	}
	st.Pending++
	if in.ReceivedAt.After(st.LastAt) {
		st.LastAt = in.ReceivedAt
	}
	if st.Modality == "" {
		st.Modality = in.Modality
	}
	v, _ := json.Marshal(&st)
	return b.Put([]byte(in.StudyKey), v)
}

// Studies lists every study record, oldest activity first.
func (s *Spool) Studies() ([]Study, error) {
	var out []Study
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStudies).ForEach(func(_, v []byte) error {
			var st Study
			if err := json.Unmarshal(v, &st); err != nil {
				return err
			}
			out = append(out, st)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Study) int { return a.LastAt.Compare(b.LastAt) })
	return out, err
}

// Pending returns the unstaged instances of a study.
func (s *Spool) Pending(studyKey string) ([]Instance, error) {
	return s.instances(studyKey, func(in *Instance) bool { return in.Generation == 0 })
}

// ShipmentInstances returns the instances of one shipment.
func (s *Spool) ShipmentInstances(studyKey string, gen int) ([]Instance, error) {
	return s.instances(studyKey, func(in *Instance) bool { return in.Generation == gen })
}

func (s *Spool) instances(studyKey string, keep func(*Instance) bool) ([]Instance, error) {
	var out []Instance
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := instKey(studyKey, "")
		c := tx.Bucket(bucketInstances).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var in Instance
			if err := json.Unmarshal(v, &in); err != nil {
				return err
			}
			if keep(&in) {
				out = append(out, in)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

// Stage makes the study's pending instances (exactly the given IDs, as
// listed by Pending when the caller built the staging folder) the next
// generation and records its shipment, in one transaction. Instances that
// arrived since the caller listed them stay pending for the next
// generation.
func (s *Spool) Stage(studyKey string, ids []string) (*Shipment, error) {
	var sh *Shipment
	err := s.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketStudies)
		v := sb.Get([]byte(studyKey))
		if v == nil {
			return ErrNotFound
		}
		var st Study
		if err := json.Unmarshal(v, &st); err != nil {
			return err
		}
		gen := st.Generation + 1
		ib := tx.Bucket(bucketInstances)
		for _, id := range ids {
			v := ib.Get(instKey(studyKey, id))
			if v == nil {
				return fmt.Errorf("instance %s vanished", id)
			}
			var in Instance
			if err := json.Unmarshal(v, &in); err != nil {
				return err
			}
			if in.Generation != 0 {
				return fmt.Errorf("instance %s already staged in generation %d", id, in.Generation)
			}
			in.Generation = gen
			nv, _ := json.Marshal(&in)
			if err := ib.Put(instKey(studyKey, id), nv); err != nil {
				return err
			}
		}
		st.Generation = gen
		st.Pending -= len(ids)
		if st.Pending < 0 {
			st.Pending = 0
		}
		if st.Pending > 0 {
			st.FirstAt = st.LastAt
		}
		nv, _ := json.Marshal(&st)
		if err := sb.Put([]byte(studyKey), nv); err != nil {
			return err
		}
		sh = &Shipment{StudyKey: studyKey, Generation: gen, Session: st.Session, State: Staged, StagedAt: s.now().UTC()}
		sv, _ := json.Marshal(sh)
		return tx.Bucket(bucketShipments).Put([]byte(sh.Key()), sv)
	})
	if err != nil {
		return nil, fmt.Errorf("spool: staging %s: %w", studyKey, err)
	}
	return sh, nil
}

// Shipments lists the shipments that are not yet sealed (state staged or
// uploaded), in staging order per study.
func (s *Spool) Shipments() ([]Shipment, error) {
	return s.shipments(func(sh *Shipment) bool { return sh.State != Sealed })
}

// SealedShipments lists shipments whose seal committed but whose local
// clean-up (staging folder) may not have finished: the edge unstages them
// and then forgets them.
func (s *Spool) SealedShipments() ([]Shipment, error) {
	return s.shipments(func(sh *Shipment) bool { return sh.State == Sealed })
}

func (s *Spool) shipments(keep func(*Shipment) bool) ([]Shipment, error) {
	var out []Shipment
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketShipments).ForEach(func(_, v []byte) error {
			var sh Shipment
			if err := json.Unmarshal(v, &sh); err != nil {
				return err
			}
			if keep(&sh) {
				out = append(out, sh)
			}
			return nil
		})
	})
	return out, err
}

// ForgetShipment deletes a sealed shipment's record once its local copies
// are gone.
func (s *Spool) ForgetShipment(studyKey string, gen int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketShipments).Delete([]byte(shipmentKey(studyKey, gen)))
	})
}

// UpdateShipment rewrites a shipment's record with fn's changes.
func (s *Spool) UpdateShipment(studyKey string, gen int, fn func(*Shipment)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShipments)
		k := []byte(shipmentKey(studyKey, gen))
		v := b.Get(k)
		if v == nil {
			return ErrNotFound
		}
		var sh Shipment
		if err := json.Unmarshal(v, &sh); err != nil {
			return err
		}
		fn(&sh)
		nv, _ := json.Marshal(&sh)
		return b.Put(k, nv)
	})
}

// Seal records that the shipment's manifest is in the bucket and verified,
// then deletes its files (the next stage has verified them); the instance
// records stay, marked released, so re-sent instances are recognised. The
// same transaction adds the generation to the shipped history (Shipped).
func (s *Spool) Seal(studyKey string, gen int) error {
	var ids []string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShipments)
		k := []byte(shipmentKey(studyKey, gen))
		v := b.Get(k)
		if v == nil {
			return ErrNotFound
		}
		var sh Shipment
		if err := json.Unmarshal(v, &sh); err != nil {
			return err
		}
		already := sh.State == Sealed
		sh.State, sh.SealedAt, sh.LastError = Sealed, s.now().UTC(), ""
		nv, _ := json.Marshal(&sh)
		if err := b.Put(k, nv); err != nil {
			return err
		}
		ib := tx.Bucket(bucketInstances)
		prefix := instKey(studyKey, "")
		c := ib.Cursor()
		var gi []Instance
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var in Instance
			if err := json.Unmarshal(v, &in); err != nil {
				return err
			}
			if in.Generation == gen {
				gi = append(gi, in)
			}
			if in.Generation == gen && !in.Released {
				in.Released = true
				nv, _ := json.Marshal(&in)
				if err := ib.Put(bytes.Clone(k), nv); err != nil {
					return err
				}
				ids = append(ids, in.ID)
			}
		}
		if already {
			return nil
		}
		return recordShipped(tx, ShippedGeneration{StudyKey: studyKey, Generation: gen, Session: sh.Session,
			StagedAt: sh.StagedAt, SealedAt: sh.SealedAt, Series: summarise(gi)})
	})
	if err != nil {
		return fmt.Errorf("spool: sealing: %w", err)
	}
	for _, id := range ids {
		if err := os.Remove(s.ObjectPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return nil
}

// Study returns one study's record.
func (s *Spool) Study(key string) (Study, error) {
	var st Study
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketStudies).Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &st)
	})
	return st, err
}
