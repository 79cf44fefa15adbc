package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/objstoretest"
	"github.com/aisedge/aisedge/internal/objstore/s3"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
)

func TestMain(m *testing.M) { os.Exit(seaweed.Main(m)) }

// smallParts makes multipart uploads cheap: 5 MiB parts above 6 MiB.
func smallParts(c s3.Config) s3.Config {
	c.PartSize = s3.MinPartSize
	c.MultipartThreshold = 6 << 20
	c.PartConcurrency = 3
	return c
}

func newStore(t testing.TB, c s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := seaweed.Start(t)
	s := newStore(t, smallParts(srv.Config(srv.Admin)))
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return s }, objstoretest.Options{Layout: s.Layout()})
}

func TestConformanceWithRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	srv := seaweed.Start(t)
	s := newStore(t, smallParts(srv.Config(srv.Admin)))
	r := objstore.WithRetry(s, objstore.RetryPolicy{InitialBackoff: 10 * time.Millisecond, MaxAttempts: 3})
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return r }, objstoretest.Options{Layout: s.Layout()})
}

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, objstore.ErrAccessDenied) || !objstore.IsPermanent(err) || objstore.IsTransient(err) {
		t.Errorf("%s: err = %v, want a permanent ErrAccessDenied", what, err)
	}
}

// The edge key is put-only and confined to staged/<edge>/.
func TestEdgeKey(t *testing.T) {
	srv := seaweed.Start(t)
	ctx := t.Context()
	admin := newStore(t, smallParts(srv.Config(srv.Admin)))
	edgeA := newStore(t, smallParts(srv.Config(srv.Edge("edge-a"))))
	mine := srv.Prefix(t, "edge-a")
	theirs := srv.Prefix(t, "edge-b")

	// An object of edge-b's, put by the admin.
	other := objstoretest.Data(1000)
	if _, err := admin.Put(ctx, theirs+"x.dcm", bytes.NewReader(other), 1000, objstoretest.Digests(other)); err != nil {
		t.Fatal(err)
	}

	// Writes its own prefix, single PUT and multipart, checks them by listing.
	small, large := objstoretest.Data(200<<10), objstoretest.Data(13<<20)
	si, err := edgeA.Put(ctx, mine+"S/1.T1/DICOM/a.dcm", bytes.NewReader(small), int64(len(small)), objstoretest.Digests(small))
	if err != nil {
		t.Fatalf("edge Put in its prefix: %v", err)
	}
	li, err := edgeA.Put(ctx, mine+"S/1.T1/DICOM/big.dcm", objstoretestReader(large), int64(len(large)), objstoretest.Digests(large))
	if err != nil {
		t.Fatalf("edge multipart Put in its prefix: %v", err)
	}
	if !strings.HasSuffix(li.ETag, "-3") {
		t.Errorf("multipart ETag = %s, want 3 parts", li.ETag)
	}
	if _, err := objstore.VerifyListed(ctx, edgeA, si.Key, si.Size, objstore.ETag(objstoretest.Digests(small).ContentMD5)); err != nil {
		t.Errorf("VerifyListed(single) with the edge key: %v", err)
	}
	etag, _ := edgeA.Layout().ETag(ctx, bytes.NewReader(large), int64(len(large)))
	if _, err := objstore.VerifyListed(ctx, edgeA, li.Key, li.Size, etag); err != nil {
		t.Errorf("VerifyListed(multipart) with the edge key: %v", err)
	}
	var listed []string
	for info, err := range edgeA.List(ctx, mine) {
		if err != nil {
			t.Fatalf("edge List of its prefix: %v", err)
		}
		listed = append(listed, info.Key)
	}
	if len(listed) != 2 {
		t.Errorf("edge List = %v, want its 2 objects", listed)
	}

	// Cannot read, delete, or touch another edge's prefix.
	_, err = edgeA.Stat(ctx, si.Key)
	wantDenied(t, "edge Stat (HEAD)", err)
	_, err = edgeA.Get(ctx, si.Key)
	wantDenied(t, "edge Get", err)
	wantDenied(t, "edge Delete of its own object", edgeA.Delete(ctx, si.Key))
	wantDenied(t, "edge Delete of another edge's object", edgeA.Delete(ctx, theirs+"x.dcm"))
	_, err = edgeA.Put(ctx, theirs+"x.dcm", bytes.NewReader(small), int64(len(small)), objstore.PutOptions{})
	wantDenied(t, "edge Put over another edge's object", err)
	_, err = edgeA.Put(ctx, theirs+"big.dcm", bytes.NewReader(large), int64(len(large)), objstore.PutOptions{})
	wantDenied(t, "edge multipart Put in another edge's prefix", err)
	_, err = edgeA.Put(ctx, "staged/PROJ.SUBJ.VISIT/a.dcm", bytes.NewReader(small), int64(len(small)), objstore.PutOptions{})
	wantDenied(t, "edge Put outside staged/<edge>/", err)
	_, err = edgeA.Get(ctx, theirs+"x.dcm")
	wantDenied(t, "edge Get of another edge's object", err)
	for _, p := range []string{theirs, "staged/edge-b/", "staged/", "", "staged/edge-a"} {
		for _, err := range edgeA.List(ctx, p) {
			if err != nil {
				wantDenied(t, fmt.Sprintf("edge List(%q)", p), err)
				break
			}
			t.Errorf("edge List(%q) yielded an object", p)
			break
		}
	}
	// The other edge's object is intact.
	rc, err := admin.Get(ctx, theirs+"x.dcm")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, other) {
		t.Error("another edge's object was changed")
	}

	// Configured as write-only, Stat and Get fail without a request.
	wo := srv.Config(srv.Edge("edge-a"))
	wo.WriteOnly = true
	_, err = newStore(t, wo).Stat(ctx, si.Key)
	if !errors.Is(err, objstore.ErrUnsupported) || !objstore.IsPermanent(err) {
		t.Errorf("write-only Stat: err = %v, want ErrUnsupported", err)
	}

	// The admin lists, reads and deletes everything.
	var all []string
	for info, err := range admin.List(ctx, "staged/") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(info.Key, mine) || strings.HasPrefix(info.Key, theirs) {
			all = append(all, info.Key)
		}
	}
	if len(all) != 3 {
		t.Errorf("admin List(staged/) shows %v, want the 3 objects of this test", all)
	}
	rc, err = admin.Get(ctx, si.Key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, small) {
		t.Error("admin Get returned different content")
	}
	for _, k := range all {
		if err := admin.Delete(ctx, k); err != nil {
			t.Errorf("admin Delete(%s): %v", k, err)
		}
	}
	for info, err := range admin.List(ctx, mine) {
		t.Errorf("left after admin Delete: %v %v", info.Key, err)
	}
}

