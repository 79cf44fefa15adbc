package edge

import (
	"context"
	"errors"
	"fmt"
	"github.com/aisedge/aisedge/internal/events"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
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
}

// Store implements dimse.StoreHandler.
func (r *Receiver) Store(ctx context.Context, in *dimse.Instance) error {
	start := r.Now()
	err := r.store(ctx, in)
	r.Metrics.observeReceive(r.Now().Sub(start), err)
	return err
}

func (r *Receiver) store(ctx context.Context, in *dimse.Instance) error {
	log := r.Log.With("assoc", in.Assoc, "sop", r.UIDHash.Hash(in.SOPInstanceUID), "calledAET", r.aetLabel(in.CalledAET))
	f, err := dicom.Open(in.Path, nil)
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
			return dimse.NewStatusError(statusProcessingFailure, "quarantine write failed", qerr)
		}
		return dimse.NewStatusError(statusCannotUnderstand, "cannot parse data set", err)
	}
	defer f.Close()

	rt, ok := r.Routes.Lookup(in.CalledAET)
	if !ok {
		// Unmapped AE title (quarantine policy): back up as the original did
		// and quarantine; the sender gets success, the data is kept.
		if err := r.Backup.Write(in.Path, f.Dataset, in.CalledAET); err != nil {
			return r.resourceError("facility backup write failed", err)
		}
		if err := r.quarantine(ctx, in, f, reasonUnmapped); err != nil {
			return r.resourceError("quarantine write failed", err)
		}
		log.Warn("REJECT: no project mapped for CalledAET " + r.aetLabel(in.CalledAET) + " — quarantined")
		return nil
	}
	if err := r.Backup.Write(in.Path, f.Dataset, ""); err != nil {
		return r.resourceError("facility backup write failed", err)
	}
	eng, err := r.engine(rt)
	if err != nil {
		return dimse.NewStatusError(statusProcessingFailure, "de-identification not configured", err)
	}
	res, err := eng.Deidentify(f, deidOptions(ctx))
	if err != nil {
		if qerr := r.quarantine(ctx, in, f, reasonDeidFailed+": "+err.Error()); qerr != nil {
			return r.resourceError("quarantine write failed", qerr)
		}
		log.Error("de-identification failed; quarantined", "err", err.Error())
		return nil
	}
	if res.Quarantined() {
		reasons := make([]string, len(res.Reasons))
		for i, rs := range res.Reasons {
			reasons[i] = rs.String()
		}
		if err := r.quarantine(ctx, in, f, reasons...); err != nil {
			return r.resourceError("quarantine write failed", err)
		}
		log.Warn("instance quarantined by de-identification", "reasons", reasons)
		return nil
	}
	w, err := r.Spool.WriteTemp(func(w io.Writer) error { return dicom.WriteFile(w, res.File) })
	if err != nil {
		return r.resourceError("spool write failed", err)
	}
	sess, err := sessionOf(res, eng)
	if err != nil {
		os.Remove(w.Path)
		if qerr := r.quarantine(ctx, in, f, err.Error()); qerr != nil {
			return r.resourceError("quarantine write failed", qerr)
		}
		return nil
	}
	out, err := dicom.Open(w.Path, nil)
	if err != nil {
		os.Remove(w.Path)
		return dimse.NewStatusError(statusProcessingFailure, "de-identified output unreadable", err)
	}
	defer out.Close()
	ds := out.Dataset
	series := ds.String(dicom.TagSeriesInstanceUID)
	seriesNumber := ds.String(dicom.NewTag(0x0020, 0x0011))
	seriesDesc, _ := ds.Text(dicom.NewTag(0x0008, 0x103E))
	scan := ScanName(seriesNumber, seriesDesc)
	gate, err := r.verify(eng, res, w, Folder(sess), scan)
	if err != nil || !gate.Passed {
		os.Remove(w.Path)
		reasons := []string{reasonGateFailed}
		if err != nil {
			reasons = []string{reasonGateError + ": " + err.Error()}
		}
		for _, c := range gate.checksFailed() {
			reasons = append(reasons, c)
		}
		if qerr := r.quarantine(ctx, in, f, reasons...); qerr != nil {
			return r.resourceError("quarantine write failed", qerr)
		}
		log.Warn("instance quarantined by the verification gate", "reasons", reasons)
		return nil
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
		Size:              w.Size, SHA256: w.SHA256, MD5: w.MD5,
		ReceivedAt: r.Now().UTC(),
	}
	result, err := r.Spool.AddInstance(w.Path, rec, sess)
	if err != nil {
		os.Remove(w.Path)
		return r.resourceError("spool commit failed", err)
	}
	if result == spool.AddedDuplicate {
		log.Warn("a different instance with the same SOP Instance UID arrived; both kept", "session", Folder(sess))
	}
	// One event per instance: debug (one line per association and per
	// session at info).
	r.Events.Emit("debug", "instance_deidentified", Folder(sess), "", "mode", eng.Profile().Baseline,
		"calledAet", r.aetLabel(in.CalledAET), "project", rt.Project, "originalId", r.UIDHash.Hash(in.SOPInstanceUID),
		"newId", res.SOPInstanceUID)
	return nil
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

func (r *Receiver) verify(eng *deid.Engine, res *deid.Result, w spool.Written, names ...string) (gateOutcome, error) {
	fh, err := os.Open(w.Path)
	if err != nil {
		return gateOutcome{}, err
	}
	defer fh.Close()
	g, err := eng.Verify(res, fh, w.Size, names...)
	return gateOutcome{g}, err
}

// sessionOf splits the engine's PROJECT.SUBJECT.VISIT label.
func sessionOf(res *deid.Result, eng *deid.Engine) (spool.Session, error) {
	parts := strings.Split(res.SessionLabel, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return spool.Session{}, errors.New(reasonNoSession)
	}
	return spool.Session{Project: parts[0], Subject: parts[1], Session: parts[2], Label: ExperimentLabel(parts[1], parts[2], eng.Profile().Pseudonyms.Mode),
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

// quarantine keeps the original with value-free reasons.
func (r *Receiver) quarantine(ctx context.Context, in *dimse.Instance, f *dicom.File, reasons ...string) error {
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
