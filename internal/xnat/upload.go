package xnat

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
)

// File is one file of a resource as the manifest describes it.
type File struct {
	// Path is the path inside the resource, slash-separated, relative
	// (e.g. "1.2.840….dcm"); it is also the path XNAT lists.
	Path string
	// Size in bytes and MD5 (lowercase hex) from the manifest.
	Size int64
	MD5  string
	// Open returns the content; it may be called more than once (retries).
	// Verify does not use it.
	Open func() (io.ReadCloser, error)
}

// UploadMode selects how a resource's files are sent.
type UploadMode int

const (
	// Archive sends the files as .tar.gz archives with extract=true (one
	// per Config.ArchiveBatchBytes), as xnat-ingest does.
	Archive UploadMode = iota
	// PerFile sends one PUT per file.
	PerFile
)

func (m UploadMode) String() string {
	if m == PerFile {
		return "per-file"
	}
	return "tar.gz"
}

// UploadResult is what an upload sent.
type UploadResult struct {
	Sent int // files sent
	// Duplicates are paths XNAT reported as already present and therefore
	// did not write ({"duplicates":[...]}); verification decides whether
	// the existing copies are ours.
	Duplicates []string
	Requests   int // upload requests
}

var md5RE = func(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// checkFiles validates manifest entries: clean relative paths, unique,
// lowercase hex MD5s, non-negative sizes, and Open when needed.
func checkFiles(files []File, needOpen bool) error {
	seen := make(map[string]bool, len(files))
	for i := range files {
		f := &files[i]
		if !cleanRelPath(f.Path) {
			return fmt.Errorf("xnat: file path %q must be relative, slash-separated, without . or ..: %w", f.Path, ErrInvalid)
		}
		if seen[f.Path] {
			return fmt.Errorf("xnat: file path %q listed twice: %w", f.Path, ErrInvalid)
		}
		seen[f.Path] = true
		if !md5RE(strings.ToLower(f.MD5)) {
			return fmt.Errorf("xnat: file %q: MD5 %q is not 32 hex digits: %w", f.Path, f.MD5, ErrInvalid)
		}
		if f.Size < 0 {
			return fmt.Errorf("xnat: file %q: negative size: %w", f.Path, ErrInvalid)
		}
		if needOpen && f.Open == nil {
			return fmt.Errorf("xnat: file %q has no Open: %w", f.Path, ErrInvalid)
		}
	}
	return nil
}

func cleanRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00?#") {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return false
		}
	}
	return true
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = seg(parts[i])
	}
	return strings.Join(parts, "/")
}

// Upload sends files into one resource (creating it on the fly if needed)
// and returns what XNAT reported. It holds the resource's lock, so two
// uploads into one resource never overlap within this client. It does not
// list or verify; Deliver does the whole job.
func (c *Client) Upload(ctx context.Context, ref ResourceRef, files []File, mode UploadMode) (UploadResult, error) {
	if err := checkFiles(files, true); err != nil {
		return UploadResult{}, err
	}
	if err := checkResourceLabel(ref.Label); err != nil {
		return UploadResult{}, err
	}
	unlock, err := c.locks.lock(ctx, ref.String())
	if err != nil {
		return UploadResult{}, err
	}
	defer unlock()
	return c.upload(ctx, ref, files, mode, false)
}

