package edge

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/fsutil"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/spool"
)

// Stager decides when a study is complete and builds its session folder
// PROJECT.SUBJECT.VISIT/<SeriesNumber>.<SeriesDescription>/DICOM/<id>.dcm
// with the generation's manifest, from the spool's files (hard links when
// the spool and the staging folder share a filesystem, copies otherwise).
type Stager struct {
	Spool *spool.Spool
	// Dir is the staging root.
	Dir string
	// Edge names this edge in manifests and object keys.
	Edge string
	// Quiet is how long a study must receive nothing before it is staged
	// (the original's StableAge, 30 s); Force stages a study that keeps
	// receiving once its oldest pending instance is this old.
	Quiet, Force time.Duration
	// Waiting, when set, gives the arrival time of the earliest instance
	// acknowledged and not yet in the spool (ok false when there is none):
	// such an instance may belong to any session, so a session whose quiet
	// period it falls into is not complete until it is through.
	Waiting func() (at time.Time, ok bool)
	Log     *slog.Logger
	Now     func() time.Time
	Metrics *Metrics
}

// Ready reports whether a study's pending instances should be staged now.
func (s *Stager) Ready(st spool.Study, now time.Time) bool {
	if !st.Open() {
		return false
	}
	if s.Force > 0 && now.Sub(st.FirstAt) >= s.Force {
		return true
	}
	if now.Sub(st.LastAt) < s.Quiet {
		return false
	}
	if s.Waiting != nil {
		if at, ok := s.Waiting(); ok && !at.After(st.LastAt.Add(s.Quiet)) {
			return false
		}
	}
	return true
}

// StageReady stages every study that is ready and returns the new
// shipments.
func (s *Stager) StageReady() ([]spool.Shipment, error) {
	studies, err := s.Spool.Studies()
	if err != nil {
		return nil, err
	}
	now := s.Now()
	var out []spool.Shipment
	var errs []error
	for _, st := range studies {
		if !s.Ready(st, now) {
			continue
		}
		sh, err := s.StageStudy(st)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, *sh)
	}
	return out, errors.Join(errs...)
}

// Folder returns a session's folder name.
func Folder(sess spool.Session) string { return sess.ID().Folder() }

// ShipmentDir returns where a shipment's files are staged.
func (s *Stager) ShipmentDir(sess spool.Session) string {
	return filepath.Join(s.Dir, Folder(sess))
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// sanitize keeps [A-Za-z0-9_], turning every other run into one '_'.
func sanitize(s string) string {
	return strings.Trim(unsafeName.ReplaceAllString(s, "_"), "_")
}

// ScanName builds <SeriesNumber>.<SeriesDescription> from de-identified
// values, each sanitised to [A-Za-z0-9_]; missing parts become "0" and
// "unnamed".
func ScanName(seriesNumber, description string) string {
	n, d := sanitize(seriesNumber), sanitize(description)
	if n == "" {
		n = "0"
	}
	if d == "" {
		d = "unnamed"
	}
	if len(d) > 64 {
		d = d[:64]
	}
	return n + "." + d
}

// StageStudy builds the next generation of a study's session folder and
// records it in the spool. It is idempotent: after a crash it is simply run
// again.
func (s *Stager) StageStudy(st spool.Study) (*spool.Shipment, error) {
	start := s.Now()
	pending, err := s.Spool.Pending(st.Key)
	if err != nil {
		return nil, err
	}
	if len(pending) == 0 {
		return nil, nil
	}
	gen := st.Generation + 1
	root := s.ShipmentDir(st.Session)
	m := &manifest.Manifest{
		Version: manifest.Version, Edge: s.Edge, Project: st.Project, Subject: st.Subject, Visit: st.Visit,
		Folder: Folder(st.Session), Label: st.Label, Generation: gen, Modality: st.Modality, ProfileHash: st.ProfileHash,
		CreatedAt: s.Now().UTC().Truncate(time.Second),
	}
	series := map[string]*manifest.Series{}
	ids := make([]string, 0, len(pending))
	for _, in := range pending {
		scan := ScanName(in.SeriesNumber, in.SeriesDescription)
		rel := scan + "/DICOM/" + in.ID + ".dcm"
		dst := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return nil, fmt.Errorf("staging: %w", err)
		}
		if err := fsutil.LinkOrCopy(s.Spool.ObjectPath(in.ID), dst, in.Size); err != nil {
			return nil, fmt.Errorf("staging %s: %w", in.ID, err)
		}
		m.Files = append(m.Files, manifest.File{Path: rel, Size: in.Size, SHA256: in.SHA256, MD5: in.MD5})
		se := series[scan]
		if se == nil {
			se = &manifest.Series{Scan: scan, SeriesNumber: in.SeriesNumber, Modality: in.Modality, SeriesDescription: in.SeriesDescription}
			series[scan] = se
		}
		se.Files++
		se.Bytes += in.Size
		ids = append(ids, in.ID)
	}
	for _, se := range series {
		m.Series = append(m.Series, *se)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("staging %s: %w", Folder(st.Session), err)
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileSync(filepath.Join(root, manifest.NameFor(gen)), b, 0o640); err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	// One flush of the file system makes the folder entries durable and
	// the linked files' data too, whose writes the journal's appliers
	// may have left to a flush still to come (a study staged by Force
	// while instances keep arriving).
	if err := fsutil.SyncFS(root); err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	sh, err := s.Spool.Stage(st.Key, ids)
	if err != nil {
		return nil, err
	}
	s.Metrics.observeStaged(s.Now().Sub(start))
	s.Log.Info("study staged", "event", "study_staged", "session", Folder(st.Session), "generation", gen, "files", len(ids))
	return sh, nil
}

// ReadManifest loads a staged shipment's manifest.
func (s *Stager) ReadManifest(sess spool.Session, gen int) (*manifest.Manifest, error) {
	b, err := os.ReadFile(filepath.Join(s.ShipmentDir(sess), manifest.NameFor(gen)))
	if err != nil {
		return nil, err
	}
	return manifest.Parse(b)
}

// Unstage removes a sealed shipment's files and manifest from the staging
// folder (and the folder once empty).
func (s *Stager) Unstage(m *manifest.Manifest) error {
	root := filepath.Join(s.Dir, m.Folder)
	for _, f := range m.Files {
		if err := os.Remove(filepath.Join(root, filepath.FromSlash(f.Path))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Remove(filepath.Join(root, manifest.NameFor(m.Generation))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Remove directories left empty, deepest first.
	for _, f := range m.Files {
		for d := filepath.Dir(filepath.Join(root, filepath.FromSlash(f.Path))); strings.HasPrefix(d, root); d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break
			}
		}
	}
	return nil
}
