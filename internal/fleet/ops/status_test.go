package ops_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/ops"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

// TestStatus: one row per site from the child clusters (Nodes, the edge
// pod) and the status documents (hub per-edge delivery, edge queue and
// health); an unreachable site is a row saying so, not a failure.
func TestStatus(t *testing.T) {
	f := newFixture(t, siteKeys{"admin-access", "admin-secret-123"}, []string{"edge-a", "edge-b"},
		map[string]siteKeys{"edge-a": {"edgea-access", "edgea-secret"}, "edge-b": {"edgeb-access", "edgeb-secret"}})
	ctx := context.Background()
	now := time.Now().UTC()
	// edge-a's child: one ready node, a ready edge pod.
	c := f.client("edge-a")
	objs := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": "edge-a-worker"}}},
		// No service-account controller here: the pod's account by hand.
		{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "default", "namespace": render.NSIngest}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "aisedge-edge-1", "namespace": render.NSIngest,
			"labels": map[string]any{"app": "xnat-ingest", "component": "s3-uploader"}},
			"spec": map[string]any{"nodeName": "edge-a-worker", "containers": []any{map[string]any{"name": "edge", "image": "x"}}}}},
	}
	if _, err := c.Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
	setStatus := func(kind, ns, name string, status map[string]any) {
		gvr, _ := c.Resource(objs[0].GroupVersionKind().GroupVersion().WithKind(kind))
		ri := c.Dynamic().Resource(gvr)
		var o *unstructured.Unstructured
		var err error
		if ns != "" {
			o, err = ri.Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		} else {
			o, err = ri.Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
		o.Object["status"] = status
		if ns != "" {
			_, err = ri.Namespace(ns).UpdateStatus(ctx, o, metav1.UpdateOptions{})
		} else {
			_, err = ri.UpdateStatus(ctx, o, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ts := now.Format(time.RFC3339)
	setStatus("Node", "", "edge-a-worker", map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True", "lastHeartbeatTime": ts, "lastTransitionTime": ts}}})
	setStatus("Pod", render.NSIngest, "aisedge-edge-1", map[string]any{"phase": "Running", "conditions": []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": ts}}})

	serve := func(doc string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/status" {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte(doc))
		}))
		t.Cleanup(s.Close)
		return s
	}
	delivered := now.Add(-3 * time.Hour).Format(time.RFC3339)
	hub := serve(`{"ready":true,"hub":{"destination":"xnat","pending":[{"base":"staged/edge-a/x/"}],"deadLetters":[],"edges":{"edge-a":{"lastDelivery":"` + delivered + `","delivered":4}}}}`)
	edgeA := serve(`{"ready":true,"edge":{"edge":"edge-a","queuedShipments":[{},{}],"quarantine":[{}],"openStudies":[]}}`)
	src := ops.URLSource{HubURL: hub.URL, EdgeURLs: map[string]string{"edge-a": edgeA.URL}}

	env := f.env()
	site := env.SiteConfig
	env.SiteConfig = func(s *fleet.Site) (*rest.Config, error) {
		if s.Name == "edge-b" {
			return nil, errors.New("dial tcp 10.0.2.50:443: connection refused")
		}
		return site(s)
	}
	f.out.Reset()
	rows, hubSt := env.Status(ctx, src)
	env.PrintStatus(rows, hubSt)
	t.Logf("status:\n%s", f.out.String())
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	a, b := rows[0], rows[1]
	if a.Site != "edge-a" || a.Nodes != "1/1 ready" || a.EdgePod != "ready" || a.Queue != 2 || a.Health != "1 quarantined" || !a.LastUpload.Equal(now.Add(-3*time.Hour).Truncate(time.Second)) {
		t.Errorf("edge-a row %+v", a)
	}
	if b.Site != "edge-b" || b.Nodes != "unreachable" || b.Queue != -1 || !strings.HasPrefix(b.Health, "unreachable") || !b.LastUpload.IsZero() {
		t.Errorf("edge-b row %+v", b)
	}
	if hubSt.Health != "ok" || hubSt.Pending != 1 {
		t.Errorf("hub %+v", hubSt)
	}
	for _, want := range []string{"SITE", "edge-a", "1/1 ready", "(3h ago)", "edge-b", "unreachable", "hub: ok (1 pending, 0 dead-lettered)"} {
		if !strings.Contains(f.out.String(), want) {
			t.Errorf("status table lacks %q", want)
		}
	}

	// The hub unreachable: its line says so, the rows stay.
	hub.Close()
	rows, hubSt = env.Status(ctx, src)
	if !strings.HasPrefix(hubSt.Health, "unreachable") || len(rows) != 2 || rows[0].Queue != 2 {
		t.Errorf("hub down: %+v %+v", hubSt, rows)
	}
}