// objstoretestReader hides ReaderAt so the buffered multipart path runs.
func objstoretestReader(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b)) }

// A client that trusts another CA gets a clear, permanent certificate error.
func TestUntrustedCA(t *testing.T) {
	srv := seaweed.Start(t)
	for _, tc := range []struct{ name, ca string }{
		{"other CA", srv.OtherCAFile},
		{"system roots", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.Config(srv.Admin)
			c.CAFile = tc.ca
			s := newStore(t, c)
			_, err := s.Put(t.Context(), srv.Prefix(t, "edge-a")+"x", bytes.NewReader([]byte("x")), 1, objstore.PutOptions{})
			if !errors.Is(err, objstore.ErrCertificate) || !objstore.IsPermanent(err) || objstore.IsTransient(err) {
				t.Fatalf("err = %v, want a permanent ErrCertificate", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "x509: certificate signed by unknown authority") || !strings.Contains(msg, "not trusted") {
				t.Errorf("message %q does not say what is wrong", msg)
			}
			for _, err := range s.List(t.Context(), "staged/") {
				if !errors.Is(err, objstore.ErrCertificate) {
					t.Errorf("List: err = %v, want ErrCertificate", err)
				}
			}
		})
	}
}

// A server that is down gives transient errors, which WithRetry retries.
func TestServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := newStore(t, s3.Config{Endpoint: "https://" + addr, Bucket: "bucket", AccessKey: "a", SecretKey: "s"})
	_, err = s.Put(t.Context(), "k", bytes.NewReader([]byte("x")), 1, objstore.PutOptions{})
	if !objstore.IsTransient(err) || objstore.IsPermanent(err) {
		t.Fatalf("Put to a closed port: err = %v, want transient", err)
	}
	attempts := 0
	r := objstore.WithRetry(s, objstore.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond,
		OnRetry: func(string, string, int, error, time.Duration) { attempts++ }})
	if _, err := r.Put(t.Context(), "k", bytes.NewReader([]byte("x")), 1, objstore.PutOptions{}); !objstore.IsTransient(err) {
		t.Errorf("retried Put: err = %v", err)
	}
	if attempts != 2 {
		t.Errorf("retried %d times, want 2", attempts)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Put(ctx, "k", bytes.NewReader([]byte("x")), 1, objstore.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: err = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	ok := s3.Config{Endpoint: "https://s3.example:443", Bucket: "ingest-bucket", AccessKey: "a", SecretKey: "s"}
	for _, tc := range []struct {
		name string
		mod  func(*s3.Config)
	}{
		{"ftp scheme", func(c *s3.Config) { c.Endpoint = "ftp://h" }},
		{"path", func(c *s3.Config) { c.Endpoint = "https://h/bucket" }},
		{"no host", func(c *s3.Config) { c.Endpoint = "https://" }},
		{"no bucket", func(c *s3.Config) { c.Bucket = "" }},
		{"bad bucket", func(c *s3.Config) { c.Bucket = "B_" }},
		{"no secret", func(c *s3.Config) { c.SecretKey = "" }},
		{"tiny parts", func(c *s3.Config) { c.PartSize = 1 << 20 }},
		{"missing CA file", func(c *s3.Config) { c.CAFile = "/nonexistent/ca.pem" }},
	} {
		c := ok
		tc.mod(&c)
		if _, err := s3.New(c); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, c)
		}
	}
	if _, err := s3.New(ok); err != nil {
		t.Errorf("New(%+v): %v", ok, err)
	}
}
