package kube_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/kube/kubetest"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

const fixtures = "../testdata/"

func load(t *testing.T, name string) *fleet.Config {
	t.Helper()
	var c *fleet.Config
	var err error
	if name == "legacy" {
		c, err = fleet.LoadEnvDir(fixtures+"legacy/config", func(n string) (string, bool) { return "/home/op", n == "HOME" })
	} else {
		c, err = fleet.Load(fixtures + "native/" + name + ".yaml")
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// start starts an apiserver with cert-manager's and k0smotron's CRDs.
func start(t *testing.T) *kubetest.Server {
	srv := kubetest.Start(t)
	srv.InstallCRDs(t, kubetest.CertManagerCRDs(), kubetest.K0smotronCRDs())
	return srv
}

// childClusters gives every site its own apiserver as child cluster.
func childClusters(t *testing.T, c *fleet.Config) func(*fleet.Site) (*rest.Config, error) {
	cfgs := map[string]*rest.Config{}
	for _, s := range c.Sites {
		cfgs[s.Name] = kubetest.Start(t).Config
	}
	return func(s *fleet.Site) (*rest.Config, error) { return cfgs[s.Name], nil }
}

var secretGVK = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}

// issueCA plays cert-manager: it writes the CA Secret the Certificate
// ais-edge-ca would produce.
func issueCA(t *testing.T, srv *kubetest.Server) []byte {
	t.Helper()
	pem := []byte("-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n")
	c, err := kube.New("test", srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	s := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": render.CASecret, "namespace": render.NSCertManager},
		"type":     "kubernetes.io/tls",
		"data": map[string]any{"ca.crt": base64.StdEncoding.EncodeToString(pem),
			"tls.crt": base64.StdEncoding.EncodeToString(pem), "tls.key": base64.StdEncoding.EncodeToString([]byte("key"))},
	}}
	if _, err := c.Apply(context.Background(), []*unstructured.Unstructured{s}); err != nil {
		t.Fatal(err)
	}
	return pem
}

