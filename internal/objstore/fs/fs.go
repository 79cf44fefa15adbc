// Package fs is the objstore backend for a local directory: each object is a
// file at <dir>/<key>, written crash-safely (temporary file, fsync, rename,
// directory fsync) so a reader or a restart after a crash sees either the old
// or the new object. It serves as the store of a standalone installation and
// as the reference backend of the conformance suite.
//
// Each object carries a small metadata record (its MD5, SHA-256 and content
// type, so that List and Stat report S3-compatible ETags without re-reading
// data): an extended attribute of its file where the file system supports
// user attributes, else a file under <dir>/.objstore/meta/. A record that does
// not match its file (size, modification time, inode) is ignored and the
// digests are recomputed, so files changed behind the store's back are still
// reported correctly; records are therefore not fsynced. Temporary files live
// under <dir>/.objstore/tmp/. PutFile links a local file into the store
// instead of copying it.
//
// All file access goes through os.Root: keys cannot reach outside the
// directory, not even through symbolic links planted in it. Unlike S3, a key
// cannot be both an object and the beginning of another ("a" and "a/b");
// such a Put fails with objstore.ErrInvalid.
package fs

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aisedge/aisedge/internal/objstore"
)

// xattrs is false in tests of the record-file fallback.
var xattrs = true

const (
	tmpDir  = objstore.ReservedPrefix + "/tmp"
	metaDir = objstore.ReservedPrefix + "/meta"
)

// Store is a local-directory objstore.Store.
type Store struct {
	root *os.Root
	// real is the directory's absolute path with symbolic links resolved.
	real string
}

var (
	_ objstore.Store = (*Store)(nil)
	_ objstore.Local = (*Store)(nil)
)

// Open returns a Store keeping its objects in dir, creating dir (and its
// bookkeeping folders) if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("objstore/fs: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore/fs: %w", err)
	}
	real, err := filepath.Abs(dir)
	if err == nil {
		real, err = filepath.EvalSymlinks(real)
	}
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("objstore/fs: %w", err)
	}
	s := &Store{root: root, real: real}
	for _, d := range []string{tmpDir, metaDir} {
		if err := s.mkdirs(d); err != nil {
			root.Close()
			return nil, fmt.Errorf("objstore/fs: %s: %w", dir, err)
		}
	}
	s.removeStaleTemps(time.Hour)
	return s, nil
}

// LocalPath implements objstore.Local: the file of key, provided that no
// component of its path is a symbolic link (the path is used outside
// os.Root, so it must not lead out of the directory).
func (s *Store) LocalPath(key string) (string, bool) {
	if objstore.ValidateKey(key) != nil {
		return "", false
	}
	if fi, err := s.root.Lstat(key); err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	p := filepath.Join(s.real, filepath.FromSlash(key))
	if real, err := filepath.EvalSymlinks(p); err != nil || real != p {
		return "", false
	}
	return p, true
}

// Close releases the directory handle.
func (s *Store) Close() error { return s.root.Close() }

// Layout reports that the fs backend never stores objects in parts: every
// ETag is the content's MD5 hex.
func (s *Store) Layout() objstore.PartLayout { return objstore.PartLayout{} }

// meta is the bookkeeping record of one object.
type meta struct {
	Size        int64  `json:"size"`
	ModTimeNS   int64  `json:"mtime_ns"`
	Inode       uint64 `json:"ino"`
	MD5         string `json:"md5"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type,omitempty"`
}

func (m meta) matches(fi iofs.FileInfo) bool {
	return m.Size == fi.Size() && m.ModTimeNS == fi.ModTime().UnixNano() && m.Inode == inode(fi)
}

func inode(fi iofs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

func fail(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var oe *objstore.Error
	if errors.As(err, &oe) {
		return err
	}
	e := &objstore.Error{Op: op, Key: key, Err: err}
	switch {
	case errors.Is(err, objstore.ErrInvalid):
		e.Kind = objstore.ErrInvalid
	case errors.Is(err, objstore.ErrChecksum):
		e.Kind = objstore.ErrChecksum
	case errors.Is(err, iofs.ErrNotExist):
		e.Kind = objstore.ErrNotExist
	case errors.Is(err, iofs.ErrPermission):
		e.Kind = objstore.ErrAccessDenied
	}
	return e
}

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.Info, error) {
	info, err := s.put(ctx, key, r, size, opts)
	return info, fail("put", key, err)
}

