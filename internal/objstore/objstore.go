// Package objstore is the object-store layer between the pipelines and their
// storage: the edge ships staged sessions through it into the hub's bucket and
// the hub reads them back out.
//
// It owns
//   - the Store interface, whose doc comments are the contract every backend
//     keeps (checked by the conformance suite in objstore/objstoretest),
//   - key validation (keys are '/'-separated relative paths, never traversal),
//   - error classification: IsNotExist, IsPermanent, IsTransient, so callers
//     know whether to wait and retry, re-upload, or raise a health condition,
//   - wrappers that add behaviour around any Store: WithRetry (exponential
//     backoff with jitter, transient errors only) and WithLogging (log/slog),
//   - ETag helpers and VerifyListed, which checks an upload through List for
//     keys that may write and list but not read (the edge's put-only key).
//
// Backends live in sub-packages: objstore/fs (a local directory) and
// objstore/s3 (S3 via minio-go, used against SeaweedFS). Pipelines import
// this package and construct a backend once at start-up; nothing else in the
// project talks to S3 directly.
//
// Keys and prefixes hold pseudonymised session and series names only, so they
// may be logged; object contents never are.
package objstore

import (
	"context"
	"io"
	"iter"
	"time"
)

// Store is a flat namespace of immutable-once-written objects addressed by
// key. Implementations are safe for concurrent use by multiple goroutines.
//
// Every method takes a context; when it is cancelled the method returns
// promptly with an error that wraps ctx.Err(), and a Put interrupted that way
// stores nothing. Errors are classified with IsNotExist, IsPermanent and
// IsTransient; implementations wrap them in *Error naming the operation and
// key. An invalid key (see ValidateKey) fails with ErrInvalid before any I/O.
type Store interface {
	// Put stores exactly size bytes read from r under key, replacing any
	// object already there; readers of the key see either the old or the new
	// object, never a partial one. Put reads r from its current position and
	// does not promise where r is positioned afterwards.
	//
	// If r yields fewer or more than size bytes, Put fails with ErrInvalid and
	// stores nothing. If opts carries checksums and the data does not match
	// them, Put fails with ErrChecksum (permanent) and stores nothing (for a
	// multipart upload given both digests, only the SHA-256 is checked; see
	// PutOptions). Backends
	// verify what the server echoes (ETag, checksum headers) against what they
	// computed from the bytes sent, so a nil error means the object stored is
	// the one read from r.
	//
	// The returned Info describes the stored object: Key, Size, ETag (MD5 hex
	// for a single PUT, or the multipart form "<md5 of part MD5s>-<parts>")
	// and SHA256 when the backend knows it. LastModified may be zero.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Info, error)

	// Stat returns the Info of the object under key, or an error for which
	// IsNotExist is true when there is none. A backend configured for a key
	// that may not read objects returns ErrUnsupported (permanent) without a
	// request; a server that refuses returns ErrAccessDenied. Use
	// VerifyListed to check uploads with such keys.
	Stat(ctx context.Context, key string) (Info, error)

	// List yields every object whose key starts with prefix (a plain string
	// prefix, not a directory: "a/b" matches "a/b/c" and "a/bc"), in
	// ascending byte order of keys, each with Key, Size, ETag and
	// LastModified. An empty prefix lists everything. A failure is yielded
	// once as a non-nil error with a zero Info, after which the sequence
	// ends. Breaking out of the loop early releases all resources.
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]

	// Get opens the object under key for reading; the caller closes it. A
	// missing object fails with an error for which IsNotExist is true; a key
	// that may not read fails like Stat.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// Delete removes the object under key. Deleting a key that does not exist
	// succeeds (as in S3). A key that may not delete fails with
	// ErrAccessDenied.
	Delete(ctx context.Context, key string) error
}

// PutOptions are the optional properties of an object being stored.
type PutOptions struct {
	// ContentMD5 is the MD5 digest (16 raw bytes) the data must have. S3
	// backends send it as Content-MD5 with a single PUT, so the server
	// refuses a mismatch, and compare it with the ETag. A multipart upload
	// has no whole-object MD5 on the server: there the backend checks the
	// MD5 locally only when SHA256 is not given (the SHA-256 of the same
	// bytes is the stronger check, and skipping the second MD5 pass saves
	// about 30% of the client's CPU on large files).
	ContentMD5 []byte
	// SHA256 is the SHA-256 digest (32 raw bytes) the data must have. S3
	// backends send it as x-amz-checksum-sha256 with a single PUT and check
	// it locally before completing a multipart upload.
	SHA256 []byte
	// ContentType is stored with the object where the backend supports it;
	// empty means application/octet-stream.
	ContentType string
}

// Info describes a stored object.
type Info struct {
	Key  string
	Size int64
	// ETag is the object's entity tag without quotes: the MD5 hex of the
	// content for a single PUT, "<md5 hex of the part MD5s>-<N>" for an
	// N-part multipart upload (see ETag and MultipartETag).
	ETag string
	// LastModified is when the object was stored, if the backend reports it.
	LastModified time.Time
	// SHA256 is the content's SHA-256 (raw bytes) when the backend knows it:
	// echoed by the server on Put, or recorded by the fs backend. Nil
	// otherwise (List on S3 does not return it).
	SHA256 []byte
}
