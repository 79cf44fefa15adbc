// Package groupcommit runs the requests of concurrent callers in groups:
// while one group is being committed, the requests that arrive wait and
// are committed together by the next, so that one flush (an fdatasync, a
// database transaction) serves every caller waiting at that moment. A
// lone request is committed at once; nothing waits for company.
//
// It owns no data; the spool (its instance records) and the edge's
// journal (its write-ahead records) use it. Any package may import it.
package groupcommit

import (
	"errors"
	"sync"
)

// ErrClosed is returned for requests made after Close.
var ErrClosed = errors.New("groupcommit: closed")

// Group commits requests of type T with the function given to New, one
// group at a time, in arrival order, from a goroutine of its own.
type Group[T any] struct {
	commit func(items []T, errs []error)

	mu      sync.Mutex
	pending []*call[T]
	wake    chan struct{} // capacity 1: work is pending
	closed  bool
	done    chan struct{} // the committer has stopped
}

type call[T any] struct {
	item T
	err  chan error
}

// New starts a group committer. commit receives every request waiting
// when it is called and sets errs[i] (nil on success) for items[i]; it is
// never called concurrently with itself.
func New[T any](commit func(items []T, errs []error)) *Group[T] {
	g := &Group[T]{commit: commit, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go g.loop()
	return g
}

// Do commits item, alone or with the requests waiting beside it, and
// returns its error.
func (g *Group[T]) Do(item T) error {
	c := &call[T]{item: item, err: make(chan error, 1)}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	g.pending = append(g.pending, c)
	select {
	case g.wake <- struct{}{}:
	default: // already signalled
	}
	g.mu.Unlock()
	return <-c.err
}

// Waiting is the number of requests not yet taken by a commit (tests use
// it to know that requests have queued).
func (g *Group[T]) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

func (g *Group[T]) loop() {
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
			items := make([]T, len(group))
			for i, c := range group {
				items[i] = c.item
			}
			errs := make([]error, len(group))
			g.commit(items, errs)
			for i, c := range group {
				c.err <- errs[i]
			}
		}
	}
}

// Close commits what is queued and stops the committer; later requests
// get ErrClosed. Calling it again does nothing.
func (g *Group[T]) Close() {
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
