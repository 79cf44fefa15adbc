package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/events"
	"github.com/aisedge/aisedge/internal/fsutil"
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

// Receiver is the dimse.StoreHandler of the edge. For each instance it
// makes the original durable before it returns, so that a C-STORE is
// acknowledged only for data that cannot be lost: as a journal record,
// which the edge's appliers then take to the facility backup,
// de-identification, the verification gate and the spool (or the
// quarantine), or, on the direct path (large instances, reprocessing), by
// doing all of that before it returns. docs/edge.md tells the whole path.
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
	// Journaled: the original is durable in the journal and is
	// de-identified after the response; what becomes of it is logged,
	// counted and, if it is held, in the quarantine.
	Journaled bool
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
	// Journaled: the instance's acceptance is one journal record holding
	// the original; the appliers write the facility backup copy,
	// de-identify, check and spool it after the response (arrival.go).
	// Large instances, and reprocessing, which reports its outcome, take
	// the direct path: everything before the response.
	_, requeue := ctx.Value(requeueKey{}).(*string)
	journaled := r.journal != nil && in.Size <= inMemoryOutput && !requeue
	if in.Data != nil && !journaled {
		if err := in.Materialize(); err != nil {
			return Outcome{}, r.resourceError("writing the received instance failed", err)
		}
	}
	f, err := in.File, error(nil)
	if f == nil && in.Data != nil { // a validator that does not hand over its parse
		f, err = dicom.ParseFile(dicom.NewBytesReader(in.Data), nil)
	} else if f == nil {
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
		if qerr := r.quarantine(ctx, in, reason); qerr != nil {
			return Outcome{}, dimse.NewStatusError(statusProcessingFailure, "quarantine write failed", qerr)
		}
		return Outcome{Quarantined: true, Reasons: []string{reason}}, dimse.NewStatusError(statusCannotUnderstand, "cannot parse data set", err)
	}
	closeFile := true
	defer func() {
		if closeFile {
			f.Close()
		}
	}()

	rt, ok := r.Routes.Lookup(in.CalledAET)
	if !ok {
		// Unmapped AE title (quarantine policy): back up as the original did
		// and quarantine; the sender gets success, the data is kept.
		if err := r.backupTo(in, r.Backup.Path(f.Dataset, in.CalledAET)); err != nil {
			return Outcome{}, r.resourceError("facility backup write failed", err)
		}
		reason := reasonUnmapped
		if err := r.quarantine(ctx, in, reason); err != nil {
			return Outcome{}, r.resourceError("quarantine write failed", err)
		}
		log.Warn("REJECT: no project mapped for CalledAET " + r.aetLabel(in.CalledAET) + " — quarantined")
		return Outcome{Quarantined: true, Reasons: []string{reason}}, nil
	}
	eng, err := r.engine(rt)
	if err != nil {
		return Outcome{}, dimse.NewStatusError(statusProcessingFailure, "de-identification not configured", err)
	}
	// The backup path comes from the original's identifiers: taken now,
	// since de-identification rewrites the parsed data set in place.
	backupPath := r.Backup.Path(f.Dataset, "")
	if journaled {
		if err := r.journalArrival(in, f, backupPath); err != nil {
			return Outcome{}, err
		}
		// The appliers own a parse of bytes the record holds; one that
		// reads the received file (gone after the answer) is closed here.
		closeFile = in.Data == nil
		return Outcome{Journaled: true}, nil
	}
	backedUp := false
	a := &arrival{
		f: f, rt: rt, eng: eng, log: log,
		calledAET: in.CalledAET, callingAET: in.CallingAET, sopUID: in.SOPInstanceUID,
		receivedAt: r.Now().UTC(), size: in.Size,
		keep: func() error {
			if backedUp {
				return nil
			}
			if err := r.backupTo(in, backupPath); err != nil {
				return err
			}
			backedUp = true
			return nil
		},
		original: func() (string, error) { return in.Path, nil },
	}
	if err := a.keep(); err != nil {
		return Outcome{}, r.resourceError("facility backup write failed", err)
	}
	return r.process(ctx, a)
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
	if err := in.Materialize(); err != nil {
		return err
	}
	if in.Sync != nil {
		if err := in.Sync(); err != nil {
			return err
		}
	}
	return r.Backup.WriteFile(in.Path, dst)
}

// quarantine keeps the received original with value-free reasons.
func (r *Receiver) quarantine(ctx context.Context, in *dimse.Instance, reasons ...string) error {
	if err := in.Materialize(); err != nil {
		return err
	}
	if in.Sync != nil {
		if err := in.Sync(); err != nil {
			return err
		}
	}
	return r.quarantineFile(ctx, in.Path, QuarantineEntry{
		ReceivedAt: r.Now().UTC(), CalledAET: in.CalledAET, CallingAET: in.CallingAET,
		SOPHash: r.UIDHash.Hash(in.SOPInstanceUID), Reasons: reasons,
	})
}

// quarantineFile keeps the original at src (a flushed file) as entry e.
func (r *Receiver) quarantineFile(ctx context.Context, src string, e QuarantineEntry) error {
	e, err := r.Quarantine.Put(src, e)
	if sink, ok := ctx.Value(requeueKey{}).(*string); ok {
		*sink = e.ID // a requeue: the caller folds it into the entry it came from
		return err
	}
	r.Metrics.quarantined(e.Reasons)
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
	r.Log.Error(what, "err", fsutil.PublicError(err)) // backup folders are named by patient ID
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
