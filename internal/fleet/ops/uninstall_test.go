package ops_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/ops"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

// TestUninstall: without the typed phrase nothing is deleted (no
// terminal, a wrong phrase, a dry run); with it every object aisedge
// created is deleted, cert-manager's namespace stays, and no object that
// could touch a host folder is created (no Job, nothing mounting the
// facility backup) while the output says the facility backups are kept.
func TestUninstall(t *testing.T) {
	f := newFixture(t, siteKeys{"admin-access", "admin-secret-123"}, []string{"edge-a"},
		map[string]siteKeys{"edge-a": {"edgea-access", "edgea-secret"}})
	ctx := context.Background()
	phrase := ops.UninstallPhrase("kubetest")
	if phrase != "uninstall aisedge from kubetest" {
		t.Fatalf("phrase %q", phrase)
	}
	intact := func() bool {
		return !gone(f.get("management", gvkK0sCluster, "edge-a", "edge-a")) &&
			!gone(f.get("management", gvkNamespace, "", render.NSSeaweedFS)) &&
			!gone(f.get("management", gvkIssuer, "", fleet.IssuerCA)) &&
			!gone(f.get("edge-a", gvkDeployment, render.NSIngest, render.EdgeDeployment))
	}
	for _, tc := range []struct {
		name    string
		confirm ops.Confirmer
		dryRun  bool
	}{
		{"no terminal", &ops.Typed{}, false},
		{"wrong phrase", &ops.Typed{Given: "uninstall aisedge from elsewhere"}, false},
		{"typed wrong", &ops.Typed{Terminal: true, In: strings.NewReader("yes\n"), Out: &strings.Builder{}}, false},
		{"dry run", nil, true},
	} {
		f.out.Reset()
		env := f.env()
		env.Confirm, env.DryRun = tc.confirm, tc.dryRun
		err := env.Uninstall(ctx)
		switch {
		case tc.dryRun && err != nil:
			t.Fatalf("%s: %v", tc.name, err)
		case !tc.dryRun && !errors.Is(err, ops.ErrNotConfirmed):
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !intact() {
			t.Fatalf("%s: something was deleted", tc.name)
		}
	}
	if !strings.Contains(f.out.String(), "would remove (dry run: nothing was removed)") {
		t.Errorf("dry run output:\n%s", f.out.String())
	}

	// The log shipper's cluster-wide role and binding (observability) on
	// both clusters.
	for _, cl := range []string{"management", "edge-a"} {
		rbac := []*unstructured.Unstructured{
			{Object: map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
				"metadata": map[string]any{"name": render.ShipperClusterRole, "labels": map[string]any{"app.kubernetes.io/managed-by": "aisedge"}},
				"rules":    []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get"}}}}},
			{Object: map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
				"metadata": map[string]any{"name": render.ShipperClusterRole, "labels": map[string]any{"app.kubernetes.io/managed-by": "aisedge"}},
				"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": render.ShipperClusterRole},
				"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "vector", "namespace": "logging"}}}},
		}
		if _, err := f.client(cl).Apply(ctx, rbac); err != nil {
			t.Fatal(err)
		}
	}

	f.out.Reset()
	env := f.env()
	var prompt strings.Builder
	env.Confirm = &ops.Typed{Terminal: true, In: strings.NewReader(phrase + "\n"), Out: &prompt}
	if err := env.Uninstall(ctx); err != nil {
		t.Fatalf("%v\n%s", err, f.out.String())
	}
	t.Logf("uninstall:\n%s", f.out.String())
	if !strings.Contains(prompt.String(), "Type \""+phrase+"\"") {
		t.Errorf("prompt: %q", prompt.String())
	}
	for what, o := range map[string]bool{
		"k0smotron Cluster":         gone(f.get("management", gvkK0sCluster, "edge-a", "edge-a")),
		"site namespace":            gone(f.get("management", gvkNamespace, "", "edge-a")),
		"seaweedfs":                 gone(f.get("management", gvkNamespace, "", render.NSSeaweedFS)),
		"xnat-upload":               gone(f.get("management", gvkNamespace, "", render.NSUpload)),
		"issuer":                    gone(f.get("management", gvkIssuer, "", fleet.IssuerCA)),
		"CA Certificate":            gone(f.get("management", gvkCertificate, render.NSCertManager, render.CACertificate)),
		"CA Secret":                 gone(f.get("management", gvkSecret, render.NSCertManager, render.CASecret)),
		"edge":                      gone(f.get("edge-a", gvkDeployment, render.NSIngest, render.EdgeDeployment)),
		"edge namespace":            gone(f.get("edge-a", gvkNamespace, "", render.NSIngest)),
		"shipper role (management)": gone(f.get("management", gvkClusterRole, "", render.ShipperClusterRole)),
		"shipper binding (site)":    gone(f.get("edge-a", gvkClusterRB, "", render.ShipperClusterRole)),
	} {
		if !o {
			t.Errorf("%s not removed", what)
		}
	}
	if gone(f.get("management", gvkNamespace, "", render.NSCertManager)) {
		t.Error("the cert-manager namespace was deleted")
	}
	if f.get("edge-a", gvkJob, render.NSIngest, "aisedge-wipe-data") != nil {
		t.Error("uninstall ran a Job on the edge")
	}
	out := f.out.String()
	for _, want := range []string{"facility backup /data/facility-backup on 10.0.1.50 (never deleted by aisedge)", "removed:", "kept:",
		"data folder /data/xnat-ingest"} {
		if !strings.Contains(out, want) {
			t.Errorf("uninstall output lacks %q", want)
		}
	}
	// Again: already gone, no error.
	env.Confirm = &ops.Typed{Given: phrase}
	if err := env.Uninstall(ctx); err != nil {
		t.Errorf("second uninstall: %v", err)
	}
}

// Typed confirmation, table-driven.
func TestTyped(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    ops.Typed
		ok   bool
	}{
		{"given exactly", ops.Typed{Given: "edge-a"}, true},
		{"given other", ops.Typed{Given: "edge-b"}, false},
		{"given prefix", ops.Typed{Given: "edge"}, false},
		{"no terminal", ops.Typed{In: strings.NewReader("edge-a\n")}, false},
		{"typed", ops.Typed{Terminal: true, In: strings.NewReader("edge-a\n")}, true},
		{"typed CRLF", ops.Typed{Terminal: true, In: strings.NewReader("edge-a\r\n")}, true},
		{"typed with space", ops.Typed{Terminal: true, In: strings.NewReader(" edge-a\n")}, false},
		{"typed nothing", ops.Typed{Terminal: true, In: strings.NewReader("")}, false},
	} {
		tc.t.Out = &strings.Builder{}
		err := tc.t.Confirm("site edge-a's data", "edge-a")
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ops.ErrNotConfirmed)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
