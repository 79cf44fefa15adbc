// Package fsperm decides whether the daemons may trust a folder or a key
// file on this machine, and creates the ones they own with modes no one
// else can use.
//
// A folder is trusted when no other user can change what is in it: it is
// owned by the daemon's user and neither group- nor world-writable. One
// exception: a folder owned by root whose group is one of the daemon's
// groups may be group-writable (not world-writable); that is how
// Kubernetes hands a volume to a pod through fsGroup, and how an
// administrator gives a folder to a service's group. A key file is trusted
// when it is owned by the daemon's user and only that user may read it
// (0600 or 0400), or owned by root with the daemon's group and no write for
// the group and nothing for others (0640, 0440: Kubernetes Secret volumes
// with fsGroup, or root:aisedge files on a host).
//
// Every refusal is a *Problem that names the path, the problem and the
// command that fixes it. It imports nothing of the project's own.
package fsperm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Problem is a folder or key file the daemon refuses to trust or use.
type Problem struct {
	// What the path is for ("data folder", "key file").
	Role string
	Path string
	// Msg says what is wrong; Fix how to put it right.
	Msg string
	Fix string
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("%s %s %s", p.Role, p.Path, p.Msg)
	if p.Fix != "" {
		s += " (fix: " + p.Fix + ")"
	}
	return s
}

// identity is the user the checks are made for.
type identity struct {
	uid    int
	groups []int // the effective group first
}

// self returns the process's identity; tests replace it.
var self = func() identity {
	gs, _ := os.Getgroups()
	return identity{uid: os.Geteuid(), groups: append([]int{os.Getegid()}, gs...)}
}

func (id identity) inGroup(gid int) bool { return slices.Contains(id.groups, gid) }

// userName names a uid for messages (the number when it has no name).
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func owner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

// CheckDir checks that the existing folder path (symbolic links followed)
// is one only this user can change; role names it in the error ("data
// folder"). A missing folder is an error wrapping fs.ErrNotExist.
func CheckDir(role, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s %s does not exist: %w", role, path, fs.ErrNotExist)
		}
		return &Problem{Role: role, Path: path, Msg: "cannot be examined: " + errText(err), Fix: "check the folders above it"}
	}
	return checkDirInfo(self(), role, path, fi)
}

func checkDirInfo(id identity, role, path string, fi fs.FileInfo) error {
	if !fi.IsDir() {
		return &Problem{Role: role, Path: path, Msg: "is not a folder", Fix: "move the file away or configure another folder"}
	}
	uid, gid := owner(fi)
	perm := fi.Mode().Perm()
	me := userName(id.uid)
	switch {
	case uid != id.uid && uid != 0:
		return &Problem{Role: role, Path: path,
			Msg: fmt.Sprintf("is owned by another user (%s), who can read and change what aisedge keeps there", userName(uid)),
			Fix: fmt.Sprintf("sudo chown -R %s %s && sudo chmod -R go-w %s, or remove it and let aisedge create it", me, path, path)}
	case perm&0o002 != 0:
		return &Problem{Role: role, Path: path,
			Msg: fmt.Sprintf("is world-writable (mode %04o): any user can add, replace or remove files in it", perm),
			Fix: chmodFix(uid, id, "go-w", path)}
	case perm&0o020 != 0 && (uid != 0 || uid == id.uid || !id.inGroup(gid)):
		// Group-writable is accepted only on a root-owned folder given to
		// one of our groups (Kubernetes fsGroup, an administrator's
		// root:aisedge folder).
		return &Problem{Role: role, Path: path,
			Msg: fmt.Sprintf("is group-writable (mode %04o): other members of its group can add, replace or remove files in it", perm),
			Fix: chmodFix(uid, id, "g-w", path)}
	}
	if unix.Access(path, unix.W_OK|unix.X_OK) != nil {
		return &Problem{Role: role, Path: path, Msg: fmt.Sprintf("is not writable by this user (%s)", me),
			Fix: fmt.Sprintf("sudo chown %s %s && sudo chmod 0750 %s", me, path, path)}
	}
	return nil
}

