package objstore

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Local is implemented by stores whose objects are plain files on this
// machine (the fs backend). LocalPath returns the file that holds the
// object under key and true, or false when there is none. Callers read the
// file and never write, rename or delete it; it holds the object until the
// key is replaced or deleted. Stat's digests describe the file's current
// bytes, so a caller that has checked them may read the file in place
// instead of copying the object out with Get.
type Local interface {
	LocalPath(key string) (string, bool)
}

// LocalPath returns the file of key when s, or the store it wraps (the
// retry and logging wrappers unwrap), keeps its objects as local files.
func LocalPath(s Store, key string) (string, bool) {
	for s != nil {
		if l, ok := s.(Local); ok {
			return l.LocalPath(key)
		}
		u, ok := s.(interface{ Unwrap() Store })
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	return "", false
}

// Unwrap returns the wrapped store.
func (l *logStore) Unwrap() Store { return l.s }

// Unwrap returns the wrapped store.
func (r *retryStore) Unwrap() Store { return r.s }

// FilePutter is implemented by stores that can take a local file as an
// object without copying its bytes (the fs backend links it when the file
// is on the same file system). PutFile keeps Put's contract: exactly size
// bytes, the digests in opts checked against the bytes, the object replaced
// atomically and durable when it returns. The caller must not change the
// file afterwards (the object may share its storage).
type FilePutter interface {
	PutFile(ctx context.Context, key, path string, size int64, opts PutOptions) (Info, error)
}

// PutFile stores the file at path under key: through FilePutter where s
// has it (the retry and logging wrappers pass it on), else by Put from the
// opened file.
func PutFile(ctx context.Context, s Store, key, path string, size int64, opts PutOptions) (Info, error) {
	if fp, ok := s.(FilePutter); ok {
		return fp.PutFile(ctx, key, path, size, opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("objstore: put %s from %s: %w", key, path, err)
	}
	defer f.Close()
	return s.Put(ctx, key, f, size, opts)
}

// PutFile logs like Put.
func (l *logStore) PutFile(ctx context.Context, key, path string, size int64, opts PutOptions) (Info, error) {
	start := time.Now()
	info, err := PutFile(ctx, l.s, key, path, size, opts)
	l.done(ctx, "put", key, start, err, slog.Int64("size", size), slog.String("etag", info.ETag))
	return info, err
}

// PutFile retries like Put (a file can always be read again).
func (r *retryStore) PutFile(ctx context.Context, key, path string, size int64, opts PutOptions) (Info, error) {
	var info Info
	err := r.do(ctx, "put", key, func() error {
		var err error
		info, err = PutFile(ctx, r.s, key, path, size, opts)
		return err
	})
	return info, err
}
