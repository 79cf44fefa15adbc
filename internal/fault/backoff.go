package fault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff is capped exponential backoff with jitter. The zero value waits
// not at all; set Initial.
type Backoff struct {
	// Initial is the wait after the first failed attempt.
	Initial time.Duration
	// Max caps every wait (0: no cap).
	Max time.Duration
	// Multiplier grows each further wait (values below 1 mean 2).
	Multiplier float64
	// Jitter is the fraction of each wait taken off at random, between 0
	// (none) and 1: with 0.5 a nominal 4 s wait lasts between 2 s and 4 s.
	// Jitter never lengthens a wait, so no wait exceeds Max.
	Jitter float64
}

// Nominal returns the wait after failed attempt n (from 1) before jitter:
// Initial × Multiplier^(n−1), capped at Max.
func (b Backoff) Nominal(n int) time.Duration {
	m := b.Multiplier
	if m < 1 {
		m = 2
	}
	d := float64(b.Initial)
	for i := 1; i < n && (b.Max <= 0 || d < float64(b.Max)); i++ {
		d *= m
	}
	if b.Max > 0 {
		d = min(d, float64(b.Max))
	}
	return time.Duration(d)
}

// Wait returns the wait after failed attempt n (from 1) with jitter.
func (b Backoff) Wait(n int) time.Duration {
	d := float64(b.Nominal(n))
	j := min(max(b.Jitter, 0), 1)
	return time.Duration(d - d*j*rand.Float64())
}

// Sleep waits d, or until ctx ends; then it returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retry says how Do retries.
type Retry struct {
	// Attempts is the number of tries, the first included (below 1: one).
	Attempts int
	Backoff  Backoff
	// Retryable decides which errors are tried again (nil: IsTransient).
	Retryable func(error) bool
	// MinWait, if set, returns a wait an error asks for (a server's
	// Retry-After); a longer one than the backoff's is used, up to
	// Backoff.Max.
	MinWait func(error) time.Duration
	// OnRetry, if set, is called before each wait with the number of the
	// failed attempt (from 1), its error and the wait.
	OnRetry func(attempt int, err error, wait time.Duration)
	// Sleep waits between tries (nil: Sleep); tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Do runs op until it succeeds, fails with an error that is not retryable,
// runs out of attempts, or ctx ends. It returns op's last error; when ctx
// ended during a wait, the error wraps ctx's error too.
func (r Retry) Do(ctx context.Context, op func(context.Context) error) error {
	retryable := r.Retryable
	if retryable == nil {
		retryable = IsTransient
	}
	sleep := r.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || attempt >= r.Attempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := r.Backoff.Wait(attempt)
		if r.MinWait != nil {
			if hint := r.MinWait(err); hint > wait {
				wait = hint
				if r.Backoff.Max > 0 {
					wait = min(wait, r.Backoff.Max)
				}
			}
		}
		if r.OnRetry != nil {
			r.OnRetry(attempt, err, wait)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (retry interrupted: %w)", err, serr)
		}
	}
}
