package fsutil

import (
	"errors"
	"runtime"
	"sync"
	"testing"
)

// TestDirSyncerCoalesces: writers that arrive while a folder is being
// synced share the next sync; each returns only after a sync that started
// after its call; errors reach the writers of that sync.
func TestDirSyncerCoalesces(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	first, release := make(chan struct{}), make(chan struct{})
	fail := false
	s := &DirSyncer{sync: func(dir string) error {
		mu.Lock()
		calls++
		n, f := calls, fail
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release
		}
		if f {
			return errors.New("EIO")
		}
		return nil
	}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Sync("d") }()
	<-first
	// Ten writers arrive during the first sync: it may not cover them.
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Sync("d") }()
	}
	for waiting := 0; waiting < 11; runtime.Gosched() {
		s.mu.Lock()
		waiting = s.dirs["d"].refs
		s.mu.Unlock()
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	close(release)
	wg.Wait()
	if calls != 2 {
		t.Errorf("%d syncs for 11 writers, want 2 (one in flight, one for the ten that came during it)", calls)
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("writer %d: the failed sync's error did not reach it", i)
		}
	}
	if len(s.dirs) != 0 {
		t.Errorf("%d folder entries left after every writer returned", len(s.dirs))
	}
	// A lone writer syncs at once, for real.
	if err := (&DirSyncer{}).Sync(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
