// Package kubenode runs a real one-node Kubernetes cluster for tests: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and a kubelet
// (v1.34.4, built by scripts/kube-node.sh) on containerd + runc with the
// bridge CNI plugin (Debian packages), all inside a network namespace of
// their own, so that pods really run: images are imported, probes answer,
// pods get addresses and talk to each other.
//
//	node := kubenode.Start(t) // skips when not root or nothing is built
//	node.ImportImage(t, archive, "docker.io/aisedge-test/aisedge")
//	clientset := node.Clientset
//	conn, _ := node.DialContext(ctx, "tcp", podIP+":4242")
//	out, _ := node.Command(ctx, "echoscu", podIP, "4242").CombinedOutput()
//
// Everything a node owns is named after its id (aisedge-node-<hex>): the
// network namespace /run/netns/<id>, the cgroup /<id> in every hierarchy
// (every process of the node, containers included, lives below it) and the
// folder $TMPDIR/<id> (configuration, state, and every mount the node
// makes). The namespace has no route out; the test reaches it through
// DialContext (a socket opened inside it) and Command (nsenter --net).
// Stopping kills the cgroup, unmounts the folder and removes all three; a
// node whose test process died first is removed by the next Start.
//
// No registry is reachable: the pause image is built here from ./pause, and
// pods must use images imported with ImportImage and imagePullPolicy:
// Never. kube-proxy (iptables mode) routes Service IPs and CoreDNS
// answers Service names (services.go), as in any cluster.
//
// Tests only.
package kubenode

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/aisedge/aisedge/internal/testpeer/progress"
)

// KubeVersion names the cache folder of the binaries (scripts/kube-node.sh).
const KubeVersion = "1.34.4"

// Addresses inside the node's namespace (nothing outside sees them).
const (
	NodeIP   = "10.77.0.2"
	nodeCIDR = NodeIP + "/24"
	PodCIDR  = "10.244.0.0/24"
	NodeName = "aisedge-node"
	apiPort  = "6443"
)

// CacheDir is where scripts/kube-apiserver.sh and scripts/kube-node.sh put
// the binaries.
func CacheDir() string {
	root := os.Getenv("AISEDGE_CACHE")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".cache", "aisedge-test")
	}
	return filepath.Join(root, "kube-"+KubeVersion)
}

// Node is a running one-node cluster.
type Node struct {
	ID         string // the name of its namespace, cgroup and folder
	Dir        string
	URL        string       // the API server (inside the namespace)
	Config     *rest.Config // system:masters; dials into the namespace
	Clientset  kubernetes.Interface
	Kubeconfig string // for programs run with Command
	// PauseImage is the sandbox image (imported at start).
	PauseImage string

	token   string
	lock    *os.File
	mu      sync.Mutex // guards the logs
	procs   []*proc
	stopped bool
}

type proc struct {
	name   string
	cmd    *exec.Cmd
	log    *bytes.Buffer
	exited chan struct{}
}

// Requirements returns why a node cannot run here ("" when it can).
func Requirements() string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces, cgroups, mounts)"
	}
	var missing []string
	for _, b := range []string{"kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "coredns"} {
		if _, err := os.Stat(filepath.Join(CacheDir(), b)); err != nil {
			missing = append(missing, filepath.Join(CacheDir(), b))
		}
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "nsenter", "ip", "iptables", "iptables-restore", "sysctl"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	for _, b := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, b)); err != nil {
			missing = append(missing, filepath.Join(cniBinDir, b))
		}
	}
	if len(missing) > 0 {
		return "missing " + strings.Join(missing, ", ") + ": run ./scripts/kube-node.sh (about 25 min once per machine)"
	}
	if m, err := cgroupMounts(); err != nil || len(m) == 0 {
		return "no cgroup hierarchy is mounted"
	}
	return ""
}

const cniBinDir = "/usr/lib/cni"

