// Package seaweed runs a real SeaweedFS S3 server for tests: one shared
// `weed server` per test binary, behind TLS with a CA generated for the run,
// with the identities the project deploys (an admin key and put-only edge
// keys confined to staged/<edge>/ by IAM policies). Tests of any package may
// import it:
//
//	func TestMain(m *testing.M) { os.Exit(seaweed.Main(m)) }
//
//	func TestUpload(t *testing.T) {
//		srv := seaweed.Start(t) // skips when the weed binary is not built
//		store, _ := s3.New(srv.Config(srv.Edge("edge-a")))
//		prefix := srv.Prefix(t, "edge-a") // staged/edge-a/<unique>/
//		...
//	}
//
// The weed binary comes from scripts/seaweedfs.sh, which builds SeaweedFS 4.53
// into ${AISEDGE_CACHE:-$HOME/.cache/aisedge-test}/weed-4.53/weed; without it
// Start skips the test and says how to build it. Every port weed opens is
// reserved for the server's life by internal/testpeer/ports (none of its
// defaults), so test binaries that `go test ./...` runs in parallel each get
// their own server; when weed still finds one taken, it is started again on
// a replacement (see boot). A lock file in the cache folder only serialises
// the start-ups, which are CPU-heavy. The server's files live in a
// temporary directory removed by Main.
package seaweed

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
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

	"github.com/aisedge/aisedge/internal/fleet/s3iam"
	"github.com/aisedge/aisedge/internal/testpeer/ports"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/aisedge/aisedge/internal/objstore/s3"
)

// Version is the SeaweedFS version the tests run, and the name of its cache
// folder.
const Version = "4.53"

// Bucket is the bucket the server is started with (the original's default).
const Bucket = "ingest-bucket"

// Edges are the edge identities in s3.json; each may only put and list under
// staged/<edge>/.
var Edges = []string{"edge-a", "edge-b"}

// Credentials are an S3 access key pair.
type Credentials struct {
	AccessKey, SecretKey string
}

// Server is a running SeaweedFS.
type Server struct {
	// Endpoint is the HTTPS S3 endpoint, https://127.0.0.1:<port>.
	Endpoint string
	// HTTPEndpoint is the same gateway without TLS (weed always opens it).
	HTTPEndpoint string
	Bucket       string
	// CAFile holds the PEM of the CA that signed the server's certificate;
	// OtherCAFile that of an unrelated CA, for tests of refused certificates.
	CAFile      string
	OtherCAFile string
	// Admin may do everything; Edge(name) returns an edge's put-only key.
	Admin Credentials
	// S3Config is the path of the s3.json the server runs with.
	S3Config string
	// Dir is the server's temporary directory (data, config, log).
	Dir string

	edges   map[string]Credentials
	bin     string
	args    []string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	lease   *ports.Lease
	ports   []int // as leased; weed's flags and the endpoints follow them
	// attempts is how many launches the last start or restart took;
	// beforeRun is called before each (tests).
	attempts  int
	beforeRun func(s *Server, attempt int)
}

// Edge returns the credentials of one of Edges.
func (s *Server) Edge(name string) Credentials {
	c, ok := s.edges[name]
	if !ok {
		panic("seaweed: no edge identity " + name)
	}
	return c
}

// PID returns the process id of the weed server (for benchmarks that read
// its CPU time from /proc).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Config returns an objstore/s3 configuration for the server's HTTPS
// endpoint and bucket with the given credentials, trusting the server's CA,
// with the default part layout.
func (s *Server) Config(c Credentials) s3.Config {
	return s3.Config{
		Endpoint:  s.Endpoint,
		Bucket:    s.Bucket,
		AccessKey: c.AccessKey,
		SecretKey: c.SecretKey,
		CAFile:    s.CAFile,
	}
}

// Client returns a minio-go client with the given credentials (for setting
// up and inspecting the bucket directly).
func (s *Server) Client(c Credentials) (*minio.Client, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return minio.New(strings.TrimPrefix(s.Endpoint, "https://"), &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:       true,
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
		Transport:    &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	})
}

// Prefix returns a key prefix unique to tb under staged/<edge>/, ending in
// '/', so tests sharing the server and bucket do not see each other's
// objects.
func (s *Server) Prefix(tb testing.TB, edge string) string {
	name := regexp.MustCompile(`[^A-Za-z0-9_]+`).ReplaceAllString(tb.Name(), "_")
	if len(name) > 60 {
		name = name[:60]
	}
	var b [4]byte
	rand.Read(b[:])
	return "staged/" + edge + "/" + name + "-" + hex.EncodeToString(b[:]) + "/"
}

