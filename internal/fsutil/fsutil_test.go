package fsutil

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteSyncLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b.txt")
	if err := WriteFileSync(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := WriteSync(p, 0o600, func(w io.Writer) error { w.Write([]byte("partial")); return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "one" {
		t.Fatalf("old content replaced by a failed write: %q", b)
	}
	if _, err := os.Stat(p + ".part"); !os.IsNotExist(err) {
		t.Fatal("temporary file left behind")
	}
}

func TestLinkOrCopy(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("data"), 0o600)
	dst := filepath.Join(dir, "dst")
	if err := LinkOrCopy(src, dst, 4); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(src)
	b, _ := os.Stat(dst)
	if !os.SameFile(a, b) {
		t.Fatal("same file system but not linked")
	}
	// Kept when already the right size; replaced with -1.
	if err := LinkOrCopy(src, dst, 4); err != nil {
		t.Fatal(err)
	}
	if err := LinkOrCopy(src, dst, -1); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "data" {
		t.Fatal(string(got))
	}
}

// Across file systems the copy is 0600, whatever the umask allows.
func TestLinkOrCopyAcrossFileSystems(t *testing.T) {
	defer func(l func(string, string) error) { link = l }(link)
	link = func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EXDEV} }
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("original"), 0o600)
	dst := filepath.Join(dir, "backup", "dst")
	if err := LinkOrCopy(src, dst, -1); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dst)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("copy: %v %v", st, err)
	}
	if d, _ := os.Stat(filepath.Dir(dst)); d.Mode().Perm()&^0o750 != 0 {
		t.Errorf("folder mode %v", d.Mode())
	}
	if got, _ := os.ReadFile(dst); string(got) != "original" {
		t.Fatal(string(got))
	}
}
