// Package objstoretest is the conformance suite of objstore.Store: one set of
// tests that every backend (and every wrapper around one) must pass, so the
// pipelines can rely on the contract written on the interface rather than on
// a backend's quirks. Only tests import it.
//
//	func TestConformance(t *testing.T) {
//		objstoretest.Run(t, func(t *testing.T) objstore.Store { return newStore(t) }, objstoretest.Options{})
//	}
package objstoretest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/objstore"
)

// Options adapt the suite to a backend.
type Options struct {
	// Layout is the backend's part layout (zero: never multipart).
	Layout objstore.PartLayout
	// LargeSize is the size of the large-object tests; default 2.5 parts
	// when the layout is multipart, else 12 MiB.
	LargeSize int64
	// Prefix is prepended to every key (default "conformance/"); each test
	// adds a random segment so runs sharing a bucket do not collide.
	Prefix string
}

// Run runs the suite. newStore is called once per test and may register
// cleanups on the test it is given.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store, opts Options) {
	if opts.Prefix == "" {
		opts.Prefix = "conformance/"
	}
	if opts.LargeSize == 0 {
		if opts.Layout.Threshold > 0 && opts.Layout.PartSize > 0 {
			opts.LargeSize = max(opts.Layout.Threshold+1, 5*opts.Layout.PartSize/2)
		} else {
			opts.LargeSize = 12 << 20
		}
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store, p string, o Options)
	}{
		{"PutStatGetListDelete", testBasic},
		{"Overwrite", testOverwrite},
		{"ListPrefix", testListPrefix},
		{"ListEarlyBreak", testListEarlyBreak},
		{"Large", testLarge},
		{"ChecksumMismatch", testChecksumMismatch},
		{"SizeMismatch", testSizeMismatch},
		{"NotExist", testNotExist},
		{"InvalidKey", testInvalidKey},
		{"ContextCancel", testContextCancel},
		{"Concurrent", testConcurrent},
		{"VerifyListed", testVerifyListed},
		{"PutFile", testPutFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			p := opts.Prefix + randHex(6) + "/"
			tc.fn(t, s, p, opts)
		})
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Data returns n pseudo-random bytes.
func Data(n int64) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Digests returns PutOptions carrying the MD5 and SHA-256 of b.
func Digests(b []byte) objstore.PutOptions {
	m, s := md5.Sum(b), sha256.Sum256(b)
	return objstore.PutOptions{ContentMD5: m[:], SHA256: s[:]}
}

func md5hex(b []byte) string { m := md5.Sum(b); return hex.EncodeToString(m[:]) }

// onlyReader hides every method of r but Read (no Seeker, no ReaderAt).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func put(t *testing.T, s objstore.Store, key string, data []byte, opts objstore.PutOptions) objstore.Info {
	t.Helper()
	info, err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	return info
}

func get(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%s): read: %v", key, err)
	}
	return b
}

func list(t *testing.T, s objstore.Store, prefix string) []objstore.Info {
	t.Helper()
	var out []objstore.Info
	for info, err := range s.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		out = append(out, info)
	}
	return out
}

func keys(infos []objstore.Info) []string {
	var ks []string
	for _, i := range infos {
		ks = append(ks, i.Key)
	}
	return ks
}

func wantAbsent(t *testing.T, s objstore.Store, key string) {
	t.Helper()
	if _, err := s.Stat(t.Context(), key); !objstore.IsNotExist(err) {
		t.Errorf("Stat(%s) after a failed Put: err = %v, want not-exist", key, err)
	}
	if got := list(t, s, key); len(got) != 0 {
		t.Errorf("List(%s) after a failed Put = %v, want nothing", key, keys(got))
	}
}

