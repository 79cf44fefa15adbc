package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	wrap := func(kind error) error { return &Error{Op: "put", Key: "k", Kind: kind, Err: errors.New("cause")} }
	urlErr := func(err error) error { return &url.Error{Op: "Put", URL: "https://s3/b/k", Err: err} }
	for _, tc := range []struct {
		name                           string
		err                            error
		notExist, permanent, transient bool
	}{
		{"nil", nil, false, false, false},
		{"not exist", wrap(ErrNotExist), true, false, false},
		{"access denied", wrap(ErrAccessDenied), false, true, false},
		{"checksum", wrap(ErrChecksum), false, true, false},
		{"invalid", wrap(ErrInvalid), false, true, false},
		{"unsupported", wrap(ErrUnsupported), false, true, false},
		{"certificate kind", wrap(ErrCertificate), false, true, false},
		{"unavailable", wrap(ErrUnavailable), false, false, true},
		{"mismatch", wrap(ErrMismatch), false, false, false},
		{"unknown authority", urlErr(x509.UnknownAuthorityError{}), false, true, false},
		{"hostname", urlErr(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"}), false, true, false},
		{"connection refused", urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), false, false, true},
		{"connection reset", urlErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), false, false, true},
		{"unexpected EOF", urlErr(io.ErrUnexpectedEOF), false, false, true},
		{"server closed", urlErr(io.EOF), false, false, true},
		{"timeout", urlErr(timeoutErr{}), false, false, true},
		{"canceled", urlErr(context.Canceled), false, false, false},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), false, false, false},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "s3", IsNotFound: true}, false, false, false},
		{"other", errors.New("something"), false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsNotExist(tc.err); got != tc.notExist {
				t.Errorf("IsNotExist = %v", got)
			}
			if got := IsPermanent(tc.err); got != tc.permanent {
				t.Errorf("IsPermanent = %v", got)
			}
			if got := IsTransient(tc.err); got != tc.transient {
				t.Errorf("IsTransient = %v", got)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestErrorMessage(t *testing.T) {
	err := &Error{Op: "put", Key: "staged/e/s/f", Kind: ErrAccessDenied, Err: errors.New("403 AccessDenied")}
	if got, want := err.Error(), "objstore: put staged/e/s/f: access denied: 403 AccessDenied"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrNotExist) {
		t.Error("errors.Is does not follow Kind")
	}
}

func TestValidateKey(t *testing.T) {
	good := []string{"a", "staged/edge-1/P.S.V/1.T1/DICOM/x.dcm", "a/..b/c.", "ü/ñ", strings.Repeat("k", MaxKeyLen)}
	for _, k := range good {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v", k, err)
		}
	}
	bad := []string{"", "/a", "a/", "a//b", "./a", "a/./b", "../a", "a/..", "a\\b", "a\x00", "a\nb", "\xff",
		".objstore/tmp/x", "a/.objstore-meta", strings.Repeat("k", MaxKeyLen+1)}
	for _, k := range bad {
		if err := ValidateKey(k); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalid", k, err)
		}
	}
	for _, p := range []string{"", "a", "a/", "a/b", "a/.", "a/.."} {
		if err := ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"/", "/a", "../a", "a//b", "./", "a\\"} {
		if err := ValidatePrefix(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalid", p, err)
		}
	}
}

func TestETags(t *testing.T) {
	if got := ETag(md5sum(nil)); got != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Errorf("ETag(empty) = %s", got)
	}
	// 3 parts of 4 bytes, 4 bytes, 2 bytes.
	data := []byte("0123456789")
	want := MultipartETag([][]byte{md5sum(data[:4]), md5sum(data[4:8]), md5sum(data[8:])})
	if !strings.HasSuffix(want, "-3") || len(want) != 34 {
		t.Errorf("MultipartETag = %s", want)
	}
	l := PartLayout{Threshold: 5, PartSize: 4}
	got, err := l.ETag(t.Context(), bytes.NewReader(data), 10)
	if err != nil || got != want {
		t.Errorf("PartLayout.ETag = %s, %v; want %s", got, err, want)
	}
	if n := l.Parts(10); n != 3 {
		t.Errorf("Parts(10) = %d", n)
	}
	if got, _ := l.ETag(t.Context(), bytes.NewReader(data[:5]), 5); got != ETag(md5sum(data[:5])) {
		t.Errorf("PartLayout.ETag at the threshold = %s, want single-PUT form", got)
	}
	if _, err := l.ETag(t.Context(), bytes.NewReader(data), 11); !errors.Is(err, ErrInvalid) {
		t.Errorf("PartLayout.ETag with a short reader: %v", err)
	}
	if got := NormalizeETag(`W/"ABC-2"`); got != "abc-2" {
		t.Errorf("NormalizeETag = %s", got)
	}
}

