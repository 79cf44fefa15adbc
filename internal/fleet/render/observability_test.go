package render

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

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

// cmData returns a rendered ConfigMap's data.
func cmData(t *testing.T, cl *Cluster, ns, name string) map[string]string {
	t.Helper()
	d, _, _ := unstructured.NestedStringMap(find(t, cl, "ConfigMap", ns, name).Object, "data")
	return d
}

// containerOf returns the first container of a workload and its volumes.
func containerOf(t *testing.T, o *unstructured.Unstructured) (map[string]any, []any) {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	vs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
	return cs[0].(map[string]any), vs
}

// mountedSecret returns the Secret of the volume mounted deepest above
// path in c ("" when that volume is not a Secret).
func mountedSecret(c map[string]any, volumes []any, path string) string {
	mounts, _, _ := unstructured.NestedSlice(c, "volumeMounts")
	best, secret := "", ""
	for _, m := range mounts {
		mm := m.(map[string]any)
		mp := mm["mountPath"].(string)
		if !strings.HasPrefix(path, mp+"/") || len(mp) <= len(best) {
			continue
		}
		best, secret = mp, ""
		for _, v := range volumes {
			vv := v.(map[string]any)
			if vv["name"] == mm["name"] {
				secret, _, _ = unstructured.NestedString(vv, "secret", "secretName")
			}
		}
	}
	return secret
}

