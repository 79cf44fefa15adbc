package edge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/fsutil"
)

// The quarantine's operator actions (docs/operations.md, "Quarantine"):
// requeue after a fix of the route or the profile, release a pixel-risk
// hold with a recorded reason, discard (the original stays in the
// facility backup). Each keeps the entry's id: an instance held again is
// the same entry with new reasons and one more requeue, never a new one.

// ErrStillHeld is returned when a requeued or released instance is held
// again (its entry then has the new reasons).
var ErrStillHeld = errors.New("quarantined again")

// Requeue runs a quarantined instance through the receiver again (after an
// operator fixed the route or the profile and restarted). On success the
// entry is removed; otherwise it stays, with the new reasons.
func (e *Edge) Requeue(ctx context.Context, id string) error {
	return e.reprocess(ctx, id, deid.Options{})
}

// Release sends on an instance held for pixel risk (the header says it may
// carry burned-in text; an operator looked at the pixels and found none),
// de-identified as usual and checked by the gate, with the operator's
// reason recorded in the report (pixel-risk-released) and, by the caller,
// in the audit log. Only a pixel-risk hold can be released, and never one
// for Burned In Annotation = YES.
func (e *Edge) Release(ctx context.Context, id, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return errors.New("a release needs the operator's reason (--reason)")
	}
	entry, err := e.Receiver.Quarantine.Get(id)
	if err != nil {
		return fmt.Errorf("quarantine entry %s: %w", id, err)
	}
	if len(entry.Reasons) == 0 || entry.Code() != "pixel-risk" {
		code := "(none)"
		if len(entry.Reasons) > 0 {
			code = entry.Code()
		}
		return fmt.Errorf("entry %s is held for %q: release overrides a pixel-risk hold only; fix the route or the profile and requeue it, or discard it", id, code)
	}
	if strings.Contains(entry.Reasons[0], "burned-in-annotation") {
		return fmt.Errorf("entry %s says Burned In Annotation = YES: the pixels carry text, which a release cannot remove; discard it (the original stays in the facility backup)", id)
	}
	return e.reprocess(ctx, id, deid.Options{PixelRiskOverride: reason})
}

// reprocess runs entry id through the receiver with opts.
func (e *Edge) reprocess(ctx context.Context, id string, opts deid.Options) error {
	q := e.Receiver.Quarantine
	entry, err := q.Get(id)
	if err != nil {
		return fmt.Errorf("quarantine entry %s: %w", id, err)
	}
	tmp := filepath.Join(e.Spool.TmpDir(), "requeue-"+id+".dcm")
	os.Remove(tmp)
	if err := fsutil.LinkOrCopy(q.InstancePath(id), tmp, -1); err != nil {
		return err
	}
	defer os.Remove(tmp)
	st, err := os.Stat(tmp)
	if err != nil {
		return err
	}
	in := &dimse.Instance{Path: tmp, Size: st.Size(), CalledAET: entry.CalledAET, CallingAET: entry.CallingAET, Assoc: "requeue"}
	if f, err := dicom.Open(tmp, &dicom.ParseOptions{StopAtPixelData: true}); err == nil {
		in.SOPClassUID, in.SOPInstanceUID = f.Dataset.String(dicom.TagSOPClassUID), f.Dataset.String(dicom.TagSOPInstanceUID)
		in.TransferSyntaxUID = f.TransferSyntax.UID
		f.Close()
	}
	var again string
	rctx := context.WithValue(context.WithValue(ctx, deidOptionsKey{}, opts), requeueKey{}, &again)
	if err := e.Receiver.Store(rctx, in); err != nil {
		if again != "" {
			q.Remove(again)
		}
		return fmt.Errorf("reprocessing: %w", err)
	}
	if again == "" {
		return q.Remove(id) // on its way: de-identified and in the spool
	}
	held, err := q.Get(again)
	q.Remove(again)
	if err != nil {
		return err
	}
	entry.Reasons, entry.Requeues, entry.LastRequeue = held.Reasons, entry.Requeues+1, e.cfg.Now().UTC()
	if err := q.Update(entry); err != nil {
		return err
	}
	return fmt.Errorf("%w (same entry, requeued %d×): %s", ErrStillHeld, entry.Requeues, strings.Join(entry.Reasons, "; "))
}

// Discard removes a quarantine entry after making sure its original is in
// the facility backup, which stays on site (and is pruned only by the
// backup's own age and size limits). It returns nothing more: the backup's
// paths hold identifiers and are not shown.
func (e *Edge) Discard(_ context.Context, id string) error {
	q := e.Receiver.Quarantine
	entry, err := q.Get(id)
	if err != nil {
		return fmt.Errorf("quarantine entry %s: %w", id, err)
	}
	src := q.InstancePath(id)
	if err := e.keepInBackup(entry, src); err != nil {
		return fmt.Errorf("discard %s: keeping the original in the facility backup: %w", id, err)
	}
	return q.Remove(id)
}

// keepInBackup makes sure the facility backup holds the bytes of src: at
// the instance's backup path when that copy is the same, beside it
// (<sop>.q-<id>.dcm) when another copy is there, or under
// __unreadable__/<id>.dcm when src does not parse.
func (e *Edge) keepInBackup(entry QuarantineEntry, src string) error {
	f, err := dicom.Open(src, &dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		dst := filepath.Join(e.Backup.Dir, "__unreadable__", entry.ID+".dcm")
		return e.Backup.WriteFile(src, dst)
	}
	unmapped := ""
	if _, ok := e.cfg.Routes.Lookup(entry.CalledAET); !ok {
		unmapped = entry.CalledAET
	}
	dst := e.Backup.Path(f.Dataset, unmapped)
	f.Close()
	switch same, err := sameContent(src, dst); {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	case same:
		return nil
	case err == nil: // another copy of this instance is there: keep both
		dst = strings.TrimSuffix(dst, ".dcm") + ".q-" + entry.ID + ".dcm"
	}
	return e.Backup.WriteFile(src, dst)
}

// sameContent reports whether a and b hold the same bytes.
func sameContent(a, b string) (bool, error) {
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	if os.SameFile(fa, fb) {
		return true, nil
	}
	if fa.Size() != fb.Size() {
		return false, nil
	}
	ha, err := fileSHA256(a)
	if err != nil {
		return false, err
	}
	hb, err := fileSHA256(b)
	return err == nil && ha == hb, err
}

func fileSHA256(p string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
