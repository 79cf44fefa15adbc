package kubenode

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The host state a node owns, all named after its id: the network
// namespace /run/netns/<id>, the cgroup /<id> in every hierarchy, and the
// folder <tmp>/<id> (every mount under it: pod volumes, container root
// file systems, the pods' network namespaces).

// dirPrefix starts the name of every node's folder, cgroup and namespace.
const dirPrefix = "aisedge-node-"

// cgroupMounts returns the mount point of every cgroup hierarchy (v1
// controllers, named hierarchies and the v2 one of a hybrid host).
func cgroupMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := indexOf(fields, "-")
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if t := fields[sep+1]; t == "cgroup" || t == "cgroup2" {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out, sc.Err()
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// makeCgroup creates /<name> in every hierarchy (a cpuset one gets its
// parent's CPUs and memory nodes, without which nothing can join it) and
// returns the folders.
func makeCgroup(name string) ([]string, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, m := range mounts {
		d := filepath.Join(m, name)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return dirs, fmt.Errorf("cgroup %s: %w", d, err)
		}
		dirs = append(dirs, d)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(m, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
					return dirs, fmt.Errorf("cgroup %s: %w", d, err)
				}
			}
		}
	}
	if len(dirs) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return dirs, nil
}

// cgroupPIDs lists every process in the cgroup /<name> and below, in any
// hierarchy.
func cgroupPIDs(name string) []int {
	mounts, _ := cgroupMounts()
	seen := map[int]bool{}
	var out []int
	for _, m := range mounts {
		filepath.WalkDir(filepath.Join(m, name), func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// killCgroup kills every process of the cgroup /<name> (repeatedly: a
// process may fork while the first ones die) until none is left.
func killCgroup(name string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		pids := cgroupPIDs(name)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v of cgroup %s do not die", pids, name)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroup removes /<name> and every cgroup below it in every
// hierarchy, deepest first.
func removeCgroup(name string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		var dirs []string
		filepath.WalkDir(filepath.Join(m, name), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			// A cgroup just emptied can be busy for a moment.
			var err error
			for try := 0; try < 50; try++ {
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points at or below dir, deepest (latest) first.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if m := unescapeMount(f[4]); m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	// mountinfo lists mounts in the order they were made: undo from the end.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// unmountAll detaches every mount at or below dir.
func unmountAll(dir string) error {
	var errs []error
	for try := 0; try < 5; try++ {
		mounts := mountsUnder(dir)
		if len(mounts) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, m := range mounts {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("umount %s: %w", m, err))
			}
		}
	}
	if len(mountsUnder(dir)) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// netnsPath is where `ip netns add` mounts a named network namespace.
func netnsPath(name string) string { return filepath.Join("/run/netns", name) }

// addNetns creates the network namespace and gives it a veth pair (both
// ends inside, so nothing of the host's network changes) carrying the node
// IP, a default route through it and a loopback.
func addNetns(name, nodeCIDR string) error {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "node0", "type", "veth", "peer", "name", "node1"},
		{"addr", "add", nodeCIDR, "dev", "node0"},
		{"link", "set", "node0", "up"},
		{"link", "set", "node1", "up"},
		{"route", "add", "default", "dev", "node0"},
	} {
		cmd := exec.Command("nsenter", append([]string{"--net=" + netnsPath(name), "--", "ip"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s (in %s): %v: %s", strings.Join(args, " "), name, err, out)
		}
	}
	return nil
}

// deleteNetns removes the namespace (if it exists).
func deleteNetns(name string) error {
	if _, err := os.Stat(netnsPath(name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns delete %s: %v: %s", name, err, out)
	}
	return nil
}

// lockFile is held (flock) by the test process that owns a node for the
// node's life; a node whose lock is free was left behind by a process that
// died before its clean-up.
const lockFile = ".owner.lock"

// teardown removes everything of the node called id whose folder is dir:
// its processes, mounts, folder, cgroups and namespace.
func teardown(id, dir string) error {
	var errs []error
	if err := killCgroup(id); err != nil {
		errs = append(errs, err)
	}
	if err := unmountAll(dir); err != nil {
		errs = append(errs, err)
	}
	removeRuntimeLeftovers(dir)
	// The kubelet links every container's log into the host's
	// /var/log/containers.
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if t, err := os.Readlink(l); err == nil && strings.HasPrefix(t, dir+"/") {
			os.Remove(l)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroup(id); err != nil {
		errs = append(errs, err)
	}
	if err := deleteNetns(id); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sweep tears down the nodes that test processes which died left behind
// (their folder's lock is free), so that a killed test run costs nothing
// to the next one.
func sweep(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, dirPrefix+"*"))
	for _, d := range dirs {
		f, err := os.OpenFile(filepath.Join(d, lockFile), os.O_RDWR, 0)
		if err != nil {
			continue // being created, or not a node
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			f.Close()
			continue // its owner is alive
		}
		teardown(filepath.Base(d), d)
		f.Close()
	}
}

// containerdSocketOf is the node's containerd socket in its folder.
func containerdSocketOf(dir string) string { return filepath.Join(dir, "containerd", "sock") }

// removeRuntimeLeftovers removes what the node's containerd and CNI
// plugins keep outside its folder, for each of its sandboxes and
// containers (their runc shims, killed, cannot remove it): the shim's
// socket /run/containerd/s/<sha256(address/namespace/id)> and the CNI
// results /var/lib/cni/results/<network>-<id>-<interface>.
func removeRuntimeLeftovers(dir string) {
	tasks, _ := os.ReadDir(filepath.Join(dir, "containerd", "state", "io.containerd.runtime.v2.task", "k8s.io"))
	sandboxes, _ := os.ReadDir(filepath.Join(dir, "containerd", "root", "io.containerd.grpc.v1.cri", "sandboxes"))
	seen := map[string]bool{}
	for _, e := range append(tasks, sandboxes...) {
		id := e.Name()
		if seen[id] {
			continue
		}
		seen[id] = true
		sum := sha256.Sum256([]byte(filepath.Join(containerdSocketOf(dir), "k8s.io", id)))
		os.Remove(filepath.Join("/run/containerd/s", hex.EncodeToString(sum[:])))
		results, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", "*-"+id+"-*"))
		for _, r := range results {
			os.Remove(r)
		}
	}
}
