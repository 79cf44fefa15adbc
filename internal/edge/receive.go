package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/events"
	"github.com/aisedge/aisedge/internal/route"
	"github.com/aisedge/aisedge/internal/spool"
)

// DIMSE statuses the receiver answers with.
const (
	statusOutOfResources    = 0xA700
	statusCannotUnderstand  = 0xC000
	statusProcessingFailure = 0x0110
)

// EngineFor returns the de-identification engine for a route (one per
// project and profile; callers cache).
type EngineFor func(r route.Route) (*deid.Engine, error)

// Receiver is the dimse.StoreHandler of the edge: for each instance it
// writes the original to the facility backup, de-identifies it, checks the
// serialized output with the verification gate and commits it to the
// spool. Only then does it return, so the C-STORE is acknowledged only for
// data that is durable (and an instance that must not move on is durable
// in the quarantine).
type Receiver struct {
	Routes     *route.Table
	Engine     EngineFor
	Spool      *spool.Spool
	Backup     *Backup
	Quarantine *Quarantine
	// Events gets the original Lua hook's events (instance_deidentified).
	Events  *events.Writer
	Log     *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
	// UIDHash gives the keyed identifier that logs, events and
	// quarantine entries show for an original SOP Instance UID.
	UIDHash *dimse.UIDHasher
	// AETLabel shows configured AE titles as they are and others as a
	// keyed hash (logs and events leave the facility).
	AETLabel func(string) string

	mu      sync.Mutex
	engines map[string]*deid.Engine

	// journal, when set, takes the acceptance of small instances
	// (journal.go); enqueue hands a written record to the appliers.
	journal *journal
	enqueue func(*journalRecord)
}

// Outcome is what became of a received instance: stored (on its way to
// the archive, in Session) or quarantined (with value-free Reasons). An
// instance the receiver refuses comes with a *dimse.StatusError instead,
// or besides (an unparseable data set is quarantined and refused).
type Outcome struct {
	Quarantined bool
	Reasons     []string
	Session     string
}

// Store implements dimse.StoreHandler.
func (r *Receiver) Store(ctx context.Context, in *dimse.Instance) error {
	_, err := r.Accept(ctx, in)
	return err
}

// Accept takes responsibility for a received instance and says what
// became of it; it returns once that is durable.
func (r *Receiver) Accept(ctx context.Context, in *dimse.Instance) (Outcome, error) {
	start := r.Now()
	o, err := r.accept(ctx, in)
	r.Metrics.observeReceive(r.Now().Sub(start), err)
	return o, err
}