// PutFile implements objstore.FilePutter: the file is linked into the
// store (no copy of its bytes) when it is on the same file system, else
// copied as by Put. Either way its bytes are read once to check size and
// digests, fsynced, and renamed into place.
func (s *Store) PutFile(ctx context.Context, key, src string, size int64, opts objstore.PutOptions) (objstore.Info, error) {
	info, err := s.putFile(ctx, key, src, size, opts)
	return info, fail("put", key, err)
}

func (s *Store) putFile(ctx context.Context, key, src string, size int64, opts objstore.PutOptions) (objstore.Info, error) {
	if err := objstore.CheckPutArgs(key, size, opts); err != nil {
		return objstore.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return objstore.Info{}, err
	}
	tmp, err := s.linkTemp(src)
	if err != nil {
		// Another file system (or no hard links): copy.
		f, oerr := os.Open(src)
		if oerr != nil {
			return objstore.Info{}, oerr
		}
		defer f.Close()
		return s.put(ctx, key, f, size, opts)
	}
	committed := false
	defer func() {
		if !committed {
			s.root.Remove(tmp)
		}
	}()
	f, err := s.root.Open(tmp)
	if err != nil {
		return objstore.Info{}, err
	}
	defer f.Close()
	md5sum, shasum, err := readChecked(ctx, io.Discard, f, size, opts, "the file has")
	if err != nil {
		return objstore.Info{}, err
	}
	info, err := s.commit(ctx, key, tmp, f, md5sum, shasum, opts)
	committed = err == nil
	return info, err
}

// linkTemp hard-links src to a new temporary name in the store.
func (s *Store) linkTemp(src string) (string, error) {
	for range 10 {
		var b [12]byte
		rand.Read(b[:])
		name := tmpDir + "/" + hex.EncodeToString(b[:])
		err := os.Link(src, filepath.Join(s.real, filepath.FromSlash(name)))
		if errors.Is(err, iofs.ErrExist) {
			continue
		}
		return name, err
	}
	return "", errors.New("cannot create a temporary file")
}

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.Info, error) {
	if err := objstore.CheckPutArgs(key, size, opts); err != nil {
		return objstore.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return objstore.Info{}, err
	}
	tmp, f, err := s.createTemp()
	if err != nil {
		return objstore.Info{}, err
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			s.root.Remove(tmp)
		}
	}()

	md5sum, shasum, err := readChecked(ctx, f, r, size, opts, "reader gave")
	if err != nil {
		return objstore.Info{}, err
	}
	info, err := s.commit(ctx, key, tmp, f, md5sum, shasum, opts)
	committed = err == nil
	return info, err
}

// commit makes the checked temporary file tmp (open as f, closed here) the
// object under key: fsync, metadata record, rename, directory fsync.
func (s *Store) commit(ctx context.Context, key, tmp string, f *os.File, md5sum, shasum []byte, opts objstore.PutOptions) (objstore.Info, error) {
	fi, err := f.Stat()
	if err != nil {
		return objstore.Info{}, err
	}
	m := meta{Size: fi.Size(), ModTimeNS: fi.ModTime().UnixNano(), Inode: inode(fi),
		MD5: hex.EncodeToString(md5sum), SHA256: hex.EncodeToString(shasum), ContentType: opts.ContentType}
	b, err := json.Marshal(m)
	if err != nil {
		return objstore.Info{}, err
	}
	onFile := xattrs && setMetaXattr(f, b)
	if err := f.Sync(); err != nil {
		return objstore.Info{}, err
	}
	if err := f.Close(); err != nil {
		return objstore.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return objstore.Info{}, err
	}
	if onFile {
		// A record file of an older object under key would be ignored
		// (the attribute comes first), but must not outlive it.
		s.root.Remove(metaDir + "/" + key)
	} else if err := s.writeMeta(key, b); err != nil {
		return objstore.Info{}, err
	}
	if err := s.rename(tmp, key); err != nil {
		return objstore.Info{}, err
	}
	return objstore.Info{Key: key, Size: fi.Size(), ETag: m.MD5, LastModified: fi.ModTime(), SHA256: shasum}, nil
}

