package ops_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/fleet/ops"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/objstore"
	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
)

// gone reports whether an object is deleted or being deleted (the test
// apiserver has no namespace controller to finish a namespace).
func gone(o *unstructured.Unstructured) bool { return o == nil || o.GetDeletionTimestamp() != nil }

// TestSiteAddRemove adds a third site to a deployed fleet and removes it
// again, against real kube-apiservers: the other sites' objects do not
// change; remove refuses without the typed confirmation and deletes
// nothing, then with it deletes the site's staged objects (not another
// site's), empties its data folder with a Job that mounts nothing else,
// and removes its identity, control plane and namespaces.
func TestSiteAddRemove(t *testing.T) {
	f := newFixture(t, siteKeys{"admin-access", "admin-secret-123"}, []string{"edge-a", "edge-b"},
		map[string]siteKeys{"edge-a": {"edgea-access", "edgea-secret"}, "edge-b": {"edgeb-access", "edgeb-secret"}})
	ctx := context.Background()
	rvA := f.get("management", gvkK0sCluster, "edge-a", "edge-a").GetResourceVersion()
	rvEdgeA := f.get("edge-a", gvkDeployment, render.NSIngest, render.EdgeDeployment).GetResourceVersion()

	f.addSite("edge-c", 2, siteKeys{"edgec-access", "edgec-secret"})
	// Dry run: the servers check it, nothing exists afterwards.
	env := f.env()
	env.DryRun = true
	if err := env.SiteAdd(ctx, "edge-c", ops.AddOptions{}); err != nil {
		t.Fatalf("%v\n%s", err, f.out.String())
	}
	if f.get("management", gvkK0sCluster, "edge-c", "edge-c") != nil || f.get("edge-c", gvkDeployment, render.NSIngest, render.EdgeDeployment) != nil {
		t.Fatal("the dry run created the site")
	}
	f.out.Reset()
	if err := f.env().SiteAdd(ctx, "edge-c", ops.AddOptions{Wait: true}); err != nil {
		t.Fatalf("%v\n%s", err, f.out.String())
	}
	t.Logf("site add:\n%s", f.out.String())
	for _, want := range []string{"management: Namespace edge-c created", "management: Cluster edge-c/edge-c created",
		"management: Secret seaweedfs/s3-config configured", "edge-c: Deployment xnat-ingest/aisedge-edge created", "edge-c: Secret xnat-ingest/ca-bundle created"} {
		if !strings.Contains(f.out.String(), want) {
			t.Errorf("site add: no %q", want)
		}
	}
	if strings.Contains(f.out.String(), "edge-a") || strings.Contains(f.out.String(), "edge-b") {
		t.Errorf("site add touched other sites:\n%s", f.out.String())
	}
	if ids := identities(t, f.secret("management", render.NSSeaweedFS, render.S3ConfigSecret)["s3.json"]); len(ids["edge-c"]) != 1 || len(ids["edge-a"]) != 1 {
		t.Errorf("s3.json identities after add: %v", ids)
	}
	// Again: nothing changes.
	f.out.Reset()
	if err := f.env().SiteAdd(ctx, "edge-c", ops.AddOptions{}); err != nil || strings.Contains(f.out.String(), " created") || strings.Contains(f.out.String(), " configured") {
		t.Errorf("second site add: %v\n%s", err, f.out.String())
	}

	// The bucket: staged objects of edge-c and of edge-a.
	store, err := objfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"staged/edge-c/P2.S.V/MANIFEST.json", "staged/edge-c/P2.S.V/1/DICOM/a.dcm", "staged/edge-a/P0.S.V/MANIFEST.json"} {
		if _, err := store.Put(ctx, k, strings.NewReader("x"), 1, objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bucket := func(context.Context) (ops.Bucket, error) { return store, nil }

	// Without the confirmation (no terminal, no --yes-delete-data, or the
	// wrong name): refused, nothing deleted.
	for _, given := range []string{"", "edge-a", "EDGE-C"} {
		f.out.Reset()
		env := f.env()
		env.S3 = bucket
		env.Confirm = &ops.Typed{Given: given}
		err := env.SiteRemove(ctx, "edge-c", ops.RemoveOptions{})
		if !errors.Is(err, ops.ErrNotConfirmed) {
			t.Fatalf("given %q: %v", given, err)
		}
		if gone(f.get("management", gvkK0sCluster, "edge-c", "edge-c")) || gone(f.get("edge-c", gvkDeployment, render.NSIngest, render.EdgeDeployment)) || len(keys(t, store, "staged/edge-c/")) != 2 {
			t.Fatalf("given %q: something was deleted", given)
		}
	}

	f.out.Reset()
	env = f.env()
	env.S3 = bucket
	env.Confirm = &ops.Typed{Given: "edge-c"}
	if err := env.SiteRemove(ctx, "edge-c", ops.RemoveOptions{}); err != nil {
		t.Fatalf("%v\n%s", err, f.out.String())
	}
	t.Logf("site remove:\n%s", f.out.String())
	if left := keys(t, store, "staged/"); len(left) != 1 || left[0] != "staged/edge-a/P0.S.V/MANIFEST.json" {
		t.Errorf("bucket after remove: %v", left)
	}
	job := f.get("edge-c", gvkJob, render.NSIngest, "aisedge-wipe-data")
	if job == nil {
		t.Fatal("no wipe Job")
	}
	vols, _, _ := unstructured.NestedSlice(job.Object, "spec", "template", "spec", "volumes")
	if len(vols) != 1 {
		t.Errorf("wipe Job mounts %d volumes", len(vols))
	}
	if p, _, _ := unstructured.NestedString(vols[0].(map[string]any), "hostPath", "path"); p != "/data/xnat-ingest" {
		t.Errorf("wipe Job mounts %s", p)
	}
	for what, o := range map[string]*unstructured.Unstructured{
		"Cluster":         f.get("management", gvkK0sCluster, "edge-c", "edge-c"),
		"namespace":       f.get("management", gvkNamespace, "", "edge-c"),
		"edge Deployment": f.get("edge-c", gvkDeployment, render.NSIngest, render.EdgeDeployment),
		"child namespace": f.get("edge-c", gvkNamespace, "", render.NSIngest),
	} {
		if !gone(o) {
			t.Errorf("%s not removed", what)
		}
	}
	ids := identities(t, f.secret("management", render.NSSeaweedFS, render.S3ConfigSecret)["s3.json"])
	if _, ok := ids["edge-c"]; ok || len(ids["edge-a"]) != 1 || len(ids["edge-b"]) != 1 {
		t.Errorf("s3.json after remove: %v", ids)
	}
	if f.get("management", gvkK0sCluster, "edge-a", "edge-a").GetResourceVersion() != rvA ||
		f.get("edge-a", gvkDeployment, render.NSIngest, render.EdgeDeployment).GetResourceVersion() != rvEdgeA {
		t.Error("add and remove of edge-c changed edge-a")
	}
	out := f.out.String()
	for _, want := range []string{"removed:", "2 objects under s3://ingest-bucket/staged/edge-c/", "the contents of /data/xnat-ingest",
		"kept:", "facility backup /data/facility-backup on 10.0.3.50 (never deleted"} {
		if !strings.Contains(out, want) {
			t.Errorf("site remove output lacks %q", want)
		}
	}
	// Running it again: already gone, no error.
	f.out.Reset()
	if err := env.SiteRemove(ctx, "edge-c", ops.RemoveOptions{KeepData: true}); err != nil {
		t.Fatalf("second remove: %v\n%s", err, f.out.String())
	}
}

// A data folder that holds the facility backup is never emptied.
func TestWipeRefusesBackup(t *testing.T) {
	for _, tc := range []struct{ data, backup string }{
		{"/data", "/data/facility-backup"},
		{"/data/xnat-ingest", "/data/xnat-ingest/facility-backup"},
		{"/data/xnat-ingest", "/data/xnat-ingest"},
		{"/srv/edge/x", "/srv/edge"},
	} {
		err := ops.CheckWipe(tc.data, tc.backup)
		if err == nil {
			t.Errorf("data %s, backup %s: not refused", tc.data, tc.backup)
		}
	}
	if err := ops.CheckWipe("/data/xnat-ingest", "/data/facility-backup"); err != nil {
		t.Errorf("the default layout is refused: %v", err)
	}
}

func keys(t *testing.T, s objstore.Store, prefix string) []string {
	var out []string
	for info, err := range s.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, info.Key)
	}
	return out
}
