package hub

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
)

// layout is how a sealed generation is described, made available as files
// and cleared from the bucket: the edges' sealed layout, or the original
// system's (legacy.go).
type layout interface {
	// describe returns the generation's manifest.
	describe(ctx context.Context, h *Hub, s Sealed) (*manifest.Manifest, error)
	// fetch makes the generation's files available, checked, in one
	// folder; cleanup removes what fetch made.
	fetch(ctx context.Context, h *Hub, s Sealed, m *manifest.Manifest) (dir string, cleanup func(), err error)
	// clear deletes a delivered generation's objects (m may be nil after
	// a restart).
	clear(ctx context.Context, h *Hub, s Sealed, m *manifest.Manifest) error
}

func (s Sealed) layout() layout {
	if s.Legacy {
		return legacyLayout{}
	}
	return sealedLayout{}
}

// sealedLayout reads the generations edges seal: files, then a manifest
// with every file's size, SHA-256 and MD5.
type sealedLayout struct{}

func (sealedLayout) describe(ctx context.Context, h *Hub, s Sealed) (*manifest.Manifest, error) {
	rc, err := h.cfg.Store.Get(ctx, s.ManifestKey)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, err
	}
	m, err := manifest.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	if m.Generation != s.Generation || !strings.HasSuffix(s.Base, "/"+m.Folder+"/") {
		return nil, fmt.Errorf("%w: manifest %s describes %s generation %d", ErrPermanent, s.ManifestKey, m.Folder, m.Generation)
	}
	return m, nil
}

// fetch checks and reads the objects in place when the store keeps them as
// local files (the standalone bucket: no copy); otherwise it downloads
// them.
func (sealedLayout) fetch(ctx context.Context, h *Hub, s Sealed, m *manifest.Manifest) (string, func(), error) {
	if dir, ok, err := h.inPlace(ctx, s, m); ok || err != nil {
		return dir, func() {}, err
	}
	return h.download(ctx, s, m, fetchSealed)
}

// clear deletes the generation's files first, its manifest last, so that
// an interrupted clean-up is found and finished by the next scan.
func (l sealedLayout) clear(ctx context.Context, h *Hub, s Sealed, m *manifest.Manifest) error {
	if m == nil {
		var err error
		if m, err = l.describe(ctx, h, s); err != nil {
			if objstore.IsNotExist(err) {
				return nil
			}
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.cfg.Transfers)
	for _, f := range m.Files {
		g.Go(func() error {
			if err := h.cfg.Store.Delete(gctx, s.Base+f.Path); err != nil {
				return fmt.Errorf("hub: deleting delivered objects of %s: %w", m.Folder, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return h.cfg.Store.Delete(ctx, s.ManifestKey)
}

// fetchFunc downloads one object to dst and returns its checked manifest
// entry.
type fetchFunc func(ctx context.Context, store objstore.Store, key, dst string, f manifest.File) (manifest.File, error)

// download fetches every file of a generation into a new work folder with
// get, Transfers at a time; cleanup removes the folder.
func (h *Hub) download(ctx context.Context, s Sealed, m *manifest.Manifest, get fetchFunc) (dir string, cleanup func(), err error) {
	work, err := os.MkdirTemp(filepath.Join(h.cfg.DataDir, "work"), "s-")
	if err != nil {
		return "", nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.cfg.Transfers)
	for i, f := range m.Files {
		dst := filepath.Join(work, filepath.FromSlash(f.Path))
		g.Go(func() error {
			got, err := get(gctx, h.cfg.Store, s.Base+f.Path, dst, f)
			m.Files[i] = got
			return err
		})
	}
	if err := g.Wait(); err != nil {
		os.RemoveAll(work)
		return "", nil, err
	}
	return work, func() { os.RemoveAll(work) }, nil
}

// fetchSealed downloads one object and checks it against the manifest.
func fetchSealed(ctx context.Context, store objstore.Store, key, dst string, f manifest.File) (manifest.File, error) {
	got, err := fetchObject(ctx, store, key, dst, f.Path)
	if err != nil {
		return f, err
	}
	if got.Size != f.Size || got.SHA256 != f.SHA256 {
		return f, fmt.Errorf("%w: %s does not match its manifest (size %d, want %d; SHA-256 differs: %v)",
			ErrPermanent, f.Path, got.Size, f.Size, got.SHA256 != f.SHA256)
	}
	return f, nil
}

// fetchObject downloads one object to dst and returns its digests.
func fetchObject(ctx context.Context, store objstore.Store, key, dst, rel string) (manifest.File, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return manifest.File{}, err
	}
	rc, err := store.Get(ctx, key)
	if err != nil {
		return manifest.File{}, fmt.Errorf("fetching %s: %w", rel, err)
	}
	defer rc.Close()
	out, err := os.Create(dst)
	if err != nil {
		return manifest.File{}, err
	}
	got, err := manifest.Digest(rel, io.TeeReader(rc, out))
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return manifest.File{}, fmt.Errorf("fetching %s: %w", rel, err)
	}
	return got, nil
}

// inPlace checks a generation's objects where a local store keeps them and
// returns their folder; ok is false when the store is not local (or the
// files are not laid out as one folder), and the caller downloads instead.
func (h *Hub) inPlace(ctx context.Context, s Sealed, m *manifest.Manifest) (dir string, ok bool, err error) {
	for _, f := range m.Files {
		p, local := objstore.LocalPath(h.cfg.Store, s.Base+f.Path)
		if !local {
			return "", false, nil
		}
		d, found := strings.CutSuffix(p, filepath.FromSlash("/"+f.Path))
		if !found || (dir != "" && d != dir) {
			return "", false, nil
		}
		dir = d
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.cfg.Transfers)
	for _, f := range m.Files {
		g.Go(func() error {
			info, err := h.cfg.Store.Stat(gctx, s.Base+f.Path)
			if err != nil {
				return fmt.Errorf("checking %s: %w", f.Path, err)
			}
			if info.Size != f.Size || hex.EncodeToString(info.SHA256) != f.SHA256 {
				return fmt.Errorf("%w: %s does not match its manifest (size %d, want %d; SHA-256 differs: %v)",
					ErrPermanent, f.Path, info.Size, f.Size, hex.EncodeToString(info.SHA256) != f.SHA256)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", true, err
	}
	return dir, true, nil
}