func md5sum(b []byte) []byte { s := md5.Sum(b); return s[:] }

// fakeStore fails each method with the queued errors, then succeeds; it
// records what Put read and how often each method was called.
type fakeStore struct {
	errs  []error
	calls map[string]int
	puts  [][]byte
	list  [][]string // keys per List call; an error follows unless it is the last call
}

func (f *fakeStore) next(op string) error {
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

func (f *fakeStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Info, error) {
	b, _ := io.ReadAll(r)
	f.puts = append(f.puts, b)
	if err := f.next("put"); err != nil {
		return Info{}, err
	}
	return Info{Key: key, Size: int64(len(b))}, nil
}
func (f *fakeStore) Stat(ctx context.Context, key string) (Info, error) {
	return Info{Key: key}, f.next("stat")
}
func (f *fakeStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := f.next("get"); err != nil {
		return nil, err
	}
	return io.NopCloser(strings.NewReader("x")), nil
}
func (f *fakeStore) Delete(ctx context.Context, key string) error { return f.next("delete") }
func (f *fakeStore) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		f.calls["list"]++
		n := f.calls["list"]
		ks := f.list[n-1]
		for _, k := range ks {
			if !yield(Info{Key: k}, nil) {
				return
			}
		}
		if n < len(f.list) {
			yield(Info{}, &Error{Op: "list", Kind: ErrUnavailable})
		}
	}
}

var (
	errUnclassified = errors.New("odd")
	transient       = &Error{Op: "x", Kind: ErrUnavailable, Err: errors.New("503 SlowDown")}
	permanent       = &Error{Op: "x", Kind: ErrAccessDenied, Err: errors.New("403")}
)

func testPolicy(waits *[]time.Duration) RetryPolicy {
	return RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Second, MaxBackoff: 3 * time.Second,
		sleep: func(ctx context.Context, d time.Duration) error { *waits = append(*waits, d); return ctx.Err() }}
}

func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   error
	}{
		{"success", nil, 1, nil},
		{"transient then success", []error{transient, transient}, 3, nil},
		{"permanent", []error{permanent, nil}, 1, ErrAccessDenied},
		{"unclassified", []error{errUnclassified, nil}, 1, errUnclassified},
		{"exhausted", []error{transient, transient, transient, transient, transient}, 4, ErrUnavailable},
		{"transient then permanent", []error{transient, permanent}, 2, ErrAccessDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStore{errs: tc.errs}
			var waits []time.Duration
			var retries int
			p := testPolicy(&waits)
			p.OnRetry = func(op, key string, attempt int, err error, wait time.Duration) { retries++ }
			s := WithRetry(f, p)
			err := s.Delete(t.Context(), "k")
			if f.calls["delete"] != tc.wantCalls {
				t.Errorf("calls = %d, want %d", f.calls["delete"], tc.wantCalls)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if retries != tc.wantCalls-1 || len(waits) != tc.wantCalls-1 {
				t.Errorf("OnRetry called %d times, %d waits; want %d", retries, len(waits), tc.wantCalls-1)
			}
			for i, w := range waits {
				nominal := min(time.Second<<i, 3*time.Second)
				if w > nominal || w < nominal/2 {
					t.Errorf("wait %d = %v, want within [%v, %v]", i, w, nominal/2, nominal)
				}
			}
		})
	}
}

