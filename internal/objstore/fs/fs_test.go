package fs_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/fs"
	"github.com/aisedge/aisedge/internal/objstore/objstoretest"
)

func open(t *testing.T, dir string) *fs.Store {
	t.Helper()
	s, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return open(t, t.TempDir()) }, objstoretest.Options{})
}

// Where extended attributes are not to be had, the records are files.
func TestConformanceRecordFiles(t *testing.T) {
	fs.NoXattrs(t)
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return open(t, t.TempDir()) }, objstoretest.Options{})
}

// The wrappers must keep the contract too.
func TestConformanceWrapped(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
		return objstore.WithLogging(objstore.WithRetry(open(t, t.TempDir()), objstore.RetryPolicy{InitialBackoff: time.Millisecond}), log)
	}, objstoretest.Options{})
}

func TestLayoutOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	data := []byte("hello")
	if _, err := s.Put(t.Context(), "staged/e/s/a.dcm", bytes.NewReader(data), 5, objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "staged/e/s/a.dcm"))
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("object file = %q, %v", b, err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, ".objstore/tmp")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if err := s.Delete(t.Context(), "staged/e/s/a.dcm"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "staged")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty prefix directories left after Delete: %v", err)
	}
}

// A file changed behind the store's back is reported with its real digest.
func TestStaleMetadata(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.Put(t.Context(), "k", bytes.NewReader([]byte("old")), 3, objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "k"), []byte("newer"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 5 || info.ETag != objstore.ETag(objstoretest.Digests([]byte("newer")).ContentMD5) {
		t.Errorf("Stat after an outside change = %+v", info)
	}
}

// Keys cannot escape the directory, even through a planted symlink.
func TestNoEscape(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	s := open(t, dir)
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), "link/secret"); err == nil {
		t.Error("Get through a symlink out of the store succeeded")
	}
	if _, err := s.Put(t.Context(), "link/new", bytes.NewReader([]byte("x")), 1, objstore.PutOptions{}); err == nil {
		t.Error("Put through a symlink out of the store succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Error("Put wrote outside the store")
	}
	for info, err := range s.List(t.Context(), "") {
		if err == nil && info.Key != "" {
			t.Errorf("List yields %q (symlinks are not objects)", info.Key)
		}
	}
}

func TestKeyConflict(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	if _, err := s.Put(ctx, "a", bytes.NewReader(nil), 0, objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "a/b", bytes.NewReader(nil), 0, objstore.PutOptions{}); !errors.Is(err, objstore.ErrInvalid) {
		t.Errorf("Put under an object: err = %v, want ErrInvalid", err)
	}
	if _, err := s.Put(ctx, "c/d", bytes.NewReader(nil), 0, objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "c", bytes.NewReader(nil), 0, objstore.PutOptions{}); !errors.Is(err, objstore.ErrInvalid) {
		t.Errorf("Put over a prefix: err = %v, want ErrInvalid", err)
	}
	if err := s.Delete(ctx, "c"); err != nil {
		t.Errorf("Delete of a prefix = %v, want nil (nothing to delete)", err)
	}
}

// LocalPath hands out an object's file, through the wrappers, and nothing
// reached through a symbolic link or that is not an object.
func TestLocalPath(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.Put(t.Context(), "staged/e/s/a.dcm", bytes.NewReader([]byte("a")), 1, objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "x.dcm"), []byte("x"), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "staged/e/link")); err != nil {
		t.Fatal(err)
	}
	wrapped := objstore.WithLogging(objstore.WithRetry(s, objstore.RetryPolicy{}), slog.New(slog.DiscardHandler))
	real, _ := filepath.EvalSymlinks(dir)
	for _, tc := range []struct {
		key  string
		want string // "" when none
	}{
		{"staged/e/s/a.dcm", filepath.Join(real, "staged/e/s/a.dcm")},
		{"staged/e/s", ""},             // a prefix, not an object
		{"staged/e/s/missing.dcm", ""}, // no such object
		{"staged/e/link/x.dcm", ""},    // through a planted symlink
		{"../outside", ""},             // not a key
	} {
		for name, st := range map[string]objstore.Store{"plain": s, "wrapped": wrapped} {
			got, ok := objstore.LocalPath(st, tc.key)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("%s: LocalPath(%q) = %q, %v; want %q", name, tc.key, got, ok, tc.want)
			}
		}
	}
}

// On the same file system PutFile links the file instead of copying it.
func TestPutFileLinks(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	src := filepath.Join(dir, "..", filepath.Base(dir)+"-src.dcm")
	data := objstoretest.Data(4096)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(src) })
	if _, err := objstore.PutFile(t.Context(), s, "staged/e/s/a.dcm", src, 4096, objstoretest.Digests(data)); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(src)
	b, err := os.Stat(filepath.Join(dir, "staged/e/s/a.dcm"))
	if err != nil || !os.SameFile(a, b) {
		t.Fatalf("the object is not a link of the file: %v", err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, ".objstore/tmp")); len(tmp) != 0 {
		t.Errorf("temporary links left: %v", tmp)
	}
}
