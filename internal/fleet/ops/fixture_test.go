package ops_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/kube/kubetest"
	"github.com/aisedge/aisedge/internal/fleet/ops"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
	"github.com/aisedge/aisedge/internal/testpeer/testcert"
)

func TestMain(m *testing.M) { os.Exit(seaweed.Main(m)) }

// fixture is a deployed fleet: a management apiserver with the CRDs, one
// child apiserver per site, and fake controllers playing the Deployment,
// Job, cert-manager and k0smotron controllers on all of them.
type fixture struct {
	t        *testing.T
	dir      string
	cfgPath  string
	cfg      *fleet.Config
	mgmt     *kubetest.Server
	children map[string]*kubetest.Server
	out      *kubetest.Output
	// onRoll is called by the fake Deployment controller before it marks
	// a new generation of a Deployment available (cluster, object).
	onRoll func(cluster string, dep *unstructured.Unstructured)
	mu     sync.Mutex
}

type siteKeys struct{ access, secret string }

// waitCap bounds every wait of the tests and of the operations they run
// (rollouts, issued certificates, a reloaded key): a ceiling, not a
// budget. Each wait ends as soon as its condition holds, which the
// fixture's controllers bring about within a few of their 30 ms passes; a
// loaded machine only makes that slower, and a wait whose condition never
// comes (the code is broken) still fails, after waitCap.
const waitCap = 5 * time.Minute

