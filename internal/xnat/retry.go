package xnat

import (
	"context"
	"errors"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
)

// RetryPolicy retries an operation while it fails with a transient error
// (IsTransient), with exponential backoff and up to 20% jitter. The client
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

func (p RetryPolicy) backoff() fault.Backoff {
	return fault.Backoff{Initial: p.Initial, Max: p.Max, Jitter: 0.2}
}

// Backoff is the wait before retry number n (n = 1 for the first retry),
// without jitter.
func (p RetryPolicy) Backoff(n int) time.Duration {
	return p.withDefaults().backoff().Nominal(n)
}

// Do runs op until it succeeds, fails with an error that is not transient,
// runs out of attempts, or ctx ends. It returns op's last error (wrapping
// ctx's error too when ctx ended during a wait). Each wait takes up to 20%
// off the backoff at random; a Retry-After hint on an *Error lengthens it
// (up to Max).
func (p RetryPolicy) Do(ctx context.Context, op func(context.Context) error) error {
	p = p.withDefaults()
	return fault.Retry{
		Attempts: p.Attempts,
		Backoff:  p.backoff(),
		// Refused credentials are not retried here: every failed login
		// counts towards XNAT's account lockout.
		Retryable: func(err error) bool { return IsTransient(err) && !errors.Is(err, ErrAuth) },
		MinWait:   retryAfter,
		Sleep:     p.Sleep,
	}.Do(ctx, op)
}

// retryAfter is the server's Retry-After hint carried by err (0 if none).
func retryAfter(err error) time.Duration {
	if xe, ok := asError(err); ok {
		return xe.RetryAfter
	}
	return 0
}