func (r *Receiver) accept(ctx context.Context, in *dimse.Instance) (Outcome, error) {
	log := r.Log.With("assoc", in.Assoc, "sop", r.UIDHash.Hash(in.SOPInstanceUID), "calledAET", r.aetLabel(in.CalledAET))
	if in.Sync != nil {
		// The server left the flush of the received file to us: done
		// once, before the file is kept anywhere (backup, quarantine).
		in.Sync = sync.OnceValue(in.Sync)
	}
	// Journaled: the instance's acceptance is one journal record (the
	// original and the de-identified copy), applied to the facility
	// backup and the spool after the response. Large instances and those
	// that do not go through take the direct path.
	journaled := r.journal != nil && in.Size <= inMemoryOutput
	f, err := in.File, error(nil)
	if f == nil { // a validator that does not hand over its parse
		f, err = dicom.Open(in.Path, nil)
	}
	if err != nil {
		// Unreadable: keep it (quarantine) and tell the sender.
		// The reason names the kind and offset only: a parse error's text
		// is value-free, but other errors could carry a path.
		reason := reasonUnreadable
		var pe *dicom.ParseError
		if errors.As(err, &pe) {
			reason = fmt.Sprintf("%s: %s at offset %d", reasonUnparseable, pe.Kind, pe.Offset)
		}
		if qerr := r.quarantine(ctx, in, nil, reason); qerr != nil {
			return Outcome{}, dimse.NewStatusError(statusProcessingFailure, "quarantine write failed", qerr)
		}
		return Outcome{Quarantined: true, Reasons: []string{reason}}, dimse.NewStatusError(statusCannotUnderstand, "cannot parse data set", err)
	}
	defer f.Close()

	rt, ok := r.Routes.Lookup(in.CalledAET)
	if !ok {
		// Unmapped AE title (quarantine policy): back up as the original did
		// and quarantine; the sender gets success, the data is kept.
		if err := r.backupTo(in, r.Backup.Path(f.Dataset, in.CalledAET)); err != nil {
			return Outcome{}, r.resourceError("facility backup write failed", err)
		}
		reason := reasonUnmapped
		if err := r.quarantine(ctx, in, f, reason); err != nil {
			return Outcome{}, r.resourceError("quarantine write failed", err)
		}
		log.Warn("REJECT: no project mapped for CalledAET " + r.aetLabel(in.CalledAET) + " — quarantined")
		return Outcome{Quarantined: true, Reasons: []string{reason}}, nil
	}
	// The backup path comes from the original's identifiers: taken now,
	// since de-identification rewrites the parsed data set in place.
	backupPath := r.Backup.Path(f.Dataset, "")
	// keep writes the facility backup copy now, when the instance takes
	// the direct path or will not reach the journal.
	backedUp := false
	keep := func() error {
		if backedUp {
			return nil
		}
		if err := r.backupTo(in, backupPath); err != nil {
			return r.resourceError("facility backup write failed", err)
		}
		backedUp = true
		return nil
	}
	if !journaled {
		if err := keep(); err != nil {
			return Outcome{}, err
		}
	}
	// quarantined keeps the original (backup and quarantine) for one of
	// the reasons an instance does not go through.
	quarantined := func(msg string, reasons ...string) (Outcome, error) {
		if err := keep(); err != nil {
			return Outcome{}, err
		}
		if err := r.quarantine(ctx, in, f, reasons...); err != nil {
			return Outcome{}, r.resourceError("quarantine write failed", err)
		}
		log.Warn(msg, "reasons", reasons)
		return Outcome{Quarantined: true, Reasons: reasons}, nil
	}
	eng, err := r.engine(rt)
	if err != nil {
		return Outcome{}, dimse.NewStatusError(statusProcessingFailure, "de-identification not configured", err)
	}
	res, err := eng.Deidentify(f, deidOptions(ctx))
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
	sess, err := sessionOf(res, eng)
	if err != nil {
		return quarantined("instance quarantined: no session", err.Error())
	}
	out, err := r.serialize(res, in.Size)
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
	g, err := eng.Verify(res, out.reader(), out.size(), Folder(sess), scan)
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
		ReceivedAt:        r.Now().UTC(),
	}
	if journaled && out.buf != nil {
		if err := r.journalInstance(in, backupPath, rec, sess, out); err != nil {
			return Outcome{}, err
		}
	} else {
		if err := keep(); err != nil {
			return Outcome{}, err
		}
		w, err := out.written(r.Spool)
		if err != nil {
			return Outcome{}, r.resourceError("spool write failed", err)
		}
		rec.Size, rec.SHA256, rec.MD5 = w.Size, w.SHA256, w.MD5
		result, err := r.Spool.AddInstance(w.Path, rec, sess)
		if err != nil {
			os.Remove(w.Path)
			return Outcome{}, r.resourceError("spool commit failed", err)
		}
		if result == spool.AddedDuplicate {
			log.Warn("a different instance with the same SOP Instance UID arrived; both kept", "session", Folder(sess))
		}
	}
	// One event per instance: debug (one line per association and per
	// session at info).
	r.Events.Emit("debug", "instance_deidentified", Folder(sess), "", "mode", eng.Profile().Baseline,
		"calledAet", r.aetLabel(in.CalledAET), "project", rt.Project, "originalId", r.UIDHash.Hash(in.SOPInstanceUID),
		"newId", res.SOPInstanceUID)
	return Outcome{Session: Folder(sess)}, nil
}

// gateOutcome adapts the gate's result for reasons.
type gateOutcome struct{ *deid.GateResult }

func (g gateOutcome) checksFailed() []string {
	if g.GateResult == nil {
		return nil
	}
	var out []string
	for _, c := range g.Checks {
		if !c.Passed {
			out = append(out, c.Name+": "+strings.Join(c.Failures, "; "))
		}
	}
	return out
}

// sessionOf is the spool session of a de-identified instance.
func sessionOf(res *deid.Result, eng *deid.Engine) (spool.Session, error) {
	id := res.Session
	if err := id.Valid(); err != nil {
		return spool.Session{}, fmt.Errorf("%s: %v", reasonNoSession, err)
	}
	return spool.Session{Project: id.Project, Subject: id.Subject, Visit: id.Visit, Label: ExperimentLabel(id.Subject, id.Visit, eng.Profile().Pseudonyms.Mode),
		ProfileHash: eng.Profile().Hash + "/" + eng.KeyID()}, nil
}

