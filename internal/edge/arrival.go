package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/fsutil"
	"github.com/aisedge/aisedge/internal/route"
	"github.com/aisedge/aisedge/internal/spool"
)

// An arrival is a received original on its way through
// de-identification, the verification gate and the spool, or into the
// quarantine. Two paths lead here: the direct one (large instances,
// reprocessing), where it all happens before the C-STORE response, and the
// journal, where the response follows the original's journal record and
// an applier processes the record afterwards (applyArrival). Either way the
// original is in the facility backup before anything else happens to it.
type arrival struct {
	f   *dicom.File // the original, parsed; de-identification rewrites it
	rt  route.Route
	eng *deid.Engine
	log *slog.Logger

	calledAET, callingAET string
	sopUID                string // the original SOP Instance UID
	receivedAt            time.Time
	size                  int64 // of the received file

	// keep writes the facility backup copy (once); original names a
	// file holding the original, for the quarantine to link: flushed, or
	// (durability Deferred) written again from the journal after a power
	// loss, which links the entry anew.
	keep     func() error
	original func() (string, error)
	// quarantineID names the quarantine entry (empty: a new name), so
	// that a journal record processed twice makes one entry.
	quarantineID string
	// durability of the spool copy: Deferred when a journal record holds
	// the original until the edge's file systems are flushed (journal.go).
	durability fsutil.Durability
}

// arrivalMeta is what a journal record of an original says besides its
// bytes: enough to process it after a restart as it would have been
// processed live.
type arrivalMeta struct {
	CalledAET  string    `json:"calledAET"`
	CallingAET string    `json:"callingAET"`
	Assoc      string    `json:"assoc"`
	ReceivedAt time.Time `json:"receivedAt"`
	// Key is random, made at the acknowledgement: the quarantine entry's
	// name ends with it, so that processing the record twice (a crash
	// between the entry and the journal's note) makes one entry.
	Key string `json:"key"`
}

// journalArrival makes the acceptance of a received original durable as
// one journal record and hands the record (with the parse, when its
// values are views of bytes the record holds) to the appliers.
func (r *Receiver) journalArrival(in *dimse.Instance, f *dicom.File, backupPath string) error {
	orig, parsed := in.Data, f
	if orig == nil {
		// Received into a file: the parse reads its large values from
		// that file, which is gone after the response; the appliers parse
		// the record's bytes again.
		var err error
		if orig, err = os.ReadFile(in.Path); err != nil {
			return r.resourceError("reading the received file failed", err)
		}
		parsed = nil
	}
	rel, err := r.Backup.Rel(backupPath)
	if err != nil {
		return r.resourceError("facility backup path", err)
	}
	var key [4]byte
	rand.Read(key[:])
	jr := &journalRecord{
		Meta: journalMeta{BackupPath: rel, Arrival: &arrivalMeta{
			CalledAET: in.CalledAET, CallingAET: in.CallingAET, Assoc: in.Assoc,
			ReceivedAt: r.Now().UTC(), Key: hex.EncodeToString(key[:]),
		}},
		Original: orig,
		parsed:   parsed,
	}
	if err := r.journal.append(jr); err != nil {
		return r.resourceError("journal write failed", err)
	}
	r.enqueue(jr)
	return nil
}

// applyArrival processes a journal record of an original: facility backup
// copy, then de-identification, gate and spool, or the quarantine, with
// the files' flushes as d says. It returns an error only for what a retry
// may cure (a full disk); the record stays in the journal until it
// returns nil and, with d Deferred, until the file systems are flushed.
func (r *Receiver) applyArrival(jr *journalRecord, d fsutil.Durability) error {
	m := jr.Meta.Arrival
	if err := r.Backup.WriteBytes(jr.Meta.BackupPath, jr.Original, d); err != nil {
		return fmt.Errorf("facility backup: %w", err)
	}
	backupFile := filepath.Join(r.Backup.Dir, jr.Meta.BackupPath)
	f := jr.parsed
	jr.parsed = nil // a retry parses the record's bytes again
	if f == nil {
		var err error
		if f, err = dicom.ParseFile(dicom.NewBytesReader(jr.Original), nil); err != nil {
			// It parsed when it was acknowledged and the record's checksum
			// holds: keep it for an operator rather than guess.
			return r.quarantineFile(context.Background(), backupFile, QuarantineEntry{
				ID: quarantineName(m), ReceivedAt: m.ReceivedAt, CalledAET: m.CalledAET, CallingAET: m.CallingAET,
				Reasons: []string{reasonUnreadable},
			})
		}
	}
	defer f.Close()
	sop := f.Dataset.String(dicom.TagSOPInstanceUID)
	log := r.Log.With("assoc", m.Assoc, "sop", r.UIDHash.Hash(sop), "calledAET", r.aetLabel(m.CalledAET))
	entry := QuarantineEntry{ID: quarantineName(m), ReceivedAt: m.ReceivedAt, CalledAET: m.CalledAET, CallingAET: m.CallingAET,
		SOPHash: r.UIDHash.Hash(sop)}
	rt, ok := r.Routes.Lookup(m.CalledAET)
	if !ok {
		// Routing changed between the acknowledgement and now (a
		// restart with another configuration): held for an operator.
		entry.Reasons = []string{reasonUnmapped}
		log.Warn("no project mapped any more for the CalledAET of an acknowledged instance — quarantined")
		return r.quarantineFile(context.Background(), backupFile, entry)
	}
	eng, err := r.engine(rt)
	if err != nil {
		return err
	}
	a := &arrival{
		f: f, rt: rt, eng: eng, log: log,
		calledAET: m.CalledAET, callingAET: m.CallingAET, sopUID: sop,
		receivedAt: m.ReceivedAt, size: int64(len(jr.Original)),
		keep:         func() error { return nil }, // done above
		original:     func() (string, error) { return backupFile, nil },
		quarantineID: entry.ID,
		durability:   d,
	}
	_, err = r.process(context.Background(), a)
	return err
}

