package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Durability says when a write reaches the disk.
type Durability int

const (
	// Synced: the file's data and its folder entry are flushed before the
	// call returns.
	Synced Durability = iota
	// Deferred: the write stays in the page cache. The caller flushes the
	// file systems later (SyncFS) and, until that returned, keeps what it
	// needs to write the file again after a power loss (the edge's journal
	// record). Many files then share one flush instead of two each.
	Deferred
)

// SyncFS flushes every file system that holds one of dirs, once each
// (syncfs(2)): the data and metadata of every file written there, however
// many. Folders on the same file system share one call; a folder that does
// not exist holds nothing to flush.
func SyncFS(dirs ...string) error {
	seen := make(map[uint64]bool, len(dirs))
	for _, dir := range dirs {
		d, err := os.Open(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(d.Fd()), &st); err != nil {
			d.Close()
			return fmt.Errorf("syncfs %s: %w", dir, err)
		}
		if !seen[st.Dev] {
			seen[st.Dev] = true
			if err := unix.Syncfs(int(d.Fd())); err != nil {
				d.Close()
				return fmt.Errorf("syncfs %s: %w", dir, err)
			}
		}
		d.Close()
	}
	return nil
}
