// Package sshedge starts real OpenSSH servers (Debian's openssh-server,
// /usr/sbin/sshd) that act as edge VMs for the tests of `aisedge fleet
// join`. Each fake edge runs in its own network namespace (a veth pair on
// 10.77.x.y; port 22) or, where namespaces are unavailable, on
// 127.0.0.1:<reserved port> (ports.Reserve; sshd is started again on
// another port if that one was taken before it bound it), and always in
// its own mount namespace:
//
//   - /etc and /var are overlays whose changes stay in the test's folder, so
//     the edge has its own /etc/hosts, /etc/k0s, /etc/haproxy,
//     /etc/systemd/system and /var/lib/k0s while the host's stay untouched;
//   - /usr/local/bin is the edge's own folder holding a stub `k0s` (a shell
//     script that records its arguments and keeps install/start state the
//     way `k0s status` and the service unit reflect them);
//   - /srv is the edge's own folder for data directories (use
//     DataDir/BackupDir in test configurations);
//   - /run is a private tmpfs.
//
// The commands the product sends run unchanged through the login shell;
// root's login shell on the edge is a wrapper that records each one
// (Commands) and then runs it with bash.
//
//	e := sshedge.Start(t, "edge1") // skips when sshd or root is missing
//	runner, _ := remote.Dial(ctx, remote.Config{Host: e.Host, Port: e.Port,
//		User: e.User, KeyFile: e.KeyFile, KnownHosts: e.KnownHosts})
//
// Keys are generated per test; everything lives under t.TempDir(); the
// server, its sessions and the namespace are removed at the end of the test
// even when it fails. Tests only.
package sshedge

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/testpeer/progress"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/aisedge/aisedge/internal/testpeer/ports"
)

// Sshd is the OpenSSH server the edges run.
const Sshd = "/usr/sbin/sshd"

// Folders of the edge for data directories (under its own /srv).
const (
	DataDir   = "/srv/data/xnat-ingest"
	BackupDir = "/srv/data/facility-backup"
)

// InitialHosts is the edge's /etc/hosts when it starts.
const InitialHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\tpacs.facility.example pacs\n"

// K0sStub is the stub `k0s` in the edge's /usr/local/bin. State lives in
// /var/lib/k0s/stub: calls.log (one line of arguments per call), running
// (after `start`), fail-<subcommand> (make that subcommand print the
// file's content on stderr and exit 1). `install worker` writes the
// systemd unit as the real one does and refuses to install twice.
const K0sStub = `#!/bin/sh
# Stub k0s for aisedge's tests (internal/testpeer/sshedge).
state=/var/lib/k0s/stub
unit=/etc/systemd/system/k0sworker.service
mkdir -p "$state"
printf '%s\n' "$*" >> "$state/calls.log"
if [ -f "$state/fail-$1" ]; then
	cat "$state/fail-$1" >&2
	exit 1
fi
case "$1" in
install)
	[ "$2" = worker ] || { echo "stub k0s: only 'install worker' is supported" >&2; exit 2; }
	shift 2
	tf=
	while [ $# -gt 0 ]; do
		case "$1" in
		--token-file) tf=$2; shift 2 ;;
		--token-file=*) tf=${1#*=}; shift ;;
		*) shift ;;
		esac
	done
	[ -n "$tf" ] && [ -s "$tf" ] || { echo "Error: no join token: --token-file is missing or empty" >&2; exit 1; }
	if [ -e "$unit" ]; then
		echo "Error: failed to install k0s service: init already exists: $unit" >&2
		exit 1
	fi
	mkdir -p "$(dirname "$unit")"
	printf '[Unit]\nDescription=k0s - Zero Friction Kubernetes\n[Service]\nExecStart=/usr/local/bin/k0s worker --token-file=%s\n' "$tf" > "$unit"
	;;
start)
	[ -e "$unit" ] || { echo "Error: failed to start k0s service: k0s has not been installed as a service" >&2; exit 1; }
	touch "$state/running"
	;;
stop)
	rm -f "$state/running"
	;;
status)
	if [ -f "$state/running" ]; then
		printf 'Version: v1.35.2+k0s.0\nProcess ID: 4242\nRole: worker\nWorkloads: true\nSingleNode: false\n'
	else
		echo 'Error: failed to get status: can'\''t get "status" via "/run/k0s/status.sock"' >&2
		exit 1
	fi
	;;
version)
	echo v1.35.2+k0s.0
	;;
*)
	echo "stub k0s: unsupported: $*" >&2
	exit 2
	;;
esac
`