// quarantineName is the quarantine entry name of a journal record.
func quarantineName(m *arrivalMeta) string {
	return m.ReceivedAt.UTC().Format("20060102T150405Z") + "-" + m.Key
}

// process de-identifies an arrival whose original is in the facility
// backup, checks the serialized output with the gate and commits it to the
// spool, or keeps the original in the quarantine with value-free reasons.
func (r *Receiver) process(ctx context.Context, a *arrival) (Outcome, error) {
	quarantined := func(msg string, reasons ...string) (Outcome, error) {
		if err := a.keep(); err != nil {
			return Outcome{}, r.resourceError("facility backup write failed", err)
		}
		src, err := a.original()
		if err == nil {
			err = r.quarantineFile(ctx, src, QuarantineEntry{
				ID: a.quarantineID, ReceivedAt: a.receivedAt, CalledAET: a.calledAET, CallingAET: a.callingAET,
				SOPHash: r.UIDHash.Hash(a.sopUID), Reasons: reasons,
			})
		}
		if err != nil {
			return Outcome{}, r.resourceError("quarantine write failed", err)
		}
		a.log.Warn(msg, "reasons", reasons)
		return Outcome{Quarantined: true, Reasons: reasons}, nil
	}
	res, err := a.eng.Deidentify(a.f, deidOptions(ctx))
	if err != nil {
		return quarantined("de-identification failed; quarantined", reasonDeidFailed+": "+err.Error())
	}
	if res.Quarantined() {
		reasons := make([]string, len(res.Reasons))
		for i, rs := range res.Reasons {
			reasons[i] = rs.String()
		}
		return quarantined("instance quarantined by de-identification", reasons...)
	}
	sess, err := sessionOf(res, a.eng)
	if err != nil {
		return quarantined("instance quarantined: no session", err.Error())
	}
	out, err := r.serialize(res, a.size)
	if err != nil {
		return Outcome{}, r.resourceError("spool write failed", err)
	}
	defer out.release()
	// The fields below come from the data set just serialized; the gate
	// reads the serialized bytes themselves.
	ds := res.File.Dataset
	series := ds.String(dicom.TagSeriesInstanceUID)
	seriesNumber := ds.String(dicom.NewTag(0x0020, 0x0011))
	seriesDesc, _ := ds.Text(dicom.NewTag(0x0008, 0x103E))
	scan := ScanName(seriesNumber, seriesDesc)
	g, err := a.eng.Verify(res, out.reader(), out.size(), Folder(sess), scan)
	gate := gateOutcome{g}
	if err != nil || !gate.Passed {
		out.remove()
		reasons := []string{reasonGateFailed}
		if err != nil {
			reasons = []string{reasonGateError + ": " + err.Error()}
		}
		reasons = append(reasons, gate.checksFailed()...)
		return quarantined("instance quarantined by the verification gate", reasons...)
	}
	// The spool's unit is the XNAT session, not the DICOM study: studies
	// that share an accession number (one order, several studies) are one
	// visit (docs/deid.md, "Pseudonyms") and must be staged and shipped as
	// one session.
	rec := spool.Instance{
		StudyKey:          Folder(sess),
		SOPInstanceUID:    res.SOPInstanceUID,
		SeriesUID:         series,
		SeriesNumber:      seriesNumber,
		SeriesDescription: seriesDesc,
		Modality:          ds.String(dicom.NewTag(0x0008, 0x0060)),
		ReceivedAt:        a.receivedAt,
	}
	if err := a.keep(); err != nil {
		return Outcome{}, r.resourceError("facility backup write failed", err)
	}
	w, err := out.written(r.Spool, a.durability)
	if err != nil {
		return Outcome{}, r.resourceError("spool write failed", err)
	}
	rec.Size, rec.SHA256, rec.MD5 = w.Size, w.SHA256, w.MD5
	result, err := r.Spool.AddInstance(w.Path, rec, sess, a.durability)
	if err != nil {
		os.Remove(w.Path)
		return Outcome{}, r.resourceError("spool commit failed", err)
	}
	if result == spool.AddedDuplicate {
		a.log.Warn("a different instance with the same SOP Instance UID arrived; both kept", "session", Folder(sess))
	}
	// One event per instance: debug (one line per association and per
	// session at info).
	r.Events.Emit("debug", "instance_deidentified", Folder(sess), "", "mode", a.eng.Profile().Baseline,
		"calledAet", r.aetLabel(a.calledAET), "project", a.rt.Project, "originalId", r.UIDHash.Hash(a.sopUID),
		"newId", res.SOPInstanceUID)
	return Outcome{Session: Folder(sess)}, nil
}
