// Package kubetest starts a real kube-apiserver (v1.34.4, built by
// scripts/kube-apiserver.sh) with its own etcd on loopback for tests:
// static token, RBAC, strict server-side apply — the same answers a real
// cluster gives, without controllers (nothing schedules pods; tests that
// need a status set it through the status subresource).
//
//	srv := kubetest.Start(t)          // skips when the binaries are not built
//	srv.InstallCRDs(t, kubetest.CertManagerCRDs(), kubetest.K0smotronCRDs())
//	cfg := srv.Config                 // *rest.Config (system:masters)
//
// Tests only.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/testpeer/progress"

	"github.com/aisedge/aisedge/internal/testpeer/ports"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/aisedge/aisedge/internal/fleet/kube"
)

// Versions the cache folder is named after (scripts/kube-apiserver.sh).
const (
	KubeVersion        = "1.34.4"
	CertManagerVersion = "v1.19.2"
	K0smotronVersion   = "v1.10.4"
)

// CacheDir is where scripts/kube-apiserver.sh puts the binaries.
func CacheDir() string {
	root := os.Getenv("AISEDGE_CACHE")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".cache", "aisedge-test")
	}
	return filepath.Join(root, "kube-"+KubeVersion)
}

// repoRoot is the module root (from this file's location).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// CertManagerCRDs is the folder of cert-manager's CRDs (from its module).
func CertManagerCRDs() string {
	return filepath.Join(CacheDir(), "crds", "cert-manager-"+CertManagerVersion)
}

// K0smotronCRDs is the folder of k0smotron's CRDs (vendored in hack/kube).
func K0smotronCRDs() string {
	return filepath.Join(repoRoot(), "hack", "kube", "crds", "k0smotron-"+K0smotronVersion)
}

// Server is a running kube-apiserver.
type Server struct {
	URL        string
	Token      string
	Kubeconfig string // a kubeconfig file for the server (admin token)
	Config     *rest.Config
	dir        string
	procs      []*proc
	mu         sync.Mutex // guards the procs' logs
	lease      *ports.Lease
	// attempts is how many launches the start took (1 without a port
	// collision); beforeRun is called before each (tests).
	attempts  int
	beforeRun func(s *Server, ports []int, attempt int)
}

// proc is one process of the server (etcd or kine, kube-apiserver).
type proc struct {
	cmd    *exec.Cmd
	log    *bytes.Buffer
	exited chan struct{} // closed once it has exited
}

// Start starts etcd and kube-apiserver for the test and stops them at its
// end. It skips the test, saying how to build them, when the binaries are
// missing.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, nil)
}

func start(tb testing.TB, beforeRun func(s *Server, ports []int, attempt int)) *Server {
	tb.Helper()
	apiserver := filepath.Join(CacheDir(), "kube-apiserver")
	if _, err := os.Stat(apiserver); err != nil {
		tb.Skipf("kube-apiserver v%s is not built (%s): run ./scripts/kube-apiserver.sh (about 13 min once per machine)", KubeVersion, apiserver)
	}
	s := &Server{dir: tb.TempDir(), beforeRun: beforeRun}
	tb.Cleanup(s.stop)
	if err := s.start(tb, apiserver); err != nil {
		tb.Fatalf("kubetest: %v\n%s", err, s.logTail())
	}
	return s
}

func (s *Server) run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var log bytes.Buffer
	w := &lockedWriter{mu: &s.mu, w: &log}
	cmd.Stdout, cmd.Stderr = w, w
	// Die with the test binary even if it is killed before Cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &proc{cmd: cmd, log: &log, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	s.procs = append(s.procs, p)
	return nil
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

func (s *Server) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, p := range s.procs {
		lines := strings.Split(strings.TrimSpace(p.log.String()), "\n")
		if len(lines) > 25 {
			lines = lines[len(lines)-25:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(p.cmd.Path), strings.Join(lines, "\n"))
	}
	return b.String()
}

// output returns everything the processes have written.
func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, p := range s.procs {
		b.Write(p.log.Bytes())
	}
	return b.String()
}

// kill stops the processes (nothing of a test server is worth a graceful
// shutdown) and forgets them.
func (s *Server) kill() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	s.procs = nil
}

func (s *Server) stop() {
	s.kill()
	if s.lease != nil {
		s.lease.Release()
	}
}

