package render_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/image"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/testpeer/kubenode"
	"github.com/aisedge/aisedge/internal/testpeer/progress"
	"github.com/aisedge/aisedge/internal/testpeer/samples"
)

// TestSiteRunsOnNode applies a site's rendered manifests to a real kubelet
// and sends a study to its edge: the pod starts under its own security
// context, resources, probes and Pod Security level, receives on hostPort
// 4242 of the node, and uploads over TLS with the site's put-only S3 key
// to a SeaweedFS configured with the rendered s3.json, reached through the
// rendered hostAliases. The management side (SeaweedFS) runs as a process
// on the node, which keeps this test to the site (TestFleetOnNode runs
// the whole fleet as pods).
func TestSiteRunsOnNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no node")
	}
	if why := kubenode.Requirements(); why != "" {
		t.Skip("kubenode: " + why)
	}
	weed := filepath.Join(os.Getenv("HOME"), ".cache", "aisedge-test", "weed-4.53", "weed")
	if c := os.Getenv("AISEDGE_CACHE"); c != "" {
		weed = filepath.Join(c, "weed-4.53", "weed")
	}
	if _, err := os.Stat(weed); err != nil {
		t.Skipf("SeaweedFS is not built (%v): run ./scripts/seaweedfs.sh", err)
	}
	ctx := context.Background()
	archive, img := buildImage(t)

	// The fleet: testdata's on-prem site, its management node being the
	// test node, the image the one built above, host folders owned by
	// the image user (as `fleet join` makes them).
	c, err := fleet.Load("../testdata/native/onprem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := &c.Management
	m.NodeIP, m.IngressPort = kubenode.NodeIP, 8443
	m.Images.AISEdge = "aisedge-test/aisedge@" + img.Digest.String()
	site := &c.Sites[0]
	hostDir := t.TempDir()
	site.DataDir, site.FacilityBackupDir = filepath.Join(hostDir, "data"), filepath.Join(hostDir, "backup")
	for _, d := range []string{site.DataDir, site.FacilityBackupDir} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, image.UID, image.UID); err != nil {
			t.Fatal(err)
		}
	}
	caPEM, certFile, keyFile := writeTLS(t, kubenode.NodeIP, m.SeaweedFSHostname)
	manifests, err := render.Render(c, render.Options{CABundle: caPEM})
	if err != nil {
		t.Fatal(err)
	}

	node := kubenode.Start(t)
	node.ImportImage(t, archive, "docker.io/aisedge-test/aisedge")

	// SeaweedFS on the node's address with the rendered identities.
	s3json := filepath.Join(t.TempDir(), "s3.json")
	if err := os.WriteFile(s3json, renderedS3Config(t, manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	startWeed(t, node, weed, certFile, keyFile, s3json)
	admin, err := minio.New(kubenode.NodeIP+":8443", &minio.Options{
		Creds:     credentials.NewStaticV4(m.S3.AdminAccessKey.Value(), m.S3.AdminSecretKey.Value(), ""),
		Secure:    true,
		Transport: nodeTransport(node, caPEM),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SeaweedFS takes a bucket", func() (bool, string) {
		err := admin.MakeBucket(ctx, m.S3.Bucket, minio.MakeBucketOptions{})
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return false, err.Error()
		}
		return true, ""
	})

	// The site's objects, applied as `fleet apply` does.
	cl, err := kube.New(site.Name, node.Config)
	if err != nil {
		t.Fatal(err)
	}
	cl.PollInterval = 500 * time.Millisecond
	sc, _ := manifests.Site(site.Name)
	if _, err := cl.Apply(ctx, sc.Objects()); err != nil {
		t.Fatal(err)
	}
	var podName, podIP string
	waitFor(t, "the edge pod Ready", func() (bool, string) {
		pods, err := node.Clientset.CoreV1().Pods(render.NSIngest).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			return false, "no pod yet"
		}
		p := pods.Items[0]
		podName, podIP = p.Name, p.Status.PodIP
		for _, c := range p.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				return true, ""
			}
		}
		return false, node.PodsReport(ctx)
	})
	t.Logf("edge pod %s at %s", podName, podIP)

	// A study to the node's address: hostPort 4242 reaches the edge.
	out, err := node.Command(ctx, "storescu", "-aec", site.AETitle, kubenode.NodeIP, "4242",
		samples.Path(t, "pydicom_CT_small.dcm")).CombinedOutput()
	if err != nil {
		t.Fatalf("storescu to the node's hostPort: %v\n%s", err, out)
	}
	// The quiet period ends the study; the edge uploads it under its
	// prefix with its put-only key.
	prefix := "staged/" + site.Name + "/"
	waitFor(t, "the study in "+prefix, func() (bool, string) {
		var keys []string
		for o := range admin.ListObjects(ctx, m.S3.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if o.Err != nil {
				return false, o.Err.Error()
			}
			keys = append(keys, o.Key)
		}
		for _, k := range keys {
			if path.Base(k) == manifest.FileName { // the seal: written last
				return true, ""
			}
		}
		return false, strings.Join(keys, " ")
	})

	// The edge pod killed mid-send (no grace period): every instance the
	// edge acknowledged reaches the bucket through its successor, which
	// replays the spool on the host folder.
	before := sealedFiles(t, admin, m.S3.Bucket, prefix)
	const sent = 400
	series := samples.Series{PatientID: "NODE-KILL", StudyUID: "1.2.826.0.1.3680043.10.1500.1",
		SeriesUID: "1.2.826.0.1.3680043.10.1500.1.1", SeriesNumber: 1, N: sent}.Write(t)
	send := node.Command(ctx, "storescu", "-v", "-aec", site.AETitle, "+sd", kubenode.NodeIP, "4242", series)
	send.Env = append(os.Environ(), "TCP_NODELAY=1")
	var sendOut lockedBuffer
	send.Stdout, send.Stderr = &sendOut, &sendOut
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	acked := func() int { return strings.Count(sendOut.String(), "Received Store Response (Success)") }
	waitFor(t, "50 instances acknowledged", func() (bool, string) {
		return acked() >= 50, strconv.Itoa(acked())
	})
	zero := int64(0)
	if err := node.Clientset.CoreV1().Pods(render.NSIngest).Delete(ctx, podName, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	sendErr := send.Wait()
	n := acked()
	t.Logf("edge pod deleted after %d of %d instances were acknowledged (storescu: %v)", n, sent, sendErr)
	waitFor(t, "a new edge pod Ready", func() (bool, string) {
		pods, err := node.Clientset.CoreV1().Pods(render.NSIngest).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, p := range pods.Items {
			if p.Name == podName || p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" {
					return true, ""
				}
			}
		}
		return false, node.PodsReport(ctx)
	})
	waitFor(t, "every acknowledged instance sealed in the bucket", func() (bool, string) {
		got := len(sealedFiles(t, admin, m.S3.Bucket, prefix)) - len(before)
		return got >= n, fmt.Sprintf("%d of %d acknowledged instances sealed", got, n)
	})
	// The originals stay at the facility, in the node's host folder, and
	// outlive the pods (<patient>/<study>/<series>/<instance>.dcm).
	kept, _ := filepath.Glob(filepath.Join(site.FacilityBackupDir, "NODE-KILL", "*", "*", "*.dcm"))
	if len(kept) < n {
		t.Errorf("the facility backup on the node holds %d of the %d acknowledged originals", len(kept), n)
	}
}

