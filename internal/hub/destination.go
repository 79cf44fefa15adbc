package hub

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
	"github.com/aisedge/aisedge/internal/manifest"
)

// Destination is where the hub delivers session generations. Four
// implement it: XNAT (xnatdest.go), ArchiveDir (archive.go), DICOM
// (C-STORE to a PACS, dicomdest.go) and DICOMweb (STOW-RS,
// dicomwebdest.go). Every one passes the conformance suite in
// internal/hub/hubtest, which checks the contract below against the real
// peer (the XNAT emulator, a folder, Orthanc over DIMSE and over DICOMweb).
//
// # Deliver
//
// Deliver(ctx, m, dir) makes every file of the manifest m appear at the
// destination and returns nil only once each one is verified there. dir
// holds the files at dir/<path> for each manifest path, already checked
// against the manifest's SHA-256 by the hub; Deliver must not change them.
// What "appear" and "verified" mean is the destination's own:
//
//   - XNAT: the file is in the session m.Project/m.Subject/m.ExperimentLabel,
//     scan ScanID, resource of its folder, and XNAT's catalogue lists it
//     with the manifest's MD5;
//   - ArchiveDir: the file is at FilePath and re-reading it gives the
//     manifest's MD5 and size;
//   - DICOM: the PACS answered the C-STORE of the instance with a success
//     or warning status (a PACS offers no digest; storage commitment is not
//     asked for);
//   - DICOMweb: the STOW-RS response lists the instance as stored, and a
//     QIDO-RS query afterwards finds its SOP Instance UID in its study.
//
// A later generation of the same session (an append) adds its files to what
// the earlier ones delivered; it never removes them.
//
// # Redelivery and idempotence
//
// The hub calls Deliver again for the same generation after any failure and
// after a crash anywhere, including after a Deliver that succeeded but whose
// record the hub had not yet written. Deliver must then leave the
// destination holding each file exactly once (never a duplicate) and should
// send only what is not verifiably there:
//
//   - XNAT and ArchiveDir compare what is there by MD5 and send only the
//     gaps; nothing is ever held twice.
//   - DICOMweb asks QIDO-RS which instances of the study are there and
//     sends only the others; a PACS keys instances by SOP Instance UID, so
//     one sent twice (in flight at a crash) is still held once.
//   - DICOM keeps a journal of the instances the PACS acknowledged (in its
//     StateDir, removed when the generation is complete) and sends only the
//     others after a crash; the ones acknowledged since the journal's last
//     sync are sent again, and the PACS, keying by SOP Instance UID, holds
//     them once.
//
// # Errors
//
// Deliver returns nil, or an error of one of three classes:
//
//   - permanent (wraps ErrPermanent): this generation will not be accepted
//     by retrying (a missing project, a file the PACS refuses for good);
//     the hub dead-letters it until an operator requeues it;
//   - refused credentials (wraps ErrCredentials): the destination refuses
//     the hub itself (a wrong password, an expired token, an unknown AE
//     title); the hub pauses delivery to it (the others go on),
//     dead-letters nothing, and tries Resume (if the destination is a
//     Resumer) with backoff until it works;
//   - anything else is transient (an outage, a timeout, a 5xx, ctx ending):
//     the hub retries on later rounds with backoff.
//
// Errors and logs carry no credentials and no patient data (labels are
// pseudonyms; UIDs are the de-identified ones).
//
// # Name
//
// Name is the destination's name in configuration, logs, events and
// records: unique among a hub's destinations, no credentials. The hub
// records deliveries per destination by it, so renaming a destination makes
// the hub deliver to it again.
type Destination interface {
	Deliver(ctx context.Context, m *manifest.Manifest, dir string) error
	Name() string
}

// Target is a destination and the projects it takes.
type Target struct {
	Dest Destination
	// Projects are the projects whose sessions go to Dest; empty means
	// every project.
	Projects []string
}

// takes reports whether the target receives sessions of project.
func (t Target) takes(project string) bool {
	return len(t.Projects) == 0 || slices.Contains(t.Projects, project)
}

// IsPermanent reports whether a delivery error will not heal by retrying
// (fault.IsPermanent). Destinations mark such errors with ErrPermanent.
func IsPermanent(err error) bool { return fault.IsPermanent(err) }

// ErrPermanent marks errors that retrying will not fix: fault.ErrPermanent.
var ErrPermanent = fault.ErrPermanent

// ErrCredentials marks a transient failure of the whole destination: it
// refuses the hub's credentials (a wrong or rotated password, an expired
// alias token, a locked account, an AE title the PACS does not know). The
// data is fine, so nothing is dead-lettered; instead the hub pauses
// delivery to that destination (Status.Pauses, metric
// aisedge_hub_delivery_paused), tries again with backoff, reading the
// credentials anew (Resumer), and resumes by itself once they work.
var ErrCredentials = errors.New("destination refuses the hub's credentials")

// Resumer is implemented by destinations that can check their credentials
// without delivering: Resume reads them again and logs in (or echoes).
type Resumer interface {
	Resume(ctx context.Context) error
}

// Pause describes a paused destination.
type Pause struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
	// Destination is the name of the destination that refused the
	// credentials.
	Destination string `json:"destination,omitempty"`
	// Attempts counts the tries to resume since the pause began.
	Attempts int `json:"attempts"`
}
