package render

import (
	"bytes"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/fleet"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fixtures = "../testdata/"

func load(t *testing.T, name string) *fleet.Config {
	t.Helper()
	var c *fleet.Config
	var err error
	if name == "legacy" {
		c, err = fleet.LoadEnvDir(fixtures+"legacy/config", func(n string) (string, bool) {
			if n == "HOME" {
				return "/home/op", true
			}
			return "", false
		})
	} else {
		c, err = fleet.Load(fixtures + "native/" + name + ".yaml")
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var topologies = []string{"onprem", "cloud", "existing", "three-sites", "legacy", "observability"}

// TestGolden renders every topology into a folder and compares it, file
// by file, with testdata/<topology>/ (go test -update rewrites them).
func TestGolden(t *testing.T) {
	for _, name := range topologies {
		t.Run(name, func(t *testing.T) {
			m, err := Render(load(t, name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			if err := m.Write(out); err != nil {
				t.Fatal(err)
			}
			want := filepath.Join("testdata", name)
			if *update {
				os.RemoveAll(want)
				if err := m.Write(want); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got, exp := tree(t, out), tree(t, want); strings.Join(got, "\n") != strings.Join(exp, "\n") {
				t.Fatalf("files differ (go test -update rewrites them):\n got %v\nwant %v", got, exp)
			}
			for _, p := range tree(t, out) {
				g, _ := os.ReadFile(filepath.Join(out, p))
				w, _ := os.ReadFile(filepath.Join(want, p))
				if !bytes.Equal(g, w) {
					t.Errorf("%s/%s differs (go test -update rewrites it):\n%s", want, p, g)
				}
			}
		})
	}
}

func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestDeterministic(t *testing.T) {
	for _, name := range topologies {
		a, err := Render(load(t, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Render(load(t, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range a.All() {
			for j, f := range c.Files {
				x, _ := f.Bytes()
				y, _ := b.All()[i].Files[j].Bytes()
				if !bytes.Equal(x, y) {
					t.Errorf("%s: %s differs between two renders", name, f.Path)
				}
			}
		}
	}
}

// secretValues lists every credential of a config.
func secretValues(c *fleet.Config) []string {
	m := &c.Management
	out := []string{m.S3.AdminSecretKey.Value(), m.XNAT.Password.Value(), m.HMACKey.Value()}
	for _, s := range c.Sites {
		out = append(out, s.S3SecretKey.Value())
	}
	if o := &c.Observability; o.Enabled {
		out = append(out, o.GrafanaAdminPassword.Value(), o.Alerts.SMTPPassword.Value(), o.Alerts.SlackWebhookURL.Value())
		for _, s := range c.Sites {
			out = append(out, SiteToken(c, s.Name))
		}
	}
	return out
}

// Credentials appear in Secret objects only: not in other files, not in
// ConfigMaps, not in container arguments or plain env values.
func TestSecretsOnlyInSecrets(t *testing.T) {
	for _, name := range topologies {
		c := load(t, name)
		m, err := Render(c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range m.All() {
			for _, f := range cl.Files {
				b, _ := f.Bytes()
				for _, o := range f.Objects {
					if o.GetKind() == "Secret" != f.Secret {
						t.Errorf("%s: %s %s in a file marked secret=%v", f.Path, o.GetKind(), o.GetName(), f.Secret)
					}
				}
				if f.Secret {
					continue
				}
				for _, v := range secretValues(c) {
					for _, enc := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
						if strings.Contains(string(b), enc) {
							t.Errorf("%s: %s carries a secret", name, f.Path)
						}
					}
				}
			}
		}
	}
}

// Values with quotes, colons and '#' survive: the Secret decodes to the
// exact bytes.
func TestYAMLSafe(t *testing.T) {
	c := load(t, "onprem")
	m, err := Render(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var f *File
	for i := range m.Management.Files {
		if m.Management.Files[i].Path == "management/30-hub-secrets.yaml" {
			f = &m.Management.Files[i]
		}
	}
	b, _ := f.Bytes()
	docs := strings.Split(string(b), "\n---\n")
	var found bool
	for _, d := range docs {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		if u.GetName() != XNATSecret {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(u.Object, "data")
		pw, _ := base64.StdEncoding.DecodeString(data["password"])
		if string(pw) != c.Management.XNAT.Password.Value() {
			t.Errorf("password %q", pw)
		}
		found = true
	}
	if !found {
		t.Fatal("no xnat-credentials")
	}
}

// The rendered daemon configurations load with the daemons' own strict
// loader (files that exist only inside the pod aside).
func TestDaemonConfigsLoad(t *testing.T) {
	for _, name := range topologies {
		m, err := Render(load(t, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range m.All() {
			for _, o := range cl.Objects() {
				if o.GetKind() != "ConfigMap" || (o.GetName() != EdgeConfigMap && o.GetName() != HubConfigMap) {
					continue
				}
				data, _, _ := unstructured.NestedStringMap(o.Object, "data")
				for k, v := range data {
					_, err := config.Parse(k, []byte(v))
					if err == nil {
						continue
					}
					for _, p := range err.(*config.Error).Problems {
						if !strings.Contains(p.Msg, "cannot be read") {
							t.Errorf("%s %s/%s: %s", name, cl.Name, k, p)
						}
					}
				}
			}
		}
	}
}

// Changing an edge key changes s3.json and so SeaweedFS's config hash (the
// pod rolls) and that edge's Deployment hash, nothing else's.
func TestConfigHashRolls(t *testing.T) {
	hashes := func(c *fleet.Config) map[string]string {
		m, err := Render(c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, cl := range m.All() {
			for _, o := range cl.Objects() {
				if o.GetKind() == "Deployment" {
					ann, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "annotations")
					out[cl.Name+"/"+o.GetName()] = ann[S3ConfigHashAnn] + ann[ConfigHashAnn]
				}
			}
		}
		return out
	}
	c := load(t, "three-sites")
	before := hashes(c)
	c.Sites[1].S3SecretKey = fleet.Literal("a-new-secret-key", "test")
	after := hashes(c)
	for k := range before {
		changed := before[k] != after[k]
		want := k == "management/seaweedfs" || k == "edge-usyd/aisedge-edge"
		if changed != want {
			t.Errorf("%s: hash changed=%v, want %v", k, changed, want)
		}
	}
}

// Each site gets its own hostnames, ports and put-only policy.
func TestSitesDistinct(t *testing.T) {
	m, err := Render(load(t, "three-sites"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, o := range m.Management.Objects() {
		if o.GetKind() != "Cluster" {
			continue
		}
		for _, f := range [][]string{{"spec", "ingress", "apiHost"}, {"spec", "ingress", "konnectivityHost"}} {
			v, _, _ := unstructured.NestedString(o.Object, f...)
			if other, dup := seen[v]; dup {
				t.Errorf("%s and %s share %s", o.GetName(), other, v)
			}
			seen[v] = o.GetName()
		}
		for _, f := range [][]string{{"spec", "service", "apiPort"}, {"spec", "service", "konnectivityPort"}} {
			v, _, _ := unstructured.NestedInt64(o.Object, f...)
			k := string(rune(v))
			if other, dup := seen[k]; dup {
				t.Errorf("%s and %s share port %d", o.GetName(), other, v)
			}
			seen[k] = o.GetName()
		}
		if p, _, _ := unstructured.NestedString(o.Object, "spec", "persistence", "type"); p != "pvc" {
			t.Errorf("%s: persistence %q, want pvc", o.GetName(), p)
		}
	}
	if len(seen) != 12 {
		t.Errorf("%d distinct values, want 12", len(seen))
	}
}

func TestWriteRefusesForeignFolder(t *testing.T) {
	m, err := Render(load(t, "onprem"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("x"), 0o644)
	if err := m.Write(dir); err == nil {
		t.Fatal("wrote into a folder render did not make")
	}
	dir = t.TempDir()
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "sites", "gone", "00-namespace.yaml")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte("x"), 0o644)
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("a removed site's files survived a new render")
	}
	st, err := os.Stat(filepath.Join(dir, "management", "30-hub-secrets.yaml"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode %v %v", st.Mode(), err)
	}
}

// The fleet's timings reach the daemons: each site's quiet period its
// edge's study.quietPeriod, management.hub.interval the hub's interval,
// as the daemons' own loader reads them.
func TestTimingsRendered(t *testing.T) {
	for _, tc := range []struct {
		name     string
		quiet    []string // per site of three-sites; "" leaves the default
		interval string
		want     []time.Duration
		wantHub  time.Duration
	}{
		{"defaults", []string{"", "", ""}, "", []time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second}, time.Minute},
		{"short", []string{"2s", "1s", ""}, "1s", []time.Duration{2 * time.Second, time.Second, 30 * time.Second}, time.Second},
		{"long", []string{"2h", "90s", "45m"}, "10m", []time.Duration{2 * time.Hour, 90 * time.Second, 45 * time.Minute}, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := os.ReadFile(fixtures + "native/three-sites.yaml")
			if err != nil {
				t.Fatal(err)
			}
			y := strings.Replace(string(src), "  hub: {interval: 30s}\n", "", 1)
			y = strings.Replace(y, "    quietPeriod: 2m\n", "", 1)
			if tc.interval != "" {
				y = strings.Replace(y, "sites:\n", "  hub: {interval: "+tc.interval+"}\nsites:\n", 1)
			}
			for i, q := range tc.quiet {
				if q != "" {
					y = strings.Replace(y, "    apiPort: "+strconv.Itoa(30443+i)+"\n", "    apiPort: "+strconv.Itoa(30443+i)+"\n    quietPeriod: "+q+"\n", 1)
				}
			}
			c, err := fleet.Parse(fixtures+"native/timings.yaml", []byte(y))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Render(c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range c.Sites {
				cl, ok := m.Site(s.Name)
				if !ok {
					t.Fatalf("no cluster for %s", s.Name)
				}
				f := daemonConfig(t, cl.Objects(), EdgeConfigMap, "edge.yaml")
				if got := time.Duration(f.Edge.Study.QuietPeriod); got != tc.want[i] {
					t.Errorf("%s: edge quiet period %v, want %v", s.Name, got, tc.want[i])
				}
			}
			f := daemonConfig(t, m.Management.Objects(), HubConfigMap, "hub.yaml")
			if got := time.Duration(f.Hub.Interval); got != tc.wantHub {
				t.Errorf("hub interval %v, want %v", got, tc.wantHub)
			}
		})
	}
}

// daemonConfig loads the daemon configuration key of the named ConfigMap
// with the daemons' loader (defaults applied; files that exist only in
// the pod aside).
func daemonConfig(t *testing.T, objs []*unstructured.Unstructured, name, key string) *config.File {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" || o.GetName() != name {
			continue
		}
		v, _, _ := unstructured.NestedString(o.Object, "data", key)
		f, err := config.Parse(key, []byte(v))
		if err != nil {
			for _, p := range err.(*config.Error).Problems {
				if !strings.Contains(p.Msg, "cannot be read") {
					t.Fatalf("%s: %s", key, p)
				}
			}
		}
		return f
	}
	t.Fatalf("no ConfigMap %s", name)
	return nil
}
