package objstore

import (
	"context"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
)

// RetryPolicy says how WithRetry retries. The zero value is usable: it
// means the defaults given on each field.
type RetryPolicy struct {
	// MaxAttempts is the number of tries per operation, the first included
	// (default 8).
	MaxAttempts int
	// InitialBackoff is the wait before the second try (default 500 ms); each
	// further wait is Multiplier (default 2) times longer, capped at
	// MaxBackoff (default 30 s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	// Jitter is the fraction of each wait that is randomised (default 0.5:
	// a nominal 4 s wait lasts between 2 s and 4 s). Negative means none.
	Jitter float64
	// OnRetry, if set, is called before each wait with the operation, key,
	// number of the failed attempt (from 1), its error and the wait.
	OnRetry func(op, key string, attempt int, err error, wait time.Duration)
	// Retryable decides which errors are retried (default IsTransient).
	Retryable func(error) bool

	// sleep waits or returns ctx.Err(); tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 500 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Second
	}
	if p.Multiplier < 1 {
		p.Multiplier = 2
	}
	if p.Jitter == 0 {
		p.Jitter = 0.5
	}
	if p.Jitter < 0 {
		p.Jitter = 0
	}
	if p.Jitter > 1 {
		p.Jitter = 1
	}
	if p.Retryable == nil {
		p.Retryable = IsTransient
	}
	return p
}

func (p RetryPolicy) backoff() fault.Backoff {
	return fault.Backoff{Initial: p.InitialBackoff, Max: p.MaxBackoff, Multiplier: p.Multiplier, Jitter: p.Jitter}
}

// Backoff returns the wait after the given failed attempt (from 1).
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	return p.withDefaults().backoff().Wait(attempt)
}

// WithRetry returns a Store that retries the operations of s that fail with
// a retryable (by default transient) error, waiting with exponential backoff
// and jitter between tries, and giving up early when the context ends.
// Permanent and unclassified errors are returned at once. The returned error
// is the last try's.
//
// Put is retried only when r can be rewound: an io.Seeker (rewound to its
// position at the call) or an io.ReaderAt (read from offset 0 when it is not
// also a Seeker). Get retries opening the object, not reads from it. List
// restarts a failed listing and skips the keys it already yielded (keys come
// in ascending order).
func WithRetry(s Store, p RetryPolicy) Store {
	return &retryStore{s: s, p: p.withDefaults()}
}

type retryStore struct {
	s Store
	p RetryPolicy
}

type noRetryKey struct{}

// NoRetry returns a context under which WithRetry's stores try each
// operation once, and WithLogging's log failures at debug level: a
// reachability probe wants the answer of one try, at once, not the last of
// eight over minutes, and reports it itself.
func NoRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetryKey{}, true)
}

// do runs f until it succeeds, fails for good, or the attempts or the
// context run out.
func (r *retryStore) do(ctx context.Context, op, key string, f func() error) error {
	retry := fault.Retry{Attempts: r.p.MaxAttempts, Backoff: r.p.backoff(), Retryable: r.p.Retryable, Sleep: r.p.sleep}
	if ctx.Value(noRetryKey{}) != nil {
		retry.Attempts = 1
	}
	if r.p.OnRetry != nil {
		retry.OnRetry = func(attempt int, err error, wait time.Duration) { r.p.OnRetry(op, key, attempt, err, wait) }
	}
	return retry.Do(ctx, func(context.Context) error { return f() })
}

func (r *retryStore) Put(ctx context.Context, key string, body io.Reader, size int64, opts PutOptions) (Info, error) {
	rewind := rewinder(body, size)
	if rewind == nil {
		return r.s.Put(ctx, key, body, size, opts) // cannot re-read: one try only
	}
	var info Info
	first := true
	err := r.do(ctx, "put", key, func() error {
		src := body
		if !first {
			var err error
			if src, err = rewind(); err != nil {
				return &Error{Op: "put", Key: key, Kind: ErrInvalid, Err: fmt.Errorf("rewinding the reader for a retry: %w", err)}
			}
		}
		first = false
		var err error
		info, err = r.s.Put(ctx, key, src, size, opts)
		return err
	})
	return info, err
}

// rewinder returns a function giving a fresh reader over the same bytes, or
// nil when body cannot be re-read.
func rewinder(body io.Reader, size int64) func() (io.Reader, error) {
	if s, ok := body.(io.Seeker); ok {
		start, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil // not actually seekable (a pipe, say)
		}
		return func() (io.Reader, error) {
			if _, err := s.Seek(start, io.SeekStart); err != nil {
				return nil, err
			}
			return body, nil
		}
	}
	if ra, ok := body.(io.ReaderAt); ok {
		return func() (io.Reader, error) { return io.NewSectionReader(ra, 0, size), nil }
	}
	return nil
}

func (r *retryStore) Stat(ctx context.Context, key string) (Info, error) {
	var info Info
	err := r.do(ctx, "stat", key, func() (err error) {
		info, err = r.s.Stat(ctx, key)
		return err
	})
	return info, err
}

func (r *retryStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := r.do(ctx, "get", key, func() (err error) {
		rc, err = r.s.Get(ctx, key)
		return err
	})
	return rc, err
}

func (r *retryStore) Delete(ctx context.Context, key string) error {
	return r.do(ctx, "delete", key, func() error { return r.s.Delete(ctx, key) })
}

func (r *retryStore) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		var last string // last key yielded; keys ≤ last are skipped on a retry
		started := false
		stopped := false
		err := r.do(ctx, "list", prefix, func() error {
			for info, err := range r.s.List(ctx, prefix) {
				if err != nil {
					return err
				}
				if started && info.Key <= last {
					continue
				}
				started, last = true, info.Key
				if !yield(info, nil) {
					stopped = true
					return nil
				}
			}
			return nil
		})
		if err != nil && !stopped {
			yield(Info{}, err)
		}
	}
}
