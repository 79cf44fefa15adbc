package hub

import (
	"time"

	"github.com/aisedge/aisedge/internal/fault"
)

// Backing off, per destination and hub-wide.
//
// A destination that fails (a transient error, or refused credentials) is
// tried again by Run only after its own backoff: Run's interval, doubled
// by each further failure up to maxBackoff, reset by a delivery or a
// resume that works. Its generations wait in the bucket meanwhile; the
// other destinations are not slowed: Run goes on polling every interval
// while each failure of a round is one destination's. Only a failure of
// the hub's own (listing or reading the bucket, the state store) backs off
// the whole loop. RunOnce (one round: the hub's --once, tests) tries every
// destination regardless of its backoff.

// maxBackoff caps the hub's backoff and each destination's.
const maxBackoff = 5 * time.Minute

// destRetry is a failing destination's backoff.
type destRetry struct {
	failures int
	at       time.Time // Run does not try it before
}

// destinationError is a failure that is one destination's (Deliver's
// error, a pause): it slows that destination only. Its text is the
// wrapped error's.
type destinationError struct {
	dest string
	err  error
}

func (e *destinationError) Error() string { return e.err.Error() }
func (e *destinationError) Unwrap() error { return e.err }

// hubWide reports whether err holds a failure that is not a destination's.
func hubWide(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case *destinationError:
		return false
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			if hubWide(x) {
				return true
			}
		}
		return false
	case interface{ Unwrap() error }:
		if u := e.Unwrap(); u != nil {
			return hubWide(u)
		}
		return true
	default:
		return true
	}
}

// roundWait is how long Run waits after a round that returned err, given
// failed, the number of rounds before it that failed hub-wide in a row; it
// returns the new count. Failures of destinations alone keep the interval.
func roundWait(err error, failed int, interval time.Duration) (time.Duration, int) {
	if !hubWide(err) {
		return interval, 0
	}
	failed++
	b := fault.Backoff{Initial: interval, Max: maxBackoff}
	return max(b.Wait(failed), interval), failed
}

// destFailed records a failure of dest: Run tries it again after its
// backoff.
func (h *Hub) destFailed(dest string, err error) {
	h.retryMu.Lock()
	r := h.retries[dest]
	if r == nil {
		r = &destRetry{}
		h.retries[dest] = r
	}
	r.failures++
	wait := h.destBackoff.Wait(r.failures)
	r.at = h.cfg.Now().Add(wait)
	failures := r.failures
	h.retryMu.Unlock()
	h.cfg.Log.Warn("delivery to a destination backs off", "destination", dest, "failures", failures, "retry_in", wait, "err", err)
}

// destWorks clears dest's backoff.
func (h *Hub) destWorks(dest string) {
	h.retryMu.Lock()
	delete(h.retries, dest)
	h.retryMu.Unlock()
}

// backingOff reports whether dest's backoff has not passed.
func (h *Hub) backingOff(dest string) bool {
	h.retryMu.Lock()
	defer h.retryMu.Unlock()
	r := h.retries[dest]
	return r != nil && h.cfg.Now().Before(r.at)
}

// setDestBackoff makes each destination's backoff start at initial.
func (h *Hub) setDestBackoff(initial time.Duration) {
	h.retryMu.Lock()
	h.destBackoff = fault.Backoff{Initial: initial, Max: maxBackoff}
	h.retryMu.Unlock()
}
