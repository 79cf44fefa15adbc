// Package ports reserves TCP ports on loopback for test peers that take
// their ports as flags (weed, kube-apiserver, etcd) rather than listening
// on :0 and reporting the address. Tests only.
//
// A port chosen free can still be taken before the peer binds it. Two
// things make that rare, and the peers' start-ups retry with new ports
// when it happens anyway (see Lease.Replace):
//
//   - Ports are chosen outside the kernel's ephemeral range
//     (net.ipv4.ip_local_port_range), from which every outgoing
//     connection and every listen on :0 takes its local port: on a busy
//     machine those are what most likely took a chosen port between the
//     choice and the peer's bind (a port weed once found taken, 35951,
//     lies in it).
//   - A chosen port is reserved for as long as its Lease is held, across
//     every test process on the machine, by an flock on a file named after
//     it in a shared folder: peers of parallel test binaries never pick
//     each other's ports, even while one is down for an outage test. The
//     kernel drops the lock when the process dies.
package ports

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

var bindFailure = regexp.MustCompile(`(\d+): bind: address already in use`)

// TakenIn reads a peer's output for ports it could not bind. collided
// reports whether the output says any bind failed ("address already in
// use"); taken are the ports of ports it names in Go's wording
// ("listen tcp 127.0.0.1:<port>: bind: address already in use"), or all
// of ports when it names none of them.
func TakenIn(output string, ports []int) (taken []int, collided bool) {
	if !strings.Contains(output, "address already in use") {
		return nil, false
	}
	for _, m := range bindFailure.FindAllStringSubmatch(output, -1) {
		p, _ := strconv.Atoi(m[1])
		if indexOf(ports, p) >= 0 && indexOf(taken, p) < 0 {
			taken = append(taken, p)
		}
	}
	if len(taken) == 0 {
		taken = append(taken, ports...)
	}
	return taken, true
}

// Lease is a set of reserved ports. Its methods are safe for concurrent
// use.
type Lease struct {
	mu    sync.Mutex
	ports []int
	locks map[int]*os.File // nil entries: reserved without a lock file
}

// Reserve picks n distinct ports that nothing listens on or is connected
// from, and that no other Lease on the machine holds, and reserves them
// until Release.
func Reserve(n int) (*Lease, error) {
	l := &Lease{locks: map[int]*os.File{}}
	for range n {
		p, err := l.pick()
		if err != nil {
			l.Release()
			return nil, err
		}
		l.ports = append(l.ports, p)
	}
	return l, nil
}

// Ports returns the leased ports, in the order they were reserved
// (a replaced port keeps its place).
func (l *Lease) Ports() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.ports...)
}

// Replace gives back ports of the lease that turned out to be taken (a
// peer failed to bind them) and reserves new ones in their places. It
// returns the ports as they are now.
func (l *Lease) Replace(taken ...int) ([]int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range taken {
		i := indexOf(l.ports, t)
		if i < 0 {
			return nil, fmt.Errorf("ports: %d is not leased", t)
		}
		p, err := l.pickLocked()
		if err != nil {
			return nil, err
		}
		l.ports[i] = p
		l.unlock(t)
	}
	return append([]int(nil), l.ports...), nil
}

// Release gives every port back.
func (l *Lease) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range l.locks {
		l.unlock(p)
	}
	l.ports = nil
}

func (l *Lease) pick() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pickLocked()
}

// pickLocked tries random ports of the range until one is free and its
// lock file is not held.
func (l *Lease) pickLocked() (int, error) {
	lo, hi := candidates()
	if lo == 0 {
		// No room outside the ephemeral range: let the kernel choose.
		return l.pickEphemeral()
	}
	var lastErr error
	for range 200 {
		p := lo + rand.IntN(hi-lo+1)
		if _, mine := l.locks[p]; mine {
			continue
		}
		f, err := lock(p)
		if err != nil {
			lastErr = err
			continue
		}
		if err := bindable(p); err != nil {
			lastErr = err
			release(p, f)
			continue
		}
		l.locks[p] = f
		return p, nil
	}
	return 0, fmt.Errorf("ports: no free port in %d-%d after 200 tries: %v", lo, hi, lastErr)
}

func (l *Lease) pickEphemeral() (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, mine := l.locks[p]; mine {
			continue
		}
		f, err := lock(p)
		if err != nil {
			continue
		}
		l.locks[p] = f
		return p, nil
	}
	return 0, errors.New("ports: no free ephemeral port")
}

func (l *Lease) unlock(p int) {
	if f, ok := l.locks[p]; ok {
		release(p, f)
		delete(l.locks, p)
	}
}

func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// bindable reports whether a listener can take the port on every address
// (a wildcard bind fails if anything holds the port on any address).
func bindable(p int) error {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
	if err != nil {
		return err
	}
	ln.Close()
	ln, err = net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return err
	}
	return ln.Close()
}

// candidates returns the range ports are picked from: below the ephemeral
// range (from 16384), or above it, whichever is larger; 0, 0 when neither
// holds 1000 ports.
func candidates() (lo, hi int) {
	elo, ehi := 32768, 60999 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			a, err1 := strconv.Atoi(f[0])
			b, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && a <= b {
				elo, ehi = a, b
			}
		}
	}
	below, above := elo-1-16384, 65535-ehi
	switch {
	case below >= 1000 && below >= above:
		return 16384, elo - 1
	case above >= 1000:
		return ehi + 1, 65535
	}
	return 0, 0
}

// lockDir is the folder of the lock files of one kind of resource
// ("ports", "subnets"), shared by every test process on the machine (in
// /tmp whatever TMPDIR says, where there is one).
func lockDir(kind string) string {
	base := "/tmp"
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		base = os.TempDir()
	}
	return filepath.Join(base, "aisedge-test-"+kind)
}

// Hold reserves resource n of a kind (a test subnet, say) across every
// test process on the machine, the way ports are reserved: an flock on a
// file named after it, which the kernel drops if the process dies. ok is
// false when another process holds it; where the folder cannot be used
// the resource is taken without a lock.
func Hold(kind string, n int) (release func(), ok bool) {
	f, err := lockIn(kind, n)
	if err != nil {
		return nil, false
	}
	return func() { releaseIn(kind, n, f) }, true
}

var errHeld = errors.New("held by another lease")

// lock takes the lock file of port p without waiting. When the folder
// cannot be used (another user's, read-only) the port is reserved without
// a lock file: a nil file and no error.
func lock(p int) (*os.File, error) { return lockIn("ports", p) }

func lockIn(kind string, p int) (*os.File, error) {
	dir := lockDir(kind)
	if _, err := os.Stat(dir); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil
		}
		os.Chmod(dir, 0o1777) // any user's tests may lock ports there
	}
	path := filepath.Join(dir, strconv.Itoa(p))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	switch {
	case err != nil && errors.Is(err, os.ErrPermission) && fileExists(path):
		return nil, errHeld // another user's, maybe held
	case err != nil:
		return nil, nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, errHeld
	}
	// Release unlinks the file it held: if that happened between our open
	// and our flock, the lock is on a file nobody else will look at.
	var a, b syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &a) != nil || syscall.Stat(path, &b) != nil || a.Ino != b.Ino || a.Dev != b.Dev {
		f.Close()
		return nil, errHeld
	}
	return f, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// release removes the lock file of port p and drops the lock (in this
// order, see lock).
func release(p int, f *os.File) { releaseIn("ports", p, f) }

func releaseIn(kind string, p int, f *os.File) {
	if f == nil {
		return
	}
	os.Remove(filepath.Join(lockDir(kind), strconv.Itoa(p)))
	f.Close()
}
