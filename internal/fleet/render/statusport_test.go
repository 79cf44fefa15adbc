package render

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/config"
)

// The rendered daemons bind their status port on the pod's address (the
// kubelet's probes and the pod proxy of `fleet status` reach it there) and
// serve only the read-only endpoints on it: the operator actions are never
// enabled on TCP, so they stay on the pod-local socket.
func TestStatusPortReadOnly(t *testing.T) {
	for _, name := range topologies {
		m, err := Render(load(t, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, cl := range m.All() {
			for _, o := range cl.Objects() {
				if o.GetKind() != "ConfigMap" || (o.GetName() != EdgeConfigMap && o.GetName() != HubConfigMap) {
					continue
				}
				data, _, _ := unstructured.NestedStringMap(o.Object, "data")
				for k, v := range data {
					f, _ := config.Parse(k, []byte(v))
					if f == nil {
						t.Fatalf("%s %s: not YAML", name, k)
					}
					type port struct {
						http    string
						actions config.HTTPActions
					}
					ports := map[string]port{}
					if f.Edge != nil {
						ports["edge"] = port{f.Edge.HTTP, f.Edge.HTTPActions}
					}
					if f.Hub != nil {
						ports["hub"] = port{f.Hub.HTTP, f.Hub.HTTPActions}
					}
					for role, c := range ports {
						seen++
						if c.http != "0.0.0.0:8080" && c.http != "0.0.0.0:8081" {
							t.Errorf("%s %s: %s.http %s, want the pod's address", name, k, role, c.http)
						}
						if c.actions.Enabled || c.actions.TokenFile != "" {
							t.Errorf("%s %s: %s.httpActions enabled on the status port", name, k, role)
						}
					}
				}
			}
		}
		if seen == 0 {
			t.Errorf("%s: no daemon configuration rendered", name)
		}
	}
}
