package fs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/fs"
	"github.com/aisedge/aisedge/internal/objstore/objstoretest"
)

const metaXattr = "user.aisedge.objstore"

// The metadata record (an extended attribute of the object's file, or a
// file under .objstore/meta where attributes are not supported) is not
// fsynced: after a crash it may be missing, empty or torn, and the object
// must still be reported with its true digest.
func TestLostOrTornMetadata(t *testing.T) {
	for _, mode := range []string{"attribute", "record file"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "record file" {
				fs.NoXattrs(t)
			}
			testLostOrTorn(t)
		})
	}
}

func testLostOrTorn(t *testing.T) {
	data := []byte("the object's bytes")
	want := objstore.ETag(objstoretest.Digests(data).ContentMD5)
	set := func(obj, metaFile string, b []byte) error {
		if _, err := os.Stat(metaFile); err == nil {
			return os.WriteFile(metaFile, b, 0o644)
		}
		return unix.Setxattr(obj, metaXattr, b, 0)
	}
	for _, tc := range []struct {
		name   string
		damage func(obj, metaFile string) error
	}{
		{"missing", func(obj, metaFile string) error {
			err1 := os.Remove(metaFile)
			err2 := unix.Removexattr(obj, metaXattr)
			if err1 != nil && err2 != nil {
				return errors.Join(err1, err2)
			}
			return nil
		}},
		{"empty", func(obj, metaFile string) error { return set(obj, metaFile, nil) }},
		{"garbage", func(obj, metaFile string) error { return set(obj, metaFile, []byte(`{"size":18,"md5":"00`)) }},
		{"stale", func(obj, metaFile string) error {
			return set(obj, metaFile, []byte(`{"size":18,"md5":"00000000000000000000000000000000"}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			if _, err := s.Put(t.Context(), "staged/e/s/k", bytes.NewReader(data), int64(len(data)), objstore.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(filepath.Join(dir, "staged/e/s/k"), filepath.Join(dir, ".objstore/meta/staged/e/s/k")); err != nil {
				t.Fatal(err)
			}
			info, err := s.Stat(t.Context(), "staged/e/s/k")
			if err != nil || info.ETag != want || info.Size != int64(len(data)) {
				t.Fatalf("Stat = %+v, %v; want ETag %s", info, err, want)
			}
			for got, err := range s.List(t.Context(), "staged/") {
				if err != nil || got.ETag != want {
					t.Fatalf("List = %+v, %v; want ETag %s", got, err, want)
				}
			}
		})
	}
}

// Where the file system takes user attributes the record is one, and no
// record files are made.
func TestMetadataInAttribute(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.Put(t.Context(), "a/b", bytes.NewReader([]byte("x")), 1, objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	if _, err := unix.Getxattr(filepath.Join(dir, "a/b"), metaXattr, buf); err != nil {
		t.Skipf("%s takes no user attributes (%v): records are files", dir, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, ".objstore/meta")); len(ents) != 0 {
		t.Errorf("record files made beside the attribute: %v", ents)
	}
}
