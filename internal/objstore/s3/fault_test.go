package s3_test

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/objstoretest"
	"github.com/aisedge/aisedge/internal/objstore/s3"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
)

// fakeS3 is a minimal S3 endpoint for fault paths real servers do not
// produce on demand. It records the requests it gets.
type fakeS3 struct {
	mu    sync.Mutex
	calls []string
	// fault, if set, answers a request instead of the normal handler.
	fault func(kind string, r *http.Request, w http.ResponseWriter) bool
	// etag, if set, replaces the ETag the fake returns for single PUTs.
	etag string
	// crc: "" echoes no x-amz-checksum-crc32c (older servers), "echo"
	// echoes the header it got, "wrong" echoes a wrong one from part 2 on.
	crc string
	// partMD5Header records, per part request, whether it had Content-MD5.
	partMD5Header []bool
	// realComplete answers CompleteMultipartUpload with the true ETag.
	realComplete bool
	partSums     map[int][]byte // by part number
}

// sums returns the parts' MD5s in part order.
func (f *fakeS3) sums() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]byte, len(f.partSums))
	for n, s := range f.partSums {
		out[n-1] = s
	}
	return out
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind := r.Method + " object"
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		kind = "initiate"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		kind = "part"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		kind = "complete"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		kind = "abort"
	}
	f.mu.Lock()
	f.calls = append(f.calls, kind)
	fault := f.fault
	f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if fault != nil && fault(kind, r, w) {
		return
	}
	sum := md5.Sum(body)
	switch kind {
	case "initiate":
		fmt.Fprint(w, `<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
	case "part":
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		f.mu.Lock()
		f.partMD5Header = append(f.partMD5Header, r.Header.Get("Content-Md5") != "")
		if f.partSums == nil {
			f.partSums = map[int][]byte{}
		}
		pn, _ := strconv.Atoi(r.URL.Query().Get("partNumber"))
		f.partSums[pn] = sum[:]
		f.mu.Unlock()
		switch c := r.Header.Get("X-Amz-Checksum-Crc32c"); {
		case f.crc == "echo" || (f.crc == "wrong" && r.URL.Query().Get("partNumber") == "1"):
			w.Header().Set("X-Amz-Checksum-Crc32c", c)
		case f.crc == "wrong":
			w.Header().Set("X-Amz-Checksum-Crc32c", "AAAAAA==")
		}
	case "complete":
		etag := "0123-2"
		if f.realComplete {
			etag = objstore.MultipartETag(f.sums())
		}
		fmt.Fprintf(w, `<CompleteMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key><ETag>"%s"</ETag></CompleteMultipartUploadResult>`, etag)
	case "abort":
		w.WriteHeader(http.StatusNoContent)
	case "PUT object":
		etag := hex.EncodeToString(sum[:])
		if f.etag != "" {
			etag = f.etag
		}
		w.Header().Set("ETag", `"`+etag+`"`)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

func (f *fakeS3) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == kind {
			n++
		}
	}
	return n
}

func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<Error><Code>%s</Code><Message>injected</Message></Error>`, code)
}

func newFake(t *testing.T, f *fakeS3) *s3.Store {
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	s, err := s3.New(s3.Config{Endpoint: srv.URL, Bucket: "bucket", AccessKey: "a", SecretKey: "s",
		PartSize: s3.MinPartSize, MultipartThreshold: s3.MinPartSize, PartConcurrency: 2,
		Transport: srv.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		status    int
		code      string
		kind      error
		transient bool
	}{
		{503, "SlowDown", objstore.ErrUnavailable, true},
		{500, "InternalError", objstore.ErrUnavailable, true},
		{502, "", objstore.ErrUnavailable, true},
		{429, "", objstore.ErrUnavailable, true},
		{400, "RequestTimeout", objstore.ErrUnavailable, true},
		{403, "AccessDenied", objstore.ErrAccessDenied, false},
		{403, "SignatureDoesNotMatch", objstore.ErrAccessDenied, false},
		{403, "RequestTimeTooSkewed", objstore.ErrAccessDenied, false},
		{400, "BadDigest", objstore.ErrChecksum, false},
		{400, "InvalidArgument", objstore.ErrInvalid, false},
		{404, "NoSuchBucket", objstore.ErrInvalid, false},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.code), func(t *testing.T) {
			f := &fakeS3{fault: func(kind string, r *http.Request, w http.ResponseWriter) bool {
				if tc.code == "" {
					w.WriteHeader(tc.status)
				} else {
					s3Error(w, tc.status, tc.code)
				}
				return true
			}}
			_, err := newFake(t, f).Put(t.Context(), "k", strings.NewReader("x"), 1, objstore.PutOptions{})
			if !errors.Is(err, tc.kind) || objstore.IsTransient(err) != tc.transient || objstore.IsPermanent(err) == tc.transient {
				t.Errorf("err = %v: want kind %v, transient %v", err, tc.kind, tc.transient)
			}
			if f.count("PUT object") != 1 {
				t.Errorf("%d requests, want 1 (minio-go must not retry by itself)", f.count("PUT object"))
			}
		})
	}
}

// A server that stores something else than what was sent is caught by the
// ETag echo.
func TestWrongETagEcho(t *testing.T) {
	data := []byte("some data")
	for _, opts := range []objstore.PutOptions{{}, objstoretest.Digests(data)} {
		f := &fakeS3{etag: strings.Repeat("0", 32)}
		_, err := newFake(t, f).Put(t.Context(), "k", bytes.NewReader(data), int64(len(data)), opts)
		if !errors.Is(err, objstore.ErrChecksum) {
			t.Errorf("opts %v: err = %v, want ErrChecksum", opts.ContentMD5 != nil, err)
		}
	}
}

