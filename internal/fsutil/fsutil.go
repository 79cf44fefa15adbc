// Package fsutil holds the crash-safe file operations the pipeline stages
// share: write to a temporary name, fsync, rename, fsync the directory (or
// leave the flush to one syncfs of the file system for many files, SyncFS); and
// hard-link-or-copy between folders that may sit on different file systems.
// It imports nothing of the project's own.
package fsutil

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// SyncDir fsyncs a directory so that entries created or renamed in it are
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteSync creates path (and its parent folders) with the content fill
// writes, durably: a temporary file beside it is written, fsynced and
// renamed over path, then the folder is fsynced. On error nothing is left
// at path that was not there before.
func WriteSync(path string, perm os.FileMode, fill func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := path + ".part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if err := fill(out); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// WriteFileSync is WriteSync for a byte slice.
func WriteFileSync(path string, b []byte, perm os.FileMode) error {
	return WriteSync(path, perm, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// CopyFileSync copies src to dst durably.
func CopyFileSync(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return WriteSync(dst, perm, func(w io.Writer) error { _, err := io.Copy(w, in); return err })
}

// LinkOrCopy makes dst hold src's content: a hard link when both are on one
// file system, a durable copy (mode 0600) otherwise. An existing dst of size wantSize
// (from an interrupted earlier run) is kept; pass -1 to always replace.
// The caller fsyncs dst's folder (a link is only a directory entry).
func LinkOrCopy(src, dst string, wantSize int64) error {
	if st, err := os.Stat(dst); err == nil {
		if st.Size() == wantSize {
			return nil
		}
		os.Remove(dst)
	}
	err := link(src, dst)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EMLINK) {
		return err
	}
	// A copy is readable by this user only, like the link it replaces
	// (originals with identifiers go through here to the backup and the
	// quarantine).
	return CopyFileSync(src, dst, 0o600)
}

// link is os.Link (tests make it fail).
var link = os.Link
