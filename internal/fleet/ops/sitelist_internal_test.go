package ops

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

// site add and site remove re-apply the observability objects that list
// every site (push credentials, SiteSilent rules, Prometheus to reload
// them), and nothing else of the stack; with the stack off, none.
func TestSiteListObjects(t *testing.T) {
	for fixture, want := range map[string]int{"observability": 3, "three-sites": 0} {
		c, err := fleet.Load("../testdata/native/" + fixture + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		m, err := render.Render(c, render.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := pick(&m.Management, siteListObjects)
		if len(got) != want {
			t.Errorf("%s: %d objects, want %d", fixture, len(got), want)
		}
		// Removing a site from the configuration changes each of them.
		if want == 0 {
			continue
		}
		before := map[string]string{}
		for _, o := range got {
			before[o.GetKind()+"/"+o.GetName()] = string(mustMarshal(t, o))
		}
		c.Sites = c.Sites[:1]
		m2, err := render.Render(c, render.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range pick(&m2.Management, siteListObjects) {
			if before[o.GetKind()+"/"+o.GetName()] == string(mustMarshal(t, o)) {
				t.Errorf("%s %s does not change when a site goes", o.GetKind(), o.GetName())
			}
		}
	}
}

func mustMarshal(t *testing.T, o *unstructured.Unstructured) []byte {
	t.Helper()
	b, err := render.Marshal([]*unstructured.Unstructured{o})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
