// Package jointest prepares what `aisedge fleet join` meets on a real
// site, for its tests: a fake edge (internal/testpeer/sshedge), the
// objects k0smotron and k0s would have made on a real kube-apiserver
// (internal/fleet/kube/kubetest), and a FakeController that plays
// k0smotron's JoinTokenRequest controller. Tests only.
package jointest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/join"
	"github.com/aisedge/aisedge/internal/fleet/kube/kubetest"
	"github.com/aisedge/aisedge/internal/fleet/remote"
	"github.com/aisedge/aisedge/internal/testpeer/sshedge"
)

// K0sCorefile is the CoreDNS Corefile k0s deploys in a child cluster (the
// join package's own tests read the same file).
//
//go:embed k0s.Corefile
var K0sCorefile string

// Env is one site: a management cluster (a real kube-apiserver with
// k0smotron's CRDs, also serving as the child cluster), a fake edge
// (real sshd) and a fleet configuration pointing at them.
type Env struct {
	Srv    *kubetest.Server
	Edge   *sshedge.Edge
	Config *fleet.Config
	Site   string
	CS     kubernetes.Interface
	Dyn    dynamic.Interface
	CACert *x509.Certificate
	// Controller plays k0smotron: it issues a token Secret for every new
	// JoinTokenRequest and counts them.
	Controller *FakeController
}

// NewEnv prepares a site named site. srv may be shared between tests
// (each site has its own namespace; the coredns ConfigMap is reset).
func NewEnv(t testing.TB, srv *kubetest.Server, site string) *Env {
	t.Helper()
	e := &Env{Srv: srv, Site: site, Edge: sshedge.Start(t, site)}
	e.CS, e.Dyn, e.CACert, e.Controller = PrepareCluster(t, srv, site)
	e.Config = &fleet.Config{
		Dir: t.TempDir(),
		Management: fleet.Management{Topology: fleet.OnPrem, NodeIP: "10.0.0.1", Domain: "aisedge.local", IngressPort: 443,
			SeaweedFSHostname: "seaweedfs.aisedge.local", K0s: fleet.K0s{Version: fleet.DefaultK0sVersion}},
		Sites: []fleet.Site{{Name: site, NodeIP: e.Edge.Host, SSH: fleet.SSH{User: e.Edge.User, Key: e.Edge.KeyFile},
			APIHost: "k0s-" + site + ".aisedge.local", KonnectivityHost: "konnect-" + site + ".aisedge.local",
			DataDir: sshedge.DataDir, FacilityBackupDir: sshedge.BackupDir, Kubeconfig: "kubeconfig-" + site}},
	}
	return e
}

// PrepareCluster makes what k0smotron would have made for site on the
// management cluster srv (namespace, CA Secret <site>-ca) and what k0s
// would have in the child cluster (srv too: kube-system/coredns), and
// starts a FakeController for the site's token.
func PrepareCluster(t testing.TB, srv *kubetest.Server, site string) (kubernetes.Interface, dynamic.Interface, *x509.Certificate, *FakeController) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: site}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	caPEM, keyPEM, cert := newCA(t)
	if _, err := cs.CoreV1().Secrets(site).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: site + "-ca"},
		Data: map[string][]byte{"tls.crt": caPEM, "tls.key": keyPEM}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ResetCoreDNS(t, cs)
	return cs, dyn, cert, StartController(t, srv.Config, site)
}

// WriteChildKubeconfig writes the site's kubeconfig-<site> (the child
// cluster is the test server itself).
func (e *Env) WriteChildKubeconfig(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(e.Srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Config.Dir, "kubeconfig-"+e.Site), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Options for a join in tests.
func (e *Env) Options(out *bytes.Buffer) join.Options {
	return join.Options{
		Out: out,
		SSH: remote.Config{Port: e.Edge.Port, KnownHosts: e.Edge.KnownHosts,
			ConnectTimeout: 10 * time.Second, CommandTimeout: 30 * time.Second},
		SiteConfig:   func(*fleet.Site) (*rest.Config, error) { return e.Srv.Config, nil },
		Timeout:      20 * time.Second,
		PollInterval: 50 * time.Millisecond,
	}
}

// ResetCoreDNS (re)creates kube-system/coredns as k0s deploys it.
func ResetCoreDNS(t testing.TB, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("kube-system")
	cms.Delete(ctx, "coredns", metav1.DeleteOptions{})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Labels: map[string]string{"k8s-app": "kube-dns"}},
		Data: map[string]string{"Corefile": K0sCorefile}}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func Corefile(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data["Corefile"]
}

func newCA(t testing.TB) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), cert
}

// FakeController plays k0smotron's JoinTokenRequest controller.
type FakeController struct {
	mu     sync.Mutex
	issued map[string]bool // JoinTokenRequest UIDs given a token
	tokens []string
}

// Issued is how many requests got a token.
func (c *FakeController) Issued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.issued)
}

// StartController issues a token (as k0s makes it: a kubeconfig for
// kubelet-bootstrap with the control plane's own address) for each new
// JoinTokenRequest <site>-token, until the test ends.
func StartController(t testing.TB, cfg *rest.Config, site string) *FakeController {
	c := &FakeController{issued: map[string]bool{}}
	cs := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	kubetest.Loop(t, 30*time.Millisecond, func(ctx context.Context) bool {
		jtr, err := dyn.Resource(join.JoinTokenRequestGVR).Namespace(site).Get(ctx, site+"-token", metav1.GetOptions{})
		if err != nil {
			return false
		}
		c.mu.Lock()
		seen := c.issued[string(jtr.GetUID())]
		c.mu.Unlock()
		if seen {
			return false
		}
		tok := fakeToken(t, "https://10.0.0.1:30443", "abcdef.0123456789"+string(jtr.GetUID())[:6])
		owner := metav1.OwnerReference{APIVersion: "k0smotron.io/v1beta1", Kind: "JoinTokenRequest", Name: jtr.GetName(), UID: jtr.GetUID()}
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: site + "-token", Namespace: site, OwnerReferences: []metav1.OwnerReference{owner},
			Labels: map[string]string{"k0smotron.io/cluster": site, "k0smotron.io/role": "worker", "k0smotron.io/token-request": jtr.GetName()}},
			Data: map[string][]byte{"token": tok}}
		if _, err := cs.CoreV1().Secrets(site).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			return false
		}
		unstructured.SetNestedField(jtr.Object, "Reconciliation successful", "status", "reconciliationStatus")
		unstructured.SetNestedField(jtr.Object, "abcdef", "status", "tokenID")
		dyn.Resource(join.JoinTokenRequestGVR).Namespace(site).UpdateStatus(ctx, jtr, metav1.UpdateOptions{})
		c.mu.Lock()
		c.issued[string(jtr.GetUID())] = true
		c.tokens = append(c.tokens, string(tok))
		c.mu.Unlock()
		return false
	})
	return c
}

func fakeToken(t testing.TB, server, bootstrap string) []byte {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["k0s"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")}
	kc.AuthInfos["kubelet-bootstrap"] = &clientcmdapi.AuthInfo{Token: bootstrap}
	kc.Contexts["k0s"] = &clientcmdapi.Context{Cluster: "k0s", AuthInfo: "kubelet-bootstrap"}
	kc.CurrentContext = "k0s"
	b, err := clientcmd.Write(*kc)
	if err != nil {
		t.Error(err)
	}
	tok, err := join.EncodeToken(b)
	if err != nil {
		t.Error(err)
	}
	return tok
}
