package fsperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mkdir makes a folder with exactly mode (umask aside).
func mkdir(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// someoneElse returns the identity to check path with so that path is
// owned by another, non-root user: as root the path is given to uid 54321;
// otherwise the checks pretend to be a different user.
func someoneElse(t *testing.T, path string) identity {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 54321, 54321); err != nil {
			t.Fatal(err)
		}
		return self()
	}
	id := self()
	id.uid++
	return id
}

func stat(t *testing.T, path string) fs.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func wantProblem(t *testing.T, err error, parts ...string) {
	t.Helper()
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("got %v, want a *Problem", err)
	}
	for _, s := range parts {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not say %q", err, s)
		}
	}
}

func TestCheckDirModes(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		want []string // empty: accepted
	}{
		{0o700, nil},
		{0o750, nil},
		{0o755, nil},
		{0o770, []string{"is group-writable (mode 0770)", "(fix: chmod g-w "}},
		{0o777, []string{"is world-writable (mode 0777)", "(fix: chmod go-w "}},
		{fs.ModeSticky | 0o777, []string{"is world-writable", "chmod go-w"}},
		{0o703, []string{"is world-writable (mode 0703)"}},
	} {
		p := mkdir(t, filepath.Join(base, fmt.Sprintf("d%o", uint32(tc.mode))), tc.mode)
		err := CheckDir("data folder", p)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%v: %v", tc.mode, err)
			}
			continue
		}
		wantProblem(t, err, append([]string{"data folder " + p + " "}, tc.want...)...)
		// The folder is refused, never silently changed.
		if got := stat(t, p).Mode() & (fs.ModePerm | fs.ModeSticky); got != tc.mode&(fs.ModePerm|fs.ModeSticky) {
			t.Errorf("mode changed from %v to %v", tc.mode, got)
		}
	}
}

// A folder another user made first (facility-backup created by someone
// else before the edge's first start) is refused.
func TestCheckDirOtherOwner(t *testing.T) {
	p := mkdir(t, filepath.Join(t.TempDir(), "facility-backup"), 0o755)
	id := someoneElse(t, p)
	err := checkDirInfo(id, "facility backup folder", p, stat(t, p))
	wantProblem(t, err, "facility backup folder "+p+" is owned by another user", "sudo chown -R ", "remove it and let aisedge create it")
}

// Kubernetes hands a volume to the pod as root:<fsGroup> with the group
// allowed to write; that is accepted when the group is ours, and only then.
func TestCheckDirRootOwnedGroupFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a root-owned folder of another group")
	}
	p := mkdir(t, filepath.Join(t.TempDir(), "state"), 0o2770)
	if err := os.Chown(p, 0, 65532); err != nil {
		t.Fatal(err)
	}
	pod := identity{uid: 65532, groups: []int{65532}}
	if err := checkDirInfo(pod, "data folder", p, stat(t, p)); err != nil {
		t.Errorf("fsGroup volume refused: %v", err)
	}
	stranger := identity{uid: 65532, groups: []int{1000}}
	wantProblem(t, checkDirInfo(stranger, "data folder", p, stat(t, p)), "is group-writable", "sudo chmod g-w")
	// Root's own group-writable folder is refused for root.
	wantProblem(t, checkDirInfo(identity{uid: 0, groups: []int{65532}}, "data folder", p, stat(t, p)), "is group-writable")
	os.Chmod(p, 0o2777)
	wantProblem(t, checkDirInfo(pod, "data folder", p, stat(t, p)), "is world-writable")
}

