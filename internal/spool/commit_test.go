package spool

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/aisedge/aisedge/internal/groupcommit"
)

func openTestDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	return db
}

func put(k string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), []byte("v")) }
}

// TestGroupCommitSharesTransactions: calls that arrive while a commit runs
// are committed together in the next transaction; a call whose function
// fails gets its error and the rest of its group is committed without it.
func TestGroupCommitSharesTransactions(t *testing.T) {
	db := openTestDB(t)
	g := groupcommit.New(commitRecords(db))
	defer g.Close()

	// A lone call commits without waiting for company.
	if err := g.Do(put("alone")); err != nil {
		t.Fatal(err)
	}

	// Hold the committer inside a transaction while ten calls queue.
	inside, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.Do(func(tx *bolt.Tx) error { close(inside); <-release; return put("first")(tx) })
	}()
	<-inside
	var mu sync.Mutex
	txOf := map[string]int{}
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprint("k", i)
			errs[i] = g.Do(func(tx *bolt.Tx) error {
				mu.Lock()
				txOf[k] = tx.ID()
				mu.Unlock()
				if i == 4 {
					return errors.New("refused")
				}
				return put(k)(tx)
			})
		}()
	}
	for g.Waiting() < 10 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	ids := map[int]bool{}
	for k, id := range txOf {
		if k != "k4" {
			ids[id] = true
		}
	}
	if len(ids) != 1 {
		t.Errorf("the nine good calls were committed in %d transactions, want 1 (%v)", len(ids), txOf)
	}
	for i, err := range errs {
		if (i == 4) != (err != nil) {
			t.Errorf("call %d: error %v", i, err)
		}
	}
	db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 10 {
			k := fmt.Sprint("k", i)
			if got := b.Get([]byte(k)) != nil; got != (i != 4) {
				t.Errorf("%s stored: %v", k, got)
			}
		}
		return nil
	})
}
