package monitoringtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/testpeer/ports"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

func TestMain(m *testing.M) { os.Exit(seaweed.Main(m)) }

// tool returns the path of a Debian tool or skips (scripts/test installs
// the packages prometheus and prometheus-alertmanager).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian packages prometheus and prometheus-alertmanager; ./scripts/test installs them)", name)
	}
	return p
}

func renderFixture(t *testing.T) (*fleet.Config, *render.Manifests) {
	t.Helper()
	c, err := fleet.Load("../testdata/native/observability.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := render.Render(c, render.Options{CABundle: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")})
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

// data returns a rendered ConfigMap's or Secret's data (Secrets decoded).
func data(t *testing.T, cl *render.Cluster, kind, ns, name string) map[string]string {
	t.Helper()
	for _, o := range cl.Objects() {
		if o.GetKind() != kind || o.GetNamespace() != ns || o.GetName() != name {
			continue
		}
		d, _, _ := unstructured.NestedStringMap(o.Object, "data")
		if kind == "Secret" {
			for k, v := range d {
				b, err := decodeB64(v)
				if err != nil {
					t.Fatal(err)
				}
				d[k] = b
			}
		}
		return d
	}
	t.Fatalf("%s: no %s %s/%s", cl.Name, kind, ns, name)
	return nil
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs a tool to completion and fails the test on a non-zero exit.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// proc is a started peer process, killed when the test ends.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return fmt.Sprintf("--- %s log:\n%s", p.name, b)
}

// waitFor polls cond until it holds; it fails when a process dies or the
// test's own deadline (go test -timeout) is near. No deadline of its own:
// how long peers take depends on the machine.
func waitFor(t *testing.T, what string, procs []*proc, cond func() (bool, string)) {
	t.Helper()
	ctx := t.Context()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		defer cancel()
	}
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		for _, p := range procs {
			if !p.alive() {
				t.Fatalf("%s exited while waiting for %s (%s)\n%s", p.name, what, last, p.tail())
			}
		}
		select {
		case <-ctx.Done():
			var logs []string
			for _, p := range procs {
				logs = append(logs, p.tail())
			}
			t.Fatalf("gave up waiting for %s: %s\n%s", what, last, strings.Join(logs, "\n"))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func buildAisedge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aisedge")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/aisedge")
	cmd.Dir = sampledata.ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// promQuery runs an instant query and returns its vector.
func promQuery(base, q string) ([]struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	return r.Data.Result, nil
}