func chmodFix(uid int, id identity, what, path string) string {
	if uid == id.uid {
		return fmt.Sprintf("chmod %s %s", what, path)
	}
	return fmt.Sprintf("sudo chmod %s %s", what, path)
}

// EnsureDir creates path with perm (and any missing parents with perm)
// when it is missing, then checks it as CheckDir does. perm should be
// 0700 or 0750.
func EnsureDir(role, path string, perm os.FileMode) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(path, perm); err != nil {
			return &Problem{Role: role, Path: path, Msg: "cannot be created: " + errText(err),
				Fix: "create it as this user with mode " + fmt.Sprintf("%04o", perm) + ", or configure a folder this user may create"}
		}
	}
	return CheckDir(role, path)
}

// CheckCreatable reports whether EnsureDir could create the missing
// folder path: its nearest existing ancestor must be a folder this user
// may write to. It creates nothing.
func CheckCreatable(role, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return &Problem{Role: role, Path: path, Msg: fmt.Sprintf("cannot be created: %s is not a folder", p), Fix: "configure another folder"}
			}
			if unix.Access(p, unix.W_OK|unix.X_OK) != nil {
				return &Problem{Role: role, Path: path,
					Msg: fmt.Sprintf("does not exist and cannot be created: %s is not writable by this user (%s)", p, userName(self().uid)),
					Fix: fmt.Sprintf("sudo install -d -m 0750 -o %s %s", userName(self().uid), path)}
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || p == filepath.Dir(p) {
			return &Problem{Role: role, Path: path, Msg: "cannot be created: " + errText(err), Fix: "check the folders above it"}
		}
	}
}

// ReadKeyFile reads a key file (symbolic links followed) after checking
// the opened file: a regular file owned by this user and readable by it
// alone, or owned by root, of one of this user's groups and neither
// group-writable nor open to others. role names it in errors ("S3 secret
// key file").
func ReadKeyFile(role, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Problem{Role: role, Path: path, Msg: "cannot be read: " + errText(err), Fix: "point the configuration at an existing file this user may read"}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &Problem{Role: role, Path: path, Msg: "cannot be examined: " + errText(err)}
	}
	if err := checkKeyInfo(self(), role, path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, &Problem{Role: role, Path: path, Msg: "cannot be read: " + errText(err)}
	}
	return b, nil
}

// CheckKeyFile checks a key file as ReadKeyFile does.
func CheckKeyFile(role, path string) error {
	_, err := ReadKeyFile(role, path)
	return err
}

func checkKeyInfo(id identity, role, path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &Problem{Role: role, Path: path, Msg: "is not a regular file", Fix: "point the configuration at the key file itself"}
	}
	uid, gid := owner(fi)
	perm := fi.Mode().Perm()
	me := userName(id.uid)
	switch {
	case uid != id.uid && uid != 0:
		return &Problem{Role: role, Path: path,
			Msg: fmt.Sprintf("is owned by another user (%s), who can read or replace the key", userName(uid)),
			Fix: fmt.Sprintf("sudo chown %s %s && sudo chmod 0600 %s (and replace the key if that user was not meant to know it)", me, path, path)}
	case uid == id.uid && perm&0o077 != 0:
		return &Problem{Role: role, Path: path,
			Msg: fmt.Sprintf("is readable or writable by other users (mode %04o)", perm),
			Fix: fmt.Sprintf("chmod 0600 %s (and replace the key if others may have read it)", path)}
	case uid != id.uid && (perm&0o027 != 0 || (perm&0o040 != 0 && !id.inGroup(gid))):
		// Owned by root: the group may read when it is ours (Secret
		// volumes with fsGroup); nothing more.
		return &Problem{Role: role, Path: path,
			Msg: fmt.Sprintf("is open to other users (mode %04o, group %d)", perm, gid),
			Fix: fmt.Sprintf("sudo chown %s %s && sudo chmod 0600 %s", me, path, path)}
	}
	return nil
}

// WriteKeyFile creates the key file path with mode 0600, failing if
// anything exists at path, and syncs it.
func WriteKeyFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// errText is an error's text without the path that the *Problem names
// already.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
