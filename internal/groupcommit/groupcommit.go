// Package groupcommit runs the requests of concurrent callers in groups:
// while one group is being committed, the requests that arrive wait and
// are committed together by the next, so that one flush (an fdatasync, a
// database transaction) serves every caller waiting at that moment. A
// lone request (Do) is committed at once; nothing waits for company. A
// caller that can wait (DoGathered) lets its request gather company for a
// while, so that requests arriving one by one still share a commit.
//
// It owns no data; the spool (its instance records) and the edge's
// journal (its write-ahead records) use it. Any package may import it.
package groupcommit

import (
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned for requests made after Close.
var ErrClosed = errors.New("groupcommit: closed")

// Group commits requests of type T with the function given to New, one
// group at a time, in arrival order, from a goroutine of its own.
type Group[T any] struct {
	commit func(items []T, errs []error)

	mu      sync.Mutex
	pending []*call[T]
	urgent  int           // pending requests made with Do
	due     time.Time     // when the oldest gathered pending request is due
	wake    chan struct{} // capacity 1: the pending requests changed
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
func (g *Group[T]) Do(item T) error { return g.do(item, 0) }

// DoGathered commits item with the next group, which starts at the latest
// gather after the oldest gathered request waiting, or at once when a Do
// request or Close comes; it returns item's error. It is for callers whose
// own caller does not wait on them (a background applier), so that a
// trickle of requests shares commits instead of paying one each.
func (g *Group[T]) DoGathered(item T, gather time.Duration) error {
	return g.do(item, max(gather, 1))
}

func (g *Group[T]) do(item T, gather time.Duration) error {
	c := &call[T]{item: item, err: make(chan error, 1)}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	g.pending = append(g.pending, c)
	if gather == 0 {
		g.urgent++
	} else if due := time.Now().Add(gather); g.due.IsZero() || due.Before(g.due) {
		g.due = due
	}
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
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		g.mu.Lock()
		if len(g.pending) == 0 {
			closed := g.closed
			g.mu.Unlock()
			if closed {
				return
			}
			<-g.wake
			continue
		}
		if g.urgent == 0 && !g.closed {
			if wait := time.Until(g.due); wait > 0 {
				g.mu.Unlock()
				timer.Reset(wait)
				select {
				case <-g.wake:
				case <-timer.C:
				}
				timer.Stop()
				continue
			}
		}
		group := g.pending
		g.pending, g.urgent, g.due = nil, 0, time.Time{}
		g.mu.Unlock()
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

// Close commits what is queued (gathered requests at once) and stops the
// committer; later requests get ErrClosed. Calling it again does nothing.
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