// TestPrometheusWithRenderedConfig is the acceptance test of the metrics
// path: Debian's Prometheus runs the rendered management configuration
// (scraping a running `aisedge hub` as job aisedge, evaluating the rendered
// rules) and, as a site's metrics agent, the rendered agent configuration
// (scraping a running `aisedge run` and remote-writing through a stand-in
// for the ingress that checks the rendered htpasswd and serves TLS). Only
// addresses and file paths are changed, and the scrape and evaluation
// intervals shortened; job names, relabelling, external labels, credentials
// and rules are the rendered ones.
func TestPrometheusWithRenderedConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Prometheus, the hub and aisedge run")
	}
	prom := tool(t, "prometheus")
	c, m := renderFixture(t)
	site := c.Sites[1] // edge-usyd pushes; edge-uqcai stays silent
	siteCl, _ := m.Site(site.Name)
	dir := t.TempDir()
	lease, err := ports.Reserve(5)
	if err != nil {
		t.Fatal(err)
	}
	// Held until the end: the lease is a lock other test processes
	// respect, not a bind, so the peers below can take the ports.
	t.Cleanup(lease.Release)
	p := lease.Ports()
	runDICOM, runHTTP, hubHTTP, mgmtPort, agentPort := p[0], p[1], p[2], p[3], p[4]
	bin := buildAisedge(t)

	// The hub, against SeaweedFS and the XNAT emulator.
	s3 := seaweed.Start(t)
	x := xnattest.NewTLS(xnattest.Options{})
	t.Cleanup(x.Close)
	x.AddUser("hub", "hub-pass")
	x.AddProject("AISEDGE", map[string]xnattest.Role{"hub": xnattest.Owner})
	xca := writeFile(t, dir, "xnat-ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.HTTP.Certificate().Raw})), 0o644)
	hubYAML := fmt.Sprintf(`hub:
  dataDir: %s
  s3: {endpoint: %q, bucket: %q, caFile: %q, accessKeyFile: %q, secretKeyFile: %q}
  xnat: {url: %q, caFile: %q, usernameFile: %q, passwordFile: %q}
  http: 127.0.0.1:%d
`, filepath.Join(dir, "hub"), s3.Endpoint, s3.Bucket, s3.CAFile,
		writeFile(t, dir, "s3-ak", s3.Admin.AccessKey, 0o600), writeFile(t, dir, "s3-sk", s3.Admin.SecretKey, 0o600),
		x.URL, xca, writeFile(t, dir, "xu", "hub", 0o600), writeFile(t, dir, "xp", "hub-pass", 0o600), hubHTTP)
	hub := start(t, "aisedge-hub", bin, nil, "hub", "--config", writeFile(t, dir, "hub.yaml", hubYAML, 0o600))
	// The edge: aisedge run (standalone) stands in for a site's edge pod.
	edge := start(t, "aisedge-run", bin, nil, "run", "--data-dir", filepath.Join(dir, "run"), "--listen", fmt.Sprintf("127.0.0.1:%d", runDICOM),
		"--http", fmt.Sprintf("127.0.0.1:%d", runHTTP), "--min-free-bytes", "-1", "--edge-name", site.Name)

	// The management Prometheus with the rendered configuration and rules.
	mgmtURL := fmt.Sprintf("http://127.0.0.1:%d", mgmtPort)
	rules := data(t, &m.Management, "ConfigMap", render.NSMonitoring, "prometheus-rules")
	ruleDir := filepath.Join(dir, "rules")
	for name, body := range rules {
		writeFile(t, ruleDir, name, body, 0o644)
	}
	var mgmtCfg map[string]any
	if err := yaml.Unmarshal([]byte(data(t, &m.Management, "ConfigMap", render.NSMonitoring, "prometheus-config")["prometheus.yml"]), &mgmtCfg); err != nil {
		t.Fatal(err)
	}
	mgmtCfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	mgmtCfg["rule_files"] = []any{filepath.Join(ruleDir, "*.yml")}
	delete(mgmtCfg, "alerting") // amtool checks Alertmanager's configuration below
	var jobs []any
	for _, j := range mgmtCfg["scrape_configs"].([]any) {
		job := j.(map[string]any)
		sc := job["static_configs"].([]any)[0].(map[string]any)
		switch job["job_name"] {
		case "aisedge":
			if sc["targets"].([]any)[0] != "aisedge-hub-metrics.xnat-upload.svc.cluster.local:8081" {
				t.Fatalf("hub target %v", sc["targets"])
			}
			sc["targets"] = []any{fmt.Sprintf("127.0.0.1:%d", hubHTTP)}
		case "prometheus":
			sc["targets"] = []any{fmt.Sprintf("127.0.0.1:%d", mgmtPort)}
		default:
			continue // SeaweedFS's, the ingress's and the stack's Services do not exist here
		}
		jobs = append(jobs, job)
	}
	mgmtCfg["scrape_configs"] = jobs
	mgmtFile := writeFile(t, dir, "prometheus.yml", string(mustYAML(t, mgmtCfg)), 0o644)
	promtool := tool(t, "promtool")
	t.Log(run(t, promtool, "check", "config", mgmtFile))
	mgmt := start(t, "prometheus", prom, nil, "--config.file="+mgmtFile, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+fmt.Sprintf("127.0.0.1:%d", mgmtPort), "--web.enable-remote-write-receiver")

	// The ingress: TLS, the rendered htpasswd, the ingest route's path.
	htpasswd := data(t, &m.Management, "Secret", render.NSMonitoring, render.PushAuthSecret)["auth"]
	target, _ := url.Parse(mgmtURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	pushes := map[string]int{}
	ingress := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, pw, ok := r.BasicAuth()
		if !ok || !render.CheckHtpasswd(htpasswd, u, pw) {
			http.Error(w, "401 Authorization Required", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != render.PushPathMetrics {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		pushes[u]++
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ingress.Close)
	ingressCA := writeFile(t, dir, "ingress-ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ingress.Certificate().Raw})), 0o644)

	// The site's agent with the rendered agent configuration.
	push := data(t, siteCl, "Secret", render.NSLogging, render.PushSecret)
	var agentCfg map[string]any
	if err := yaml.Unmarshal([]byte(data(t, siteCl, "ConfigMap", render.NSLogging, "prometheus-agent-config")["prometheus.yml"]), &agentCfg); err != nil {
		t.Fatal(err)
	}
	agentCfg["global"].(map[string]any)["scrape_interval"] = "1s"
	sc := agentCfg["scrape_configs"].([]any)[0].(map[string]any)["static_configs"].([]any)[0].(map[string]any)
	sc["targets"] = []any{fmt.Sprintf("127.0.0.1:%d", runHTTP)}
	rw := agentCfg["remote_write"].([]any)[0].(map[string]any)
	if want := "https://" + c.Observability.LokiHostname + render.PushPathMetrics; rw["url"] != want {
		t.Fatalf("remote_write url %v, want %s", rw["url"], want)
	}
	rw["url"] = ingress.URL + render.PushPathMetrics
	rw["basic_auth"].(map[string]any)["password_file"] = writeFile(t, dir, "push-password", push["password"], 0o600)
	rw["tls_config"].(map[string]any)["ca_file"] = ingressCA
	agentFile := writeFile(t, dir, "agent.yml", string(mustYAML(t, agentCfg)), 0o644)
	t.Log(run(t, promtool, "check", "config", agentFile))
	agent := start(t, "prometheus-agent", prom, nil, "--enable-feature=agent", "--config.file="+agentFile,
		"--storage.agent.path="+filepath.Join(dir, "agent"), "--web.listen-address="+fmt.Sprintf("127.0.0.1:%d", agentPort))

	procs := []*proc{hub, edge, mgmt, agent}
	// Both aisedge processes are up in the management Prometheus: the hub
	// scraped, the edge pushed under its site's name.
	waitFor(t, "up{job=aisedge} from the hub and the site", procs, func() (bool, string) {
		res, err := promQuery(mgmtURL, `up{job="aisedge"} == 1`)
		if err != nil {
			return false, err.Error()
		}
		got := map[string]string{}
		for _, r := range res {
			got[r.Metric["instance"]] = r.Metric["cluster"]
		}
		return got["hub"] == render.ManagementCluster && got[site.Name] == site.Name, fmt.Sprintf("up: %v", got)
	})
	for q, want := range map[string]string{
		`aisedge_hub_pending{job="aisedge", instance="hub", cluster="management"}`:                           "hub metric",
		fmt.Sprintf(`aisedge_instances_received_total{job="aisedge", cluster=%q, status="0000"}`, site.Name): "edge metric",
		fmt.Sprintf(`aisedge_disk_free_bytes{cluster=%q, instance=%q, role="edge"}`, site.Name, site.Name):   "edge gauge",
		fmt.Sprintf(`process_start_time_seconds{job="aisedge", cluster=%q}`, site.Name):                      "process metric",
		`aisedge_upload_failures_total{kind="permanent", cluster="` + site.Name + `"}`:                       "pre-created label",
		fmt.Sprintf(`count(up{job="aisedge", cluster=%q}) == 1`, site.Name):                                  "one edge series",
		`aisedge_hub_sessions_delivered_total{job="aisedge", cluster="management"}`:                          "hub counter",
		fmt.Sprintf(`count(aisedge_sessions_shipped_total{cluster=%q} >= 0)`, site.Name):                     "shipped counter",
		`count(aisedge_hub_delivery_duration_seconds_bucket{instance="hub"})`:                                "hub histogram",
	} {
		waitFor(t, want, procs, func() (bool, string) {
			res, err := promQuery(mgmtURL, q)
			if err != nil {
				return false, err.Error()
			}
			return len(res) > 0, fmt.Sprintf("%s: %d series", q, len(res))
		})
	}

	// Every rendered rule is loaded and evaluates without error.
	waitFor(t, "every rule evaluated", procs, func() (bool, string) {
		resp, err := http.Get(mgmtURL + "/api/v1/rules")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				Groups []struct {
					Name  string `json:"name"`
					File  string `json:"file"`
					Rules []struct {
						Name           string `json:"name"`
						Health         string `json:"health"`
						LastError      string `json:"lastError"`
						LastEvaluation string `json:"lastEvaluation"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return false, err.Error()
		}
		files := map[string]bool{}
		n := 0
		for _, g := range r.Data.Groups {
			files[filepath.Base(g.File)] = true
			for _, rl := range g.Rules {
				n++
				if rl.Health == "err" {
					t.Fatalf("rule %s of %s: %s", rl.Name, g.Name, rl.LastError)
				}
				if rl.Health != "ok" || strings.HasPrefix(rl.LastEvaluation, "0001") {
					return false, fmt.Sprintf("%s not evaluated yet", rl.Name)
				}
			}
		}
		return len(files) == len(rules) && n > 20, fmt.Sprintf("%d rules in %v", n, files)
	})
	// The silent site is seen, the pushing one is not.
	waitFor(t, "SiteSilent pending for the silent site only", procs, func() (bool, string) {
		res, err := promQuery(mgmtURL, `ALERTS{alertname="SiteSilent"}`)
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, r := range res {
			got = append(got, r.Metric["cluster"])
		}
		sort.Strings(got)
		return strings.Join(got, ",") == c.Sites[0].Name, fmt.Sprintf("SiteSilent for %v", got)
	})

	// The ingress stand-in refuses a wrong password and another site's
	// name with this site's token: per-site credentials.
	mu.Lock()
	if pushes[site.Name] == 0 {
		t.Error("no push went through the ingress")
	}
	mu.Unlock()
	cl := ingress.Client()
	for _, cred := range [][2]string{{site.Name, "wrong"}, {c.Sites[0].Name, push["password"]}} {
		req, _ := http.NewRequest("POST", ingress.URL+render.PushPathMetrics, strings.NewReader(""))
		req.SetBasicAuth(cred[0], cred[1])
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("push as %s with a wrong password: %d, want 401", cred[0], resp.StatusCode)
		}
	}
}

func mustYAML(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeB64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}