// Start brings a node up for the test and tears it down at its end. It
// skips the test when the machine cannot run one (not root, binaries not
// built), saying what is missing.
func Start(tb testing.TB) *Node {
	tb.Helper()
	if why := Requirements(); why != "" {
		tb.Skip("kubenode: " + why)
	}
	n, err := start(tb)
	if n != nil {
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Logf("kubenode: the node's pods:\n%s", n.PodsReport(context.Background()))
				tb.Logf("kubenode: the node's processes:\n%s", n.logTail(40))
			}
			if err := n.Stop(); err != nil {
				tb.Errorf("kubenode: stop: %v", err)
			}
		})
	}
	if err != nil {
		if n != nil {
			tb.Fatalf("kubenode: %v\n%s", err, n.logTail(40))
		}
		tb.Fatalf("kubenode: %v", err)
	}
	return n
}

func start(tb testing.TB) (*Node, error) {
	tmp := os.TempDir()
	sweep(tmp)
	id := make([]byte, 4)
	rand.Read(id)
	n := &Node{ID: dirPrefix + hex.EncodeToString(id)}
	n.Dir = filepath.Join(tmp, n.ID)
	if err := os.Mkdir(n.Dir, 0o700); err != nil {
		return nil, err
	}
	// The lock is taken before it gets its name, so a concurrent sweep
	// never sees this folder unowned.
	f, err := os.Create(filepath.Join(n.Dir, lockFile+".new"))
	if err != nil {
		os.RemoveAll(n.Dir)
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		os.RemoveAll(n.Dir)
		return nil, err
	}
	if err := os.Rename(f.Name(), filepath.Join(n.Dir, lockFile)); err != nil {
		os.RemoveAll(n.Dir)
		return nil, err
	}
	n.lock = f
	if _, err := makeCgroup(n.ID); err != nil {
		return n, err
	}
	if err := addNetns(n.ID, nodeCIDR); err != nil {
		return n, err
	}
	return n, n.boot(tb)
}

// Stop tears the node down: every process (containers too), every mount,
// the folder, the cgroups and the namespace.
func (n *Node) Stop() error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	err := teardown(n.ID, n.Dir)
	for _, p := range n.procs {
		<-p.exited
	}
	if n.lock != nil {
		n.lock.Close()
	}
	return err
}

// Command returns a command that runs inside the node's network namespace.
func (n *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + netnsPath(n.ID), "--", name}, args...)...)
}

