package dimse

import (
	"container/list"
	"net"
	"sync"
	"time"
)

// Admission: what a peer may hold, and when.
//
// A TCP connection that has not yet delivered a complete A-ASSOCIATE-RQ is
// pending: it costs a goroutine, a socket and at most one A-ASSOCIATE-RQ
// buffer, never an association slot. Pending connections are bounded in
// total (MaxPendingConnections) and per source; when the total is reached
// the oldest pending connection is closed to make room (a peer that sends
// its request at once is pending for a round trip, an idle one for up to
// ARTIMTimeout), and a source over its own pending bound has its new
// connection closed. A connection rejected with A-ASSOCIATE-RJ stays
// pending while it lingers, so rejections cannot pile up either.
//
// A slot (MaxAssociations) is taken once a complete, acceptable request
// has been read. One source (an IPv4 address, or an IPv6 /64) holds at
// most MaxAssociationsPerSource slots. When no slot is free for a request,
// the association idle longest (between messages for at least
// EvictIdleAfter; of the same source when that source is at its own
// limit) is released (A-RELEASE-RQ at its next message boundary) and its
// slot handed over; otherwise the request waits up to SlotWait for a slot
// before it is rejected with "local limit exceeded".

// sourceKey is the per-source accounting key of a remote address: its IP
// address, or for IPv6 its /64 (one host usually owns a whole /64).
func sourceKey(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip := ta.AddrPort().Addr().Unmap()
		if ip.Is6() {
			if p, err := ip.Prefix(64); err == nil {
				return p.String()
			}
		}
		return ip.String()
	}
	if h, _, err := net.SplitHostPort(addr.String()); err == nil {
		return h
	}
	return addr.String()
}

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow is a monotonic clock reading in nanoseconds, never 0 (0 marks
// "not idle" in assoc.idleSince); wall clock steps do not move it.
func monoNow() int64 { return int64(time.Since(monoBase)) + 1 }

// pconn is a pending connection.
type pconn struct {
	conn net.Conn
	src  string
	elem *list.Element // nil once it left the pending list
	// waiting marks a complete request waiting for a slot: it is not
	// closed to make room for newer connections.
	waiting bool
}

// gate counts pending connections and association slots.
type gate struct {
	maxActive, maxPerSource         int
	maxPending, maxPendingPerSource int
	evictIdle                       time.Duration // < 0: never evict
	onActive                        func(n int)   // called under mu with the slot count

	mu        sync.Mutex
	pending   list.List // *pconn, oldest first
	pendingBy map[string]int
	active    int
	activeBy  map[string]int
	holders   map[*assoc]struct{} // associations holding a slot
	freed     chan struct{}       // closed (and replaced) when a slot frees
}

func newGate(maxActive, maxPerSource, maxPending, maxPendingPerSource int, evictIdle time.Duration, onActive func(int)) *gate {
	return &gate{
		maxActive: maxActive, maxPerSource: maxPerSource,
		maxPending: maxPending, maxPendingPerSource: maxPendingPerSource,
		evictIdle: evictIdle, onActive: onActive,
		pendingBy: map[string]int{}, activeBy: map[string]int{},
		holders: map[*assoc]struct{}{}, freed: make(chan struct{}),
	}
}

// enter registers a new connection as pending. It returns nil when the
// connection must be closed at once (its source is over its pending bound,
// or every pending connection waits for a slot), and the connection closed
// to make room, if any; the caller closes both outside the lock.
func (g *gate) enter(conn net.Conn) (pc *pconn, evicted net.Conn) {
	src := sourceKey(conn.RemoteAddr())
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pendingBy[src] >= g.maxPendingPerSource {
		return nil, nil
	}
	if g.pending.Len() >= g.maxPending {
		for e := g.pending.Front(); e != nil; e = e.Next() {
			if old := e.Value.(*pconn); !old.waiting {
				g.leaveLocked(old)
				evicted = old.conn
				break
			}
		}
		if evicted == nil {
			return nil, nil
		}
	}
	pc = &pconn{conn: conn, src: src}
	pc.elem = g.pending.PushBack(pc)
	g.pendingBy[src]++
	return pc, evicted
}

// leave removes pc from the pending connections (idempotent).
func (g *gate) leave(pc *pconn) {
	g.mu.Lock()
	g.leaveLocked(pc)
	g.mu.Unlock()
}

func (g *gate) leaveLocked(pc *pconn) {
	if pc.elem == nil {
		return
	}
	g.pending.Remove(pc.elem)
	pc.elem = nil
	if g.pendingBy[pc.src]--; g.pendingBy[pc.src] <= 0 {
		delete(g.pendingBy, pc.src)
	}
}

// setWaiting marks pc as a complete request waiting for a slot (or not).
func (g *gate) setWaiting(pc *pconn, on bool) {
	g.mu.Lock()
	pc.waiting = on
	g.mu.Unlock()
}

// gateRetry bounds each wait for a slot: slots are also announced, but an
// association only becomes evictable with time.
const gateRetry = 100 * time.Millisecond

// acquire takes a slot for a (whose src is set), handing over the slot of
// an idle association when none is free, or waiting until deadline.
// It returns the association to release (nil if none), or the rejection
// to send. stop reports a shutdown (wake interrupts the waits then).
func (g *gate) acquire(a *assoc, deadline time.Time, stop func() bool) (victim *assoc, rej *Rejection) {
	for {
		if stop() {
			return nil, RejectTemporaryCongestion
		}
		now := time.Now()
		mono := monoNow()
		g.mu.Lock()
		perFull := g.activeBy[a.src] >= g.maxPerSource
		allFull := g.active >= g.maxActive
		if !perFull && !allFull {
			g.holders[a] = struct{}{}
			g.active++
			g.activeBy[a.src]++
			g.onActive(g.active)
			g.mu.Unlock()
			return nil, nil
		}
		only := ""
		if perFull {
			only = a.src
		}
		v, next := g.longestIdleLocked(mono, only)
		if v != nil {
			// The slot changes hands: v no longer holds one, a does.
			delete(g.holders, v)
			if g.activeBy[v.src]--; g.activeBy[v.src] <= 0 {
				delete(g.activeBy, v.src)
			}
			g.holders[a] = struct{}{}
			g.activeBy[a.src]++
			g.mu.Unlock()
			return v, nil
		}
		freed := g.freed
		g.mu.Unlock()
		if !now.Before(deadline) {
			return nil, RejectLocalLimitExceeded
		}
		wait := min(deadline.Sub(now), gateRetry)
		if next > 0 && next < wait {
			wait = next
		}
		t := time.NewTimer(wait)
		select {
		case <-freed:
		case <-t.C:
		}
		t.Stop()
	}
}

// longestIdleLocked returns the slot holder idle longest, between messages
// for at least evictIdle (of source only, when set), or else how long
// until one becomes old enough (0: none is idle).
func (g *gate) longestIdleLocked(now int64, only string) (*assoc, time.Duration) {
	if g.evictIdle < 0 {
		return nil, 0
	}
	var best *assoc
	var bestSince int64
	for h := range g.holders {
		if only != "" && h.src != only {
			continue
		}
		since := h.idleSince.Load()
		if since == 0 {
			continue
		}
		if best == nil || since < bestSince {
			best, bestSince = h, since
		}
	}
	if best == nil {
		return nil, 0
	}
	age := time.Duration(now - bestSince)
	if age < g.evictIdle {
		return nil, g.evictIdle - age
	}
	return best, 0
}

// free gives back a's slot, if it still holds one (idempotent).
func (g *gate) free(a *assoc) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.holders[a]; !ok {
		return
	}
	delete(g.holders, a)
	g.active--
	if g.activeBy[a.src]--; g.activeBy[a.src] <= 0 {
		delete(g.activeBy, a.src)
	}
	g.onActive(g.active)
	g.wakeLocked()
}

// wake interrupts every wait for a slot (shutdown).
func (g *gate) wake() {
	g.mu.Lock()
	g.wakeLocked()
	g.mu.Unlock()
}

func (g *gate) wakeLocked() {
	close(g.freed)
	g.freed = make(chan struct{})
}