func testBasic(t *testing.T, s objstore.Store, p string, _ Options) {
	data := Data(200 << 10)
	key := p + "PROJ.SUBJ.VISIT/1.T1_MPRAGE/DICOM/0001.dcm"
	opts := Digests(data)
	opts.ContentType = "application/dicom"
	info := put(t, s, key, data, opts)
	if info.Key != key || info.Size != int64(len(data)) || info.ETag != md5hex(data) {
		t.Errorf("Put info = %+v, want key %s size %d etag %s", info, key, len(data), md5hex(data))
	}
	if info.SHA256 != nil && !bytes.Equal(info.SHA256, opts.SHA256) {
		t.Errorf("Put info SHA256 = %x, want %x", info.SHA256, opts.SHA256)
	}
	st, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.Key != key || st.Size != int64(len(data)) || st.ETag != md5hex(data) {
		t.Errorf("Stat = %+v", st)
	}
	if got := get(t, s, key); !bytes.Equal(got, data) {
		t.Errorf("Get returned %d bytes differing from the %d put", len(got), len(data))
	}
	empty := p + "empty"
	put(t, s, empty, nil, Digests(nil))
	if got := get(t, s, empty); len(got) != 0 {
		t.Errorf("Get(empty) = %d bytes", len(got))
	}
	l := list(t, s, p)
	if want := []string{key, empty}; !slices.Equal(keys(l), want) {
		t.Fatalf("List = %v, want %v", keys(l), want)
	}
	if l[0].Size != int64(len(data)) || l[0].ETag != md5hex(data) || l[1].Size != 0 || l[1].ETag != md5hex(nil) {
		t.Errorf("List infos = %+v", l)
	}
	if !l[0].LastModified.IsZero() && time.Since(l[0].LastModified).Abs() > time.Hour {
		t.Errorf("LastModified = %v, far from now", l[0].LastModified)
	}
	for _, k := range []string{key, empty} {
		if err := s.Delete(t.Context(), k); err != nil {
			t.Fatalf("Delete(%s): %v", k, err)
		}
	}
	if l := list(t, s, p); len(l) != 0 {
		t.Errorf("List after Delete = %v", keys(l))
	}
	if _, err := s.Get(t.Context(), key); !objstore.IsNotExist(err) {
		t.Errorf("Get after Delete: err = %v, want not-exist", err)
	}
}

func testOverwrite(t *testing.T, s objstore.Store, p string, _ Options) {
	key := p + "obj"
	a, b := Data(1000), Data(3000)
	put(t, s, key, a, Digests(a))
	info := put(t, s, key, b, Digests(b))
	if info.ETag != md5hex(b) {
		t.Errorf("Put ETag = %s, want %s", info.ETag, md5hex(b))
	}
	if got := get(t, s, key); !bytes.Equal(got, b) {
		t.Errorf("Get after overwrite returned the old or a mixed object")
	}
	l := list(t, s, p)
	if len(l) != 1 || l[0].Size != 3000 || l[0].ETag != md5hex(b) {
		t.Errorf("List after overwrite = %+v", l)
	}
	s.Delete(t.Context(), key)
}

func testListPrefix(t *testing.T, s objstore.Store, p string, _ Options) {
	// Byte order, not directory order: '-' (0x2d) < '/' (0x2f) < '0' < 'a'.
	names := []string{"a/b/1", "a/b/2", "a/bc", "a-b", "a/c/d/e", "b", "a0"}
	for _, n := range names {
		put(t, s, p+n, []byte(n), objstore.PutOptions{})
	}
	defer func() {
		for _, n := range names {
			s.Delete(t.Context(), p+n)
		}
	}()
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a-b", "a/b/1", "a/b/2", "a/bc", "a/c/d/e", "a0", "b"}},
		{"a", []string{"a-b", "a/b/1", "a/b/2", "a/bc", "a/c/d/e", "a0"}},
		{"a/", []string{"a/b/1", "a/b/2", "a/bc", "a/c/d/e"}},
		{"a/b", []string{"a/b/1", "a/b/2", "a/bc"}},
		{"a/b/", []string{"a/b/1", "a/b/2"}},
		{"a/c/d/e", []string{"a/c/d/e"}},
		{"a/c/d/e/", nil},
		{"zz", nil},
		{"nothing/here/", nil},
	} {
		var want []string
		for _, w := range tc.want {
			want = append(want, p+w)
		}
		if got := keys(list(t, s, p+tc.prefix)); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, got, want)
		}
	}
}

func testListEarlyBreak(t *testing.T, s objstore.Store, p string, _ Options) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("%s%d", p, i), []byte{byte(i)}, objstore.PutOptions{})
	}
	n := 0
	for _, err := range s.List(t.Context(), p) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("iterated %d, want 2", n)
	}
	for i := range 5 {
		s.Delete(t.Context(), fmt.Sprintf("%s%d", p, i))
	}
}

