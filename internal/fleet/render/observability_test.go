package render

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/fleet"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// find returns the object of kind and name in a cluster, or fails.
func find(t *testing.T, cl *Cluster, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range cl.Objects() {
		if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("%s: no %s %s/%s", cl.Name, kind, ns, name)
	return nil
}

// Without the section nothing of the stack is rendered.
func TestObservabilityOffRendersNothing(t *testing.T) {
	m, err := Render(load(t, "three-sites"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Paths() {
		if strings.Contains(p, "observability") {
			t.Errorf("%s rendered with observability disabled", p)
		}
	}
	for _, cl := range m.All() {
		for _, o := range cl.Objects() {
			if o.GetNamespace() == NSMonitoring || o.GetNamespace() == NSLogging || o.GetName() == NSLogging || o.GetName() == NSMonitoring {
				t.Errorf("%s: %s %s/%s rendered with observability disabled", cl.Name, o.GetKind(), o.GetNamespace(), o.GetName())
			}
		}
	}
}

// Every site pushes with its own credentials, which the ingress's
// htpasswd file accepts for that site only.
func TestSitePushCredentials(t *testing.T) {
	c := load(t, "observability")
	m, err := Render(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth := find(t, &m.Management, "Secret", NSMonitoring, PushAuthSecret)
	data, _, _ := unstructured.NestedStringMap(auth.Object, "data")
	file := decodeB64(t, data["auth"])
	seen := map[string]bool{}
	for _, s := range c.Sites {
		tok := SiteToken(c, s.Name)
		if seen[tok] || len(tok) < 32 {
			t.Errorf("%s: token %q reused or short", s.Name, tok)
		}
		seen[tok] = true
		if !CheckHtpasswd(file, s.Name, tok) {
			t.Errorf("%s: its token is refused", s.Name)
		}
		for _, other := range c.Sites {
			if other.Name != s.Name && CheckHtpasswd(file, other.Name, tok) {
				t.Errorf("%s's token is accepted for %s", s.Name, other.Name)
			}
		}
		site, _ := m.Site(s.Name)
		push := find(t, site, "Secret", NSLogging, PushSecret)
		pd, _, _ := unstructured.NestedStringMap(push.Object, "data")
		if decodeB64(t, pd["password"]) != tok || decodeB64(t, pd["username"]) != s.Name {
			t.Errorf("%s: push-credentials do not hold the site's token", s.Name)
		}
		// On-prem, the shipper and the agent resolve the Loki name to the
		// management node, like the edge does for SeaweedFS.
		for _, o := range []*unstructured.Unstructured{find(t, site, "DaemonSet", NSLogging, ShipperDaemonSet), find(t, site, "Deployment", NSLogging, MetricsAgent)} {
			aliases, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "hostAliases")
			if len(aliases) != 1 || !strings.Contains(fmt.Sprint(aliases), c.Observability.LokiHostname) {
				t.Errorf("%s %s: hostAliases %v", s.Name, o.GetKind(), aliases)
			}
		}
	}
	// A changed key changes every token.
	c.Observability.SiteTokenKey = fleetLiteral("another-key-of-at-least-32-characters")
	if SiteToken(c, c.Sites[0].Name) == SiteToken(load(t, "observability"), c.Sites[0].Name) {
		t.Error("the token does not depend on the key")
	}
}

func decodeB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fleetLiteral(v string) fleet.Secret { return fleet.Literal(v, "test") }