// Edge is a running fake edge VM.
type Edge struct {
	Name string
	// Host and Port to dial; User to log in as (root).
	Host string
	Port int
	User string
	// KeyFile is the client's private key (authorized on the edge).
	KeyFile string
	// KnownHosts is a known_hosts file with the edge's host key.
	KnownHosts string
	// HostKey is the edge's public host key.
	HostKey ssh.PublicKey
	// NetNS is the network namespace ("" on the loopback fallback).
	NetNS string

	dir      string
	cmd      *exec.Cmd
	exited   chan struct{}
	mntNS    string
	log      *lockedBuffer
	attempts int // sshd starts it took (more than one when a port was taken)
}

// Addr is host:port.
func (e *Edge) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// Start starts a fake edge for the test. It skips the test when sshd is
// not installed or the test does not run as root (namespaces and mounts
// need it), and fails it when the server does not come up.
func Start(tb testing.TB, name string) *Edge {
	tb.Helper()
	return start(tb, name, options{})
}

// options are for this package's tests.
type options struct {
	// loopback skips the network namespace (the fallback where there is
	// none).
	loopback bool
	// beforeRun, when not nil, is called before each start of sshd
	// (tests use it to take the port).
	beforeRun func(e *Edge, attempt int)
}

// maxAttempts bounds the starts of sshd on the loopback fallback when
// the reserved port keeps turning out taken.
const maxAttempts = 5

func start(tb testing.TB, name string, opt options) *Edge {
	tb.Helper()
	if _, err := os.Stat(Sshd); err != nil {
		tb.Skipf("sshedge: %s not found: install Debian's openssh-server (scripts/test does)", Sshd)
	}
	if os.Geteuid() != 0 {
		tb.Skip("sshedge: fake edges need root (network and mount namespaces, bind mounts); run the tests as root")
	}
	if err := exec.Command("unshare", "--mount", "--propagation", "private", "true").Run(); err != nil {
		tb.Skipf("sshedge: mount namespaces are unavailable (unshare --mount: %v); a fake edge would change this machine's /etc", err)
	}
	e := &Edge{Name: name, User: "root", dir: tb.TempDir(), log: &lockedBuffer{}}
	if err := e.prepare(); err != nil {
		tb.Fatalf("sshedge: %v", err)
	}
	var cleanup []func()
	tb.Cleanup(func() {
		e.stop()
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	})
	var prefix []string
	var lease *ports.Lease
	if opt.loopback {
		lease = e.loopback(tb, "the test asked for the loopback fallback", &cleanup)
	} else {
		var undo []func()
		var err error
		prefix, undo, err = e.network()
		cleanup = append(cleanup, undo...)
		if err != nil {
			prefix = nil
			lease = e.loopback(tb, fmt.Sprintf("no network namespace (%v)", err), &cleanup)
		}
	}
	for attempt := 1; ; attempt++ {
		if lease != nil {
			e.Port = lease.Ports()[0]
		}
		if opt.beforeRun != nil {
			opt.beforeRun(e, attempt)
		}
		from := e.log.Len()
		err := e.run(prefix)
		if err == nil {
			e.attempts = attempt
			return e
		}
		e.stop()
		out := e.log.String()[from:]
		if lease == nil || !bindFailed(out, e.Port) || attempt == maxAttempts {
			if lease != nil && bindFailed(out, e.Port) {
				err = fmt.Errorf("%v (the port was still taken after %d attempts)", err, attempt)
			}
			tb.Fatalf("sshedge: %v\n%s", err, e.log.String())
		}
		tb.Logf("sshedge: port %d was taken (attempt %d): starting sshd again on another one", e.Port, attempt)
		if _, err := lease.Replace(e.Port); err != nil {
			tb.Fatalf("sshedge: %v", err)
		}
	}
}