func testLarge(t *testing.T, s objstore.Store, p string, o Options) {
	data := Data(o.LargeSize)
	wantETag, err := o.Layout.ETag(t.Context(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if o.Layout.Multipart(int64(len(data))) && !strings.HasSuffix(wantETag, fmt.Sprintf("-%d", o.Layout.Parts(int64(len(data))))) {
		t.Fatalf("layout ETag %s lacks the part count", wantETag)
	}
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"ReaderAt", func() io.Reader { return bytes.NewReader(data) }},
		{"PlainReader", func() io.Reader { return onlyReader{bytes.NewReader(data)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := p + tc.name
			info, err := s.Put(t.Context(), key, tc.r(), int64(len(data)), Digests(data))
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if info.Size != int64(len(data)) || info.ETag != wantETag {
				t.Errorf("Put info size %d etag %s, want %d %s", info.Size, info.ETag, len(data), wantETag)
			}
			l := list(t, s, key)
			if len(l) != 1 || l[0].Size != int64(len(data)) || l[0].ETag != wantETag {
				t.Errorf("List = %+v, want etag %s", l, wantETag)
			}
			if got := get(t, s, key); !bytes.Equal(got, data) {
				t.Errorf("Get returned different content (%d bytes)", len(got))
			}
			if err := s.Delete(t.Context(), key); err != nil {
				t.Error(err)
			}
		})
	}
}

func wantChecksumErr(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, objstore.ErrChecksum) || !objstore.IsPermanent(err) || objstore.IsTransient(err) {
		t.Errorf("%s: err = %v, want a permanent ErrChecksum", what, err)
	}
}

func testChecksumMismatch(t *testing.T, s objstore.Store, p string, o Options) {
	small, large := Data(64<<10), Data(o.LargeSize)
	other := Digests(Data(10))
	for _, tc := range []struct {
		name string
		data []byte
		opts func(objstore.PutOptions) objstore.PutOptions
	}{
		{"small-md5", small, func(d objstore.PutOptions) objstore.PutOptions { d.ContentMD5 = other.ContentMD5; return d }},
		{"small-sha256", small, func(d objstore.PutOptions) objstore.PutOptions { d.SHA256 = other.SHA256; return d }},
		// Given both digests, a multipart upload is checked by its SHA-256
		// only (see objstore.PutOptions): test the MD5 alone.
		{"large-md5", large, func(d objstore.PutOptions) objstore.PutOptions {
			d.ContentMD5, d.SHA256 = other.ContentMD5, nil
			return d
		}},
		{"large-sha256", large, func(d objstore.PutOptions) objstore.PutOptions { d.SHA256 = other.SHA256; return d }},
	} {
		key := p + tc.name
		_, err := s.Put(t.Context(), key, bytes.NewReader(tc.data), int64(len(tc.data)), tc.opts(Digests(tc.data)))
		wantChecksumErr(t, tc.name, err)
		wantAbsent(t, s, key)
	}
	// A rejected overwrite leaves the old object in place.
	key := p + "kept"
	put(t, s, key, small, Digests(small))
	bad := Digests(small)
	bad.SHA256 = other.SHA256
	_, err := s.Put(t.Context(), key, bytes.NewReader(Data(100)), 100, bad)
	wantChecksumErr(t, "overwrite", err)
	if got := get(t, s, key); !bytes.Equal(got, small) {
		t.Errorf("a rejected overwrite changed the object")
	}
	s.Delete(t.Context(), key)
}

func testSizeMismatch(t *testing.T, s objstore.Store, p string, _ Options) {
	data := Data(4096)
	for _, tc := range []struct {
		name string
		size int64
	}{{"short", 5000}, {"long", 4000}} {
		key := p + tc.name
		_, err := s.Put(t.Context(), key, onlyReader{bytes.NewReader(data)}, tc.size, objstore.PutOptions{})
		if err == nil || objstore.IsTransient(err) {
			t.Errorf("%s: Put with a wrong size: err = %v, want a non-transient error", tc.name, err)
		}
		wantAbsent(t, s, key)
	}
	if _, err := s.Put(t.Context(), p+"neg", bytes.NewReader(nil), -1, objstore.PutOptions{}); !errors.Is(err, objstore.ErrInvalid) {
		t.Errorf("Put with size -1: err = %v, want ErrInvalid", err)
	}
}

