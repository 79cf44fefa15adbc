// Package s3 is the objstore backend for S3-compatible servers (SeaweedFS in
// this project), built on minio-go. It speaks path-style requests to one
// bucket over HTTPS verified against a configured CA bundle (the
// installation's private CA), and it checks every upload end to end:
//
//   - a single PUT (objects up to MultipartThreshold) carries Content-MD5 and,
//     when the caller knows it, x-amz-checksum-sha256, so the server refuses
//     corrupted data; the ETag and checksum the server echoes are compared
//     with digests computed from the bytes sent;
//   - larger objects go up as a multipart upload of PartSize parts, at most
//     PartConcurrency at a time across the store, each with its CRC32C
//     (x-amz-checksum-crc32c, which the server checks and echoes) and, until
//     the server has shown that it echoes the CRC32C, its Content-MD5 (the
//     MD5 is most of the client's CPU for large objects); the whole-object
//     digest given by the caller (the SHA-256, else the MD5) is checked
//     locally before the upload is completed (a mismatch aborts it, so
//     nothing is stored), and the final ETag must equal the MD5 of the part
//     MD5s (ours, or the server's for parts it confirmed by CRC32C).
//
// minio-go's own retries are disabled: wrap the Store with objstore.WithRetry,
// which retries transient errors only. Errors are *objstore.Error classified
// from the S3 error code, HTTP status and transport error.
//
// A put-only key (the edge's: PutObject, AbortMultipartUpload,
// ListMultipartUploadParts and ListBucket on its own prefix) can Put and List
// but not Stat, Get or Delete; set Config.WriteOnly so Stat and Get fail with
// objstore.ErrUnsupported without a request, and check uploads with
// objstore.VerifyListed.
package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/aisedge/aisedge/internal/objstore"
)

// Defaults of Config.
const (
	DefaultRegion             = "us-east-1"
	DefaultMultipartThreshold = 64 << 20
	DefaultPartSize           = 16 << 20
	DefaultPartConcurrency    = 4
	// MinPartSize is the smallest part S3 accepts (except the last).
	MinPartSize = 5 << 20
)

// Config describes one bucket on one S3 endpoint.
type Config struct {
	// Endpoint is the server's base URL: "https://host[:port]" (or
	// "http://..." for an in-cluster endpoint without TLS). Requests are
	// path-style: <endpoint>/<bucket>/<key>.
	Endpoint string
	Bucket   string
	// AccessKey and SecretKey are the credentials (never logged).
	AccessKey string
	SecretKey string
	// Region is used for request signing; default DefaultRegion. Setting it
	// also spares a GetBucketLocation request, which put-only keys may not make.
	Region string
	// CAFile is a PEM bundle of the CAs trusted for the endpoint's
	// certificate; empty means the system roots.
	CAFile string
	// WriteOnly declares a key that may put and list but not read: Stat and
	// Get fail with objstore.ErrUnsupported without a request.
	WriteOnly bool
	// Objects larger than MultipartThreshold bytes are uploaded in parts of
	// PartSize bytes; PartConcurrency bounds the parts in flight across all
	// the store's uploads at once (several large files share the slots
	// rather than each opening its own, which only adds contention on a
	// loaded server). Defaults:
	// DefaultMultipartThreshold, DefaultPartSize (at least MinPartSize; grown
	// when an object would need more than 10,000 parts),
	// DefaultPartConcurrency. Memory for parts is PartSize×PartConcurrency
	// for readers that are not io.ReaderAt (files are read in place).
	MultipartThreshold int64
	PartSize           int64
	PartConcurrency    int
	// Transport, if set, replaces the HTTP transport built from CAFile
	// (tests and benchmarks).
	Transport http.RoundTripper
}

// Store is an S3 objstore.Store.
type Store struct {
	client *minio.Client
	core   minio.Core
	cfg    Config
	layout objstore.PartLayout
	// parts holds one token per part in flight (PartConcurrency).
	parts chan struct{}
	// crcEchoed is set once the server has echoed a part's CRC32C
	// (checked against the bytes it received): from then on parts are
	// not MD5-hashed.
	crcEchoed atomic.Bool
}

var _ objstore.Store = (*Store)(nil)

// New returns a Store for cfg. It makes no request: a wrong endpoint, key or
// CA shows on the first operation.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("objstore/s3: endpoint: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("objstore/s3: endpoint %q: want https://host[:port] (or http://)", cfg.Endpoint)
	}
	if err := s3utils.CheckValidBucketName(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("objstore/s3: bucket %q: %w", cfg.Bucket, err)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("objstore/s3: no credentials")
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.MultipartThreshold <= 0 {
		cfg.MultipartThreshold = DefaultMultipartThreshold
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("objstore/s3: part size %d below the S3 minimum %d", cfg.PartSize, MinPartSize)
	}
	if cfg.MultipartThreshold < cfg.PartSize {
		cfg.MultipartThreshold = cfg.PartSize
	}
	if cfg.PartConcurrency <= 0 {
		cfg.PartConcurrency = DefaultPartConcurrency
	}
	tr := cfg.Transport
	if tr == nil {
		if tr, err = newTransport(cfg.CAFile, cfg.PartConcurrency); err != nil {
			return nil, err
		}
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Transport:    tr,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1, // retries belong to objstore.WithRetry
	})
	if err != nil {
		return nil, fmt.Errorf("objstore/s3: %w", err)
	}
	return &Store{
		client: client,
		core:   minio.Core{Client: client},
		cfg:    cfg,
		layout: objstore.PartLayout{Threshold: cfg.MultipartThreshold, PartSize: cfg.PartSize},
		parts:  make(chan struct{}, cfg.PartConcurrency),
	}, nil
}