// readChecked copies exactly size bytes of r to w, hashing them, and checks
// the count and opts' digests; what names the source in the count error.
func readChecked(ctx context.Context, w io.Writer, r io.Reader, size int64, opts objstore.PutOptions, what string) (md5sum, shasum []byte, err error) {
	md5h, shah := md5.New(), sha256.New()
	n, err := objstore.CopyContext(ctx, io.MultiWriter(w, md5h, shah), io.LimitReader(r, size+1))
	if err != nil {
		return nil, nil, err
	}
	if n != size {
		return nil, nil, fmt.Errorf("%w: %s %s bytes, size is %d", objstore.ErrInvalid, what, countDesc(n, size), size)
	}
	md5sum, shasum = md5h.Sum(nil), shah.Sum(nil)
	return md5sum, shasum, objstore.CheckDigests(opts, md5sum, shasum)
}

func countDesc(n, size int64) string {
	if n > size {
		return "more than " + fmt.Sprint(size)
	}
	return fmt.Sprint(n)
}

// removeStaleTemps removes temporary files left by a crash (older than age,
// so that a Put of another process on the same directory is left alone).
func (s *Store) removeStaleTemps(age time.Duration) {
	entries, err := iofs.ReadDir(s.root.FS(), tmpDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			s.root.Remove(tmpDir + "/" + e.Name())
		}
	}
}

func (s *Store) createTemp() (string, *os.File, error) {
	for range 10 {
		var b [12]byte
		rand.Read(b[:])
		name := tmpDir + "/" + hex.EncodeToString(b[:])
		f, err := s.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if errors.Is(err, iofs.ErrExist) {
			continue
		}
		return name, f, err
	}
	return "", nil, errors.New("cannot create a temporary file")
}

// writeMeta stores the record of key: written to a temporary file and
// renamed into place, so a reader sees a whole record or none, but not
// fsynced. The record is a cache: metaFor checks it against the file (size,
// modification time, inode) and recomputes the digests when it is missing,
// torn or stale, so a crash can cost a re-read but never a wrong digest.
// Leaving out its two fsyncs halves the cost of a Put.
func (s *Store) writeMeta(key string, b []byte) error {
	tmp, f, err := s.createTemp()
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.renameNoSync(tmp, metaDir+"/"+key)
	}
	if err != nil {
		s.root.Remove(tmp)
	}
	return err
}

// rename moves tmp to name, creating name's directories, and makes the
// rename durable.
func (s *Store) rename(tmp, name string) error {
	if err := s.renameNoSync(tmp, name); err != nil {
		return err
	}
	return s.syncDir(path.Dir(name))
}

// renameNoSync moves tmp to name, creating name's directories. A concurrent
// Delete may remove an emptied directory between creating it and renaming
// into it, hence the retry.
func (s *Store) renameNoSync(tmp, name string) error {
	dir := path.Dir(name)
	var err error
	for range 5 {
		if err = s.mkdirs(dir); err != nil {
			break
		}
		if err = s.root.Rename(tmp, name); !errors.Is(err, iofs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
			return fmt.Errorf("%w: %s conflicts with an existing object or prefix: %v", objstore.ErrInvalid, name, err)
		}
		return err
	}
	return nil
}

// mkdirs creates dir and its parents, fsyncing each parent of a directory it
// created.
func (s *Store) mkdirs(dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	if fi, err := s.root.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%w: %s is an object, not a prefix", objstore.ErrInvalid, dir)
		}
		return nil
	}
	if err := s.mkdirs(path.Dir(dir)); err != nil {
		return err
	}
	err := s.root.Mkdir(dir, 0o750)
	if errors.Is(err, iofs.ErrExist) {
		if fi, serr := s.root.Stat(dir); serr == nil && fi.IsDir() {
			return nil
		}
		return fmt.Errorf("%w: %s is an object, not a prefix", objstore.ErrInvalid, dir)
	}
	if err != nil {
		return err
	}
	return s.syncDir(path.Dir(dir))
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Stat implements objstore.Store.
func (s *Store) Stat(ctx context.Context, key string) (objstore.Info, error) {
	if err := objstore.ValidateKey(key); err != nil {
		return objstore.Info{}, fail("stat", key, err)
	}
	if err := ctx.Err(); err != nil {
		return objstore.Info{}, fail("stat", key, err)
	}
	info, err := s.stat(key)
	return info, fail("stat", key, err)
}