func (c *Client) upload(ctx context.Context, ref ResourceRef, files []File, mode UploadMode, overwrite bool) (UploadResult, error) {
	var res UploadResult
	if len(files) == 0 {
		return res, nil
	}
	if mode == PerFile || overwrite {
		for _, f := range files {
			if err := c.sendChecked(ctx, ref, []File{f}, overwrite, &res); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	for _, batch := range c.batches(files) {
		if err := c.sendChecked(ctx, ref, batch, false, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// sendChecked sends one batch (one file in-body, or several as an archive)
// and copes with what proxies and XNAT do to long uploads
// (docs/xnat.md, "Uploading files"):
//
//   - 413 from a proxy: the batch is split in halves, down to single files;
//     a single file still refused is a permanent error;
//   - a transient failure (500, 502, 504, a timeout or a lost connection)
//     may come after XNAT did the work: before sending again, the catalog
//     is refreshed (files already on disk get their entries) and the
//     resource listed, and only the files still missing are sent.
func (c *Client) sendChecked(ctx context.Context, ref ResourceRef, batch []File, overwrite bool, res *UploadResult) error {
	for attempt := 1; ; attempt++ {
		dups, err := c.sendOnce(ctx, ref, batch, overwrite, res.Requests)
		res.Requests++
		if err == nil {
			res.Sent += len(batch)
			res.Duplicates = append(res.Duplicates, dups...)
			return nil
		}
		if statusOf(err) == http.StatusRequestEntityTooLarge {
			if len(batch) == 1 {
				return &Error{Op: "upload " + batch[0].Path, Status: http.StatusRequestEntityTooLarge,
					Msg: fmt.Sprintf("a proxy refuses even this single file (%d bytes); raise its body size limit", batch[0].Size),
					Err: err, kind: fault.Permanent}
			}
			c.log.Info("xnat upload refused as too large; splitting the batch", "resource", ref.String(), "files", len(batch))
			half := len(batch) / 2
			if err := c.sendChecked(ctx, ref, batch[:half], overwrite, res); err != nil {
				return err
			}
			return c.sendChecked(ctx, ref, batch[half:], overwrite, res)
		}
		if !IsTransient(err) || errors.Is(err, ErrAuth) || attempt >= c.cfg.Retry.Attempts || ctx.Err() != nil {
			return err
		}
		// What did the server do with it?
		left, cerr := c.stillMissing(ctx, ref, batch, overwrite)
		if cerr != nil {
			return err
		}
		c.log.Info("xnat upload failed; checked what arrived", "resource", ref.String(), "status", statusOf(err),
			"sent", len(batch), "missing", len(left))
		res.Sent += len(batch) - len(left)
		if batch = left; len(batch) == 0 {
			return nil
		}
		c.nRetries.Add(1)
		if serr := c.sleepBackoff(ctx, attempt, err); serr != nil {
			return err
		}
	}
}

// stillMissing refreshes the resource's catalog (cataloguing what reached
// the disk) and returns the files of batch the listing lacks. With
// overwrite, a file counts as arrived only when its listed digest is the
// new one.
func (c *Client) stillMissing(ctx context.Context, ref ResourceRef, batch []File, overwrite bool) ([]File, error) {
	if err := c.RefreshCatalog(ctx, ref); err != nil && !IsPermanent(err) {
		return nil, err
	}
	listing, err := c.ListResourceFiles(ctx, ref)
	if err != nil {
		return nil, err
	}
	idx := make(map[string]RemoteFile, len(listing))
	for _, r := range listing {
		idx[r.Path] = r
	}
	var left []File
	for _, f := range batch {
		r, ok := idx[f.Path]
		if !ok || (overwrite && r.Digest != strings.ToLower(f.MD5)) {
			left = append(left, f)
		}
	}
	return left, nil
}

// sleepBackoff waits before retry number n per Config.Retry.
func (c *Client) sleepBackoff(ctx context.Context, n int, err error) error {
	d := c.cfg.Retry.Backoff(n)
	if ra := retryAfter(err); ra > d {
		d = min(ra, c.cfg.Retry.Max)
	}
	sleep := c.cfg.Retry.Sleep
	if sleep == nil {
		sleep = fault.Sleep
	}
	return sleep(ctx, d)
}

// sendOnce makes one upload request: a single file in-body, or an archive
// for several files. A 0-byte file goes in an archive too, since XNAT
// fails an empty in-body upload with 500.
func (c *Client) sendOnce(ctx context.Context, ref ResourceRef, batch []File, overwrite bool, n int) ([]string, error) {
	if len(batch) == 1 && batch[0].Size > 0 {
		return c.uploadOne(ctx, ref, batch[0], overwrite)
	}
	name := "upload.tar.gz"
	if n > 0 {
		name = fmt.Sprintf("upload-%d.tar.gz", n+1)
	}
	return c.uploadArchive(ctx, ref, name, batch, overwrite)
}

// batches splits files so that each archive holds at most
// ArchiveBatchBytes of content (a single bigger file gets its own).
func (c *Client) batches(files []File) [][]File {
	var out [][]File
	var cur []File
	var size int64
	for _, f := range files {
		if len(cur) > 0 && size+f.Size > c.cfg.ArchiveBatchBytes {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, f)
		size += f.Size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// parseDuplicates reads the {"duplicates":[...]} answer of a file PUT
// (Content-Type text/html, so the body is sniffed, not the header).
func parseDuplicates(body []byte) []string {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var d struct {
		Duplicates []string `json:"duplicates"`
	}
	if json.Unmarshal(b, &d) != nil {
		return nil
	}
	return d.Duplicates
}

// uploadOne PUTs one file with inbody=true; the content is checked against
// the manifest while it streams.
func (c *Client) uploadOne(ctx context.Context, ref ResourceRef, f File, overwrite bool) ([]string, error) {
	q := query{}.add("inbody", "true")
	if overwrite {
		q = q.add("overwrite", "true")
	}
	body := func() (io.ReadCloser, int64, error) {
		rc, err := f.Open()
		if err != nil {
			return nil, 0, err
		}
		return &checkedReader{rc: rc, h: md5.New(), want: strings.ToLower(f.MD5), size: f.Size, path: f.Path}, f.Size, nil
	}
	rep, err := c.do(ctx, call{op: "upload file", method: http.MethodPut, path: ref.path() + "/files/" + escapePath(f.Path),
		query: q.String(), body: body, upload: true, once: true})
	if err != nil {
		return nil, err
	}
	return parseDuplicates(rep.body), nil
}

// checkedReader passes content through, failing at the end if its size or
// MD5 differ from the manifest.
type checkedReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	n    int64
	want string
	size int64
	path string
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if r.n > r.size {
		return n, fmt.Errorf("xnat: %s: longer than its manifest size %d: %w", r.path, r.size, ErrSourceMismatch)
	}
	if err == io.EOF {
		if r.n != r.size {
			return n, fmt.Errorf("xnat: %s: %d bytes, manifest says %d: %w", r.path, r.n, r.size, ErrSourceMismatch)
		}
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.want {
			return n, fmt.Errorf("xnat: %s: MD5 %s, manifest says %s: %w", r.path, got, r.want, ErrSourceMismatch)
		}
	}
	return n, err
}

func (r *checkedReader) Close() error { return r.rc.Close() }

// uploadArchive builds one .tar.gz (in memory or in a temporary file) and
// PUTs it with extract=true. A transient failure is not retried here:
// sendChecked first looks at what the server did.
func (c *Client) uploadArchive(ctx context.Context, ref ResourceRef, name string, files []File, overwrite bool) ([]string, error) {
	body, cleanup, err := c.buildArchive(files)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	q := query{}.add("extract", "true").add("inbody", "true")
	if overwrite {
		q = q.add("overwrite", "true")
	}
	rep, err := c.do(ctx, call{op: "upload archive", method: http.MethodPut, path: ref.path() + "/files/" + seg(name),
		query: q.String(), body: body, upload: true, once: true})
	if err != nil {
		return nil, err
	}
	return parseDuplicates(rep.body), nil
}

func (c *Client) buildArchive(files []File) (func() (io.ReadCloser, int64, error), func(), error) {
	var est int64
	for _, f := range files {
		est += f.Size + 1024
	}
	if est <= c.cfg.ArchiveMemoryBytes {
		var buf bytes.Buffer
		if err := writeTarGz(&buf, files); err != nil {
			return nil, nil, err
		}
		return bytesBody(buf.Bytes()), func() {}, nil
	}
	tmp, err := os.CreateTemp(c.cfg.TempDir, "aisedge-xnat-*.tar.gz")
	if err != nil {
		return nil, nil, &Error{Op: "build archive", Err: err, kind: fault.Transient}
	}
	name := tmp.Name()
	cleanup := func() { os.Remove(name) }
	if err := writeTarGz(tmp, files); err != nil {
		tmp.Close()
		cleanup()
		return nil, nil, err
	}
	if err := tmp.Close(); err != nil {
		cleanup()
		return nil, nil, &Error{Op: "build archive", Err: err, kind: fault.Transient}
	}
	st, err := os.Stat(name)
	if err != nil {
		cleanup()
		return nil, nil, &Error{Op: "build archive", Err: err, kind: fault.Transient}
	}
	body := func() (io.ReadCloser, int64, error) {
		f, err := os.Open(name)
		return f, st.Size(), err
	}
	return body, cleanup, nil
}

// writeTarGz writes files into a gzip'd tar, checking each against its
// manifest size and MD5.
func writeTarGz(w io.Writer, files []File) error {
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	now := time.Now().Truncate(time.Second)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Path, Mode: 0o644, Size: f.Size, ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return &Error{Op: "build archive", Err: err, kind: fault.Permanent}
		}
		rc, err := f.Open()
		if err != nil {
			return &Error{Op: "build archive: open " + f.Path, Err: err, kind: fault.Transient}
		}
		cr := &checkedReader{rc: rc, h: md5.New(), want: strings.ToLower(f.MD5), size: f.Size, path: f.Path}
		_, err = io.Copy(tw, cr)
		rc.Close()
		if err != nil {
			k := fault.Transient
			if errors.Is(err, ErrSourceMismatch) || errors.Is(err, tar.ErrWriteTooLong) {
				k = fault.Permanent
			}
			return &Error{Op: "build archive", Err: err, kind: k}
		}
		if cr.n != f.Size {
			return &Error{Op: "build archive", Err: fmt.Errorf("%s: %d bytes, manifest says %d: %w", f.Path, cr.n, f.Size, ErrSourceMismatch), kind: fault.Permanent}
		}
	}
	if err := tw.Close(); err != nil {
		return &Error{Op: "build archive", Err: err, kind: fault.Permanent}
	}
	if err := gz.Close(); err != nil {
		return &Error{Op: "build archive", Err: err, kind: fault.Transient}
	}
	return nil
}