// sealedFiles lists the DICOM files the sealed manifests under prefix
// name (every generation), as folder/path.
func sealedFiles(t *testing.T, admin *minio.Client, bucket, prefix string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	files := map[string]bool{}
	for o := range admin.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		base := path.Base(o.Key)
		if !strings.HasPrefix(base, "MANIFEST") || !strings.HasSuffix(base, ".json") {
			continue
		}
		obj, err := admin.GetObject(ctx, bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var mf manifest.Manifest
		err = json.NewDecoder(obj).Decode(&mf)
		obj.Close()
		if err != nil {
			t.Fatalf("%s: %v", o.Key, err)
		}
		for _, f := range mf.Files {
			if strings.Contains(f.Path, "/DICOM/") {
				files[path.Dir(o.Key)+"/"+f.Path] = true
			}
		}
	}
	return files
}

// lockedBuffer collects a command's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// buildImage builds the aisedge image from this tree.
func buildImage(t *testing.T) (string, image.Result) {
	t.Helper()
	wd, _ := os.Getwd()
	root, err := image.FindModule(wd)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "aisedge.tar")
	img, err := image.Build(context.Background(), archive, image.Options{ModuleDir: root, Tag: "docker.io/aisedge-test/aisedge:test"})
	if err != nil {
		t.Fatal(err)
	}
	return archive, img
}

// waitFor polls ready until it reports true, failing when its answer does
// not change for progress.IdleLimit.
func waitFor(t *testing.T, what string, ready func() (bool, string)) {
	t.Helper()
	watch := progress.Start()
	for {
		ok, now := ready()
		if ok {
			return
		}
		if err := watch.Check(now); err != nil {
			t.Fatalf("%s: %v: %s", what, err, now)
		}
		time.Sleep(time.Second)
	}
}

// renderedS3Config is the s3.json of the rendered management Secret.
func renderedS3Config(t *testing.T, m *render.Manifests) []byte {
	for _, o := range m.Management.Objects() {
		if o.GetKind() == "Secret" && o.GetName() == render.S3ConfigSecret {
			data, _, _ := unstructured.NestedString(o.Object, "data", "s3.json")
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("no s3-config Secret rendered")
	return nil
}

// startWeed runs SeaweedFS inside the node's namespace on its address,
// S3 over TLS on 8443.
func startWeed(t *testing.T, node *kubenode.Node, weed, cert, key, s3json string) {
	dir := t.TempDir()
	cmd := node.Command(context.Background(), weed, "server",
		"-ip="+kubenode.NodeIP, "-ip.bind="+kubenode.NodeIP, "-dir="+dir,
		"-master.volumeSizeLimitMB=64", "-volume.max=0", "-master.telemetry=false", "-volume.preStopSeconds=0",
		"-volume.port=18080", "-s3", "-s3.port=8333", "-s3.port.https=8443",
		"-s3.cert.file="+cert, "-s3.key.file="+key, "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config="+s3json)
	log, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("weed:\n%s", b)
		}
		log.Close()
	})
}

// nodeTransport is an HTTPS transport that dials inside the node's
// namespace and trusts ca.
func nodeTransport(node *kubenode.Node, ca []byte) *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Transport{DialContext: node.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}}
}

// writeTLS makes a CA and a server certificate for ip and hosts; it
// returns the CA's PEM and the server's certificate and key files.
func writeTLS(t *testing.T, ip string, hosts ...string) (caPEM []byte, certFile, keyFile string) {
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aisedge node test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]},
		DNSNames: hosts, IPAddresses: []net.IP{net.ParseIP(ip)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caPEM, certFile, keyFile
}