func (s *Store) stat(key string) (objstore.Info, error) {
	fi, err := s.root.Lstat(key)
	if err != nil {
		return objstore.Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return objstore.Info{}, fmt.Errorf("%w: not a regular file", iofs.ErrNotExist)
	}
	m, err := s.metaFor(key, fi)
	if err != nil {
		return objstore.Info{}, err
	}
	sha, _ := hex.DecodeString(m.SHA256)
	return objstore.Info{Key: key, Size: fi.Size(), ETag: m.MD5, LastModified: fi.ModTime(), SHA256: sha}, nil
}

// metaFor returns the record of key if it matches fi, else recomputes the
// digests from the file.
func (s *Store) metaFor(key string, fi iofs.FileInfo) (meta, error) {
	f, err := s.root.Open(key)
	if err != nil {
		return meta{}, err
	}
	defer f.Close()
	var m meta
	if b := getMetaXattr(f); b != nil && json.Unmarshal(b, &m) == nil && m.matches(fi) {
		return m, nil
	}
	m = meta{}
	if b, err := s.root.ReadFile(metaDir + "/" + key); err == nil && json.Unmarshal(b, &m) == nil && m.matches(fi) {
		return m, nil
	}
	md5h, shah := md5.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(md5h, shah), f); err != nil {
		return meta{}, err
	}
	return meta{Size: fi.Size(), ModTimeNS: fi.ModTime().UnixNano(), Inode: inode(fi),
		MD5: hex.EncodeToString(md5h.Sum(nil)), SHA256: hex.EncodeToString(shah.Sum(nil))}, nil
}

// Get implements objstore.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := objstore.ValidateKey(key); err != nil {
		return nil, fail("get", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fail("get", key, err)
	}
	fi, err := s.root.Lstat(key)
	if err != nil {
		return nil, fail("get", key, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fail("get", key, fmt.Errorf("%w: not a regular file", iofs.ErrNotExist))
	}
	f, err := s.root.Open(key)
	if err != nil {
		return nil, fail("get", key, err)
	}
	return f, nil
}

// Delete implements objstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objstore.ValidateKey(key); err != nil {
		return fail("delete", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fail("delete", key, err)
	}
	return fail("delete", key, s.delete(key))
}

func (s *Store) delete(key string) error {
	fi, err := s.root.Lstat(key)
	if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		s.root.Remove(metaDir + "/" + key)
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return nil // a prefix, not an object: nothing to delete
	}
	if err := s.root.Remove(key); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err
	}
	if err := s.syncDir(path.Dir(key)); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err
	}
	s.root.Remove(metaDir + "/" + key)
	s.pruneDirs(path.Dir(key))
	s.pruneDirs(path.Dir(metaDir + "/" + key))
	return nil
}

// pruneDirs removes dir and its parents while they are empty (S3 has no
// directories; empty ones would pile up), stopping at the bookkeeping root.
func (s *Store) pruneDirs(dir string) {
	for dir != "." && dir != "" && dir != metaDir {
		if err := s.root.Remove(dir); err != nil {
			return // not empty, or gone
		}
		s.syncDir(path.Dir(dir))
		dir = path.Dir(dir)
	}
}

// List implements objstore.Store.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[objstore.Info, error] {
	return func(yield func(objstore.Info, error) bool) {
		if err := objstore.ValidatePrefix(prefix); err != nil {
			yield(objstore.Info{}, fail("list", prefix, err))
			return
		}
		keys, err := s.keys(ctx, prefix)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			yield(objstore.Info{}, fail("list", prefix, err))
			return
		}
		for _, key := range keys {
			if err := ctx.Err(); err != nil {
				yield(objstore.Info{}, fail("list", prefix, err))
				return
			}
			info, err := s.stat(key)
			if errors.Is(err, iofs.ErrNotExist) {
				continue // deleted since the walk
			}
			if err != nil {
				yield(objstore.Info{}, fail("list", prefix, err))
				return
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

// keys returns the sorted keys of the regular files whose key starts with
// prefix, walking only the deepest directory the prefix names.
func (s *Store) keys(ctx context.Context, prefix string) ([]string, error) {
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	var keys []string
	err := iofs.WalkDir(s.root.FS(), start, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			if p == start && (errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return iofs.SkipAll // nothing under this prefix
			}
			if errors.Is(err, iofs.ErrNotExist) {
				return nil // removed during the walk
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p == objstore.ReservedPrefix {
				return iofs.SkipDir
			}
			// Skip directories that cannot hold a matching key.
			if p != start && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return iofs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && strings.HasPrefix(p, prefix) {
			keys = append(keys, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	return keys, nil
}
