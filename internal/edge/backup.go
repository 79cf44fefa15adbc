package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/fsutil"
	"github.com/aisedge/aisedge/internal/quarantine"
)

// Backup writes originals into the facility backup folder in the original
// system's layout, <Dir>/<PatientID>/<StudyUID>/<SeriesUID>/<SOPUID>.dcm
// (and <Dir>/__unmapped_aet__/<AET>/<PatientID>/<StudyUID>/<SOPUID>.dcm for
// instances sent to an AE title without a route). The folder stays at the
// facility; its paths hold identifiers and are never logged.
type Backup struct {
	Dir string

	dirs fsutil.DirSyncer // one folder sync for the writers of a series at once
}

var unsafePathPart = regexp.MustCompile(`[^A-Za-z0-9._^=+-]`)

// pathPart makes one identifier safe as a single path element: no
// separators, no traversal, bounded length; "UNKNOWN" when empty (as the
// original did).
func pathPart(s string) string {
	s = unsafePathPart.ReplaceAllString(strings.TrimSpace(s), "_")
	s = strings.TrimLeft(s, ".")
	if s == "" {
		return "UNKNOWN"
	}
	if len(s) > 128 {
		sum := sha256.Sum256([]byte(s))
		s = s[:96] + "_" + hex.EncodeToString(sum[:8])
	}
	return s
}

// Path returns where an original goes.
func (b *Backup) Path(ds *dicom.Dataset, unmappedAET string) string {
	pid := pathPart(ds.String(dicom.NewTag(0x0010, 0x0020)))
	study := pathPart(ds.String(dicom.TagStudyInstanceUID))
	sop := pathPart(ds.String(dicom.TagSOPInstanceUID)) + ".dcm"
	if unmappedAET != "" {
		return filepath.Join(b.Dir, "__unmapped_aet__", pathPart(unmappedAET), pid, study, sop)
	}
	return filepath.Join(b.Dir, pid, study, pathPart(ds.String(dicom.TagSeriesInstanceUID)), sop)
}

// Write copies (or hard-links) the original at src to its backup path,
// fsynced, replacing an older copy of the same instance.
func (b *Backup) Write(src string, ds *dicom.Dataset, unmappedAET string) error {
	return b.WriteFile(src, b.Path(ds, unmappedAET))
}

// WriteFile copies (or hard-links) the original at src to dst, a path from
// Path, fsynced, replacing an older copy.
func (b *Backup) WriteFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	os.Remove(tmp)
	if err := fsutil.LinkOrCopy(src, tmp, -1); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return b.dirs.Sync(filepath.Dir(dst))
}

// Rel returns a backup path relative to the backup folder (what the
// journal records).
func (b *Backup) Rel(path string) (string, error) { return filepath.Rel(b.Dir, path) }

// WriteBytes writes data as the backup copy at rel (a path from Rel),
// replacing an older copy; fsynced, with its folder entry, unless d is
// fsutil.Deferred.
func (b *Backup) WriteBytes(rel string, data []byte, d fsutil.Durability) error {
	if !filepath.IsLocal(rel) {
		return fmt.Errorf("facility backup: path %q leaves the backup folder", rel)
	}
	dst := filepath.Join(b.Dir, rel)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".backup-*.tmp")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if d == fsutil.Synced {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return err
	}
	if d == fsutil.Deferred {
		return nil
	}
	return b.dirs.Sync(dir)
}

// Prune deletes backup files older than maxAge and then, oldest first,
// until the folder holds at most maxBytes (0 = no limit of that kind). The
// original system never deleted anything here.
func (b *Backup) Prune(now time.Time, maxAge time.Duration, maxBytes int64) (removed int, err error) {
	type entry struct {
		path string
		mod  time.Time
		size int64
	}
	var files []entry
	var total int64
	err = filepath.WalkDir(b.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".dcm") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		files = append(files, entry{p, info.ModTime(), info.Size()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return 0, err
	}
	slices.SortFunc(files, func(a, b entry) int { return a.mod.Compare(b.mod) })
	for _, f := range files {
		old := maxAge > 0 && now.Sub(f.mod) > maxAge
		over := maxBytes > 0 && total > maxBytes
		if !old && !over {
			break
		}
		if err := os.Remove(f.path); err == nil {
			removed++
			total -= f.size
		}
	}
	return removed, nil
}

// Quarantine keeps instances that must not move on (unmapped AE title,
// unparseable, de-identification refused, gate hit) with their value-free
// reasons, for an operator to inspect and requeue. Entries hold the
// original and stay at the facility. It is the one quarantine layout of
// internal/quarantine.
type Quarantine = quarantine.Store

// QuarantineEntry describes one quarantined instance. Nothing in it is an
// original value: the SOP Instance UID appears only hashed.
type QuarantineEntry = quarantine.Entry