// TestDeployThreeSites applies everything render produces for three sites
// (management cluster, then each site's edge manifests) with strict field
// validation: zero errors; a second apply and a server dry run change
// nothing.
func TestDeployThreeSites(t *testing.T) {
	srv := start(t)
	c := load(t, "three-sites")
	m, err := render.Render(c, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out kubetest.Output
	children := childClusters(t, c)
	opt := kube.Options{Out: &out, SiteConfig: children, PollInterval: 50 * time.Millisecond}

	// Without the CA issued (no cert-manager controller here), apply
	// applies the management cluster and then says what is missing.
	err = kube.Deploy(ctx, c, m, srv.Config, opt)
	if err == nil || !strings.Contains(err.Error(), "ais-edge-ca-secret is not issued yet") {
		t.Fatalf("err = %v, want the CA not issued\n%s", err, out.String())
	}
	pem := issueCA(t, srv)
	out.Reset()
	if err := kube.Deploy(ctx, c, m, srv.Config, opt); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("first apply:\n%s", out.String())
	for _, want := range []string{
		"management: Deployment seaweedfs/seaweedfs unchanged",
		"management: Cluster edge-usyd/edge-usyd unchanged",
		"management: Secret xnat-upload/ca-bundle created",
		"edge-uqcai: Secret xnat-ingest/ca-bundle created",
		"edge-uqcai: Deployment xnat-ingest/aisedge-edge created",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the output", want)
		}
	}
	// The edge's CA bundle is the management CA.
	kc, _ := kube.New("check", srv.Config)
	child, _ := children(&c.Sites[2])
	cc, _ := kube.New("child", child)
	ca, err := cc.Get(ctx, secretGVK, render.NSIngest, render.CABundleSecret)
	if err != nil || ca == nil {
		t.Fatalf("ca-bundle: %v", err)
	}
	if v, _, _ := unstructured.NestedString(ca.Object, "data", "ca.crt"); v != base64.StdEncoding.EncodeToString(pem) {
		t.Errorf("ca-bundle holds %q", v)
	}
	// So is the hub's (SeaweedFS's in-cluster certificate is the CA's).
	hubCA, err := kc.Get(ctx, secretGVK, render.NSUpload, render.CABundleSecret)
	if err != nil || hubCA == nil {
		t.Fatalf("the hub's ca-bundle: %v", err)
	}
	if v, _, _ := unstructured.NestedString(hubCA.Object, "data", "ca.crt"); v != base64.StdEncoding.EncodeToString(pem) {
		t.Errorf("the hub's ca-bundle holds %q", v)
	}

	// Second apply: nothing changes.
	out.Reset()
	if err := kube.Deploy(ctx, c, m, srv.Config, opt); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.Contains(l, " created") || strings.Contains(l, " configured") {
			t.Errorf("second apply changed something: %s", l)
		}
	}

	// A server dry run of the same manifests: every object checked,
	// nothing would change.
	out.Reset()
	opt.DryRun = true
	if err := kube.Deploy(ctx, c, m, srv.Config, opt); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "created") || strings.Contains(out.String(), "configured") || !strings.Contains(out.String(), "unchanged (server dry run)") {
		t.Errorf("dry run output:\n%s", out.String())
	}

	// A changed key: a dry run reports the change and does not make it;
	// the real apply makes it (and rolls the edge through its hash).
	c.Sites[1].S3SecretKey = fleet.Literal("rotated-secret-key", "test")
	m2, err := render.Render(c, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := kube.Deploy(ctx, c, m2, srv.Config, opt); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"management: Secret seaweedfs/s3-config configured (server dry run)", "management: Deployment seaweedfs/seaweedfs configured (server dry run)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run of a rotated key: no %q in\n%s", want, out.String())
		}
	}
	live, _ := kc.Get(ctx, secretGVK, render.NSSeaweedFS, render.S3ConfigSecret)
	if v, _, _ := unstructured.NestedString(live.Object, "data", "s3.json"); strings.Contains(decode(v), "rotated-secret-key") {
		t.Error("the dry run changed s3-config")
	}
	opt.DryRun = false
	out.Reset()
	if err := kube.Deploy(ctx, c, m2, srv.Config, opt); err != nil {
		t.Fatal(err)
	}
	live, _ = kc.Get(ctx, secretGVK, render.NSSeaweedFS, render.S3ConfigSecret)
	if v, _, _ := unstructured.NestedString(live.Object, "data", "s3.json"); !strings.Contains(decode(v), "rotated-secret-key") {
		t.Error("the apply did not change s3-config")
	}
}

func decode(s string) string { b, _ := base64.StdEncoding.DecodeString(s); return string(b) }

// Every topology's manifests are accepted by a real apiserver with strict
// validation (each on its own server: PVC specs differ and are immutable).
func TestDeployTopologies(t *testing.T) {
	for _, name := range []string{"onprem", "cloud", "existing", "legacy", "observability"} {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			c := load(t, name)
			m, err := render.Render(c, render.Options{CABundle: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")})
			if err != nil {
				t.Fatal(err)
			}
			var out kubetest.Output
			if err := kube.Deploy(context.Background(), c, m, srv.Config, kube.Options{Out: &out, SiteConfig: childClusters(t, c)}); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			n := 0
			for _, cl := range m.All() {
				n += len(cl.Objects())
			}
			got, leftOut := 0, 0
			for _, l := range strings.Split(out.String(), "\n") {
				// "<cluster>: <Kind> <name> created", not the summary line.
				if f := strings.Fields(l); len(f) == 4 && f[3] == "created" {
					got++
				}
				// ServiceMonitors: no Prometheus Operator here.
				if strings.Contains(l, ": ServiceMonitor ") && strings.Contains(l, string(kube.NotServed)) {
					leftOut++
				}
			}
			if got+leftOut != n {
				t.Errorf("%d objects created and %d left out, rendered %d:\n%s", got, leftOut, n, out.String())
			}
			if want := map[bool]int{true: 1 + len(c.Sites)}[c.Observability.Enabled]; leftOut != want {
				t.Errorf("%d ServiceMonitors left out, want %d", leftOut, want)
			}
		})
	}
}