// DialContext opens a connection from inside the node's network namespace
// (to a pod IP, the node IP, or 127.0.0.1 of the node).
func (n *Node) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.inside(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen opens a listening socket inside the node's namespace (on NodeIP,
// pods reach it): a test serves a peer to the pods from its own process.
func (n *Node) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.inside(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// inside runs f, which makes sockets, on a thread inside the node's
// network namespace.
func (n *Node) inside(f func() error) error {
	type result struct{ err error }
	ch := make(chan result, 1)
	go func() {
		// The thread enters the namespace, makes the socket (which keeps
		// the namespace it was made in) and goes back. Should it fail to
		// go back it stays locked, and Go ends it with this goroutine
		// instead of reusing it.
		runtime.LockOSThread()
		host, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err}
			return
		}
		defer host.Close()
		ns, err := os.Open(netnsPath(n.ID))
		if err != nil {
			ch <- result{err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{fmt.Errorf("setns: %w", err)}
			return
		}
		err = f()
		if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{err}
	}()
	return (<-ch).err
}

// run starts a program of the node inside its namespace and cgroup.
func (n *Node) run(name string, env []string, bin string, args ...string) (*proc, error) {
	// sh joins the node's cgroup (in every hierarchy) before it becomes
	// nsenter, which becomes the program: everything it starts stays
	// below the cgroup, so Stop finds it.
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	var procs []string
	for _, m := range mounts {
		procs = append(procs, filepath.Join(m, n.ID, "cgroup.procs"))
	}
	script := `for f in $NODE_CGROUPS; do echo $$ > "$f" || exit 1; done; unset NODE_CGROUPS; exec "$@"`
	cmd := exec.Command("sh", append([]string{"-c", script, "sh", "nsenter", "--net=" + netnsPath(n.ID), "--", bin}, args...)...)
	cmd.Env = append(append(os.Environ(), env...), "NODE_CGROUPS="+strings.Join(procs, " "))
	cmd.Dir = n.Dir
	var log bytes.Buffer
	w := &lockedWriter{mu: &n.mu, w: &log}
	cmd.Stdout, cmd.Stderr = w, w
	// Die with the test binary even if it is killed before Cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := spawn(cmd.Start); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, log: &log, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	n.procs = append(n.procs, p)
	return p, nil
}

// spawner is the goroutine, locked to its thread for the life of the
// process, that starts the node's programs: the kernel sends their
// parent-death signal when the thread that forked them ends, and Go ends
// the threads of goroutines that exit locked (DialContext's may).
var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

// spawn runs start (a cmd.Start) on the spawner's thread.
func spawn(start func() error) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawnCh {
				f()
			}
		}()
	})
	done := make(chan error)
	spawnCh <- func() { done <- start() }
	return <-done
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// logTail returns the last lines of every process's output.
func (n *Node) logTail(lines int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	for _, p := range n.procs {
		l := strings.Split(strings.TrimSpace(p.log.String()), "\n")
		if len(l) > lines {
			l = l[len(l)-lines:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", p.name, strings.Join(l, "\n"))
	}
	return b.String()
}

// Log returns everything the process called name (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd, coredns, kubelet,
// kube-proxy) has written.
func (n *Node) Log(name string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.procs {
		if p.name == name {
			return p.log.String()
		}
	}
	return ""
}

// exited reports the first process that has exited.
func (n *Node) exited() error {
	for _, p := range n.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited: %v", p.name, p.cmd.ProcessState)
		default:
		}
	}
	return nil
}

// waitFor polls ready until it returns true, failing when a process of
// the node exits or nothing changes (the processes' output and CPU time,
// ready's answer) for progress.IdleLimit.
func (n *Node) waitFor(what string, ready func() (bool, string)) error {
	watch := progress.Start()
	for {
		if err := n.exited(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		ok, now := ready()
		if ok {
			return nil
		}
		var cpu time.Duration
		size := 0
		n.mu.Lock()
		for _, p := range n.procs {
			cpu += progress.CPUTime(p.cmd.Process.Pid)
			size += p.log.Len()
		}
		n.mu.Unlock()
		if err := watch.Check(size, now, cpu); err != nil {
			return fmt.Errorf("%s: %v: %s", what, err, now)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// writeKubeconfig writes a kubeconfig for the API server with the admin
// token.
func (n *Node) writeKubeconfig(ca []byte) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["node"] = &clientcmdapi.Cluster{Server: n.URL, CertificateAuthorityData: ca}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: n.token}
	kc.Contexts["node"] = &clientcmdapi.Context{Cluster: "node", AuthInfo: "admin"}
	kc.CurrentContext = "node"
	n.Kubeconfig = filepath.Join(n.Dir, "kubeconfig")
	return clientcmd.WriteToFile(*kc, n.Kubeconfig)
}

func writeKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
}

// nodeReady reports whether the node has registered and is Ready.
func (n *Node) nodeReady(ctx context.Context) (bool, string) {
	node, err := n.Clientset.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return false, err.Error()
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue && len(node.Spec.Taints) == 0 {
				return true, ""
			}
			return false, fmt.Sprintf("Ready=%s %s %s taints=%v", c.Status, c.Reason, c.Message, node.Spec.Taints)
		}
	}
	return false, "no Ready condition yet"
}

var errStopped = errors.New("kubenode: the node is stopped")