// newTransport returns an HTTP/1.1 transport trusting the CAs in caFile (or
// the system roots), with enough idle connections for parallel parts.
func newTransport(caFile string, concurrency int) (*http.Transport, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("objstore/s3: CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("objstore/s3: CA bundle %s: no PEM certificate in it", caFile)
		}
		tlsConf.RootCAs = pool
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   max(16, 2*concurrency),
		DisableCompression:    true,
		// Bodies that are not in memory (files read in place) are copied
		// through this buffer: the 4 KiB default means a TLS record and a
		// write(2) per 4 KiB, which halved large-file throughput.
		WriteBufferSize: 128 << 10,
		ReadBufferSize:  64 << 10,
	}, nil
}

// Layout returns how the Store splits objects into parts, for computing
// expected ETags (objstore.PartLayout.ETag).
func (s *Store) Layout() objstore.PartLayout { return s.layout }

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// Stat implements objstore.Store.
func (s *Store) Stat(ctx context.Context, key string) (objstore.Info, error) {
	if err := s.readable("stat", key); err != nil {
		return objstore.Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return objstore.Info{}, s.fail(ctx, "stat", key, err)
	}
	return objstore.Info{Key: key, Size: oi.Size, ETag: objstore.NormalizeETag(oi.ETag), LastModified: oi.LastModified}, nil
}

func (s *Store) readable(op, key string) error {
	if err := objstore.ValidateKey(key); err != nil {
		return &objstore.Error{Op: op, Key: key, Kind: objstore.ErrInvalid, Err: err}
	}
	if s.cfg.WriteOnly {
		return &objstore.Error{Op: op, Key: key, Kind: objstore.ErrUnsupported,
			Err: errors.New("the store is configured with a put-only key (verify uploads with List)")}
	}
	return nil
}

// Get implements objstore.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := s.readable("get", key); err != nil {
		return nil, err
	}
	body, _, _, err := s.core.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.fail(ctx, "get", key, err)
	}
	return body, nil
}

// Delete implements objstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objstore.ValidateKey(key); err != nil {
		return &objstore.Error{Op: "delete", Key: key, Kind: objstore.ErrInvalid, Err: err}
	}
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if objstore.IsNotExist(s.fail(ctx, "delete", key, err)) {
			return nil
		}
		return s.fail(ctx, "delete", key, err)
	}
	return nil
}

// List implements objstore.Store.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[objstore.Info, error] {
	return func(yield func(objstore.Info, error) bool) {
		if err := objstore.ValidatePrefix(prefix); err != nil {
			yield(objstore.Info{}, &objstore.Error{Op: "list", Key: prefix, Kind: objstore.ErrInvalid, Err: err})
			return
		}
		if err := ctx.Err(); err != nil {
			yield(objstore.Info{}, &objstore.Error{Op: "list", Key: prefix, Err: err})
			return
		}
		opts := minio.ListObjectsOptions{Prefix: prefix, Recursive: true}
		for oi := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, opts) {
			if oi.Err != nil {
				yield(objstore.Info{}, s.fail(ctx, "list", prefix, oi.Err))
				return
			}
			if !yield(objstore.Info{Key: oi.Key, Size: oi.Size, ETag: objstore.NormalizeETag(oi.ETag), LastModified: oi.LastModified}, nil) {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(objstore.Info{}, &objstore.Error{Op: "list", Key: prefix, Err: err})
		}
	}
}

// fail wraps err from an S3 request in an *objstore.Error with its kind.
func (s *Store) fail(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	var oe *objstore.Error
	if errors.As(err, &oe) {
		return err
	}
	e := &objstore.Error{Op: op, Key: key, Err: err, Kind: kindOf(err)}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.Code != "" {
		e.Err = fmt.Errorf("%w [S3 %s, HTTP %d]", err, resp.Code, resp.StatusCode)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		e.Err = fmt.Errorf("%w (%w)", cerr, err)
	}
	if e.Kind == objstore.ErrCertificate {
		ca := "the system roots"
		if s.cfg.CAFile != "" {
			ca = "CA bundle " + s.cfg.CAFile
		}
		e.Err = fmt.Errorf("%w (endpoint %s, trusting %s)", err, s.cfg.Endpoint, ca)
	}
	return e
}

// kindOf classifies an error from minio-go or the transport.
func kindOf(err error) error {
	for _, k := range []error{objstore.ErrInvalid, objstore.ErrChecksum} {
		if errors.Is(err, k) {
			return k // from our own readers and checks
		}
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && (resp.StatusCode != 0 || resp.Code != "") {
		return kindOfResponse(resp)
	}
	if objstore.IsPermanent(err) { // x509 and TLS errors anywhere in the chain
		return objstore.ErrCertificate
	}
	// minio-go replaces a connection closed mid-request (io.EOF) by this.
	if strings.Contains(err.Error(), "Connection closed by foreign host") {
		return objstore.ErrUnavailable
	}
	return nil
}

func kindOfResponse(resp minio.ErrorResponse) error {
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return objstore.ErrNotExist
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "AccountProblem":
		return objstore.ErrAccessDenied
	case "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch",
		"InvalidChecksum", "ChecksumMismatch":
		return objstore.ErrChecksum
	case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
		"OperationAborted":
		return objstore.ErrUnavailable
	case "NoSuchBucket", "NoSuchUpload", "InvalidBucketName":
		return objstore.ErrInvalid
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return objstore.ErrNotExist
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return objstore.ErrAccessDenied
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return objstore.ErrUnavailable
	case resp.StatusCode >= 400:
		return objstore.ErrInvalid
	}
	return nil
}