// Deliberately broken objects get the server's own error back, naming the
// object; the valid objects around them are still applied.
func TestBrokenInputRefused(t *testing.T) {
	srv := start(t)
	c := load(t, "onprem")
	m, err := render.Render(c, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	objs := m.Management.Objects()
	var broken []*unstructured.Unstructured
	for _, o := range objs {
		o = o.DeepCopy()
		switch {
		case o.GetKind() == "Deployment" && o.GetName() == "seaweedfs":
			// An unknown field.
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			containers[0].(map[string]any)["colour"] = "blue"
			unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers")
		case o.GetKind() == "Cluster":
			// A value outside the CRD's enum.
			unstructured.SetNestedField(o.Object, "Bogus", "spec", "service", "type")
		case o.GetKind() == "Certificate" && o.GetName() == render.SeaweedFSTLS:
			// A required field missing.
			unstructured.RemoveNestedField(o.Object, "spec", "secretName")
		case o.GetKind() == "Deployment" && o.GetName() == render.HubDeployment:
			// Selector and template labels that do not match.
			unstructured.SetNestedField(o.Object, "other", "spec", "template", "metadata", "labels", "component")
		}
		broken = append(broken, o)
	}
	cl, err := kube.New("management", srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	var out kubetest.Output
	cl.Out = &out
	counts, err := cl.Apply(context.Background(), broken)
	if err == nil {
		t.Fatal("broken objects were accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`.spec.template.spec.containers[name="seaweedfs"].colour: field not declared in schema`,
		`management: Deployment seaweedfs/seaweedfs: `,
		`management: Cluster edge-uqcai/edge-uqcai: Cluster.k0smotron.io "edge-uqcai" is invalid: spec.service.type: Unsupported value: "Bogus"`,
		`management: Certificate seaweedfs/seaweedfs-tls: Certificate.cert-manager.io "seaweedfs-tls" is invalid: spec.secretName: Required value`,
		`management: Deployment xnat-upload/xnat-ingest-upload: Deployment.apps "xnat-ingest-upload" is invalid: spec.template.metadata.labels: Invalid value`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	var oe *kube.ObjectError
	if !errors.As(err, &oe) {
		t.Errorf("error is not an *ObjectError: %T", err)
	}
	if counts[kube.Created] != len(broken)-4 {
		t.Errorf("created %d of the %d valid objects:\n%s", counts[kube.Created], len(broken)-4, out.String())
	}
	// The whole fleet is not deployed past a refused management object.
	c2 := load(t, "onprem")
	if err := kube.Deploy(context.Background(), c2, &render.Manifests{Management: render.Cluster{Name: "management", Files: []render.File{{Objects: broken}}}, Sites: m.Sites},
		srv.Config, kube.Options{SiteConfig: func(*fleet.Site) (*rest.Config, error) { t.Error("site applied"); return nil, errors.New("no") }}); err == nil {
		t.Error("Deploy went on")
	}
}

// Without cert-manager's or k0smotron's CRDs, apply says what to install.
func TestMissingCRDs(t *testing.T) {
	srv := kubetest.Start(t)
	c := load(t, "onprem")
	m, err := render.Render(c, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = kube.Deploy(context.Background(), c, m, srv.Config, kube.Options{})
	if err == nil || !strings.Contains(err.Error(), "Certificate.cert-manager.io (from cert-manager") || !strings.Contains(err.Error(), "Cluster.k0smotron.io (from k0smotron") {
		t.Fatalf("err = %v", err)
	}
}

// Waits report progress and end when the controllers (played here through
// the status subresource) report ready. The controllers act only once the
// wait has said what it waits for, so what the test sees follows the
// wait's progress, not the machine's speed.
func TestWaitProgress(t *testing.T) {
	srv := start(t)
	c := load(t, "onprem")
	m, err := render.Render(c, render.Options{CABundle: []byte("ca")})
	if err != nil {
		t.Fatal(err)
	}
	kc, _ := kube.New("controllers", srv.Config)
	ctx, cancel := context.WithCancel(context.Background())
	var controllers sync.WaitGroup
	stopControllers := func() { cancel(); controllers.Wait() }
	defer stopControllers()
	var out kubetest.Output
	children := childClusters(t, c)
	ck, _ := children(&c.Sites[0])
	kcc, _ := kube.New("child controllers", ck)
	controllers.Add(2)
	go func() { defer controllers.Done(); playControllers(ctx, t, kc, &out, "management: waiting (") }()
	go func() { defer controllers.Done(); playControllers(ctx, t, kcc, &out, "edge-uqcai: waiting (") }()
	// The timeout is a ceiling for a broken wait, not a budget.
	err = kube.Deploy(ctx, c, m, srv.Config, kube.Options{Out: &out, Wait: true, Timeout: 2 * time.Minute, SiteConfig: children, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"management: waiting (",
		"Deployment seaweedfs/seaweedfs: rollout not observed yet",
		"Certificate seaweedfs/seaweedfs-tls: no Ready condition yet",
		"management: Certificate cert-manager/ais-edge-ca ready",
		"management: Cluster edge-uqcai/edge-uqcai ready",
		"edge-uqcai: waiting (",
		"edge-uqcai: Deployment xnat-ingest/aisedge-edge ready",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}

	// A timeout names what is not ready and what it waits for. With no
	// controller left the new rollout is never observed; every object is
	// checked once whatever the timeout, so the reason is there however
	// slow the server is.
	c.Sites[0].Project = "OTHER" // changes the edge config: a new rollout
	m, _ = render.Render(c, render.Options{CABundle: []byte("ca")})
	stopControllers()
	out.Reset()
	err = kube.Deploy(context.Background(), c, m, srv.Config, kube.Options{Out: &out, Wait: true, Timeout: time.Second, SiteConfig: children, PollInterval: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "edge-uqcai: not ready after 1s:\n  Deployment xnat-ingest/aisedge-edge: rollout not observed yet") {
		t.Fatalf("err = %v\n%s", err, out.String())
	}

	// Stopped from outside (ctx), the wait says so, with the reasons.
	out.Reset()
	sctx, stop := context.WithCancel(context.Background())
	go func() {
		if out.WaitFor(sctx, "edge-uqcai: waiting (") {
			stop()
		}
	}()
	err = kube.Deploy(sctx, c, m, srv.Config, kube.Options{Out: &out, Wait: true, Timeout: 2 * time.Minute, SiteConfig: children, PollInterval: 100 * time.Millisecond})
	stop()
	if err == nil || !strings.Contains(err.Error(), "edge-uqcai: stopped waiting after ") || !strings.Contains(err.Error(), "(context canceled), not ready:\n  Deployment xnat-ingest/aisedge-edge: rollout not observed yet") {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
}

// playControllers waits until out shows gate, then sets the status a
// controller would: Deployments available, Certificates Ready, k0smotron
// Clusters ready.
func playControllers(ctx context.Context, t *testing.T, kc *kube.Client, out *kubetest.Output, gate string) {
	if !out.WaitFor(ctx, gate) {
		return
	}
	kinds := []schema.GroupVersionKind{
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
		{Group: "k0smotron.io", Version: "v1beta1", Kind: "Cluster"},
	}
	for ctx.Err() == nil {
		for _, gvk := range kinds {
			gvr, err := kc.Resource(gvk)
			if err != nil {
				continue
			}
			list, err := kc.Dynamic().Resource(gvr).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for _, o := range list.Items {
				if ok, _ := kube.Ready(&o); ok {
					continue
				}
				switch gvk.Kind {
				case "Deployment":
					unstructured.SetNestedField(o.Object, map[string]any{"observedGeneration": o.GetGeneration(), "replicas": int64(1),
						"updatedReplicas": int64(1), "availableReplicas": int64(1), "readyReplicas": int64(1)}, "status")
				case "Certificate":
					unstructured.SetNestedField(o.Object, map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True",
						"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "reason": "Ready", "message": "issued"}}}, "status")
				case "Cluster":
					unstructured.SetNestedField(o.Object, map[string]any{"ready": true, "reconciliationStatus": "Reconciliation successful"}, "status")
				}
				if _, err := kc.Dynamic().Resource(gvr).Namespace(o.GetNamespace()).UpdateStatus(ctx, &o, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
					t.Logf("status of %s %s: %v", gvk.Kind, o.GetName(), err)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// The kubeconfig k0smotron writes is rewritten to reach the control plane
// through the management ingress.
func TestSiteKubeconfig(t *testing.T) {
	srv := start(t)
	raw, err := os.ReadFile(srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, server, tlsName string }{
		{"onprem", "https://203.0.113.10:443", "k0s-edge-uqcai.aisedge.local"},
		{"cloud", "https://k0s-edge-usyd.aisedge.example.org:443", ""},
	} {
		c := load(t, tt.name)
		b, err := kube.SiteKubeconfig(raw, c, &c.Sites[0])
		if err != nil {
			t.Fatal(err)
		}
		kc, err := clientcmd.Load(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range kc.Clusters {
			if cl.Server != tt.server || cl.TLSServerName != tt.tlsName || len(cl.CertificateAuthorityData) == 0 {
				t.Errorf("%s: server %s, tls name %q", tt.name, cl.Server, cl.TLSServerName)
			}
		}
	}
	// Deploy makes kubeconfig-<site> from k0smotron's Secret when the file
	// is missing (here on a config whose management node is the test
	// server, so that the rewritten kubeconfig still reaches it).
	dir := t.TempDir()
	c := load(t, "onprem")
	c.Dir = dir
	c.Management.NodeIP = "127.0.0.1"
	c.Management.IngressPort = portOf(srv.URL)
	m, err := render.Render(c, render.Options{CABundle: []byte("ca")})
	if err != nil {
		t.Fatal(err)
	}
	kc, _ := kube.New("k0smotron", srv.Config)
	sec := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "edge-uqcai-kubeconfig", "namespace": "edge-uqcai"},
		"data":     map[string]any{"value": base64.StdEncoding.EncodeToString(raw)}}}
	var out kubetest.Output
	// The namespace comes with the management manifests; the Secret
	// appears once the control plane is up (here: after the first pass).
	if err := kube.Deploy(context.Background(), c, m, srv.Config, kube.Options{Out: &out, ManagementOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Apply(context.Background(), []*unstructured.Unstructured{sec}); err != nil {
		t.Fatal(err)
	}
	// The apiserver's own certificate has no SAN for the site's API
	// hostname, so the connection made with the rewritten kubeconfig is
	// refused by TLS verification: proof that it is the one used.
	err = kube.Deploy(context.Background(), c, m, srv.Config, kube.Options{Out: &out})
	if err == nil || !strings.Contains(err.Error(), "k0s-edge-uqcai.aisedge.local") {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "kubeconfig-edge-uqcai"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "kubeconfig-edge-uqcai")); st.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v", st.Mode())
	}
	if !strings.Contains(string(b), "tls-server-name: k0s-edge-uqcai.aisedge.local") || !strings.Contains(string(b), fmt.Sprintf("server: https://127.0.0.1:%d", portOf(srv.URL))) {
		t.Errorf("kubeconfig:\n%s", b)
	}
}

func portOf(url string) int {
	var p int
	fmt.Sscanf(url[strings.LastIndex(url, ":")+1:], "%d", &p)
	return p
}

// The observability stack applies with strict validation on the management
// cluster and on every site; when the CA is read from the management
// cluster at apply time, the log shipper gets it as well as the edge.
func TestDeployObservability(t *testing.T) {
	srv := start(t)
	c := load(t, "observability")
	m, err := render.Render(c, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out kubetest.Output
	children := childClusters(t, c)
	opt := kube.Options{Out: &out, SiteConfig: children}
	if err := kube.Deploy(context.Background(), c, m, srv.Config, opt); err == nil || !strings.Contains(err.Error(), "is not issued yet") {
		t.Fatalf("err = %v, want the CA not issued\n%s", err, out.String())
	}
	pem := issueCA(t, srv)
	// The management cluster runs the Prometheus Operator (its
	// ServiceMonitor CRD, schema-less here); the sites do not.
	serviceMonitorCRD(t, srv)
	if err := kube.Deploy(context.Background(), c, m, srv.Config, opt); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"management: ServiceMonitor xnat-upload/aisedge-hub-metrics created",
		"edge-usyd: ServiceMonitor xnat-ingest/aisedge-edge-metrics left out (its kind is not served here): install the Prometheus Operator to have it",
		"management: Deployment monitoring/loki", "management: Deployment monitoring/prometheus",
		"management: Deployment monitoring/alertmanager", "management: Deployment monitoring/grafana",
		"management: Ingress monitoring/grafana", "management: Ingress monitoring/ingest",
		"management: Certificate monitoring/observability-tls", "management: DaemonSet logging/vector",
		"edge-usyd: DaemonSet logging/vector created", "edge-usyd: Deployment logging/prometheus-agent created",
		"edge-usyd: Service xnat-ingest/aisedge-edge-metrics created",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	// Loki's bundle (SeaweedFS over TLS), written with the hub's.
	mc, _ := kube.New("management", srv.Config)
	for _, ns := range []string{render.NSUpload, render.NSMonitoring} {
		ca, err := mc.Get(context.Background(), secretGVK, ns, render.CABundleSecret)
		if err != nil || ca == nil {
			t.Fatalf("management: %s/ca-bundle: %v", ns, err)
		}
		if v, _, _ := unstructured.NestedString(ca.Object, "data", "ca.crt"); v != base64.StdEncoding.EncodeToString(pem) {
			t.Errorf("management: %s/ca-bundle holds %q", ns, v)
		}
	}
	for i := range c.Sites {
		child, _ := children(&c.Sites[i])
		cc, _ := kube.New("child", child)
		ca, err := cc.Get(context.Background(), secretGVK, render.NSLogging, render.CABundleSecret)
		if err != nil || ca == nil {
			t.Fatalf("%s: logging/ca-bundle: %v", c.Sites[i].Name, err)
		}
		if v, _, _ := unstructured.NestedString(ca.Object, "data", "ca.crt"); v != base64.StdEncoding.EncodeToString(pem) {
			t.Errorf("%s: logging/ca-bundle holds %q", c.Sites[i].Name, v)
		}
	}
}

// serviceMonitorCRD installs a CRD for the Prometheus Operator's
// ServiceMonitor (its schema left open).
func serviceMonitorCRD(t *testing.T, srv *kubetest.Server) {
	t.Helper()
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "servicemonitors.monitoring.coreos.com"},
		"spec": map[string]any{
			"group": "monitoring.coreos.com", "scope": "Namespaced",
			"names": map[string]any{"kind": "ServiceMonitor", "listKind": "ServiceMonitorList", "plural": "servicemonitors", "singular": "servicemonitor"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	c, err := kube.New("crds", srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	objs := []*unstructured.Unstructured{crd}
	if _, err := c.Apply(context.Background(), objs); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(context.Background(), objs, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
}
