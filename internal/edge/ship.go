package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aisedge/aisedge/internal/events"
	"github.com/aisedge/aisedge/internal/fault"

	"encoding/hex"

	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/spool"
)

// Shipper uploads staged shipments to the object store under
// <Prefix><folder>/..., verifies every object through listing (the edge's
// key may write and list but not read), writes the manifest last as the
// seal, and only then releases the local copies.
type Shipper struct {
	Spool  *spool.Spool
	Stager *Stager
	Store  objstore.Store
	// Layout is the store's multipart layout, to compute the ETag of a
	// file uploaded before a crash.
	Layout objstore.PartLayout
	// Prefix is "staged/<edge>/".
	Prefix string
	// Parallel bounds concurrent uploads within a shipment (default 8).
	Parallel int
	Events   *events.Writer
	Log      *slog.Logger
	Now      func() time.Time
	Metrics  *Metrics
	// OnSealed is called after each seal.
	OnSealed func()

	mu         sync.Mutex
	lastSealed time.Time
}

// LastSealed is when the last shipment was sealed in the bucket (zero:
// none since start): the last successful upload.
func (s *Shipper) LastSealed() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSealed
}

// ErrHeld marks a shipment waiting for an operator after a permanent
// failure: the errors of held shipments are fault.Hold's, with this reason.
var ErrHeld = fault.ErrHeld

const heldReason = "shipment held after a permanent failure"