func TestRetryContext(t *testing.T) {
	f := &fakeStore{errs: []error{transient, transient, transient}}
	ctx, cancel := context.WithCancel(t.Context())
	s := WithRetry(f, RetryPolicy{InitialBackoff: time.Hour, OnRetry: func(string, string, int, error, time.Duration) { cancel() }})
	start := time.Now()
	_, err := s.Stat(ctx, "k")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want the last error and context.Canceled", err)
	}
	// Well under the hour's backoff, however slow the machine.
	if time.Since(start) > time.Minute || f.calls["stat"] != 1 {
		t.Errorf("did not stop waiting on cancel (calls %d)", f.calls["stat"])
	}
}

func TestRetryPutRewinds(t *testing.T) {
	var waits []time.Duration
	data := []byte("0123456789")
	for _, tc := range []struct {
		name      string
		r         func() io.Reader
		wantCalls int
	}{
		{"seeker at an offset", func() io.Reader { r := bytes.NewReader(data); r.Seek(3, io.SeekStart); return r }, 3},
		{"reader at", func() io.Reader { return readerAtOnly{bytes.NewReader(data[3:])} }, 3},
		{"plain reader", func() io.Reader { return io.MultiReader(bytes.NewReader(data[3:])) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStore{errs: []error{transient, transient}}
			_, err := WithRetry(f, testPolicy(&waits)).Put(t.Context(), "k", tc.r(), 7, PutOptions{})
			if len(f.puts) != tc.wantCalls {
				t.Fatalf("Put called %d times, want %d (err %v)", len(f.puts), tc.wantCalls, err)
			}
			for i, b := range f.puts {
				if string(b) != "3456789" {
					t.Errorf("attempt %d read %q", i+1, b)
				}
			}
			if tc.wantCalls == 1 && !errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

type readerAtOnly struct{ r *bytes.Reader }

func (r readerAtOnly) Read(b []byte) (int, error)              { return r.r.Read(b) }
func (r readerAtOnly) ReadAt(b []byte, off int64) (int, error) { return r.r.ReadAt(b, off) }

func TestRetryListResumes(t *testing.T) {
	var waits []time.Duration
	f := &fakeStore{calls: map[string]int{}, list: [][]string{{"a", "b"}, {"a"}, {"a", "b", "c"}}}
	var got []string
	for info, err := range WithRetry(f, testPolicy(&waits)).List(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Key)
	}
	if strings.Join(got, ",") != "a,b,c" || f.calls["list"] != 3 {
		t.Errorf("got %v after %d listings, want a,b,c after 3", got, f.calls["list"])
	}
}

func TestLogging(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := &fakeStore{errs: []error{nil, permanent}}
	s := WithLogging(f, log)
	s.Put(t.Context(), "staged/e/s/f.dcm", strings.NewReader("SECRET-CONTENT"), 14, PutOptions{})
	s.Delete(t.Context(), "staged/e/s/f.dcm")
	out := buf.String()
	for _, want := range []string{`"msg":"objstore put"`, `"key":"staged/e/s/f.dcm"`, `"size":14`,
		`"level":"WARN","msg":"objstore delete failed"`, `"class":"permanent"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("log contains object content:\n%s", out)
	}
}

func TestPartSizeGrows(t *testing.T) {
	l := PartLayout{Threshold: 64 << 20, PartSize: 16 << 20}
	size := int64(200) << 30 // 200 GiB: 12,800 parts of 16 MiB
	if ps := l.PartSizeFor(size); ps != 32<<20 {
		t.Errorf("PartSizeFor(200 GiB) = %d, want 32 MiB", ps)
	}
	if n := l.Parts(size); n != 6400 {
		t.Errorf("Parts(200 GiB) = %d", n)
	}
	if ps := l.PartSizeFor(1 << 30); ps != 16<<20 {
		t.Errorf("PartSizeFor(1 GiB) = %d", ps)
	}
}

func TestNoRetry(t *testing.T) {
	f := &fakeStore{errs: []error{transient, nil}}
	var waits []time.Duration
	s := WithRetry(f, testPolicy(&waits))
	if err := s.Delete(NoRetry(t.Context()), "k"); !errors.Is(err, ErrUnavailable) || f.calls["delete"] != 1 || len(waits) != 0 {
		t.Errorf("under NoRetry: err %v, %d calls, %d waits; want the first error after one call", err, f.calls["delete"], len(waits))
	}
}
