package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
)

// ETag returns the ETag S3 gives an object stored by a single PUT: the hex
// MD5 of its content.
func ETag(md5sum []byte) string { return hex.EncodeToString(md5sum) }

// MultipartETag returns the ETag S3 gives an object stored by a multipart
// upload with parts of the given MD5s: the hex MD5 of the concatenated part
// MD5s, a dash, and the number of parts.
func MultipartETag(partMD5s [][]byte) string {
	h := md5.New()
	for _, p := range partMD5s {
		h.Write(p)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(partMD5s))
}

// NormalizeETag strips the quotes and weak marker servers may put around an
// ETag and lower-cases it.
func NormalizeETag(etag string) string {
	etag = strings.TrimPrefix(strings.TrimSpace(etag), "W/")
	return strings.ToLower(strings.Trim(etag, `"`))
}

// PartLayout says how a backend splits an object into parts: objects larger
// than Threshold bytes go up as multipart uploads of PartSize-byte parts (the
// last one shorter), the part size doubled as often as needed to stay within
// S3's limit of MaxParts parts. A zero Threshold means never multipart.
type PartLayout struct {
	Threshold int64
	PartSize  int64
}

// MaxParts is the largest number of parts of an S3 multipart upload.
const MaxParts = 10000

// PartSizeFor returns the size of the parts of an object of size bytes.
func (l PartLayout) PartSizeFor(size int64) int64 {
	ps := l.PartSize
	for ps > 0 && (size+ps-1)/ps > MaxParts {
		ps *= 2
	}
	return ps
}

// Multipart reports whether an object of size bytes is uploaded in parts.
func (l PartLayout) Multipart(size int64) bool {
	return l.Threshold > 0 && l.PartSize > 0 && size > l.Threshold
}

// Parts returns the number of parts an object of size bytes is uploaded in
// (1 for a single PUT).
func (l PartLayout) Parts(size int64) int {
	if !l.Multipart(size) {
		return 1
	}
	ps := l.PartSizeFor(size)
	return int((size + ps - 1) / ps)
}

// ETag computes, from the content, the ETag a backend with this layout gives
// an object of size bytes read from r. It lets an uploader that lost the
// Info returned by Put (say, after a crash) verify a listed object.
func (l PartLayout) ETag(ctx context.Context, r io.Reader, size int64) (string, error) {
	if !l.Multipart(size) {
		h := md5.New()
		n, err := CopyContext(ctx, h, r)
		if err != nil {
			return "", err
		}
		if n != size {
			return "", fmt.Errorf("%w: read %d bytes, want %d", ErrInvalid, n, size)
		}
		return ETag(h.Sum(nil)), nil
	}
	var sums [][]byte
	var total int64
	ps := l.PartSizeFor(size)
	for total < size {
		h := md5.New()
		n, err := CopyContext(ctx, h, io.LimitReader(r, min(ps, size-total)))
		if err != nil {
			return "", err
		}
		if n == 0 {
			break
		}
		total += n
		sums = append(sums, h.Sum(nil))
	}
	if total != size {
		return "", fmt.Errorf("%w: read %d bytes, want %d", ErrInvalid, total, size)
	}
	return MultipartETag(sums), nil
}

// copyBufs recycles CopyContext's 1 MiB buffers: a fresh one per object
// cost more (zeroing and garbage collection) than the copy itself for the
// small objects of a CT session.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// CopyContext is io.Copy that stops between 1 MiB chunks once ctx is done.
func CopyContext(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := io.ReadFull(r, buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// VerifyListed checks through List that the object under key has the given
// size and ETag, which is how an uploader whose key may write and list but
// not read (the edge's put-only key) confirms an upload before sealing a
// session. wantETag is the Info.ETag Put returned (backends verify it against
// what they sent), ETag(md5) for an object small enough for a single PUT, or
// PartLayout.ETag of the content. It returns the listed Info; the error wraps
// ErrNotExist when nothing is listed under key and ErrMismatch when size or
// ETag differ.
func VerifyListed(ctx context.Context, s Store, key string, size int64, wantETag string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, &Error{Op: "verify", Key: key, Kind: ErrInvalid, Err: err}
	}
	for info, err := range s.List(ctx, key) {
		if err != nil {
			return Info{}, err
		}
		if info.Key != key {
			if info.Key > key {
				break
			}
			continue
		}
		got, want := NormalizeETag(info.ETag), NormalizeETag(wantETag)
		if info.Size != size || got != want {
			return info, &Error{Op: "verify", Key: key, Kind: ErrMismatch,
				Err: fmt.Errorf("listed size %d etag %q, uploaded size %d etag %q", info.Size, got, size, want)}
		}
		return info, nil
	}
	return Info{}, &Error{Op: "verify", Key: key, Kind: ErrNotExist}
}

// equalDigest compares an expected digest (nil = not given) with a computed one.
func equalDigest(want, got []byte) bool { return want == nil || bytes.Equal(want, got) }

// CheckDigests compares the digests given in opts with those computed from
// the data; the error wraps ErrChecksum. Backends use it before committing
// an object.
func CheckDigests(opts PutOptions, md5sum, sha256sum []byte) error {
	if !equalDigest(opts.ContentMD5, md5sum) {
		return fmt.Errorf("%w: content MD5 %x, expected %x", ErrChecksum, md5sum, opts.ContentMD5)
	}
	if !equalDigest(opts.SHA256, sha256sum) {
		return fmt.Errorf("%w: content SHA-256 %x, expected %x", ErrChecksum, sha256sum, opts.SHA256)
	}
	return nil
}

// CheckPutArgs validates the arguments common to every Put: the key, a
// non-negative size and digests of the right length. The error wraps
// ErrInvalid.
func CheckPutArgs(key string, size int64, opts PutOptions) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrInvalid, size)
	}
	if opts.ContentMD5 != nil && len(opts.ContentMD5) != md5.Size {
		return fmt.Errorf("%w: ContentMD5 has %d bytes, want %d", ErrInvalid, len(opts.ContentMD5), md5.Size)
	}
	if opts.SHA256 != nil && len(opts.SHA256) != 32 {
		return fmt.Errorf("%w: SHA256 has %d bytes, want 32", ErrInvalid, len(opts.SHA256))
	}
	return nil
}
