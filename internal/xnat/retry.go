package xnat

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// RetryPolicy retries an operation while it fails with a transient error
// (IsTransient), with exponential backoff and ±20% jitter. The client
// applies Config.Retry to every HTTP call; the hub can use the same type
// around whole deliveries.
//
// The zero value means DefaultRetry.
type RetryPolicy struct {
	// Attempts is the total number of tries (1 = no retry). Default 6.
	Attempts int
	// Initial is the first backoff (default 500ms); it doubles per retry.
	Initial time.Duration
	// Max caps a single backoff (default 30s).
	Max time.Duration
	// Sleep waits between tries; nil means a timer that honours ctx.
	// Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetry is the policy used when Config.Retry is the zero value:
// 6 tries over roughly 15 s (0.5, 1, 2, 4, 8 s).
var DefaultRetry = RetryPolicy{Attempts: 6, Initial: 500 * time.Millisecond, Max: 30 * time.Second}

// NoRetry makes a single attempt.
var NoRetry = RetryPolicy{Attempts: 1}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultRetry.Attempts
	}
	if p.Initial <= 0 {
		p.Initial = DefaultRetry.Initial
	}
	if p.Max <= 0 {
		p.Max = DefaultRetry.Max
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	return p
}

// Backoff is the wait before retry number n (n = 1 for the first retry),
// without jitter.
func (p RetryPolicy) Backoff(n int) time.Duration {
	p = p.withDefaults()
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	return d
}

// Do runs op until it succeeds, fails with an error that is not transient,
// runs out of attempts, or ctx ends. It returns op's last error (or ctx's
// error while waiting). A Retry-After hint on an *Error lengthens the wait
// (up to Max).
func (p RetryPolicy) Do(ctx context.Context, op func(context.Context) error) error {
	p = p.withDefaults()
	var err error
	for attempt := 1; ; attempt++ {
		err = op(ctx)
		// Refused credentials are not retried here: every failed login
		// counts towards XNAT's account lockout.
		if err == nil || !IsTransient(err) || errors.Is(err, ErrAuth) || attempt >= p.Attempts {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		d := p.Backoff(attempt)
		d += time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
		if xe, ok := asError(err); ok && xe.RetryAfter > d {
			d = min(xe.RetryAfter, p.Max)
		}
		sleep := p.Sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if serr := sleep(ctx, d); serr != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
