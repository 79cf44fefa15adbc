package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aisedge/aisedge/internal/fsutil"
	"github.com/aisedge/aisedge/internal/manifest"
)

// ArchiveDir is a Destination that writes each delivered session as an
// XNAT-like tree, for standalone installations and tests:
//
//	<Dir>/<PROJECT>/<SUBJECT>/<VISIT>/scans/<scan>/resources/DICOM/files/<name>.dcm
//	<Dir>/<PROJECT>/<SUBJECT>/<VISIT>/MANIFEST[.g<N>].json
//
// Files are written crash-safely (temporary file, fsync, rename) and
// verified by re-reading their MD5.
type ArchiveDir struct {
	// ID is the destination's name (default "archive").
	ID  string
	Dir string
}

// Name implements Destination.
func (a *ArchiveDir) Name() string { return cmp.Or(a.ID, "archive") }

// SessionDir is where a session's tree goes.
func (a *ArchiveDir) SessionDir(m *manifest.Manifest) string {
	return filepath.Join(a.Dir, m.Project, m.Subject, m.Visit)
}

// FilePath maps a manifest path <scan>/<resource>/<name> into the tree.
func (a *ArchiveDir) FilePath(m *manifest.Manifest, rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	return filepath.Join(a.SessionDir(m), "scans", parts[0], "resources", parts[1], "files", parts[2])
}

// Deliver implements Destination.
func (a *ArchiveDir) Deliver(ctx context.Context, m *manifest.Manifest, dir string) error {
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := a.FilePath(m, f.Path)
		if ok, _ := sameMD5(dst, f); ok {
			continue
		}
		if err := fsutil.CopyFileSync(filepath.Join(dir, filepath.FromSlash(f.Path)), dst, 0o640); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		ok, err := sameMD5(dst, f)
		if err != nil || !ok {
			return fmt.Errorf("archive: %s does not verify after writing: %v", f.Path, err)
		}
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	mp := filepath.Join(a.SessionDir(m), manifest.NameFor(m.Generation))
	if err := fsutil.WriteFileSync(mp, b, 0o640); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

func sameMD5(path string, f manifest.File) (bool, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer fh.Close()
	got, err := manifest.Digest(f.Path, fh)
	if err != nil {
		return false, err
	}
	return got.Size == f.Size && got.MD5 == f.MD5, nil
}