// ExperimentLabel is a session's XNAT experiment label, which XNAT needs
// unique within the project. The visit pseudonym alone is not: it is the
// accession number's, and accession numbers repeat across patients (two
// patients' "2" met in the DICOMDIR test set). So the label is
// SUBJECT_VISIT. Sites migrating with legacy-djb2 pseudonyms keep the
// original's label, the visit alone: there it is SessionHash =
// H(PatientID|StudyInstanceUID), unique per patient, and later series must
// land in the sessions the original created.
func ExperimentLabel(subject, visit, mode string) string {
	if mode == deid.ModeLegacyDJB2 {
		return visit
	}
	return subject + "_" + visit
}

func (r *Receiver) engine(rt route.Route) (*deid.Engine, error) {
	key := rt.Project + "\x00" + rt.Profile
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.engines[key]; e != nil {
		return e, nil
	}
	e, err := r.Engine(rt)
	if err != nil {
		return nil, err
	}
	if r.engines == nil {
		r.engines = map[string]*deid.Engine{}
	}
	r.engines[key] = e
	return e, nil
}

// backupTo writes the facility backup copy of the received file at dst
// (flushed first when the server left that to the handler).
func (r *Receiver) backupTo(in *dimse.Instance, dst string) error {
	if in.Sync != nil {
		if err := in.Sync(); err != nil {
			return err
		}
	}
	return r.Backup.WriteFile(in.Path, dst)
}

// journalInstance makes the instance's acceptance durable as one journal
// record and hands it to the appliers.
func (r *Receiver) journalInstance(in *dimse.Instance, backupPath string, rec spool.Instance, sess spool.Session, out *serialized) error {
	orig, err := os.ReadFile(in.Path)
	if err != nil {
		return r.resourceError("reading the received file failed", err)
	}
	rel, err := r.Backup.Rel(backupPath)
	if err != nil {
		return r.resourceError("facility backup path", err)
	}
	jr := &journalRecord{
		Meta:     journalMeta{BackupPath: rel, Instance: rec, Session: sess},
		Original: orig,
		Output:   bytes.Clone(out.buf.Bytes()),
	}
	if err := r.journal.append(jr); err != nil {
		return r.resourceError("journal write failed", err)
	}
	r.enqueue(jr)
	return nil
}

// quarantine keeps the original with value-free reasons.
func (r *Receiver) quarantine(ctx context.Context, in *dimse.Instance, f *dicom.File, reasons ...string) error {
	if in.Sync != nil {
		if err := in.Sync(); err != nil {
			return err
		}
	}
	e, err := r.Quarantine.Put(in.Path, QuarantineEntry{
		ReceivedAt: r.Now().UTC(), CalledAET: in.CalledAET, CallingAET: in.CallingAET,
		SOPHash: r.UIDHash.Hash(in.SOPInstanceUID), Reasons: reasons,
	})
	if sink, ok := ctx.Value(requeueKey{}).(*string); ok {
		*sink = e.ID // a requeue: the caller folds it into the entry it came from
		return err
	}
	r.Metrics.quarantined(reasons)
	return err
}

type deidOptionsKey struct{}

// deidOptions are the de-identification options of a reprocessing (an
// operator's release); none for instances received over DICOM.
func deidOptions(ctx context.Context) deid.Options {
	o, _ := ctx.Value(deidOptionsKey{}).(deid.Options)
	return o
}

// requeueKey marks a reprocessing: the receiver stores the id of a new
// quarantine entry in the *string it carries, and does not count it.
type requeueKey struct{}

// resourceError answers A700 when the disk is full, 0110 otherwise; the
// sender keeps the instance and retries.
func (r *Receiver) resourceError(what string, err error) error {
	r.Log.Error(what, "err", err)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return dimse.NewStatusError(statusOutOfResources, what, err)
	}
	return dimse.NewStatusError(statusProcessingFailure, what, err)
}

// aetLabel is AETLabel, or the keyed hash when none is set.
func (r *Receiver) aetLabel(aet string) string {
	if r.AETLabel != nil {
		return r.AETLabel(aet)
	}
	return "ae-" + r.UIDHash.Hash("ae:"+aet)
}