// loopback makes the edge listen on 127.0.0.1 on a port reserved for its
// life (released at cleanup, after sshd is stopped).
func (e *Edge) loopback(tb testing.TB, why string, cleanup *[]func()) *ports.Lease {
	tb.Helper()
	tb.Logf("sshedge: %s; the edge listens on 127.0.0.1", why)
	e.NetNS, e.Host = "", "127.0.0.1"
	lease, err := ports.Reserve(1)
	if err != nil {
		tb.Fatalf("sshedge: %v", err)
	}
	*cleanup = append(*cleanup, lease.Release)
	return lease
}

// sshdBindFailure is how sshd reports a listen address it could not bind
// ("Bind to port 2222 on 127.0.0.1 failed: Address already in use.").
var sshdBindFailure = regexp.MustCompile(`Bind to port (\d+) on \S+ failed: Address already in use`)

// bindFailed reports whether sshd's output says it could not bind port.
func bindFailed(out string, port int) bool {
	for _, m := range sshdBindFailure.FindAllStringSubmatch(out, -1) {
		if m[1] == strconv.Itoa(port) {
			return true
		}
	}
	return false
}

func (e *Edge) p(parts ...string) string { return filepath.Join(append([]string{e.dir}, parts...)...) }

// prepare writes keys, the server configuration and the edge's folders.
func (e *Edge) prepare() error {
	for _, d := range []string{"etc.upper", "etc.work", "var.upper", "var.work", "bin", "srv"} {
		if err := os.MkdirAll(e.p(d), 0o755); err != nil {
			return err
		}
	}
	// The test's folder is 0700; sshd's privilege-separated child and the
	// login shell run as root, so that is enough.
	hostPub, err := writeKey(e.p("host_key"))
	if err != nil {
		return err
	}
	e.HostKey = hostPub
	clientPub, err := writeKey(e.p("client_key"))
	if err != nil {
		return err
	}
	e.KeyFile = e.p("client_key")
	files := map[string]struct {
		data string
		mode os.FileMode
	}{
		"authorized_keys": {string(ssh.MarshalAuthorizedKey(clientPub)), 0o600},
		"etc.upper/hosts": {InitialHosts, 0o644},
		"bin/k0s":         {K0sStub, 0o755},
		// root's login shell on the edge: records each command, then runs
		// it with bash as before (sshd runs SHELL -c COMMAND).
		"session": {"#!/bin/sh\n[ \"$1\" = -c ] && printf '%s\\n\\036\\n' \"$2\" >> " + shq(e.p("commands.log")) +
			"\nexec /bin/bash \"$@\"\n", 0o755},
	}
	for name, f := range files {
		if err := os.WriteFile(e.p(name), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func writeKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

var (
	subnetMu   sync.Mutex
	usedSubnet = map[int]bool{}
)

// network makes a namespace with a veth pair on a free 10.77.x.y/30 and
// returns the command prefix that runs in it.
func (e *Edge) network() (prefix []string, undo []func(), err error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, nil, err
	}
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return nil, nil, err
	}
	subnetMu.Lock()
	block := -1
	for try := 0; try < 100; try++ {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<14))
		b := int(n.Int64())
		if usedSubnet[b] || bytes.Contains(out, []byte(" "+subnetIP(b, 1)+"/")) {
			continue
		}
		// Edges of other test processes may have chosen b too and not
		// made their veth yet: the subnet's lock file tells.
		release, ok := ports.Hold("subnets", b) // for as long as the edge lives
		if !ok {
			continue
		}
		undo = append(undo, release)
		usedSubnet[b] = true
		block = b
		break
	}
	subnetMu.Unlock()
	if block < 0 {
		return nil, undo, fmt.Errorf("no free 10.77.0.0/16 subnet")
	}
	id := fmt.Sprintf("%04x%d", block, os.Getpid()%100)
	ns := "aisedge-sshedge-" + id
	vh, ve := "aeh"+id, "aee"+id // at most 15 characters
	run := func(args ...string) error {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := run("ip", "netns", "add", ns); err != nil {
		return nil, nil, err
	}
	undo = append(undo, func() { exec.Command("ip", "netns", "del", ns).Run() })
	if err := run("ip", "link", "add", vh, "type", "veth", "peer", "name", ve); err != nil {
		return nil, undo, err
	}
	undo = append(undo, func() { exec.Command("ip", "link", "del", vh).Run() })
	for _, c := range [][]string{
		{"ip", "link", "set", ve, "netns", ns},
		{"ip", "addr", "add", subnetIP(block, 1) + "/30", "dev", vh},
		{"ip", "link", "set", vh, "up"},
		{"ip", "netns", "exec", ns, "ip", "addr", "add", subnetIP(block, 2) + "/30", "dev", ve},
		{"ip", "netns", "exec", ns, "ip", "link", "set", ve, "up"},
		{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
	} {
		if err := run(c...); err != nil {
			return nil, undo, err
		}
	}
	e.NetNS, e.Host, e.Port = ns, subnetIP(block, 2), 22
	return []string{"ip", "netns", "exec", ns}, undo, nil
}

// subnetIP is address i (1 or 2) of the /30 number b of 10.77.0.0/16.
func subnetIP(b, i int) string {
	v := b*4 + i
	return fmt.Sprintf("10.77.%d.%d", v>>8, v&0xff)
}

// mountScript sets up the edge's mount namespace and becomes sshd.
const mountScript = `set -e
d=$1; shift
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$d/etc.upper,workdir=$d/etc.work" /etc
mount -t overlay overlay -o "lowerdir=/var,upperdir=$d/var.upper,workdir=$d/var.work" /var
mount --bind "$d/bin" /usr/local/bin
mount --bind "$d/srv" /srv
sed -i "s|^\\(root:.*:\\)[^:]*\$|\\1$d/session|" /etc/passwd
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -m 0755 /run/sshd
exec "$@"
`

// run starts sshd (with prefix, the command that enters the network
// namespace) on e.Addr() and waits until it answers.
func (e *Edge) run(prefix []string) error {
	cfg := fmt.Sprintf(`ListenAddress %s
HostKey %s
PidFile none
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 50
LogLevel VERBOSE
`, e.Addr(), e.p("host_key"), e.p("authorized_keys"))
	if err := os.WriteFile(e.p("sshd_config"), []byte(cfg), 0o600); err != nil {
		return err
	}
	args := append(append([]string{}, prefix...),
		"unshare", "--mount", "--propagation", "private",
		"sh", "-c", mountScript, "sh", e.dir,
		Sshd, "-D", "-e", "-f", e.p("sshd_config"))
	e.cmd = exec.Command(args[0], args[1:]...)
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	// Its own process group (sessions included) so that stop reaches
	// them all; killed with the test binary if that dies first.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	e.exited = exited
	go func() { e.cmd.Wait(); close(exited) }()
	if err := e.waitReady(exited); err != nil {
		return err
	}
	// The mount namespace identifies the sessions at stop (they leave
	// sshd's process group).
	e.mntNS, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", e.cmd.Process.Pid))
	kh := knownhosts.Line([]string{knownhosts.Normalize(e.Addr())}, e.HostKey) + "\n"
	e.KnownHosts = e.p("known_hosts")
	return os.WriteFile(e.KnownHosts, []byte(kh), 0o600)
}

// waitReady waits until sshd answers on e.Addr() with its banner. It gives
// up at once when sshd exits (a port it could not bind, among others).
func (e *Edge) waitReady(exited <-chan struct{}) error {
	watch := progress.Start()
	// How long a probe waits for the connection and the banner; doubled
	// when sshd is too slow to answer (each probe is a new session for
	// it, and cutting it only starts another).
	probe := 2 * time.Second
	for {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited: %v", e.cmd.ProcessState)
		default:
		}
		// A probe may hang on another process holding the port until
		// its timeout; sshd's exit (it could not bind) ends the wait at
		// once.
		answer := make(chan probeResult, 1)
		go func(addr string, timeout time.Duration) { answer <- probeSSH(addr, timeout) }(e.Addr(), probe)
		var a probeResult
		select {
		case a = <-answer:
		case <-exited:
			return fmt.Errorf("sshd exited: %v", e.cmd.ProcessState)
		}
		now, timedOut := a.problem, a.timedOut
		if now == "" {
			return nil
		}
		if timedOut && probe < 30*time.Second {
			probe *= 2
		}
		// The command is ip, unshare and sh in turn (each execs the
		// next) before it becomes sshd, and the mount script's commands
		// are its children: progress.CPUTime counts them.
		if err := watch.Check(e.log.Len(), now, progress.CPUTime(e.cmd.Process.Pid)); err != nil {
			return fmt.Errorf("sshd on %s %v: %s", e.Addr(), err, now)
		}
		select {
		case <-exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type probeResult struct {
	problem  string
	timedOut bool
}

// probeSSH connects to addr and reads the start of its banner: no problem
// when that is "SSH-" (it is sshd, not a half-made socket), else what went
// wrong (without the probe's own address, so that only a change of sshd's
// answer reads as progress) and whether it was a timeout.
func probeSSH(addr string, timeout time.Duration) probeResult {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return describe("connect", err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(timeout))
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil {
		return describe("banner", err)
	}
	if string(b) != "SSH-" {
		return probeResult{problem: fmt.Sprintf("banner %q", b)}
	}
	return probeResult{}
}

func describe(step string, err error) probeResult {
	var ne net.Error
	var errno syscall.Errno
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return probeResult{step + ": timeout", true}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return probeResult{problem: step + ": connection closed"}
	case errors.As(err, &errno):
		return probeResult{problem: step + ": " + errno.Error()}
	}
	return probeResult{problem: step + ": " + err.Error()}
}

func (e *Edge) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	// sshd's process group, then every process left in the edge's mount
	// namespace (sessions call setsid): all of them started by this edge.
	syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	if e.mntNS != "" {
		procs, _ := filepath.Glob("/proc/[0-9]*/ns/mnt")
		for _, p := range procs {
			if l, err := os.Readlink(p); err == nil && l == e.mntNS {
				if pid, err := strconv.Atoi(strings.Split(p, "/")[2]); err == nil && pid != os.Getpid() {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	if e.exited != nil {
		select {
		case <-e.exited:
			// Gone: a later stop (the test's cleanup after a failed
			// attempt) must not signal its reused process group id.
			e.cmd, e.exited, e.mntNS = nil, nil, ""
		case <-time.After(10 * time.Second):
		}
	}
}

// Path is where the test reads or writes the edge's file p (an absolute
// path on the edge), through the server's mount namespace.
func (e *Edge) Path(p string) string {
	return fmt.Sprintf("/proc/%d/root%s", e.cmd.Process.Pid, p)
}

// ReadFile returns the content of the edge's file p ("" when missing).
func (e *Edge) ReadFile(tb testing.TB, p string) string {
	tb.Helper()
	b, err := os.ReadFile(e.Path(p))
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	return string(b)
}

// Stat describes the edge's file p.
func (e *Edge) Stat(p string) (os.FileInfo, error) { return os.Stat(e.Path(p)) }

// K0sCalls returns the arguments of every call of the stub k0s, in order.
func (e *Edge) K0sCalls(tb testing.TB) []string {
	tb.Helper()
	s := strings.TrimSpace(e.ReadFile(tb, "/var/lib/k0s/stub/calls.log"))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// FailK0s makes `k0s <sub>` print msg on stderr and exit 1 ("" undoes it).
func (e *Edge) FailK0s(tb testing.TB, sub, msg string) {
	tb.Helper()
	dir := e.Path("/var/lib/k0s/stub")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	f := filepath.Join(dir, "fail-"+sub)
	if msg == "" {
		os.Remove(f)
		return
	}
	if err := os.WriteFile(f, []byte(msg+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Commands returns every command line a client ran on the edge.
func (e *Edge) Commands(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile(e.p("commands.log"))
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	var out []string
	for _, c := range strings.Split(string(b), "\n\x1e\n") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// WrongKnownHosts writes a known_hosts file that records another key for
// the edge's address (what a man in the middle, or a reinstalled edge,
// looks like) and returns its path.
func (e *Edge) WrongKnownHosts(tb testing.TB) string {
	tb.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(e.Addr())}, k) + "\n"
	if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Log is the server's output (for failure messages).
func (e *Edge) Log() string { return e.log.String() }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
