package hub

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/session"
)

// The original system's layout, and everything the hub does differently
// for it. The original's edges mirrored each session PROJECT.SUBJECT.VISIT
// to staged/<folder>/ with mc mirror: no seal of ours, its own
// MANIFEST.json, no SHA-256. Such a session counts as sealed (one
// generation) once nothing under it changed for Config.LegacySettle; it is
// described from the listing (sizes, and MD5 from plain ETags), its digests
// are taken from the bytes as they are downloaded, its modalities from the
// first file of each series, and every object under the folder is deleted
// once it is delivered. The rest of the hub reaches this only through
// Sealed.layout.

// legacyFolder is PROJECT.SUBJECT.VISIT directly under the prefix: the
// original's layout (edge names never contain dots).
var legacyFolder = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// legacyScan collects the legacy sessions of one listing.
type legacyScan struct {
	h        *Hub
	sessions map[string]*Sealed
	newest   map[string]time.Time
}

func (h *Hub) newLegacyScan() *legacyScan {
	return &legacyScan{h: h, sessions: map[string]*Sealed{}, newest: map[string]time.Time{}}
}

// claim takes an object of a legacy session, reporting whether it was one.
// Legacy sessions are looked for only directly under "staged/".
func (l *legacyScan) claim(info objstore.Info) bool {
	prefix := l.h.cfg.Prefix
	if prefix != "staged/" {
		return false
	}
	first, _, ok := strings.Cut(info.Key[len(prefix):], "/")
	if !ok || !legacyFolder.MatchString(first) {
		return false
	}
	base := prefix + first + "/"
	s := l.sessions[base]
	if s == nil {
		s = &Sealed{Base: base, Generation: 1, Legacy: true}
		l.sessions[base] = s
	}
	s.objects = append(s.objects, info)
	if info.LastModified.After(l.newest[base]) {
		l.newest[base] = info.LastModified
	}
	return true
}

// settled returns the sessions nothing changed under for LegacySettle.
func (l *legacyScan) settled() []Sealed {
	var out []Sealed
	for base, s := range l.sessions {
		if l.h.cfg.Now().Sub(l.newest[base]) >= l.h.cfg.LegacySettle {
			out = append(out, *s)
		}
	}
	return out
}

// legacyLayout reads and clears legacy sessions.
type legacyLayout struct{}

// describe describes a legacy session from its listing: every
// <scan>/<resource>/<file> object (sizes now, digests once downloaded).
func (legacyLayout) describe(_ context.Context, _ *Hub, s Sealed) (*manifest.Manifest, error) {
	folder := strings.TrimSuffix(s.Base[strings.LastIndex(strings.TrimSuffix(s.Base, "/"), "/")+1:], "/")
	id, err := session.ParseFolder(folder)
	if err != nil {
		return nil, fmt.Errorf("%w: legacy session %s: %v", ErrPermanent, s.Base, err)
	}
	m := &manifest.Manifest{Version: manifest.Version, Edge: "legacy", Project: id.Project, Subject: id.Subject, Visit: id.Visit,
		Folder: folder, Generation: 1}
	series := map[string]*manifest.Series{}
	for _, o := range s.objects {
		rel := o.Key[len(s.Base):]
		p := strings.Split(rel, "/")
		if len(p) != 3 {
			continue // the original's MANIFEST.json and the like
		}
		m.Files = append(m.Files, manifest.File{Path: rel, Size: o.Size, MD5: objstore.NormalizeETag(o.ETag)})
		se := series[p[0]]
		if se == nil {
			se = &manifest.Series{Scan: p[0], SeriesNumber: strings.SplitN(p[0], ".", 2)[0]}
			if _, d, ok := strings.Cut(p[0], "."); ok {
				se.SeriesDescription = d
			}
			series[p[0]] = se
		}
		se.Files++
		se.Bytes += o.Size
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("%w: legacy session %s holds no <scan>/<resource>/<file> objects", ErrPermanent, folder)
	}
	for _, se := range series {
		m.Series = append(m.Series, *se)
	}
	return m, nil
}

// fetch downloads every file (never in place: there is no SHA-256 to
// check one against), takes its digests from the bytes, and fills the
// series' modalities.
func (legacyLayout) fetch(ctx context.Context, h *Hub, s Sealed, m *manifest.Manifest) (string, func(), error) {
	dir, cleanup, err := h.download(ctx, s, m, fetchLegacy)
	if err != nil {
		return "", nil, err
	}
	legacyModalities(m, dir)
	return dir, cleanup, nil
}

// clear deletes everything under the folder, including the original's own
// manifest and stray objects.
func (legacyLayout) clear(ctx context.Context, h *Hub, s Sealed, _ *manifest.Manifest) error {
	for _, o := range s.objects {
		if err := h.cfg.Store.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("hub: deleting delivered objects of %s: %w", s.Base, err)
		}
	}
	return nil
}

// fetchLegacy downloads a legacy object and returns its manifest entry,
// checked against the listing's size and, where the ETag is a plain MD5,
// against it.
func fetchLegacy(ctx context.Context, store objstore.Store, key, dst string, f manifest.File) (manifest.File, error) {
	got, err := fetchObject(ctx, store, key, dst, f.Path)
	if err != nil {
		return f, err
	}
	if got.Size != f.Size || (len(f.MD5) == 32 && got.MD5 != f.MD5) {
		return f, fmt.Errorf("%w: %s does not match its listing (size %d, want %d)", ErrPermanent, f.Path, got.Size, f.Size)
	}
	return got, nil
}

// legacyModalities fills the series' modalities of a legacy session from
// the first file of each (for the XNAT session and scan types).
func legacyModalities(m *manifest.Manifest, dir string) {
	for i, se := range m.Series {
		for _, f := range m.Files {
			if !strings.HasPrefix(f.Path, se.Scan+"/") {
				continue
			}
			if df, err := dicom.Open(filepath.Join(dir, filepath.FromSlash(f.Path)), &dicom.ParseOptions{StopAtPixelData: true}); err == nil {
				m.Series[i].Modality = df.Dataset.String(dicom.NewTag(0x0008, 0x0060))
				df.Close()
			}
			break
		}
		if m.Modality == "" {
			m.Modality = m.Series[i].Modality
		}
	}
}
