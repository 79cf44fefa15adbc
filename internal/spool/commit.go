package spool

import (
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs the instance records of concurrent writers in shared
// transactions: whoever arrives while a commit is being flushed waits for
// the next one, which then covers every such writer with one flush. A lone
// writer is committed at once (bolt's own Batch waits up to
// MaxBatchDelay, 10 ms, for company: a tenth of a second every ten
// instances on one association).
//
// As with bolt's Batch, a function may run more than once: when one
// function of a group fails, the transaction is rolled back, that
// function gets its error, and the others run again without it.
type groupCommit struct {
	db *bolt.DB

	mu      sync.Mutex
	pending []*commitCall
	wake    chan struct{} // capacity 1: work is pending
	closed  bool
	done    chan struct{} // the committer has stopped
}

type commitCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// errFnFailed marks the function of a group that failed.
type errFnFailed struct {
	i   int
	err error
}

func (e *errFnFailed) Error() string { return e.err.Error() }

var errSpoolClosed = errors.New("spool: closed")

func newGroupCommit(db *bolt.DB) *groupCommit {
	g := &groupCommit{db: db, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go g.loop()
	return g
}

// run commits fn, alone or with the calls waiting beside it.
func (g *groupCommit) run(fn func(*bolt.Tx) error) error {
	c := &commitCall{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errSpoolClosed
	}
	g.pending = append(g.pending, c)
	select {
	case g.wake <- struct{}{}:
	default: // already signalled
	}
	g.mu.Unlock()
	return <-c.done
}

// loop commits whatever is pending, one group per transaction, until
// close; calls queued before close are committed.
func (g *groupCommit) loop() {
	defer close(g.done)
	for range g.wake {
		for {
			g.mu.Lock()
			group, closed := g.pending, g.closed
			g.pending = nil
			g.mu.Unlock()
			if len(group) == 0 {
				if closed {
					return
				}
				break
			}
			g.commit(group)
		}
	}
}

// close commits what is queued and stops the committer.
func (g *groupCommit) close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	close(g.wake)
	g.mu.Unlock()
	<-g.done
}

// commit runs group in one transaction, retrying without a function that
// fails, and answers every call.
func (g *groupCommit) commit(group []*commitCall) {
	for len(group) > 0 {
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, c := range group {
				if err := c.fn(tx); err != nil {
					return &errFnFailed{i, err}
				}
			}
			return nil
		})
		var failed *errFnFailed
		if errors.As(err, &failed) {
			group[failed.i].done <- failed.err
			group = append(group[:failed.i:failed.i], group[failed.i+1:]...)
			continue
		}
		for _, c := range group {
			c.done <- err
		}
		return
	}
}