// A failed part aborts the multipart upload and is not completed.
func TestMultipartPartFailureAborts(t *testing.T) {
	f := &fakeS3{fault: func(kind string, r *http.Request, w http.ResponseWriter) bool {
		if kind == "part" && r.URL.Query().Get("partNumber") == "2" {
			s3Error(w, 500, "InternalError")
			return true
		}
		return false
	}}
	data := objstoretest.Data(3*s3.MinPartSize + 10)
	_, err := newFake(t, f).Put(t.Context(), "k", bytes.NewReader(data), int64(len(data)), objstore.PutOptions{})
	if !objstore.IsTransient(err) {
		t.Errorf("err = %v, want transient", err)
	}
	if f.count("abort") != 1 || f.count("complete") != 0 {
		t.Errorf("calls %v: want one abort and no complete", f.calls)
	}
}

// A completed multipart upload whose ETag is not the MD5 of the part MD5s
// sent is reported.
func TestMultipartWrongETag(t *testing.T) {
	f := &fakeS3{}
	data := objstoretest.Data(s3.MinPartSize + 10)
	_, err := newFake(t, f).Put(t.Context(), "k", bytes.NewReader(data), int64(len(data)), objstore.PutOptions{})
	if !errors.Is(err, objstore.ErrChecksum) || f.count("part") != 2 {
		t.Errorf("err = %v after %d parts, want ErrChecksum after 2", err, f.count("part"))
	}
}

// Parts carry a CRC32C; once the server has echoed one (it checked the
// bytes against it), later parts skip the MD5. A server that echoes none
// keeps getting Content-MD5 on every part; a wrong echo fails the upload.
func TestMultipartCRC32C(t *testing.T) {
	data := objstoretest.Data(3*s3.MinPartSize + 10) // 4 parts
	for _, tc := range []struct {
		crc      string
		wantMD5s int // parts sent with Content-MD5
		wantErr  bool
	}{
		{crc: "", wantMD5s: 4},
		{crc: "echo", wantMD5s: 2}, // the first two are read before the first answer (2 slots)
		{crc: "wrong", wantErr: true},
	} {
		t.Run("server="+cmp.Or(tc.crc, "no echo"), func(t *testing.T) {
			f := &fakeS3{crc: tc.crc, realComplete: true}
			store := newFake(t, f)
			info, err := store.Put(t.Context(), "k", bytes.NewReader(data), int64(len(data)), objstoretest.Digests(data))
			if tc.wantErr {
				if !errors.Is(err, objstore.ErrChecksum) || f.count("abort") != 1 {
					t.Fatalf("err = %v, calls %v; want ErrChecksum and the upload aborted", err, f.calls)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := objstore.MultipartETag(f.sums()); info.ETag != want {
				t.Errorf("ETag %s, want %s", info.ETag, want)
			}
			n := 0
			for _, h := range f.partMD5Header {
				if h {
					n++
				}
			}
			if tc.crc == "" && n != tc.wantMD5s || tc.crc == "echo" && (n > tc.wantMD5s || f.partMD5Header[len(f.partMD5Header)-1]) {
				t.Errorf("Content-MD5 on parts %v, want %d of 4", f.partMD5Header, tc.wantMD5s)
			}
			// A second object: the store remembers the echo.
			f.partMD5Header = nil
			if _, err := store.Put(t.Context(), "k2", bytes.NewReader(data), int64(len(data)), objstoretest.Digests(data)); err != nil {
				t.Fatal(err)
			}
			if tc.crc == "echo" && slices.Contains(f.partMD5Header, true) {
				t.Errorf("second object: Content-MD5 on parts %v, want none", f.partMD5Header)
			}
		})
	}
}

// On SeaweedFS, a rejected multipart upload (wrong whole-object digest) is
// aborted with the edge's own key: no upload is left behind.
func TestMultipartAbortOnSeaweedFS(t *testing.T) {
	srv := seaweed.Start(t)
	edge := newStore(t, smallParts(srv.Config(srv.Edge("edge-a"))))
	prefix := srv.Prefix(t, "edge-a")
	data := objstoretest.Data(11 << 20)
	bad := objstoretest.Digests(data)
	bad.SHA256 = objstoretest.Digests(nil).SHA256
	_, err := edge.Put(t.Context(), prefix+"big", bytes.NewReader(data), int64(len(data)), bad)
	if !errors.Is(err, objstore.ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	client, err := srv.Client(srv.Admin)
	if err != nil {
		t.Fatal(err)
	}
	res, err := minio.Core{Client: client}.ListMultipartUploads(t.Context(), srv.Bucket, prefix, "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Uploads) != 0 {
		t.Errorf("multipart uploads left behind: %+v", res.Uploads)
	}
}

// S3 may answer CompleteMultipartUpload with 200 and an error document.
func TestMultipartCompleteErrorIn200(t *testing.T) {
	f := &fakeS3{fault: func(kind string, r *http.Request, w http.ResponseWriter) bool {
		if kind == "complete" {
			fmt.Fprint(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
			return true
		}
		return false
	}}
	data := objstoretest.Data(s3.MinPartSize + 10)
	_, err := newFake(t, f).Put(t.Context(), "k", bytes.NewReader(data), int64(len(data)), objstore.PutOptions{})
	if !objstore.IsTransient(err) {
		t.Errorf("err = %v, want transient", err)
	}
	if f.count("abort") != 1 {
		t.Errorf("calls %v: want the upload aborted", f.calls)
	}
}
