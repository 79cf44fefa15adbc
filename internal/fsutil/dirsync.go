package fsutil

import "sync"

// DirSyncer makes folder entries durable for many writers at once: a
// Sync that arrives while the folder is being synced waits for the next
// sync, which then serves every writer that arrived meanwhile (one flush
// for all of them instead of one each). A lone writer syncs at once.
// The zero value is ready to use.
type DirSyncer struct {
	mu   sync.Mutex
	dirs map[string]*dirSync
	// sync replaces SyncDir (tests).
	sync func(dir string) error
}

type dirSync struct {
	cond    sync.Cond
	refs    int    // writers using this entry
	started uint64 // syncs started
	done    uint64 // the last sync finished
	running bool
	err     error // of the last sync finished
}

// Sync returns once a sync of dir that started after the call has
// finished, with that sync's error.
func (s *DirSyncer) Sync(dir string) error {
	s.mu.Lock()
	if s.dirs == nil {
		s.dirs = map[string]*dirSync{}
	}
	d := s.dirs[dir]
	if d == nil {
		d = &dirSync{}
		d.cond.L = &s.mu
		s.dirs[dir] = d
	}
	d.refs++
	target := d.started + 1
	for d.done < target {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		gen := d.started
		s.mu.Unlock()
		err := s.syncDir(dir)
		s.mu.Lock()
		d.running, d.done, d.err = false, gen, err
		d.cond.Broadcast()
	}
	err := d.err
	d.refs--
	if d.refs == 0 {
		delete(s.dirs, dir)
	}
	s.mu.Unlock()
	return err
}

func (s *DirSyncer) syncDir(dir string) error {
	if s.sync != nil {
		return s.sync(dir)
	}
	return SyncDir(dir)
}