// Loki cannot be built or run here (its module is AGPL-licensed, which
// the project does not take in, and Debian has no Loki), so its rendered
// configuration is checked for what the fleet promises: chunks and index
// in the logs bucket on SeaweedFS over TLS (TestLokiTLS), the credentials
// from the Secret through the environment, retention by the compactor.
func TestLokiConfig(t *testing.T) {
	c := load(t, "observability")
	m, err := Render(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cmData(t, &m.Management, NSMonitoring, "loki-config")["loki.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		v, _, _ := unstructured.NestedFieldNoCopy(cfg, path...)
		return v
	}
	for path, want := range map[string]any{
		"common.storage.s3.bucketnames":       c.Observability.LogsBucket,
		"common.storage.s3.endpoint":          "seaweedfs.seaweedfs.svc.cluster.local:8443",
		"common.storage.s3.insecure":          false,
		"common.storage.s3.s3forcepathstyle":  true,
		"common.storage.s3.access_key_id":     "${S3_ACCESS_KEY}",
		"common.storage.s3.secret_access_key": "${S3_SECRET_KEY}",
		"compactor.retention_enabled":         true,
		"compactor.delete_request_store":      "s3",
		"limits_config.retention_period":      c.Observability.Retention,
		"auth_enabled":                        false,
		"server.http_listen_port":             float64(3100),
	} {
		if got := get(strings.Split(path, ".")...); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	schemas, _ := get("schema_config", "configs").([]any)
	if len(schemas) != 1 || schemas[0].(map[string]any)["object_store"] != "s3" || schemas[0].(map[string]any)["schema"] != "v13" || schemas[0].(map[string]any)["store"] != "tsdb" {
		t.Errorf("schema_config %v", schemas)
	}
	dep := find(t, &m.Management, "Deployment", NSMonitoring, "loki")
	ctr, _ := containerOf(t, dep)
	if !strings.Contains(fmt.Sprint(ctr["args"]), "-config.expand-env=true") {
		t.Errorf("Loki does not expand the credentials from its environment: %v", ctr["args"])
	}
	env := fmt.Sprint(ctr["env"])
	for _, want := range []string{"S3_ACCESS_KEY", "S3_SECRET_KEY", LokiS3Secret} {
		if !strings.Contains(env, want) {
			t.Errorf("Loki's environment lacks %s: %s", want, env)
		}
	}
	// The logs bucket is made like the ingest bucket.
	var jobs []string
	for _, o := range m.Management.Objects() {
		if o.GetKind() == "Job" {
			jobs = append(jobs, fmt.Sprint(o.Object["spec"]))
		}
	}
	if !strings.Contains(strings.Join(jobs, " "), "value:"+c.Observability.LogsBucket) && !strings.Contains(strings.Join(jobs, " "), c.Observability.LogsBucket) {
		t.Errorf("no Job creates %s", c.Observability.LogsBucket)
	}
}

// Vector cannot be built or run here either (Rust; not in Debian), so the
// rendered configuration is checked for the wiring the fleet promises: the
// node's pod logs into a Loki sink at the Loki hostname on the ingress
// port, with the site's basic credentials from its Secret and the site's
// CA bundle, labelled with the site as cluster; the management cluster's
// Vector pushes to Loki inside the cluster.
func TestVectorConfig(t *testing.T) {
	c := load(t, "observability")
	m, err := Render(c, Options{CABundle: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")})
	if err != nil {
		t.Fatal(err)
	}
	type vcfg struct {
		DataDir string `json:"data_dir"`
		Sources map[string]struct {
			Type string `json:"type"`
		} `json:"sources"`
		Sinks map[string]struct {
			Type     string            `json:"type"`
			Inputs   []string          `json:"inputs"`
			Endpoint string            `json:"endpoint"`
			Labels   map[string]string `json:"labels"`
			Auth     map[string]string `json:"auth"`
			TLS      map[string]any    `json:"tls"`
		} `json:"sinks"`
	}
	for _, cl := range m.All() {
		var v vcfg
		if err := yaml.UnmarshalStrict([]byte(cmData(t, cl, NSLogging, "vector-config")["vector.yaml"]), &v); err != nil {
			// Fields beyond the ones modelled are allowed.
			if err := yaml.Unmarshal([]byte(cmData(t, cl, NSLogging, "vector-config")["vector.yaml"]), &v); err != nil {
				t.Fatal(err)
			}
		}
		sink, ok := v.Sinks["loki"]
		if !ok || sink.Type != "loki" || len(sink.Inputs) != 1 || v.Sources[sink.Inputs[0]].Type != "kubernetes_logs" {
			t.Fatalf("%s: sink %+v, sources %+v", cl.Name, sink, v.Sources)
		}
		ds := find(t, cl, "DaemonSet", NSLogging, ShipperDaemonSet)
		ctr, vols := containerOf(t, ds)
		mounts := fmt.Sprint(ctr["volumeMounts"])
		if !strings.Contains(mounts, v.DataDir) || !strings.Contains(mounts, "/var/log") {
			t.Errorf("%s: Vector's data dir %s or /var/log not mounted: %s", cl.Name, v.DataDir, mounts)
		}
		if cl.Name == "management" {
			if sink.Endpoint != "http://loki.monitoring.svc.cluster.local:3100" || sink.Auth != nil || sink.Labels["cluster"] != ManagementCluster {
				t.Errorf("management sink %+v", sink)
			}
			continue
		}
		if sink.Endpoint != "https://"+c.Observability.LokiHostname || sink.Labels["cluster"] != cl.Name {
			t.Errorf("%s: endpoint %s, cluster label %q", cl.Name, sink.Endpoint, sink.Labels["cluster"])
		}
		if sink.Auth["strategy"] != "basic" || sink.Auth["user"] != cl.Name || sink.Auth["password"] != "${PUSH_PASSWORD}" {
			t.Errorf("%s: auth %v", cl.Name, sink.Auth)
		}
		env := fmt.Sprint(ctr["env"])
		if !strings.Contains(env, "PUSH_PASSWORD") || !strings.Contains(env, PushSecret) {
			t.Errorf("%s: PUSH_PASSWORD does not come from %s: %s", cl.Name, PushSecret, env)
		}
		ca, _ := sink.TLS["ca_file"].(string)
		if got := mountedSecret(ctr, vols, ca); got != CABundleSecret {
			t.Errorf("%s: the CA file %s is in Secret %q, want %s", cl.Name, ca, got, CABundleSecret)
		}
		for _, l := range []string{"node", "namespace", "pod", "container", "app", "component"} {
			if sink.Labels[l] == "" {
				t.Errorf("%s: no %s label", cl.Name, l)
			}
		}
		// The agent's credentials and CA come from the same Secrets.
		agent := find(t, cl, "Deployment", NSLogging, MetricsAgent)
		actr, avols := containerOf(t, agent)
		var acfg struct {
			RemoteWrite []struct {
				URL       string `json:"url"`
				BasicAuth struct {
					Username     string `json:"username"`
					PasswordFile string `json:"password_file"`
				} `json:"basic_auth"`
				TLSConfig struct {
					CAFile string `json:"ca_file"`
				} `json:"tls_config"`
			} `json:"remote_write"`
		}
		if err := yaml.Unmarshal([]byte(cmData(t, cl, NSLogging, "prometheus-agent-config")["prometheus.yml"]), &acfg); err != nil {
			t.Fatal(err)
		}
		rw := acfg.RemoteWrite[0]
		if rw.URL != "https://"+c.Observability.LokiHostname+PushPathMetrics || rw.BasicAuth.Username != cl.Name ||
			mountedSecret(actr, avols, rw.BasicAuth.PasswordFile) != PushSecret || mountedSecret(actr, avols, rw.TLSConfig.CAFile) != CABundleSecret {
			t.Errorf("%s: agent remote_write %+v", cl.Name, rw)
		}
	}
}

// Grafana's provisioning names the datasources every dashboard uses and
// the folder the dashboards are mounted in.
func TestGrafanaProvisioning(t *testing.T) {
	m, err := Render(load(t, "observability"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	prov := cmData(t, &m.Management, NSMonitoring, "grafana-provisioning")
	for _, want := range []string{PrometheusDatasourceUID, LokiDatasourceUID, lokiURL, prometheusURL} {
		if !strings.Contains(prov["datasources.yaml"], want) {
			t.Errorf("datasources.yaml lacks %s", want)
		}
	}
	var dp struct {
		Providers []struct {
			Folder  string `json:"folder"`
			Options struct {
				Path string `json:"path"`
			} `json:"options"`
		} `json:"providers"`
	}
	if err := yaml.Unmarshal([]byte(prov["dashboards.yaml"]), &dp); err != nil {
		t.Fatal(err)
	}
	ctr, _ := containerOf(t, find(t, &m.Management, "Deployment", NSMonitoring, "grafana"))
	if dp.Providers[0].Folder != "AIS Edge" || !strings.Contains(fmt.Sprint(ctr["volumeMounts"]), dp.Providers[0].Options.Path) {
		t.Errorf("dashboards provider %+v not mounted: %v", dp.Providers, ctr["volumeMounts"])
	}
	for name, body := range cmData(t, &m.Management, NSMonitoring, "grafana-dashboards") {
		for _, uid := range regexp.MustCompile(`"uid":\s*"([^"$]+)"`).FindAllStringSubmatch(body, -1) {
			if strings.HasPrefix(uid[1], "aisedge-") && uid[1] != PrometheusDatasourceUID && uid[1] != LokiDatasourceUID && !strings.HasPrefix(uid[1], "aisedge-metrics") {
				t.Errorf("%s names datasource %s, which is not provisioned", name, uid[1])
			}
		}
	}
}

// Loki reaches SeaweedFS as the hub does: over TLS on the Service's
// s3-https port, by a name the in-cluster certificate holds, the
// certificate checked against the private CA from a monitoring/ca-bundle
// Secret that holds the hub's bundle (written by render when the CA is
// known, else by apply, and kept by rotate-ca, which rolls Loki by
// CABundleHashAnn). Loki cannot run here (TestLokiConfig), so the node test
// does not deploy it.
func TestLokiTLS(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	for _, tc := range []struct {
		name   string
		bundle []byte
	}{{"CA known at render", []byte(ca)}, {"CA written by apply", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Render(load(t, "observability"), Options{CABundle: tc.bundle})
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]any
			if err := yaml.Unmarshal([]byte(cmData(t, &m.Management, NSMonitoring, "loki-config")["loki.yaml"]), &cfg); err != nil {
				t.Fatal(err)
			}
			s3, _, _ := unstructured.NestedMap(cfg, "common", "storage", "s3")
			if s3["insecure"] != false {
				t.Errorf("Loki's S3 is not TLS: insecure = %v", s3["insecure"])
			}
			caFile, _, _ := unstructured.NestedString(s3, "http_config", "ca_file")
			if skip, _, _ := unstructured.NestedBool(s3, "http_config", "insecure_skip_verify"); skip {
				t.Error("Loki skips verifying SeaweedFS's certificate")
			}
			// The endpoint is a name of the in-cluster certificate and the
			// Service's TLS port.
			host, port, _ := strings.Cut(fmt.Sprint(s3["endpoint"]), ":")
			cert := find(t, &m.Management, "Certificate", NSSeaweedFS, SeaweedFSInternalTLS)
			names, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			if !slices.Contains(names, host) {
				t.Errorf("endpoint host %s is not a name of %s: %v", host, SeaweedFSInternalTLS, names)
			}
			svcPorts, _, _ := unstructured.NestedSlice(find(t, &m.Management, "Service", NSSeaweedFS, "seaweedfs").Object, "spec", "ports")
			tlsPort := false
			for _, sp := range svcPorts {
				p := sp.(map[string]any)
				tlsPort = tlsPort || (fmt.Sprint(p["port"]) == port && p["targetPort"] == "s3-https")
			}
			if !tlsPort {
				t.Errorf("endpoint port %s is not the seaweedfs Service's s3-https port: %v", port, svcPorts)
			}
			// The CA file is the monitoring/ca-bundle Secret's ca.crt.
			dep := find(t, &m.Management, "Deployment", NSMonitoring, "loki")
			ctr, vols := containerOf(t, dep)
			if got := mountedSecret(ctr, vols, caFile); got != CABundleSecret || !strings.HasSuffix(caFile, "/ca.crt") {
				t.Errorf("ca_file %s is not ca.crt of Secret %s (mounted: %q)", caFile, CABundleSecret, got)
			}
			var lokiCA, hubCA *unstructured.Unstructured
			for _, o := range m.Management.Objects() {
				if o.GetKind() == "Secret" && o.GetName() == CABundleSecret {
					switch o.GetNamespace() {
					case NSMonitoring:
						lokiCA = o
					case NSUpload:
						hubCA = o
					}
				}
			}
			if tc.bundle == nil {
				if lokiCA != nil || hubCA != nil || !m.HubCABundleMissing {
					t.Errorf("a bundle rendered before the CA is known (missing flag %v)", m.HubCABundleMissing)
				}
				// apply writes this one, with the hub's.
				lokiCA, hubCA = LokiCABundle([]byte(ca)), HubCABundle([]byte(ca))
			}
			if lokiCA == nil || hubCA == nil {
				t.Fatalf("ca-bundle Secrets: monitoring %v, xnat-upload %v", lokiCA != nil, hubCA != nil)
			}
			ld, _, _ := unstructured.NestedStringMap(lokiCA.Object, "data")
			hd, _, _ := unstructured.NestedStringMap(hubCA.Object, "data")
			if ld["ca.crt"] == "" || ld["ca.crt"] != hd["ca.crt"] {
				t.Errorf("Loki's bundle %q is not the hub's %q", ld["ca.crt"], hd["ca.crt"])
			}
		})
	}
}
