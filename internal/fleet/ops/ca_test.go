package ops_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/health"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/ops"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

// caCert reads generation gen's CA certificate from its Secret.
func (f *fixture) caCert(gen int) *x509.Certificate {
	f.t.Helper()
	_, secret := ops.CANames(gen)
	c := health.ParseCerts(f.secret("management", render.NSCertManager, secret)["tls.crt"])
	if len(c) == 0 {
		f.t.Fatalf("CA generation %d (%s) is not issued", gen, secret)
	}
	return c[0]
}

// bundle returns the certificates of one trust place: a site's Secret
// (ns/name) or "local".
func (f *fixture) bundle(site, ns, name string) []*x509.Certificate {
	f.t.Helper()
	if site == "local" {
		return health.ParseCerts(mustRead(f.t, filepath.Join(f.dir, "ais-edge-ca.crt")))
	}
	var out []*x509.Certificate
	for _, v := range f.secret(site, ns, name) {
		out = append(out, health.ParseCerts(v)...)
	}
	return out
}

func same(got []*x509.Certificate, want ...*x509.Certificate) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			return false
		}
	}
	return true
}

// TestRotateCA runs phase 1, phase 2, and phase 1 again (a second
// rotation, generation 3) against a real kube-apiserver whose
// cert-manager is played by the fixture: every bundle (the hub's and
// Loki's, each site's xnat-ingest/ca-bundle and logging/ca-bundle, the
// local ais-edge-ca.crt)
// holds old+new after phase 1 and new only after phase 2; the issuer
// moves to the new CA; the server certificate it signed is re-issued;
// phase 2 is refused without a completed phase 1.
func TestRotateCA(t *testing.T) {
	f := newFixture(t, siteKeys{"admin-access", "admin-secret-123"}, []string{"edge-a", "edge-b"},
		map[string]siteKeys{"edge-a": {"edgea-access", "edgea-secret"}, "edge-b": {"edgeb-access", "edgeb-secret"}})
	ctx := context.Background()
	// Site edge-b ships logs: Vector's namespace, its ca-bundle (the
	// original's key name) and its DaemonSet.
	vector := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "logging"}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "ca-bundle", "namespace": "logging"},
			"data": map[string]any{"ca-bundle.crt": base64.StdEncoding.EncodeToString(pemOf(f.caCert(1)))}}},
		{Object: map[string]any{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": map[string]any{"name": "vector", "namespace": "logging"},
			"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "vector"}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "vector"}},
					"spec": map[string]any{"containers": []any{map[string]any{"name": "vector", "image": "timberio/vector:0.40.0-alpine"}}}}}}},
	}
	if _, err := f.client("edge-b").Apply(ctx, vector); err != nil {
		t.Fatal(err)
	}
	// The management cluster runs the observability stack: Loki keeps its
	// chunks in SeaweedFS over TLS, trusting monitoring/ca-bundle.
	if err := os.WriteFile(filepath.Join(f.dir, "secrets", "grafana-admin-password"), []byte("grafana-password-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := append(mustRead(t, f.cfgPath), []byte(`observability:
  enabled: true
  grafanaAdminPassword: {file: secrets/grafana-admin-password}
  alerts: {emailTo: [ops@example.org], smtpSmarthost: "smtp.example.org:587"}
`)...)
	if err := os.WriteFile(f.cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	loki := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": render.NSMonitoring}}},
		{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "loki", "namespace": render.NSMonitoring},
			"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "loki"}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "loki"}},
					"spec": map[string]any{"containers": []any{map[string]any{"name": "loki", "image": "grafana/loki:3.5.0"}}}}}}},
	}
	if _, err := f.client("management").Apply(ctx, loki); err != nil {
		t.Fatal(err)
	}
	g1 := f.caCert(1)
	serverTLS := func() *x509.Certificate {
		c := health.ParseCerts(f.secret("management", render.NSSeaweedFS, render.SeaweedFSTLS)["tls.crt"])
		if len(c) == 0 {
			return nil
		}
		return c[0]
	}
	if s := serverTLS(); s == nil || s.CheckSignatureFrom(g1) != nil {
		t.Fatal("seaweedfs-tls is not signed by the first CA")
	}

	// Phase 2 first: refused, nothing changes.
	if err := f.env().RotateCA(ctx, 2); err == nil || !strings.Contains(err.Error(), "run rotate-ca --phase 1 first") {
		t.Fatalf("phase 2 without phase 1: %v", err)
	}

	// A dry run of phase 1 creates nothing.
	env := f.env()
	env.DryRun = true
	if err := env.RotateCA(ctx, 1); err != nil {
		t.Fatalf("%v\n%s", err, f.out.String())
	}
	if f.get("management", gvkCertificate, render.NSCertManager, "ais-edge-ca-g2") != nil {
		t.Fatal("the dry run created the new CA")
	}
	if !strings.Contains(f.out.String(), "Certificate cert-manager/ais-edge-ca-g2 created (server dry run)") {
		t.Errorf("dry run output:\n%s", f.out.String())
	}

	places := []struct{ site, ns, name string }{
		{"management", render.NSUpload, render.CABundleSecret},     // the hub's
		{"management", render.NSMonitoring, render.CABundleSecret}, // Loki's
		{"edge-a", render.NSIngest, render.CABundleSecret},
		{"edge-b", render.NSIngest, render.CABundleSecret},
		{"edge-b", "logging", "ca-bundle"},
		{"local", "", ""},
	}
	rolled := func(site string, gvk schema.GroupVersionKind, ns, name string) string {
		o := f.get(site, gvk, ns, name)
		v, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "annotations", "aisedge.io/ca-bundle-hash")
		return v
	}
	for round, gen := range []int{2, 3} {
		f.out.Reset()
		if err := f.env().RotateCA(ctx, 1); err != nil {
			t.Fatalf("round %d phase 1: %v\n%s", round, err, f.out.String())
		}
		t.Logf("phase 1 (g%d):\n%s", gen, f.out.String())
		old, fresh := f.caCert(gen-1), f.caCert(gen)
		for _, p := range places {
			if got := f.bundle(p.site, p.ns, p.name); !same(got, old, fresh) {
				t.Errorf("g%d phase 1: %s %s/%s holds %d certificates, want old+new", gen, p.site, p.ns, p.name, len(got))
			}
		}
		if rolled("edge-a", gvkDeployment, render.NSIngest, render.EdgeDeployment) == "" || rolled("edge-b", gvkDaemonSet, "logging", "vector") == "" {
			t.Error("phase 1 did not roll the edge or Vector")
		}
		if rolled("management", gvkDeployment, render.NSUpload, render.HubDeployment) == "" {
			t.Error("phase 1 did not roll the hub")
		}
		if rolled("management", gvkDeployment, render.NSMonitoring, "loki") == "" {
			t.Error("phase 1 did not roll Loki")
		}
		// Phase 1 again changes nothing.
		f.out.Reset()
		if err := f.env().RotateCA(ctx, 1); err != nil || strings.Contains(f.out.String(), " configured") || strings.Contains(f.out.String(), "wrote") {
			t.Errorf("phase 1 again: %v\n%s", err, f.out.String())
		}
		// The issuer still signs with the old CA.
		if s := serverTLS(); s.CheckSignatureFrom(old) != nil {
			t.Error("phase 1 changed the server certificate")
		}
		// fleet apply between the phases keeps both CAs trusted.
		f.reapply(t)
		for _, p := range places {
			if got := f.bundle(p.site, p.ns, p.name); !same(got, old, fresh) {
				t.Errorf("g%d apply after phase 1: %s %s/%s holds %d certificates, want old+new", gen, p.site, p.ns, p.name, len(got))
			}
		}

		f.out.Reset()
		if err := f.env().RotateCA(ctx, 2); err != nil {
			t.Fatalf("g%d phase 2: %v\n%s", gen, err, f.out.String())
		}
		t.Logf("phase 2 (g%d):\n%s", gen, f.out.String())
		_, newSecret := ops.CANames(gen)
		iss := f.get("management", gvkIssuer, "", fleet.IssuerCA)
		if s, _, _ := unstructured.NestedString(iss.Object, "spec", "ca", "secretName"); s != newSecret {
			t.Errorf("issuer signs with %s, want %s", s, newSecret)
		}
		// cert-manager (the fixture) re-issued the deleted server
		// certificate with the new CA.
		if err := waitTrue(func() bool { s := serverTLS(); return s != nil && s.CheckSignatureFrom(fresh) == nil }); err != nil {
			t.Errorf("seaweedfs-tls was not re-issued by the new CA: %v", err)
		}
		for _, p := range places {
			if got := f.bundle(p.site, p.ns, p.name); !same(got, fresh) {
				t.Errorf("g%d phase 2: %s %s/%s holds %d certificates, want the new CA only", gen, p.site, p.ns, p.name, len(got))
			}
		}
		oldCert, oldSecret := ops.CANames(gen - 1)
		if !strings.Contains(f.out.String(), "left for manual deletion") || !strings.Contains(f.out.String(), oldCert) || !strings.Contains(f.out.String(), oldSecret) {
			t.Errorf("phase 2 does not name the old CA %s:\n%s", oldCert, f.out.String())
		}
		if f.get("management", gvkCertificate, render.NSCertManager, oldCert) == nil {
			t.Error("phase 2 deleted the old CA")
		}
		// fleet apply after the rotation keeps the issuer on the new CA and
		// the bundles new-only (it used to point the issuer back at the
		// first CA's Secret).
		f.reapply(t)
		iss = f.get("management", gvkIssuer, "", fleet.IssuerCA)
		if s, _, _ := unstructured.NestedString(iss.Object, "spec", "ca", "secretName"); s != newSecret {
			t.Errorf("after fleet apply the issuer signs with %s, want %s", s, newSecret)
		}
		for _, p := range places {
			if got := f.bundle(p.site, p.ns, p.name); !same(got, fresh) {
				t.Errorf("g%d apply after phase 2: %s %s/%s holds %d certificates, want the new CA only", gen, p.site, p.ns, p.name, len(got))
			}
		}
		// Phase 2 again: refused, there is no rotation in progress.
		if err := f.env().RotateCA(ctx, 2); err == nil || !strings.Contains(err.Error(), "no CA rotation in progress") {
			t.Errorf("phase 2 twice: %v", err)
		}
	}

	// fleet certs lists every Certificate and the bundles' certificates.
	f.out.Reset()
	env = f.env()
	rows, err := env.Certs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env.PrintCerts(rows)
	for _, want := range []string{"cert-manager/ais-edge-ca ", "cert-manager/ais-edge-ca-g2", "cert-manager/ais-edge-ca-g3", "seaweedfs/seaweedfs-tls",
		"xnat-ingest/ca-bundle", "logging/ca-bundle", "ais-edge-ca.crt", "AIS Edge Root CA (g3)"} {
		if !strings.Contains(f.out.String(), want) {
			t.Errorf("certs: no %q in\n%s", want, f.out.String())
		}
	}
	for _, r := range rows {
		if r.Problem != "" || r.NotAfter.IsZero() {
			t.Errorf("certs row %+v", r)
		}
		if d := r.Days(time.Now()); d < 80 {
			t.Errorf("certs row %s %s: %d days left", r.Where, r.Name, d)
		}
	}
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
