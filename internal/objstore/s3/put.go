package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/aisedge/aisedge/internal/objstore"
)

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.Info, error) {
	if err := objstore.CheckPutArgs(key, size, opts); err != nil {
		return objstore.Info{}, &objstore.Error{Op: "put", Key: key, Kind: objstore.ErrInvalid, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return objstore.Info{}, &objstore.Error{Op: "put", Key: key, Err: err}
	}
	var (
		info objstore.Info
		err  error
	)
	if s.layout.Multipart(size) {
		info, err = s.putMultipart(ctx, key, r, size, opts)
	} else {
		info, err = s.putSingle(ctx, key, r, size, opts)
	}
	return info, s.fail(ctx, "put", key, err)
}

// putSingle uploads with one PUT carrying Content-MD5 and, when given,
// x-amz-checksum-sha256, which the server checks against the bytes it
// receives. It then checks the echoes: the ETag (the MD5 the server computed)
// must equal the given MD5, or the MD5 of the bytes sent when none was given
// (computed on the way), and an echoed SHA-256 the given one.
func (s *Store) putSingle(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.Info, error) {
	body := &sizedReader{r: r, remaining: size}
	var md5h hash.Hash
	if opts.ContentMD5 == nil {
		md5h = md5.New()
		body.hash = md5h
	}
	popts := minio.PutObjectOptions{ContentType: opts.ContentType, DisableMultipart: true}
	var md5b64, shaHex string
	if opts.ContentMD5 != nil {
		md5b64 = base64.StdEncoding.EncodeToString(opts.ContentMD5)
	}
	if opts.SHA256 != nil {
		popts.UserMetadata = map[string]string{"X-Amz-Checksum-Sha256": base64.StdEncoding.EncodeToString(opts.SHA256)}
		shaHex = hex.EncodeToString(opts.SHA256) // signed payload hash over HTTPS
	}
	ui, err := s.core.PutObject(ctx, s.cfg.Bucket, key, body, size, md5b64, shaHex, popts)
	if err != nil {
		if body.err != nil {
			return objstore.Info{}, body.err
		}
		return objstore.Info{}, err
	}
	wantMD5 := opts.ContentMD5
	if md5h != nil {
		wantMD5 = md5h.Sum(nil)
	}
	if got, want := objstore.NormalizeETag(ui.ETag), objstore.ETag(wantMD5); got != want {
		return objstore.Info{}, fmt.Errorf("%w: server ETag %q, MD5 of the data %s", objstore.ErrChecksum, got, want)
	}
	info := objstore.Info{Key: key, Size: size, ETag: objstore.ETag(wantMD5), LastModified: ui.LastModified}
	if ui.ChecksumSHA256 != "" {
		echo, err := base64.StdEncoding.DecodeString(ui.ChecksumSHA256)
		if err != nil || (opts.SHA256 != nil && !bytes.Equal(echo, opts.SHA256)) {
			return objstore.Info{}, fmt.Errorf("%w: server SHA-256 %q, SHA-256 of the data %x", objstore.ErrChecksum, ui.ChecksumSHA256, opts.SHA256)
		}
		info.SHA256 = echo
	}
	return info, nil
}

// sizedReader passes exactly remaining bytes of r through (and into hash),
// failing with ErrInvalid if r ends early or holds more: it looks for an
// extra byte before handing over the last ones, so an over-long reader never
// completes a request.
type sizedReader struct {
	r         io.Reader
	remaining int64
	hash      io.Writer
	probed    bool
	err       error
}

func (c *sizedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.remaining == 0 {
		if !c.probed {
			if c.err = c.probe(); c.err != nil {
				return 0, c.err
			}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.r.Read(p)
	c.remaining -= int64(n)
	switch {
	case err == io.EOF && c.remaining > 0:
		c.err = fmt.Errorf("%w: the reader ended %d bytes short of the size", objstore.ErrInvalid, c.remaining)
		return 0, c.err
	case err != nil && err != io.EOF:
		c.err = err
		return 0, err
	}
	if c.remaining == 0 {
		if c.err = c.probe(); c.err != nil {
			return 0, c.err
		}
	}
	if c.hash != nil {
		c.hash.Write(p[:n])
	}
	return n, nil
}

// probe fails if r has data past the size.
func (c *sizedReader) probe() error {
	c.probed = true
	var b [1]byte
	for {
		n, err := c.r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: the reader holds more than the size", objstore.ErrInvalid)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// part is one part of a multipart upload, ready to send.
type part struct {
	num     int
	body    io.Reader
	size    int64
	md5     []byte // nil when not computed (see Store.crcEchoed)
	crc     []byte // CRC32C, big-endian
	release func()
}

// castagnoli is the CRC32C table (hardware-accelerated on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// putMultipart uploads r in parts, in the store's PartConcurrency slots
// (shared with its other uploads). Parts are read
// (and hashed) in order by this goroutine and sent by workers; the upload is
// completed only when every part is stored, the reader held exactly size
// bytes and the whole-object digests match opts. Any failure aborts it.
func (s *Store) putMultipart(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.Info, error) {
	partSize := s.layout.PartSizeFor(size)
	nparts := int((size + partSize - 1) / partSize)

	uploadID, err := s.core.NewMultipartUpload(ctx, s.cfg.Bucket, key, minio.PutObjectOptions{ContentType: opts.ContentType})
	if err != nil {
		return objstore.Info{}, err
	}
	completed := false
	defer func() {
		if !completed {
			// Abort even when ctx is cancelled, so no parts are left behind.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			s.core.AbortMultipartUpload(actx, s.cfg.Bucket, key, uploadID)
		}
	}()

	var whole []io.Writer
	var wholeMD5, wholeSHA hash.Hash
	// S3 keeps no whole-object digest of a multipart upload: check here the
	// SHA-256 when given, else the MD5 (see objstore.PutOptions). Skipping
	// the MD5 when both are given saves about 30% of the client's CPU.
	if opts.SHA256 != nil {
		wholeSHA = sha256.New()
		whole = append(whole, wholeSHA)
	} else if opts.ContentMD5 != nil {
		wholeMD5 = md5.New()
		whole = append(whole, wholeMD5)
	}
	src := newPartSource(r, size, partSize, s.cfg.PartConcurrency, io.MultiWriter(whole...))

	uctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		done     []minio.CompletePart
		partMD5s = make([][]byte, nparts)
		sem      = s.parts
	)
	for i := range nparts {
		select {
		case sem <- struct{}{}:
		case <-uctx.Done():
		}
		if uctx.Err() != nil {
			break
		}
		p, err := src.next(uctx, i+1, !s.crcEchoed.Load())
		if err != nil {
			<-sem
			cancel(err)
			break
		}
		partMD5s[i] = p.md5
		wg.Go(func() {
			defer func() { p.release(); <-sem }()
			crc := base64.StdEncoding.EncodeToString(p.crc)
			popts := minio.PutObjectPartOptions{CustomHeader: http.Header{"X-Amz-Checksum-Crc32c": {crc}}}
			if p.md5 != nil {
				popts.Md5Base64 = base64.StdEncoding.EncodeToString(p.md5)
			}
			op, err := s.core.PutObjectPart(uctx, s.cfg.Bucket, key, uploadID, p.num, p.body, p.size, popts)
			if err == nil {
				err = s.checkPart(p, op, crc)
			}
			if err != nil {
				cancel(err)
				return
			}
			mu.Lock()
			done = append(done, minio.CompletePart{PartNumber: p.num, ETag: op.ETag})
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return objstore.Info{}, err
	}
	if err := context.Cause(uctx); err != nil {
		return objstore.Info{}, err // the first failure: a part's or the reader's
	}
	if err := src.finish(); err != nil {
		return objstore.Info{}, err
	}
	var gotMD5, gotSHA []byte
	if wholeMD5 != nil {
		gotMD5 = wholeMD5.Sum(nil)
	}
	if wholeSHA != nil {
		gotSHA = wholeSHA.Sum(nil)
	}
	checked := opts
	if wholeMD5 == nil {
		checked.ContentMD5 = nil
	}
	if err := objstore.CheckDigests(checked, gotMD5, gotSHA); err != nil {
		return objstore.Info{}, err // the deferred abort discards the parts
	}
	sort.Slice(done, func(i, j int) bool { return done[i].PartNumber < done[j].PartNumber })
	ui, err := s.core.CompleteMultipartUpload(ctx, s.cfg.Bucket, key, uploadID, done, minio.PutObjectOptions{})
	if err != nil {
		return objstore.Info{}, err
	}
	completed = true
	// The object's ETag from the parts' MD5s: ours where every part was
	// hashed, else the ETags the server gave each part (whose bytes it
	// checked against our CRC32C): either way the server must have
	// assembled exactly the parts it confirmed.
	sums := partMD5s
	if slices.ContainsFunc(partMD5s, func(m []byte) bool { return m == nil }) {
		sums = make([][]byte, len(done))
		for i, d := range done {
			if sums[i], err = hex.DecodeString(objstore.NormalizeETag(d.ETag)); err != nil || len(sums[i]) != md5.Size {
				return objstore.Info{}, fmt.Errorf("%w: part %d: server ETag %q is not an MD5", objstore.ErrChecksum, d.PartNumber, d.ETag)
			}
		}
	}
	want := objstore.MultipartETag(sums)
	if got := objstore.NormalizeETag(ui.ETag); got != want {
		return objstore.Info{}, fmt.Errorf("%w: server ETag %q, computed from the parts sent %s", objstore.ErrChecksum, got, want)
	}
	return objstore.Info{Key: key, Size: size, ETag: want, LastModified: ui.LastModified, SHA256: gotSHA}, nil
}

// checkPart verifies a stored part: its ETag against our MD5 when we
// computed one, and the CRC32C the server echoes (having checked the bytes
// against the header) against ours. A server that echoes the CRC32C is
// remembered, and the parts that follow skip the MD5, the client's main
// CPU cost for large objects; a part that has neither check fails.
func (s *Store) checkPart(p part, op minio.ObjectPart, crc string) error {
	if p.md5 != nil && objstore.NormalizeETag(op.ETag) != objstore.ETag(p.md5) {
		return fmt.Errorf("%w: part %d: server ETag %q, MD5 of the bytes sent %x", objstore.ErrChecksum, p.num, op.ETag, p.md5)
	}
	switch op.ChecksumCRC32C {
	case crc:
		s.crcEchoed.Store(true)
	case "":
		if p.md5 == nil {
			return fmt.Errorf("%w: part %d: the server confirmed no checksum (no CRC32C echoed, no MD5 sent)", objstore.ErrChecksum, p.num)
		}
	default:
		return fmt.Errorf("%w: part %d: server CRC32C %s, CRC32C of the bytes sent %s", objstore.ErrChecksum, p.num, op.ChecksumCRC32C, crc)
	}
	return nil
}

// partSource cuts a reader into parts. An io.ReaderAt is read in place (one
// pass to hash, one to send, no part buffers); anything else is read into at
// most `buffers` part-sized buffers.
type partSource struct {
	r        io.Reader
	ra       io.ReaderAt
	base     int64 // offset of the object in ra
	size     int64
	partSize int64
	off      int64
	whole    io.Writer
	pool     chan []byte
	scratch  []byte
}

func newPartSource(r io.Reader, size, partSize int64, buffers int, whole io.Writer) *partSource {
	ps := &partSource{r: r, size: size, partSize: partSize, whole: whole}
	if ra, ok := r.(io.ReaderAt); ok {
		ps.ra = ra
		if sk, ok := r.(io.Seeker); ok {
			if pos, err := sk.Seek(0, io.SeekCurrent); err == nil {
				ps.base = pos
			} else {
				ps.ra = nil
			}
		}
	}
	if ps.ra != nil {
		ps.scratch = make([]byte, 1<<20)
	} else {
		ps.pool = make(chan []byte, buffers)
		for range buffers {
			ps.pool <- nil // allocated on first use
		}
	}
	return ps
}

// next reads part num, hashing it into the whole-object digest, its
// CRC32C and, when withMD5, its MD5.
func (ps *partSource) next(ctx context.Context, num int, withMD5 bool) (part, error) {
	n := min(ps.partSize, ps.size-ps.off)
	c := crc32.New(castagnoli)
	var h hash.Hash
	w := io.MultiWriter(c, ps.whole)
	if withMD5 {
		h = md5.New()
		w = io.MultiWriter(h, c, ps.whole)
	}
	sums := func() ([]byte, []byte) {
		if h == nil {
			return nil, c.Sum(nil)
		}
		return h.Sum(nil), c.Sum(nil)
	}
	if ps.ra != nil {
		sec := io.NewSectionReader(ps.ra, ps.base+ps.off, n)
		got, err := copyBuffer(ctx, w, sec, ps.scratch)
		if err != nil {
			return part{}, err
		}
		if got != n {
			return part{}, fmt.Errorf("%w: the reader ended %d bytes short of the size", objstore.ErrInvalid, ps.size-ps.off-got)
		}
		ps.off += n
		m, crc := sums()
		return part{num: num, body: io.NewSectionReader(ps.ra, ps.base+ps.off-n, n), size: n, md5: m, crc: crc, release: func() {}}, nil
	}
	var buf []byte
	select {
	case buf = <-ps.pool:
	case <-ctx.Done():
		return part{}, ctx.Err()
	}
	if buf == nil {
		buf = make([]byte, ps.partSize)
	}
	got, err := io.ReadFull(ps.r, buf[:n])
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		ps.pool <- buf
		return part{}, fmt.Errorf("%w: the reader ended %d bytes short of the size", objstore.ErrInvalid, ps.size-ps.off-int64(got))
	}
	if err != nil {
		ps.pool <- buf
		return part{}, err
	}
	if err := ctx.Err(); err != nil {
		ps.pool <- buf
		return part{}, err
	}
	w.Write(buf[:n])
	ps.off += n
	m, crc := sums()
	return part{num: num, body: bytes.NewReader(buf[:n]), size: n, md5: m, crc: crc, release: func() { ps.pool <- buf }}, nil
}

// finish fails if the reader holds more than size bytes.
func (ps *partSource) finish() error {
	var b [1]byte
	if ps.ra != nil {
		n, _ := ps.ra.ReadAt(b[:], ps.base+ps.size)
		if n > 0 {
			return fmt.Errorf("%w: the reader holds more than the size", objstore.ErrInvalid)
		}
		return nil
	}
	sr := &sizedReader{r: ps.r}
	return sr.probe()
}

func copyBuffer(ctx context.Context, w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := r.Read(buf)
		if m > 0 {
			w.Write(buf[:m])
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