// waitTrue polls cond until it holds, for up to waitCap (the fixture's
// controllers run asynchronously).
func waitTrue(cond func() bool) error {
	deadline := time.Now().Add(waitCap)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not true after %v", waitCap)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// newFixture writes a fleet file for sites with their keys, starts the
// clusters and deploys the fleet (fleet apply).
func newFixture(t *testing.T, admin siteKeys, sites []string, keys map[string]siteKeys) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), children: map[string]*kubetest.Server{}, out: &kubetest.Output{}}
	f.mgmt = kubetest.Start(t)
	f.mgmt.InstallCRDs(t, kubetest.CertManagerCRDs(), kubetest.K0smotronCRDs())
	for _, s := range sites {
		f.children[s] = kubetest.Start(t)
	}
	sec := filepath.Join(f.dir, "secrets")
	os.Mkdir(sec, 0o700)
	hmac, err := os.ReadFile("../testdata/secrets/hmac-key")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(sec, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("hmac-key", strings.TrimSpace(string(hmac)))
	write("s3-admin-access-key", admin.access)
	write("s3-admin-secret-key", admin.secret)
	write("xnat-username", "uploader")
	write("xnat-password", "xnat-password-123")
	var b strings.Builder
	b.WriteString(`management:
  topology: onprem
  nodeIP: 203.0.113.10
  images:
    aisedge: registry.example.org/aisedge@sha256:1111111111111111111111111111111111111111111111111111111111111111
  s3:
    adminAccessKey: {file: secrets/s3-admin-access-key}
    adminSecretKey: {file: secrets/s3-admin-secret-key}
  xnat:
    url: https://xnat.example.org
    username: {file: secrets/xnat-username}
    password: {file: secrets/xnat-password}
  hmacKey: {file: secrets/hmac-key}
sites:
`)
	for i, s := range sites {
		write(s+"-access-key", keys[s].access)
		write(s+"-secret-key", keys[s].secret)
		fmt.Fprintf(&b, `  - name: %s
    nodeIP: 10.0.%d.50
    project: P%d
    apiPort: %d
    konnectivityPort: %d
    s3AccessKey: {file: secrets/%s-access-key}
    s3SecretKey: {file: secrets/%s-secret-key}
`, s, i+1, i, 30443+i, 30200+i, s, s)
	}
	f.cfgPath = filepath.Join(f.dir, "fleet.yaml")
	if err := os.WriteFile(f.cfgPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f.cfg = f.load()
	f.run("management", f.mgmt.Config)
	for s, srv := range f.children {
		f.run(s, srv.Config)
	}
	m, err := render.Render(f.cfg, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = kube.Deploy(context.Background(), f.cfg, m, f.mgmt.Config, kube.Options{
		SiteConfig: f.siteConfig, Wait: true, Timeout: waitCap, PollInterval: 50 * time.Millisecond, Out: f.out})
	if err != nil {
		t.Fatalf("deploying the fleet: %v\n%s", err, f.out.String())
	}
	f.out.Reset()
	return f
}

// reapply does what `aisedge fleet apply` does: read the CA state from the
// management cluster, render with it and apply everything again.
func (f *fixture) reapply(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	trust, err := ops.CurrentTrust(ctx, f.client("management"))
	if err != nil || trust == nil {
		t.Fatalf("CurrentTrust = %v, %v", trust, err)
	}
	m, err := render.Render(f.cfg, render.Options{IssuerSecret: trust.IssuerSecret, CABundle: trust.Bundle})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := kube.Deploy(ctx, f.cfg, m, f.mgmt.Config, kube.Options{SiteConfig: f.siteConfig, Out: &out}); err != nil {
		t.Fatalf("fleet apply after a rotation: %v\n%s", err, out.String())
	}
}

// run starts the fake controllers of one cluster until the test ends.
func (f *fixture) run(name string, cfg *rest.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.t.Cleanup(func() { cancel(); <-done })
	go func() { defer close(done); f.controllers(ctx, name, cfg) }()
}

// addSite starts a child cluster for a new site and adds the site to the
// fleet file (as an operator does before fleet site add).
func (f *fixture) addSite(name string, n int, keys siteKeys) {
	f.t.Helper()
	srv := kubetest.Start(f.t)
	f.mu.Lock()
	f.children[name] = srv
	f.mu.Unlock()
	f.run(name, srv.Config)
	sec := filepath.Join(f.dir, "secrets")
	for file, v := range map[string]string{name + "-access-key": keys.access, name + "-secret-key": keys.secret} {
		if err := os.WriteFile(filepath.Join(sec, file), []byte(v+"\n"), 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
	b := mustRead(f.t, f.cfgPath)
	b = append(b, fmt.Sprintf(`  - name: %s
    nodeIP: 10.0.%d.50
    project: P%d
    apiPort: %d
    konnectivityPort: %d
    s3AccessKey: {file: secrets/%s-access-key}
    s3SecretKey: {file: secrets/%s-secret-key}
`, name, n+1, n, 30443+n, 30200+n, name, name)...)
	if err := os.WriteFile(f.cfgPath, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) load() *fleet.Config {
	f.t.Helper()
	c, err := fleet.Load(f.cfgPath)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) siteConfig(s *fleet.Site) (*rest.Config, error) {
	f.mu.Lock()
	srv, ok := f.children[s.Name]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no cluster for %s", s.Name)
	}
	return ceiling(srv.Config), nil
}

// ceiling bounds each request to the cluster by waitCap instead of the
// operations' default request timeouts (10 to 15 s, which a loaded
// machine's apiserver can exceed).
func ceiling(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = waitCap
	return cfg
}

// env returns an Env for the fixture (the fleet file read again, as each
// CLI run does).
func (f *fixture) env() *ops.Env {
	return &ops.Env{Config: f.load(), Management: ceiling(f.mgmt.Config), ManagementName: "kubetest", SiteConfig: f.siteConfig,
		Out: f.out, Timeout: waitCap, PollInterval: 50 * time.Millisecond}
}

func (f *fixture) client(cluster string) *kube.Client {
	cfg := f.mgmt.Config
	if cluster != "management" {
		f.mu.Lock()
		cfg = f.children[cluster].Config
		f.mu.Unlock()
	}
	c, err := kube.New(cluster, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) get(cluster string, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	f.t.Helper()
	o, err := f.client(cluster).Get(context.Background(), gvk, ns, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return o
}

func (f *fixture) secret(cluster, ns, name string) map[string][]byte {
	f.t.Helper()
	o := f.get(cluster, gvkSecret, ns, name)
	if o == nil {
		return nil
	}
	out := map[string][]byte{}
	raw, _, _ := unstructured.NestedStringMap(o.Object, "data")
	for k, v := range raw {
		out[k], _ = base64.StdEncoding.DecodeString(v)
	}
	return out
}

var (
	gvkSecret      = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	gvkNamespace   = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	gvkDeployment  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	gvkJob         = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
	gvkDaemonSet   = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}
	gvkCertificate = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
	gvkIssuer      = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "ClusterIssuer"}
	gvkClusterRole = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}
	gvkClusterRB   = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}
	gvkK0sCluster  = schema.GroupVersionKind{Group: "k0smotron.io", Version: "v1beta1", Kind: "Cluster"}
)

// controllers plays the controllers a real cluster runs, every 30 ms:
// Deployments become available (after onRoll), Jobs succeed,
// cert-manager issues Certificates (CAs self-signed, others by the
// ClusterIssuer's current CA), k0smotron control planes become ready.
func (f *fixture) controllers(ctx context.Context, name string, cfg *rest.Config) {
	c, err := kube.New(name+"-controllers", cfg)
	if err != nil {
		f.t.Error(err)
		return
	}
	res := func(gvk schema.GroupVersionKind) dynamic.NamespaceableResourceInterface {
		gvr, err := c.Resource(gvk)
		if err != nil {
			return nil
		}
		return c.Dynamic().Resource(gvr)
	}
	for ctx.Err() == nil {
		if r := res(gvkDeployment); r != nil {
			l, _ := r.List(ctx, metav1.ListOptions{})
			for _, d := range listItems(l) {
				obs, _, _ := unstructured.NestedInt64(d.Object, "status", "observedGeneration")
				if obs >= d.GetGeneration() {
					continue
				}
				f.mu.Lock()
				hook := f.onRoll
				f.mu.Unlock()
				if hook != nil {
					hook(name, d)
				}
				d.Object["status"] = map[string]any{"observedGeneration": d.GetGeneration(), "replicas": int64(1),
					"updatedReplicas": int64(1), "availableReplicas": int64(1), "readyReplicas": int64(1)}
				r.Namespace(d.GetNamespace()).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			}
		}
		if r := res(gvkJob); r != nil {
			l, _ := r.List(ctx, metav1.ListOptions{})
			for _, j := range listItems(l) {
				if n, _, _ := unstructured.NestedInt64(j.Object, "status", "succeeded"); n > 0 {
					continue
				}
				now := time.Now().UTC().Format(time.RFC3339)
				j.Object["status"] = map[string]any{"succeeded": int64(1), "startTime": now, "completionTime": now,
					"conditions": []any{
						map[string]any{"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
						map[string]any{"type": "Complete", "status": "True", "lastTransitionTime": now},
					}}
				if _, err := r.Namespace(j.GetNamespace()).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
					f.t.Logf("fake job controller: %v", err)
				}
			}
		}
		if name == "management" {
			f.certManager(ctx, c, res)
			if r := res(gvkK0sCluster); r != nil {
				l, _ := r.List(ctx, metav1.ListOptions{})
				for _, k := range listItems(l) {
					if ok, _, _ := unstructured.NestedBool(k.Object, "status", "ready"); ok {
						continue
					}
					unstructured.SetNestedField(k.Object, true, "status", "ready")
					unstructured.SetNestedField(k.Object, "Reconciliation successful", "status", "reconciliationStatus")
					if _, err := r.Namespace(k.GetNamespace()).UpdateStatus(ctx, k, metav1.UpdateOptions{}); err != nil {
						r.Namespace(k.GetNamespace()).Update(ctx, k, metav1.UpdateOptions{})
					}
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Millisecond):
		}
	}
}

func listItems(l *unstructured.UnstructuredList) []*unstructured.Unstructured {
	if l == nil {
		return nil
	}
	out := make([]*unstructured.Unstructured, len(l.Items))
	for i := range l.Items {
		out[i] = &l.Items[i]
	}
	return out
}

// certManager issues every Certificate whose Secret is missing and marks
// it Ready.
func (f *fixture) certManager(ctx context.Context, c *kube.Client, res func(schema.GroupVersionKind) dynamic.NamespaceableResourceInterface) {
	r := res(gvkCertificate)
	if r == nil {
		return
	}
	l, _ := r.List(ctx, metav1.ListOptions{})
	for _, cert := range listItems(l) {
		ns := cert.GetNamespace()
		secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
		live, err := c.Get(ctx, gvkSecret, ns, secret)
		if err != nil || live == nil {
			// Like cert-manager: nothing is issued without the
			// Certificate's issuer, or for a Certificate deleted since
			// the list.
			issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
			if iss, _ := c.Get(ctx, gvkIssuer, "", issuer); iss == nil {
				continue
			}
			if still, _ := c.Get(ctx, gvkCertificate, ns, cert.GetName()); still == nil {
				continue
			}
			isCA, _, _ := unstructured.NestedBool(cert.Object, "spec", "isCA")
			cn, _, _ := unstructured.NestedString(cert.Object, "spec", "commonName")
			var crt, key []byte
			if isCA {
				crt, key = newCert(f.t, cn, nil, nil)
			} else {
				iss, _ := c.Get(ctx, gvkIssuer, "", fleet.IssuerCA)
				if iss == nil {
					continue // not applied yet, or uninstalled
				}
				caSecret, _, _ := unstructured.NestedString(iss.Object, "spec", "ca", "secretName")
				ca, err := c.Get(ctx, gvkSecret, render.NSCertManager, caSecret)
				if err != nil || ca == nil {
					continue
				}
				caCrt, _, _ := unstructured.NestedString(ca.Object, "data", "tls.crt")
				caKey, _, _ := unstructured.NestedString(ca.Object, "data", "tls.key")
				cb, _ := base64.StdEncoding.DecodeString(caCrt)
				kb, _ := base64.StdEncoding.DecodeString(caKey)
				crt, key = newCert(f.t, cert.GetName(), cb, kb)
			}
			s := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
				"metadata": map[string]any{"name": secret, "namespace": ns},
				"data": map[string]any{"tls.crt": base64.StdEncoding.EncodeToString(crt), "tls.key": base64.StdEncoding.EncodeToString(key),
					"ca.crt": base64.StdEncoding.EncodeToString(crt)},
			}}
			gvr, _ := c.Resource(gvkSecret)
			c.Dynamic().Resource(gvr).Namespace(ns).Create(ctx, s, metav1.CreateOptions{})
		}
		if ok, _ := kube.Ready(cert); !ok {
			unstructured.SetNestedSlice(cert.Object, []any{map[string]any{"type": "Ready", "status": "True",
				"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "reason": "Issued"}}, "status", "conditions")
			r.Namespace(ns).UpdateStatus(ctx, cert, metav1.UpdateOptions{})
		}
	}
}

// newCert returns a certificate and key PEM: a self-signed CA when caPEM
// is nil, else a server certificate for cn signed by that CA.
func newCert(t *testing.T, cn string, caPEM, caKeyPEM []byte) ([]byte, []byte) {
	crt, key, err := testcert.Issue(cn, []string{cn}, nil, caPEM, caKeyPEM)
	if err != nil {
		t.Errorf("fake cert-manager: %v", err)
		return nil, nil
	}
	return crt, key
}