func TestCheckDirNotAFolder(t *testing.T) {
	p := writeKey(t, filepath.Join(t.TempDir(), "f"), 0o600)
	wantProblem(t, CheckDir("data folder", p), "is not a folder")
	if err := CheckDir("data folder", p+"-missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

// EnsureDir creates what is missing with the mode asked for, and refuses
// (without changing) an existing folder that is too open: a data folder
// left at 0777 no longer stays 0777 unnoticed.
func TestEnsureDir(t *testing.T) {
	base := t.TempDir()
	p := filepath.Join(base, "a", "b")
	if err := EnsureDir("data folder", p, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{p, filepath.Dir(p)} {
		if m := stat(t, d).Mode().Perm(); m&^0o700 != 0 {
			t.Errorf("%s created with mode %v", d, m)
		}
	}
	open := mkdir(t, filepath.Join(base, "open"), 0o777)
	wantProblem(t, EnsureDir("data folder", open, 0o750), "world-writable", "chmod go-w "+open)
	if m := stat(t, open).Mode().Perm(); m != 0o777 {
		t.Errorf("mode changed to %v", m)
	}
	f := writeKey(t, filepath.Join(base, "file"), 0o600)
	wantProblem(t, EnsureDir("data folder", filepath.Join(f, "sub"), 0o700), "cannot be examined: not a directory")
}

func TestCheckCreatable(t *testing.T) {
	base := t.TempDir()
	if err := CheckCreatable("data folder", filepath.Join(base, "x", "y")); err != nil {
		t.Error(err)
	}
	f := writeKey(t, filepath.Join(base, "file"), 0o600)
	wantProblem(t, CheckCreatable("data folder", filepath.Join(f, "y")), "is not a folder")
	if _, err := os.Stat(filepath.Join(base, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("CheckCreatable created something")
	}
	if os.Geteuid() != 0 {
		ro := mkdir(t, filepath.Join(base, "ro"), 0o500)
		wantProblem(t, CheckCreatable("data folder", filepath.Join(ro, "d")), "is not writable by this user", "sudo install -d -m 0750")
	}
}

func TestReadKeyFileModes(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		want []string
	}{
		{0o600, nil},
		{0o400, nil},
		{0o640, []string{"is readable or writable by other users (mode 0640)", "(fix: chmod 0600 "}},
		{0o644, []string{"mode 0644", "chmod 0600"}},
		{0o660, []string{"mode 0660"}},
		{0o602, []string{"mode 0602"}},
	} {
		p := writeKey(t, filepath.Join(base, tc.mode.String()), tc.mode)
		b, err := ReadKeyFile("S3 secret key file", p)
		if tc.want == nil {
			if err != nil || string(b) != "k3y\n" {
				t.Errorf("%v: %q %v", tc.mode, b, err)
			}
			continue
		}
		wantProblem(t, err, append([]string{"S3 secret key file " + p + " "}, tc.want...)...)
		if b != nil {
			t.Errorf("%v: content returned with the refusal", tc.mode)
		}
	}
	wantProblem(t, CheckKeyFile("key file", filepath.Join(base, "missing")), "key file "+filepath.Join(base, "missing")+" cannot be read: no such file or directory")
	wantProblem(t, CheckKeyFile("key file", base), "is not a regular file")
}

// A salt file written by another user (0644) is refused.
func TestKeyFileOtherOwner(t *testing.T) {
	p := writeKey(t, filepath.Join(t.TempDir(), "deid-hmac-salt"), 0o644)
	id := someoneElse(t, p)
	err := checkKeyInfo(id, "de-identification key file", p, stat(t, p))
	wantProblem(t, err, "de-identification key file "+p+" is owned by another user", "sudo chown ", "chmod 0600 "+p)
	os.Chmod(p, 0o600)
	wantProblem(t, checkKeyInfo(id, "key file", p, stat(t, p)), "owned by another user")
}

// Kubernetes Secret volumes with fsGroup: root:<fsGroup> 0440.
func TestKeyFileSecretVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a root-owned file of another group")
	}
	base := t.TempDir()
	p := writeKey(t, filepath.Join(base, "secret-key"), 0o440)
	if err := os.Chown(p, 0, 65532); err != nil {
		t.Fatal(err)
	}
	// The mounted name is a symbolic link into ..data/.
	link := filepath.Join(base, "link")
	os.Symlink(p, link)
	pod := identity{uid: 65532, groups: []int{65532}}
	fi := stat(t, link)
	if err := checkKeyInfo(pod, "key file", link, fi); err != nil {
		t.Errorf("Secret volume file refused: %v", err)
	}
	wantProblem(t, checkKeyInfo(identity{uid: 65532, groups: []int{7}}, "key file", link, fi), "is open to other users (mode 0440, group 65532)")
	for _, m := range []os.FileMode{0o444, 0o460, 0o604} {
		os.Chmod(p, m)
		wantProblem(t, checkKeyInfo(pod, "key file", link, stat(t, link)), "is open to other users")
	}
}

func TestWriteKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "deid-hmac-salt")
	if err := WriteKeyFile(p, []byte("abc\n")); err != nil {
		t.Fatal(err)
	}
	if m := stat(t, p).Mode().Perm(); m != 0o600 {
		t.Errorf("mode %v", m)
	}
	if b, err := ReadKeyFile("key file", p); err != nil || string(b) != "abc\n" {
		t.Fatal(string(b), err)
	}
	if err := WriteKeyFile(p, []byte("other")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwrote an existing file: %v", err)
	}
	if st := stat(t, p).Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("owner %d", st.Uid)
	}
}