var (
	shared struct {
		sync.Mutex
		srv     *Server
		err     error
		skip    string
		started bool
	}
	mainActive bool
)

// Main runs the tests of m and then stops the shared server if one was
// started. Call it from TestMain.
func Main(m *testing.M) int {
	mainActive = true
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.srv != nil {
		shared.srv.stop()
		shared.srv = nil
	}
	return code
}

// Start returns the shared server, starting it on first use (about 10 s).
// It skips tb when the weed binary has not been built, and fails it if the
// server cannot start. The test binary must call Main from TestMain.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if !mainActive {
		tb.Fatal("seaweed: call seaweed.Main from TestMain (it stops the shared server)")
	}
	shared.Lock()
	defer shared.Unlock()
	if !shared.started {
		shared.started = true
		bin, ok := BinaryPath()
		if !ok {
			shared.skip = "SeaweedFS " + Version + " is not built: run scripts/seaweedfs.sh (expects " + bin + ")"
		} else {
			shared.srv, shared.err = start(bin)
		}
	}
	if shared.skip != "" {
		tb.Skip(shared.skip)
	}
	if shared.err != nil {
		tb.Fatalf("seaweed: %v", shared.err)
	}
	return shared.srv
}

// CacheDir returns the folder scripts/seaweedfs.sh builds into.
func CacheDir() string {
	root := os.Getenv("AISEDGE_CACHE")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".cache", "aisedge-test")
	}
	return filepath.Join(root, "weed-"+Version)
}

