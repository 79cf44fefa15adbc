package objstore

import (
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"
	"time"
)

// WithLogging returns a Store that logs every operation of s on logger: at
// Debug level when it succeeds or finds no object or is cancelled, at Warn
// level when it fails otherwise (with the error and its class: permanent,
// transient or other). Keys are logged;
// they hold pseudonyms only. Object contents and credentials never are.
func WithLogging(s Store, logger *slog.Logger) Store {
	return &logStore{s: s, log: logger}
}

type logStore struct {
	s   Store
	log *slog.Logger
}

// Class names the class of err for logs and metrics: "permanent",
// "transient", "not_exist", "canceled" or "other"; "" for nil.
func Class(err error) string {
	switch {
	case err == nil:
		return ""
	case IsNotExist(err):
		return "not_exist"
	case IsPermanent(err):
		return "permanent"
	case IsTransient(err):
		return "transient"
	case ctxErr(err):
		return "canceled"
	default:
		return "other"
	}
}

func ctxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (l *logStore) done(ctx context.Context, op, key string, start time.Time, err error, attrs ...slog.Attr) {
	attrs = append(attrs, slog.String("op", op), slog.String("key", key),
		slog.Duration("duration", time.Since(start)))
	if err != nil {
		class := Class(err)
		attrs = append(attrs, slog.String("error", err.Error()), slog.String("class", class))
		level := slog.LevelWarn
		// A probe's failures (NoRetry) are reported by the probe, once.
		if class == "not_exist" || class == "canceled" || ctx.Value(noRetryKey{}) != nil {
			level = slog.LevelDebug
		}
		l.log.LogAttrs(ctx, level, "objstore "+op+" failed", attrs...)
		return
	}
	l.log.LogAttrs(ctx, slog.LevelDebug, "objstore "+op, attrs...)
}

func (l *logStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Info, error) {
	start := time.Now()
	info, err := l.s.Put(ctx, key, r, size, opts)
	l.done(ctx, "put", key, start, err, slog.Int64("size", size), slog.String("etag", info.ETag))
	return info, err
}

func (l *logStore) Stat(ctx context.Context, key string) (Info, error) {
	start := time.Now()
	info, err := l.s.Stat(ctx, key)
	l.done(ctx, "stat", key, start, err)
	return info, err
}

func (l *logStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := l.s.Get(ctx, key)
	l.done(ctx, "get", key, start, err)
	return rc, err
}

func (l *logStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := l.s.Delete(ctx, key)
	l.done(ctx, "delete", key, start, err)
	return err
}

func (l *logStore) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		start := time.Now()
		n := 0
		var lerr error
		for info, err := range l.s.List(ctx, prefix) {
			if err != nil {
				lerr = err
			} else {
				n++
			}
			if !yield(info, err) {
				break
			}
		}
		l.done(ctx, "list", prefix, start, lerr, slog.Int("objects", n))
	}
}