// ShipPending ships every unsealed shipment that is not held, in staging
// order per session. It returns the first error of each failed shipment,
// joined; the failures are also recorded in the spool.
func (s *Shipper) ShipPending(ctx context.Context) error {
	ships, err := s.Spool.Shipments()
	if err != nil {
		return err
	}
	blocked := map[string]bool{} // a session whose earlier generation failed waits
	var errs []error
	for _, sh := range ships {
		if sh.Held || blocked[sh.StudyKey] {
			blocked[sh.StudyKey] = true
			continue
		}
		if err := s.Ship(ctx, sh); err != nil {
			blocked[sh.StudyKey] = true
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Ship uploads and seals one shipment.
func (s *Shipper) Ship(ctx context.Context, sh spool.Shipment) error {
	start := s.Now()
	m, err := s.Stager.ReadManifest(sh.Session, sh.Generation)
	if err != nil {
		return s.fail(sh, fmt.Errorf("reading staged manifest: %w", err), true)
	}
	folder := m.Folder
	dicoms := 0
	for _, f := range m.Files {
		if strings.HasSuffix(strings.ToLower(f.Path), ".dcm") {
			dicoms++
		}
	}
	manifestBytes, err := m.Marshal()
	if err != nil {
		return s.fail(sh, err, true)
	}
	s.Events.Emit("info", "upload_started", folder, fmt.Sprintf("uploading generation %d", sh.Generation),
		"bytes", m.TotalBytes()+int64(len(manifestBytes)), "files", len(m.Files)+1, "dicoms", dicoms)

	// What is already there (an upload interrupted by a crash or a
	// transient failure) need not be sent again.
	listed := map[string]objstore.Info{}
	for info, err := range s.Store.List(ctx, s.Prefix+folder+"/") {
		if err != nil {
			return s.fail(sh, fmt.Errorf("listing %s: %w", folder, err), false)
		}
		listed[info.Key] = info
	}
	root := s.Stager.ShipmentDir(sh.Session)
	par := s.Parallel
	if par <= 0 {
		par = 8
	}
	sem := make(chan struct{}, par)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	// sent holds the ETag each Put of this run returned (checked by the
	// backend against the bytes sent), so the check before the seal need
	// not re-read large files to compute their multipart ETags.
	sent := map[string]string{}
	for _, f := range m.Files {
		key := s.Prefix + folder + "/" + f.Path
		if info, ok := listed[key]; ok && info.Size == f.Size && s.sameETag(ctx, info, filepath.Join(root, filepath.FromSlash(f.Path)), f) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			info, err := s.putFile(ctx, key, filepath.Join(root, filepath.FromSlash(f.Path)), f)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			} else if err == nil {
				sent[key] = objstore.NormalizeETag(info.ETag)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return s.fail(sh, firstErr, false)
	}
	// One more listing of the whole session right before the seal: every
	// file must still be there with its size and ETag (a store that lost
	// an object across a restart is caught here, not after the local
	// copies are gone).
	if err := s.verifyAll(ctx, m, root, sent); err != nil {
		return s.fail(sh, err, false)
	}
	if err := s.Spool.UpdateShipment(sh.StudyKey, sh.Generation, func(x *spool.Shipment) { x.State = spool.Uploaded }); err != nil {
		return s.fail(sh, err, false)
	}
	// The seal: the manifest goes last, and is verified like the rest.
	mkey := s.Prefix + folder + "/" + manifest.NameFor(sh.Generation)
	if err := s.putBytes(ctx, mkey, manifestBytes); err != nil {
		return s.fail(sh, fmt.Errorf("sealing: %w", err), false)
	}
	if err := s.Spool.Seal(sh.StudyKey, sh.Generation); err != nil {
		return s.fail(sh, err, false)
	}
	s.mu.Lock()
	s.lastSealed = s.Now()
	s.mu.Unlock()
	if s.OnSealed != nil {
		s.OnSealed()
	}
	if err := s.Stager.Unstage(m); err != nil {
		s.Log.Warn("removing staged copy failed; it is sealed in the bucket and will be retried", "session", folder, "err", err)
	} else if err := s.Spool.ForgetShipment(sh.StudyKey, sh.Generation); err != nil {
		s.Log.Warn("forgetting a sealed shipment failed", "session", folder, "err", err)
	}
	s.Metrics.observeShipped(s.Now().Sub(start), m.TotalBytes()+int64(len(manifestBytes)))
	s.Events.Emit("info", "upload_completed", folder, fmt.Sprintf("generation %d sealed", sh.Generation),
		"bytes", m.TotalBytes()+int64(len(manifestBytes)), "files", len(m.Files)+1, "dicoms", dicoms,
		"duration_s", int(s.Now().Sub(start).Seconds()))
	return nil
}

// FinishSealed completes the local clean-up of shipments sealed before a
// crash or a failed removal: their staging copies go, then their records.
func (s *Shipper) FinishSealed() error {
	sealed, err := s.Spool.SealedShipments()
	if err != nil {
		return err
	}
	var errs []error
	for _, sh := range sealed {
		m, err := s.Stager.ReadManifest(sh.Session, sh.Generation)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		if m != nil {
			if err := s.Stager.Unstage(m); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := s.Spool.ForgetShipment(sh.StudyKey, sh.Generation); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// verifyAll lists the session's prefix once and checks every file of the
// manifest against it: against the ETag its Put returned when sent holds
// one, else against the file's own (read again for a multipart ETag).
func (s *Shipper) verifyAll(ctx context.Context, m *manifest.Manifest, root string, sent map[string]string) error {
	listed := map[string]objstore.Info{}
	for info, err := range s.Store.List(ctx, s.Prefix+m.Folder+"/") {
		if err != nil {
			return fmt.Errorf("verifying %s: %w", m.Folder, err)
		}
		listed[info.Key] = info
	}
	for _, f := range m.Files {
		key := s.Prefix + m.Folder + "/" + f.Path
		info, ok := listed[key]
		same := func() bool {
			if etag, ok := sent[key]; ok {
				return objstore.NormalizeETag(info.ETag) == etag
			}
			return s.sameETag(ctx, info, filepath.Join(root, filepath.FromSlash(f.Path)), f)
		}
		if !ok || info.Size != f.Size || !same() {
			return fmt.Errorf("verifying %s: %s is missing or differs in the bucket", m.Folder, f.Path)
		}
	}
	return nil
}

// sameETag tells whether a listed object is the file's content.
func (s *Shipper) sameETag(ctx context.Context, info objstore.Info, path string, f manifest.File) bool {
	if !s.Layout.Multipart(f.Size) {
		return objstore.NormalizeETag(info.ETag) == f.MD5
	}
	fh, err := os.Open(path)
	if err != nil {
		return false
	}
	defer fh.Close()
	etag, err := s.Layout.ETag(ctx, fh, f.Size)
	return err == nil && etag == objstore.NormalizeETag(info.ETag)
}

func (s *Shipper) putFile(ctx context.Context, key, path string, f manifest.File) (objstore.Info, error) {
	md5sum, _ := hex.DecodeString(f.MD5)
	shasum, _ := hex.DecodeString(f.SHA256)
	// A local bucket links the staged file (written once, never changed)
	// instead of copying it. The backend checks what the server echoes
	// against the digests; verifyAll then checks every object by one
	// listing before the seal (a listing per file doubled the requests).
	return objstore.PutFile(ctx, s.Store, key, path, f.Size, objstore.PutOptions{ContentMD5: md5sum, SHA256: shasum, ContentType: "application/dicom"})
}

func (s *Shipper) putBytes(ctx context.Context, key string, b []byte) error {
	f, err := manifest.Digest("", strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	md5sum, _ := hex.DecodeString(f.MD5)
	shasum, _ := hex.DecodeString(f.SHA256)
	info, err := s.Store.Put(ctx, key, strings.NewReader(string(b)), int64(len(b)), objstore.PutOptions{ContentMD5: md5sum, SHA256: shasum, ContentType: "application/json"})
	if err != nil {
		return err
	}
	_, err = objstore.VerifyListed(ctx, s.Store, key, int64(len(b)), info.ETag)
	return err
}

// fail records a failed attempt. Permanent failures (access denied, bad
// certificate, a broken staged folder) hold the shipment for an operator
// instead of spinning; transient ones are retried on the next round.
func (s *Shipper) fail(sh spool.Shipment, err error, permanent bool) error {
	permanent = permanent || fault.IsPermanent(err) || objstore.IsPermanent(err)
	folder := Folder(sh.Session)
	msg := err.Error()
	s.Spool.UpdateShipment(sh.StudyKey, sh.Generation, func(x *spool.Shipment) {
		x.Attempts++
		x.LastError = msg
		x.Held = permanent
	})
	s.Metrics.observeShipFailed(permanent)
	s.Events.Emit("error", "upload_failed", folder, msg, "permanent", permanent)
	s.Log.Error("upload failed", "session", folder, "generation", sh.Generation, "permanent", permanent, "err", err)
	if permanent {
		return fmt.Errorf("%s generation %d: %w", folder, sh.Generation, fault.Hold(heldReason, err))
	}
	return fmt.Errorf("%s generation %d: %w", folder, sh.Generation, err)
}