// BinaryPath returns the path of the cached weed binary and whether it is
// there.
func BinaryPath() (string, bool) {
	p := filepath.Join(CacheDir(), "weed")
	fi, err := os.Stat(p)
	return p, err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// start launches weed on ports reserved for it (see launch).
func start(bin string) (*Server, error) {
	unlock, err := lockStartup()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return launch(bin, nil)
}

// maxAttempts bounds the launches of one start or restart: each one after
// the first follows a port collision (weed could not bind a port it was
// given) and replaces the ports it names.
const maxAttempts = 5

// lockStartup serialises server start-ups across test binaries (flock on
// the cache folder): each start-up keeps both cores busy for seconds.
func lockStartup() (func(), error) {
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(CacheDir(), "start.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// launch starts a server in a new directory. Its ports are reserved
// (ports.Reserve) for its whole life, outages included; beforeRun, when not
// nil, is called before each attempt (tests use it to take a port).
func launch(bin string, beforeRun func(s *Server, attempt int)) (srv *Server, err error) {
	dir, err := os.MkdirTemp("", "aisedge-seaweed-")
	if err != nil {
		return nil, err
	}
	srv = &Server{Dir: dir, Bucket: Bucket, logPath: filepath.Join(dir, "weed.log"), bin: bin, beforeRun: beforeRun}
	defer func() {
		if err != nil {
			srv.stop()
		}
	}()
	if err := srv.writeTLS(); err != nil {
		return nil, err
	}
	if err := srv.writeS3Config(); err != nil {
		return nil, err
	}
	if srv.lease, err = ports.Reserve(numPorts); err != nil {
		return nil, err
	}
	srv.ports = srv.lease.Ports()
	if err := os.Mkdir(srv.dataDir(), 0o755); err != nil {
		return nil, err
	}
	if err := srv.boot(true); err != nil {
		return nil, err
	}
	return srv, nil
}

// numPorts is how many ports weed is given; the S3 gateway's HTTP and
// HTTPS ports are the last two.
const numPorts = 10

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }

// setPorts derives weed's arguments and the endpoints from s.ports.
func (s *Server) setPorts() {
	p := func(i int) string { return strconv.Itoa(s.ports[i]) }
	s.HTTPEndpoint = "http://127.0.0.1:" + p(8)
	s.Endpoint = "https://127.0.0.1:" + p(9)
	s.args = []string{"server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + s.dataDir(),
		"-master.volumeSizeLimitMB=1024", "-volume.max=0", "-master.telemetry=false", "-volume.preStopSeconds=0",
		"-master.port=" + p(0), "-master.port.grpc=" + p(1),
		"-volume.port=" + p(2), "-volume.port.grpc=" + p(3),
		"-filer.port=" + p(4), "-filer.port.grpc=" + p(5),
		"-metricsPort=" + p(6),
		"-s3", "-s3.port.grpc=" + p(7), "-s3.port=" + p(8), "-s3.port.https=" + p(9),
		"-s3.cert.file=" + filepath.Join(s.Dir, "server.pem"), "-s3.key.file=" + filepath.Join(s.Dir, "server-key.pem"),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.config=" + s.S3Config,
	}
}

// boot runs weed until it takes writes. When weed fails because a port it
// was given is taken (another process bound it after it was chosen, or
// during an outage), the ports weed names are replaced by newly reserved
// ones and weed is started again, up to maxAttempts times; fresh (a first
// start) also empties the data folder between attempts, a restart keeps
// it. The other ports stay: the S3 endpoints change only if one of them
// was taken.
func (s *Server) boot(fresh bool) error {
	for attempt := 1; ; attempt++ {
		s.setPorts()
		if s.beforeRun != nil {
			s.beforeRun(s, attempt)
		}
		from := s.logSize()
		if err := s.run(); err != nil {
			return err
		}
		err := s.waitReady(from)
		if err == nil {
			s.attempts = attempt
			return nil
		}
		s.kill()
		log := s.logSince(from)
		taken, collided := ports.TakenIn(log, s.ports)
		if !collided || attempt == maxAttempts {
			if collided {
				err = fmt.Errorf("%v (ports still taken after %d attempts)", err, attempt)
			}
			return fmt.Errorf("%v\n--- weed log (%s) ---\n%s", err, s.logPath, tail(log, 30))
		}
		fmt.Fprintf(os.Stderr, "seaweed: port(s) %v taken (attempt %d): starting weed again on new ones\n", taken, attempt)
		s.removeSockets(taken)
		if s.ports, err = s.lease.Replace(taken...); err != nil {
			return err
		}
		if fresh {
			if err := os.RemoveAll(s.dataDir()); err != nil {
				return err
			}
			if err := os.Mkdir(s.dataDir(), 0o755); err != nil {
				return err
			}
		}
	}
}

// run starts the weed process (appending to its log).
func (s *Server) run() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, killed with the test binary if that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	go func() { cmd.Wait(); close(exited) }()
	return nil
}

// kill stops the weed process at once (SIGKILL to its process group).
func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// Down stops the server, as an outage would (SIGKILL), and returns a
// function that starts it again with the same data and waits until it
// takes writes. Its ports stay reserved while it is down, so the restart
// normally gets the same ones; if one was taken meanwhile (by a process
// outside this scheme) weed is started on a new one instead (see boot),
// and when that one is an S3 port Endpoint or HTTPEndpoint changes (up
// logs it). Every test of the binary sees the outage: tests that call Down
// must not run in parallel with others using the server.
func (s *Server) Down(tb testing.TB) (up func()) {
	tb.Helper()
	shared.Lock()
	defer shared.Unlock()
	s.kill()
	return func() {
		tb.Helper()
		shared.Lock()
		defer shared.Unlock()
		endpoint, httpEndpoint := s.Endpoint, s.HTTPEndpoint
		if err := s.boot(false); err != nil {
			tb.Fatalf("seaweed: restart: %v", err)
		}
		if s.Endpoint != endpoint || s.HTTPEndpoint != httpEndpoint {
			tb.Logf("seaweed: an S3 port was taken during the outage: restarted on %s and %s", s.Endpoint, s.HTTPEndpoint)
		}
	}
}

// Ports returns the ports weed runs on (master, its gRPC, volume, its
// gRPC, filer, its gRPC, metrics, S3 gRPC, S3 HTTP, S3 HTTPS).
func (s *Server) Ports() []int { return append([]int(nil), s.ports...) }

// waitReady creates the bucket and PUTs an object through the HTTPS endpoint
// with the admin key until that succeeds: only a real write shows the whole
// chain (S3 gateway, filer, master, volume) is up. It gives up early when
// weed exits or its log (after offset from) reports a port it could not
// bind.
func (s *Server) waitReady(from int64) error {
	client, err := s.Client(s.Admin)
	if err != nil {
		return err
	}
	watch, last := progress.Start(), error(nil)
	reqTimeout := 5 * time.Second
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("weed exited during start-up: %v", s.cmd.ProcessState)
		default:
		}
		if _, collided := ports.TakenIn(s.logSince(from), s.ports); collided {
			return errors.New("weed could not bind a port")
		}
		ctx, cancel := context.WithTimeout(context.Background(), reqTimeout)
		err := client.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{})
		if resp := minio.ToErrorResponse(err); resp.Code == "BucketAlreadyOwnedByYou" || resp.Code == "BucketAlreadyExists" {
			err = nil
		}
		if err == nil {
			probe := []byte("ready")
			_, err = client.PutObject(ctx, s.Bucket, "readiness/probe", bytes.NewReader(probe), int64(len(probe)), minio.PutObjectOptions{})
		}
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, context.DeadlineExceeded) && reqTimeout < time.Minute {
			// Weed answers once its parts are up; a loaded machine
			// makes that slower, and cutting the request only starts
			// it over.
			reqTimeout *= 2
		}
		last = err
		if werr := watch.Check(s.logSize(), progress.CPUTime(s.cmd.Process.Pid), err.Error()); werr != nil {
			return fmt.Errorf("%v: last error: %v", werr, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *Server) logSize() int64 {
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns the log from offset from on (what the current run
// wrote: the log is appended to by every run).
func (s *Server) logSince(from int64) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func tail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stop kills the server (SIGTERM, then SIGKILL after 3 s: weed's master can
// take long to shut down and the data is thrown away anyway) and removes
// its directory and the unix sockets weed leaves in /tmp.
func (s *Server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(3 * time.Second):
			s.kill()
		}
	}
	s.removeSockets(s.ports)
	if s.lease != nil {
		s.lease.Release()
	}
	if s.Dir != "" {
		os.RemoveAll(s.Dir)
	}
}

// removeSockets removes the unix sockets weed leaves in /tmp for ports.
func (s *Server) removeSockets(ports []int) {
	for _, port := range ports {
		matches, _ := filepath.Glob(fmt.Sprintf("/tmp/seaweedfs-*-%d.sock", port))
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

// writeTLS generates the run's CA, a server certificate for 127.0.0.1 and
// localhost signed by it, and an unrelated CA.
func (s *Server) writeTLS() error {
	caKey, caCert, caPEM, err := newCA("aisedge test CA")
	if err != nil {
		return err
	}
	_, _, otherPEM, err := newCA("aisedge unrelated CA")
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "seaweedfs test server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.Dir, "ca.pem")
	s.OtherCAFile = filepath.Join(s.Dir, "other-ca.pem")
	for name, data := range map[string][]byte{
		"ca.pem":         caPEM,
		"other-ca.pem":   otherPEM,
		"server.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server-key.pem": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(s.Dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func newCA(name string) (*ecdsa.PrivateKey, *x509.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func randomKey(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// EdgePolicy returns the IAM policy document that confines an edge key to
// putting (and listing) objects under staged/<edge>/ of bucket: no read, no
// delete, no other prefix. It is the policy the deployment gives each edge.
func EdgePolicy(bucket, edge string) string { return s3iam.EdgePolicy(bucket, edge) }

// writeS3Config writes s3.json: an admin identity and one put-only identity
// per edge, bound to its EdgePolicy, the file the deployment renders
// (s3iam.Config).
func (s *Server) writeS3Config() error {
	s.Admin = Credentials{AccessKey: "admin" + randomKey(6), SecretKey: randomKey(20)}
	s.edges = map[string]Credentials{}
	keys := map[string]s3iam.Key{}
	for _, e := range Edges {
		c := Credentials{AccessKey: strings.ReplaceAll(e, "-", "") + randomKey(6), SecretKey: randomKey(20)}
		s.edges[e] = c
		keys[e] = s3iam.Key{AccessKey: c.AccessKey, SecretKey: c.SecretKey}
	}
	s.S3Config = filepath.Join(s.Dir, "s3.json")
	return os.WriteFile(s.S3Config, s3iam.Config(s.Bucket, s3iam.Key{AccessKey: s.Admin.AccessKey, SecretKey: s.Admin.SecretKey}, keys), 0o600)
}

// ReloadS3Config gives the running server a new s3.json: it replaces the
// file and sends SIGHUP, on which weed 4.53 re-reads -s3.config (its
// s3api server registers the reload with grace.OnReload) and overwrites
// the identities the file declares, credentials included. The reload is
// asynchronous: callers poll for its effect. The admin identity must stay
// in content with the key in Admin (readiness checks sign with it), and
// Edge(name) keeps returning the keys of the start: every test of the
// binary sees the new identities, so tests that call it must not run in
// parallel with tests relying on the edge keys.
func (s *Server) ReloadS3Config(tb testing.TB, content []byte) {
	tb.Helper()
	shared.Lock()
	defer shared.Unlock()
	if err := os.WriteFile(s.S3Config+".tmp", content, 0o600); err != nil {
		tb.Fatalf("seaweed: writing s3.json: %v", err)
	}
	if err := os.Rename(s.S3Config+".tmp", s.S3Config); err != nil {
		tb.Fatalf("seaweed: writing s3.json: %v", err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		tb.Fatalf("seaweed: SIGHUP: %v", err)
	}
}