// startStore starts etcd (or kine) on the given client and peer ports and
// returns its client URL.
func (s *Server) startStore(clientPort, peerPort int) (string, error) {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	if etcd := filepath.Join(CacheDir(), "etcd"); fileExists(etcd) {
		err := s.run(etcd, "--name=kubetest", "--data-dir="+filepath.Join(s.dir, "etcd"),
			"--listen-client-urls="+client, "--advertise-client-urls="+client,
			"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
			"--initial-cluster=kubetest="+peer, "--log-level=warn")
		return client, err
	}
	if kine := filepath.Join(CacheDir(), "kine"); fileExists(kine) {
		err := s.run(kine, "--endpoint=sqlite://"+filepath.Join(s.dir, "kine.db"), "--listen-address=127.0.0.1:"+strconv.Itoa(clientPort))
		return client, err
	}
	return "", errors.New("neither etcd nor kine in " + CacheDir() + ": run ./scripts/kube-apiserver.sh")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// maxAttempts bounds the launches of one start: each one after the first
// follows a port collision (etcd or kube-apiserver could not bind a port
// it was given) and replaces the ports named.
const maxAttempts = 5

// start reserves three ports (etcd's client and peer ports, the
// apiserver's) for the server's life and starts it. If a port turns out
// to be taken (another process bound it after it was chosen), the
// processes are stopped, the store emptied, that port replaced and the
// start tried again.
func (s *Server) start(tb testing.TB, apiserver string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saKey := filepath.Join(s.dir, "sa.key")
	if err := os.WriteFile(saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	s.Token = hex.EncodeToString(tok)
	tokens := filepath.Join(s.dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(s.Token+",admin,admin,\"system:masters\"\n"), 0o600); err != nil {
		return err
	}
	if s.lease, err = ports.Reserve(3); err != nil {
		return err
	}
	certDir := filepath.Join(s.dir, "certs")
	for attempt := 1; ; attempt++ {
		p := s.lease.Ports()
		if s.beforeRun != nil {
			s.beforeRun(s, p, attempt)
		}
		err := s.launch(apiserver, p, certDir, tokens, saKey)
		if err == nil {
			s.attempts = attempt
			break
		}
		taken, collided := ports.TakenIn(s.output(), p)
		if !collided || attempt == maxAttempts {
			return err
		}
		tb.Logf("kubetest: port(s) %v taken (attempt %d): starting again on new ones", taken, attempt)
		s.kill()
		for _, d := range []string{"etcd", "kine.db"} {
			if err := os.RemoveAll(filepath.Join(s.dir, d)); err != nil {
				return err
			}
		}
		if _, err := s.lease.Replace(taken...); err != nil {
			return err
		}
	}
	ca, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		return err
	}
	s.Config = &rest.Config{Host: s.URL, BearerToken: s.Token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, QPS: 100, Burst: 200}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: ca}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: s.Token}
	kc.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin"}
	kc.CurrentContext = "kubetest"
	s.Kubeconfig = filepath.Join(s.dir, "kubeconfig")
	return clientcmd.WriteToFile(*kc, s.Kubeconfig)
}

// launch starts the store and kube-apiserver on ports p and waits until the
// apiserver is ready.
func (s *Server) launch(apiserver string, p []int, certDir, tokens, saKey string) error {
	store, err := s.startStore(p[0], p[1])
	if err != nil {
		return err
	}
	s.URL = "https://127.0.0.1:" + strconv.Itoa(p[2])
	err = s.run(apiserver,
		"--etcd-servers="+store,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(p[2]),
		"--cert-dir="+certDir,
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saKey,
		"--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.96.0.0/12",
		"--enable-priority-and-fairness=false",
		"--v=0",
	)
	if err != nil {
		return err
	}
	return s.waitReady(p)
}

// waitReady polls /readyz until it answers 200. It gives up at once when a
// process exits or reports a port of p it could not bind.
func (s *Server) waitReady(p []int) error {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	watch := progress.Start()
	for {
		var cpu time.Duration
		for _, pr := range s.procs {
			select {
			case <-pr.exited:
				return fmt.Errorf("%s exited: %v", filepath.Base(pr.cmd.Path), pr.cmd.ProcessState)
			default:
			}
			cpu += progress.CPUTime(pr.cmd.Process.Pid)
		}
		out := s.output()
		if _, collided := ports.TakenIn(out, p); collided {
			return errors.New("a port could not be bound")
		}
		req, _ := http.NewRequest("GET", s.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := c.Do(req)
		var now string
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			now = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			now = err.Error()
		}
		if err := watch.Check(len(out), now, cpu); err != nil {
			return fmt.Errorf("kube-apiserver %v: %s", err, now)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// ReadObjects reads every YAML document of the .yaml files in dirs (or the
// files themselves).
func ReadObjects(paths ...string) ([]*unstructured.Unstructured, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		m, _ := filepath.Glob(filepath.Join(p, "*.yaml"))
		sort.Strings(m)
		files = append(files, m...)
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var m map[string]any
			if err := d.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(m) > 0 {
				out = append(out, &unstructured.Unstructured{Object: m})
			}
		}
	}
	return out, nil
}

// InstallCRDs applies the CRDs found in dirs and waits until they are
// established.
func (s *Server) InstallCRDs(tb testing.TB, dirs ...string) {
	tb.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(d); err != nil {
			tb.Skipf("CRDs not found (%v): run ./scripts/kube-apiserver.sh", err)
		}
	}
	objs, err := ReadObjects(dirs...)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := kube.New("crds", s.Config)
	if err != nil {
		tb.Fatal(err)
	}
	c.PollInterval = 200 * time.Millisecond
	ctx := context.Background()
	if _, err := c.Apply(ctx, objs); err != nil {
		tb.Fatal(err)
	}
	// A ceiling, not a budget: the wait ends as soon as they are
	// established, which a loaded machine only delays.
	if err := c.Wait(ctx, objs, 5*time.Minute); err != nil {
		tb.Fatal(err)
	}
}