func testNotExist(t *testing.T, s objstore.Store, p string, _ Options) {
	key := p + "missing/object"
	_, err := s.Stat(t.Context(), key)
	if !objstore.IsNotExist(err) || objstore.IsPermanent(err) || objstore.IsTransient(err) {
		t.Errorf("Stat(missing): err = %v, want only not-exist", err)
	}
	var oe *objstore.Error
	if !errors.As(err, &oe) || oe.Op != "stat" || oe.Key != key {
		t.Errorf("Stat(missing): err = %#v, want *objstore.Error naming op and key", err)
	}
	if _, err := s.Get(t.Context(), key); !objstore.IsNotExist(err) {
		t.Errorf("Get(missing): err = %v, want not-exist", err)
	}
	if err := s.Delete(t.Context(), key); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
}

func testInvalidKey(t *testing.T, s objstore.Store, p string, _ Options) {
	for _, key := range []string{"", "/abs", p + "../escape", p + "a//b", p + "./a", p + "trailing/",
		p + "nul\x00", p + `back\slash`, p + ".objstore/x", strings.Repeat("k", objstore.MaxKeyLen+1)} {
		_, err := s.Put(t.Context(), key, bytes.NewReader([]byte("x")), 1, objstore.PutOptions{})
		if !errors.Is(err, objstore.ErrInvalid) || !objstore.IsPermanent(err) {
			t.Errorf("Put(%q): err = %v, want a permanent ErrInvalid", key, err)
		}
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, objstore.ErrInvalid) {
			t.Errorf("Stat(%q): err = %v, want ErrInvalid", key, err)
		}
		if _, err := s.Get(t.Context(), key); !errors.Is(err, objstore.ErrInvalid) {
			t.Errorf("Get(%q): err = %v, want ErrInvalid", key, err)
		}
		if err := s.Delete(t.Context(), key); !errors.Is(err, objstore.ErrInvalid) {
			t.Errorf("Delete(%q): err = %v, want ErrInvalid", key, err)
		}
	}
	for _, prefix := range []string{"/abs", "../x", "a//b"} {
		for _, err := range s.List(t.Context(), prefix) {
			if !errors.Is(err, objstore.ErrInvalid) {
				t.Errorf("List(%q): err = %v, want ErrInvalid", prefix, err)
			}
		}
	}
}

// cancelReader yields data and cancels its context after half of it.
type cancelReader struct {
	data   []byte
	off    int
	cancel context.CancelFunc
}

func (c *cancelReader) Read(b []byte) (int, error) {
	if c.off >= len(c.data) {
		return 0, io.EOF
	}
	if c.off >= len(c.data)/2 && c.cancel != nil {
		c.cancel()
		c.cancel = nil
		time.Sleep(50 * time.Millisecond)
	}
	n := copy(b[:min(len(b), 64<<10)], c.data[c.off:])
	c.off += n
	return n, nil
}

func testContextCancel(t *testing.T, s objstore.Store, p string, o Options) {
	data := Data(256 << 10)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	key := p + "precancelled"
	if _, err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: err = %v, want context.Canceled", err)
	}
	wantAbsent(t, s, key)
	if _, err := s.Stat(ctx, key); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with a cancelled context: err = %v, want context.Canceled", err)
	}
	var lerr error
	for _, err := range s.List(ctx, p) {
		lerr = err
	}
	if !errors.Is(lerr, context.Canceled) {
		t.Errorf("List with a cancelled context: err = %v, want context.Canceled", lerr)
	}
	for _, size := range []int64{4 << 20, o.LargeSize} {
		key := fmt.Sprintf("%smidway-%d", p, size)
		data := Data(size)
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		_, err := s.Put(ctx, key, &cancelReader{data: data, cancel: cancel}, size, Digests(data))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put cancelled midway (%d bytes): err = %v, want context.Canceled", size, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("Put cancelled midway took %v to return", d)
		}
		wantAbsent(t, s, key)
	}
}

func testConcurrent(t *testing.T, s objstore.Store, p string, _ Options) {
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			d := Data(int64(1000 + i))
			if _, err := s.Put(t.Context(), fmt.Sprintf("%sdistinct/%02d", p, i), bytes.NewReader(d), int64(len(d)), Digests(d)); err != nil {
				errs <- err
			}
			if _, err := s.Put(t.Context(), p+"same", bytes.NewReader(d), int64(len(d)), Digests(d)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if l := list(t, s, p+"distinct/"); len(l) != n {
		t.Errorf("listed %d objects, want %d", len(l), n)
	}
	b := get(t, s, p+"same")
	if len(b) < 1000 || len(b) >= 1000+n {
		t.Errorf("concurrent overwrites left %d bytes", len(b))
	}
	st, err := s.Stat(t.Context(), p+"same")
	if err != nil || st.ETag != md5hex(b) {
		t.Errorf("Stat(same) = %+v, %v; content md5 %s", st, err, md5hex(b))
	}
	for i := range n {
		s.Delete(t.Context(), fmt.Sprintf("%sdistinct/%02d", p, i))
	}
	s.Delete(t.Context(), p+"same")
}

func testVerifyListed(t *testing.T, s objstore.Store, p string, o Options) {
	small := Data(10 << 10)
	key := p + "small"
	put(t, s, key, small, Digests(small))
	ctx := t.Context()
	if _, err := objstore.VerifyListed(ctx, s, key, int64(len(small)), objstore.ETag(Digests(small).ContentMD5)); err != nil {
		t.Errorf("VerifyListed(small): %v", err)
	}
	if _, err := objstore.VerifyListed(ctx, s, key, int64(len(small)), `"`+strings.ToUpper(md5hex(small))+`"`); err != nil {
		t.Errorf("VerifyListed(small, quoted upper-case ETag): %v", err)
	}
	if _, err := objstore.VerifyListed(ctx, s, key, int64(len(small)), md5hex(Data(1))); !errors.Is(err, objstore.ErrMismatch) {
		t.Errorf("VerifyListed(wrong etag): err = %v, want ErrMismatch", err)
	}
	if _, err := objstore.VerifyListed(ctx, s, key, 1, md5hex(small)); !errors.Is(err, objstore.ErrMismatch) {
		t.Errorf("VerifyListed(wrong size): err = %v, want ErrMismatch", err)
	}
	put(t, s, key+"-longer-key", small, objstore.PutOptions{})
	if _, err := objstore.VerifyListed(ctx, s, key+"-longer", int64(len(small)), md5hex(small)); !objstore.IsNotExist(err) {
		t.Errorf("VerifyListed(a prefix of a key): err = %v, want not-exist", err)
	}
	large := Data(o.LargeSize)
	info := put(t, s, p+"large", large, Digests(large))
	if _, err := objstore.VerifyListed(ctx, s, p+"large", int64(len(large)), info.ETag); err != nil {
		t.Errorf("VerifyListed(large, Put's ETag): %v", err)
	}
	etag, err := o.Layout.ETag(ctx, bytes.NewReader(large), int64(len(large)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.VerifyListed(ctx, s, p+"large", int64(len(large)), etag); err != nil {
		t.Errorf("VerifyListed(large, layout ETag): %v", err)
	}
	for _, k := range []string{key, key + "-longer-key", p + "large"} {
		s.Delete(ctx, k)
	}
}

// testPutFile: objstore.PutFile (a backend's FilePutter, or Put from the
// opened file) keeps Put's contract, and the source file stays as it was.
func testPutFile(t *testing.T, s objstore.Store, p string, _ Options) {
	data := Data(100 << 10)
	src := filepath.Join(t.TempDir(), "src.dcm")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	key := p + "file"
	info, err := objstore.PutFile(t.Context(), s, key, src, int64(len(data)), Digests(data))
	if err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	if info.Size != int64(len(data)) || objstore.NormalizeETag(info.ETag) != md5hex(data) {
		t.Errorf("PutFile returned %+v, want size %d and ETag %s", info, len(data), md5hex(data))
	}
	if got := get(t, s, key); !bytes.Equal(got, data) {
		t.Errorf("the object differs from the file")
	}
	bad := Digests(data)
	bad.SHA256 = Digests(Data(10)).SHA256
	_, err = objstore.PutFile(t.Context(), s, p+"bad-digest", src, int64(len(data)), bad)
	wantChecksumErr(t, "PutFile with a wrong SHA-256", err)
	wantAbsent(t, s, p+"bad-digest")
	if _, err := objstore.PutFile(t.Context(), s, p+"bad-size", src, int64(len(data))-1, objstore.PutOptions{}); err == nil || objstore.IsTransient(err) {
		t.Errorf("PutFile with a wrong size: err = %v, want a non-transient error", err)
	}
	wantAbsent(t, s, p+"bad-size")
	if _, err := objstore.PutFile(t.Context(), s, p+"missing", src+".missing", 1, objstore.PutOptions{}); err == nil {
		t.Errorf("PutFile of a missing file succeeded")
	}
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(src); err != nil || !bytes.Equal(b, data) {
		t.Errorf("the source file changed or went with the object: %v", err)
	}
}
