package render

import (
	"encoding/json"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/health"
	"github.com/aisedge/aisedge/internal/hub"
)

// This file checks that every dashboard query and every rule expression
// the fleet ships names only metrics and log fields that exist: aisedge's
// metric families (the edge's and hub's MetricNames, the certificate
// collector, the Go and process collectors), the recording rules' own
// series, SeaweedFS's families (read from its source in the module
// cache), the Loki stream labels the rendered Vector configuration sets,
// and the event names and fields the code passes to events.Emit (read
// from the Go source of internal/edge and internal/hub). Loki's own query
// parser is AGPL-licensed and not used; LogQL is read with the patterns
// below, which cover the constructs the dashboards use.

// histograms are the emitted families that are histograms.
var aisedgeHistograms = []string{"aisedge_stage_duration_seconds", "aisedge_hub_delivery_duration_seconds"}

type metricCatalogue struct {
	names      map[string]bool // families and series names
	histograms map[string]bool
}

func (c *metricCatalogue) has(name string) bool {
	if c.names[name] {
		return true
	}
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, s); ok && c.histograms[base] {
			return true
		}
	}
	return false
}

func newMetricCatalogue(t *testing.T, recorded []string) *metricCatalogue {
	t.Helper()
	c := &metricCatalogue{names: map[string]bool{"up": true}, histograms: map[string]bool{}}
	for _, n := range slices.Concat(edge.MetricNames, hub.MetricNames, health.MetricNames, recorded) {
		c.names[n] = true
	}
	ch := make(chan *prometheus.Desc, 1)
	(&health.CertCollector{}).Describe(ch)
	if m := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch((<-ch).String()); m != nil {
		c.names[m[1]] = true
	} else {
		t.Fatal("cannot read the certificate metric's name")
	}
	for _, h := range aisedgeHistograms {
		if !c.names[h] {
			t.Fatalf("histogram %s is not emitted", h)
		}
		c.histograms[h] = true
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		c.names[f.GetName()] = true
	}
	for n, hist := range seaweedFSMetrics(t) {
		c.names[n] = true
		if hist {
			c.histograms[n] = true
		}
	}
	return c
}

// seaweedFSMetrics reads SeaweedFS's metric families from its source (the
// version scripts/seaweedfs.sh builds the test peer from): name → is a
// histogram.
func seaweedFSMetrics(t *testing.T) map[string]bool {
	t.Helper()
	script, err := os.ReadFile("../../../scripts/seaweedfs.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`WEED_VERSION="([^"]+)"`).FindSubmatch(script)
	if m == nil {
		t.Fatal("no WEED_VERSION in scripts/seaweedfs.sh")
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "github.com", "seaweedfs", "seaweedfs@"+string(m[1]), "weed", "stats", "metrics.go")
	f, err := goparser.ParseFile(token.NewFileSet(), src, nil, 0)
	if err != nil {
		t.Fatalf("SeaweedFS's metric source: %v (./scripts/seaweedfs.sh downloads it)", err)
	}
	consts := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, id := range vs.Names {
				if i < len(vs.Values) {
					if bl, ok := vs.Values[i].(*ast.BasicLit); ok && bl.Kind == token.STRING {
						consts[id.Name], _ = strconv.Unquote(bl.Value)
					}
				}
			}
		}
		return true
	})
	names := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasPrefix(sel.Sel.Name, "New") || len(call.Args) == 0 {
			return true
		}
		lit, ok := call.Args[0].(*ast.CompositeLit)
		if !ok {
			return true
		}
		parts := map[string]string{}
		for _, e := range lit.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			k := kv.Key.(*ast.Ident).Name
			switch v := kv.Value.(type) {
			case *ast.Ident:
				parts[k] = consts[v.Name]
			case *ast.BasicLit:
				parts[k], _ = strconv.Unquote(v.Value)
			}
		}
		if parts["Name"] != "" {
			name := strings.Join(slices.DeleteFunc([]string{parts["Namespace"], parts["Subsystem"], parts["Name"]}, func(s string) bool { return s == "" }), "_")
			names[name] = strings.Contains(sel.Sel.Name, "Histogram")
		}
		return true
	})
	if _, ok := names["SeaweedFS_volumeServer_total_disk_size"]; !ok || len(names) < 30 {
		t.Fatalf("read only %d SeaweedFS families from %s", len(names), src)
	}
	return names
}

// emitted is what the code writes into its event lines.
type emitted struct {
	fields map[string]bool // top-level JSON fields of event lines
	events map[string]bool // values of "event"
}

// eventCatalogue reads internal/events (the fixed fields) and every
// Emit call of internal/edge and internal/hub (event names and extras).
func eventCatalogue(t *testing.T) *emitted {
	t.Helper()
	e := &emitted{fields: map[string]bool{}, events: map[string]bool{}}
	str := func(x ast.Expr) (string, bool) {
		bl, ok := x.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(bl.Value)
		return s, err == nil
	}
	for _, dir := range []string{"../../events", "../../edge", "../../hub"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, p := range files {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			f, err := goparser.ParseFile(token.NewFileSet(), p, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch fn := call.Fun.(type) {
				case *ast.Ident: // events.go: field("name", …)
					if fn.Name == "field" && len(call.Args) > 0 {
						if s, ok := str(call.Args[0]); ok {
							e.fields[s] = true
						}
					}
				case *ast.SelectorExpr: // x.Emit(level, event, session, message, k, v, …)
					if x, ok := fn.X.(*ast.Ident); ok && x.Name == "slog" && fn.Sel.Name == "String" && len(call.Args) > 0 {
						// events.go: slog.String("component", …)
						if s, ok := str(call.Args[0]); ok {
							e.fields[s] = true
						}
						return true
					}
					if fn.Sel.Name != "Emit" || len(call.Args) < 4 {
						return true
					}
					if s, ok := str(call.Args[1]); ok {
						e.events[s] = true
					}
					for i := 4; i < len(call.Args); i += 2 {
						if s, ok := str(call.Args[i]); ok {
							e.fields[s] = true
						}
					}
				}
				return true
			})
		}
	}
	// The log schema's own keys (internal/logging: log/slog's JSON
	// handler).
	for _, k := range []string{slog.TimeKey, slog.LevelKey, slog.MessageKey} {
		e.fields[k] = true
	}
	for _, want := range []string{"time", "event", "session", "level", "component", "dicoms", "files"} {
		if !e.fields[want] {
			t.Fatalf("the event catalogue misses %q: %v", want, e.fields)
		}
	}
	if !e.events["upload_completed"] || !e.events["xnat_upload_completed"] {
		t.Fatalf("the event catalogue misses upload events: %v", e.events)
	}
	return e
}

// logCatalogue is what a LogQL query may name: the stream labels the
// rendered Vector configuration sets and the pod label values it copies.
type logCatalogue struct {
	streamLabels map[string]bool
	podLabels    map[string]map[string]bool // app, component → values rendered on pods
	clusters     map[string]bool
}

func newLogCatalogue(t *testing.T, m *Manifests) *logCatalogue {
	t.Helper()
	lc := &logCatalogue{streamLabels: map[string]bool{}, podLabels: map[string]map[string]bool{"app": {}, "component": {}}, clusters: map[string]bool{}}
	for _, cl := range m.All() {
		for _, o := range cl.Objects() {
			if l, ok, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels"); ok {
				for k := range lc.podLabels {
					if v := l[k]; v != "" {
						lc.podLabels[k][v] = true
					}
				}
			}
			if o.GetKind() != "ConfigMap" || o.GetName() != "vector-config" {
				continue
			}
			data, _, _ := unstructured.NestedStringMap(o.Object, "data")
			var cfg struct {
				Sinks map[string]struct {
					Labels map[string]string `json:"labels"`
				} `json:"sinks"`
			}
			if err := yaml.Unmarshal([]byte(data["vector.yaml"]), &cfg); err != nil {
				t.Fatal(err)
			}
			for k, v := range cfg.Sinks["loki"].Labels {
				lc.streamLabels[k] = true
				if k == "cluster" {
					lc.clusters[v] = true
				}
			}
		}
	}
	if len(lc.streamLabels) == 0 || !lc.clusters[ManagementCluster] {
		t.Fatalf("no Vector labels rendered: %v %v", lc.streamLabels, lc.clusters)
	}
	return lc
}

var (
	grafanaMacro  = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?`)
	streamRE      = regexp.MustCompile(`\{([^{}]*)\}`)
	matcherRE     = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	pipeFilterRE  = regexp.MustCompile(`\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=|>=|<=|>|<)`)
	unwrapRE      = regexp.MustCompile(`\|\s*unwrap\s+([A-Za-z_][A-Za-z0-9_]*)`)
	lineFormatRE  = regexp.MustCompile(`\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
	byRE          = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	eventValueRE  = regexp.MustCompile(`\|\s*event\s*(=~|=)\s*"([^"]*)"`)
	logQLStreamOK = regexp.MustCompile(`^\s*\{`)
)

// checkLogQL reports every label or field a LogQL query names that
// nothing produces.
func checkLogQL(t reporter, where, q string, lc *logCatalogue, ev *emitted) {
	t.Helper()
	if !strings.Contains(q, "{") {
		t.Errorf("%s: no stream selector: %s", where, q)
		return
	}
	sels := streamRE.FindAllStringSubmatch(lineFormatRE.ReplaceAllString(q, ""), -1)
	if len(sels) == 0 {
		t.Errorf("%s: no stream selector: %s", where, q)
	}
	for _, s := range sels {
		for _, mt := range matcherRE.FindAllStringSubmatch(s[1], -1) {
			name, op, val := mt[1], mt[2], mt[3]
			if !lc.streamLabels[name] {
				t.Errorf("%s: stream label %q is not one Vector sets: %s", where, name, q)
				continue
			}
			if vals, ok := lc.podLabels[name]; ok && op == "=" && !vals[val] {
				t.Errorf("%s: no rendered pod has %s=%q: %s", where, name, val, q)
			}
		}
	}
	known := func(n string) bool { return ev.fields[n] || lc.streamLabels[n] }
	rest := q
	if i := strings.Index(q, "}"); i >= 0 {
		rest = q[i+1:]
	}
	if strings.Contains(rest, "|") && !strings.Contains(rest, "| json") {
		t.Errorf("%s: a pipeline without | json cannot see the event fields: %s", where, q)
	}
	for _, mt := range pipeFilterRE.FindAllStringSubmatch(rest, -1) {
		if n := mt[1]; n != "json" && n != "unwrap" && n != "line_format" && !known(n) {
			t.Errorf("%s: %q is neither an event field nor a stream label: %s", where, n, q)
		}
	}
	for _, mt := range unwrapRE.FindAllStringSubmatch(q, -1) {
		if !ev.fields[mt[1]] {
			t.Errorf("%s: unwrap %q, which no event has: %s", where, mt[1], q)
		}
	}
	for _, mt := range lineFormatRE.FindAllStringSubmatch(q, -1) {
		if !known(mt[1]) {
			t.Errorf("%s: line_format names %q, which is neither an event field nor a stream label: %s", where, mt[1], q)
		}
	}
	for _, mt := range byRE.FindAllStringSubmatch(q, -1) {
		for _, n := range strings.Split(mt[1], ",") {
			if n = strings.TrimSpace(n); n != "" && !known(n) {
				t.Errorf("%s: grouping by %q, which is neither an event field nor a stream label: %s", where, n, q)
			}
		}
	}
	for _, mt := range eventValueRE.FindAllStringSubmatch(q, -1) {
		vals := []string{mt[2]}
		if mt[1] == "=~" {
			if mt[2] == ".+" {
				continue
			}
			vals = strings.Split(mt[2], "|")
		}
		for _, v := range vals {
			if !ev.events[v] {
				t.Errorf("%s: event %q is never emitted: %s", where, v, q)
			}
		}
	}
}

// checkPromQL reports every series a PromQL expression reads that nothing
// emits.
func checkPromQL(t reporter, where, expr string, mc *metricCatalogue) {
	t.Helper()
	e, err := parser.ParseExpr(grafanaMacro.ReplaceAllString(expr, "5m"))
	if err != nil {
		t.Errorf("%s: %v\n\t%s", where, err, expr)
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if !mc.has(name) {
			t.Errorf("%s: %q is not a metric the code, its recording rules or SeaweedFS emit\n\t%s", where, name, expr)
		}
		return nil
	})
}

type grafanaDashboard struct {
	Title  string         `json:"title"`
	UID    string         `json:"uid"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Title      string         `json:"title"`
	Type       string         `json:"type"`
	Datasource map[string]any `json:"datasource"`
	Targets    []struct {
		Datasource map[string]any `json:"datasource"`
		Expr       string         `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// TestMonitoringNames renders the observability fixture and checks every
// rule expression of the rendered Prometheus and every query of every
// provisioned dashboard.
func TestMonitoringNames(t *testing.T) {
	m, err := Render(load(t, "observability"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rulesCM := find(t, &m.Management, "ConfigMap", NSMonitoring, "prometheus-rules")
	rules, _, _ := unstructured.NestedStringMap(rulesCM.Object, "data")
	type ruleFile struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert  string `json:"alert"`
				Record string `json:"record"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	var recorded []string
	parsed := map[string]ruleFile{}
	for name, body := range rules {
		var rf ruleFile
		if err := yaml.UnmarshalStrict([]byte(body), &rf, yaml.DisallowUnknownFields); err != nil {
			// Annotations and labels are not modelled here; read leniently.
			if err := yaml.Unmarshal([]byte(body), &rf); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		parsed[name] = rf
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded = append(recorded, r.Record)
				}
			}
		}
	}
	for _, want := range []string{"aisedge-alerts.yml", "aisedge-recording.yml", "aisedge-sites.yml"} {
		if _, ok := parsed[want]; !ok {
			t.Errorf("the rendered rules lack %s", want)
		}
	}
	mc := newMetricCatalogue(t, recorded)
	var nRules int
	for name, rf := range parsed {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				nRules++
				checkPromQL(t, name+" "+r.Alert+r.Record, r.Expr, mc)
			}
		}
	}

	lc := newLogCatalogue(t, m)
	ev := eventCatalogue(t)
	dashCM := find(t, &m.Management, "ConfigMap", NSMonitoring, "grafana-dashboards")
	dashboards, _, _ := unstructured.NestedStringMap(dashCM.Object, "data")
	titles := map[string]bool{}
	var nProm, nLoki int
	for file, body := range dashboards {
		var d grafanaDashboard
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		titles[d.Title] = true
		var walk func(ps []grafanaPanel)
		walk = func(ps []grafanaPanel) {
			for _, p := range ps {
				walk(p.Panels)
				for _, tg := range p.Targets {
					ds := tg.Datasource
					if ds == nil {
						ds = p.Datasource
					}
					where := file + ": " + p.Title
					switch ds["type"] {
					case "prometheus":
						nProm++
						checkPromQL(t, where, tg.Expr, mc)
					case "loki":
						nLoki++
						if !logQLStreamOK.MatchString(tg.Expr) && !strings.Contains(tg.Expr, "(") {
							t.Errorf("%s: not a LogQL query: %s", where, tg.Expr)
						}
						checkLogQL(t, where, tg.Expr, lc, ev)
					default:
						t.Errorf("%s: datasource %v", where, ds)
					}
				}
			}
		}
		walk(d.Panels)
	}
	// The original's four dashboards, by name, beside aisedge's metrics one.
	for _, want := range []string{"Pipeline Overview", "Edge Site Drilldown", "Session Timeline", "SeaweedFS Health"} {
		if !titles[want] {
			t.Errorf("no dashboard %q (have %v)", want, titles)
		}
	}
	if nRules < 20 || nProm < 40 || nLoki < 15 {
		t.Errorf("checked only %d rules, %d PromQL and %d LogQL queries", nRules, nProm, nLoki)
	}
	t.Logf("checked %d rule expressions, %d PromQL and %d LogQL dashboard queries", nRules, nProm, nLoki)
}

// The checks catch what they are for: a metric nobody emits, a misspelt
// event field or event name, a stream label Vector does not set.
func TestMonitoringNamesCatch(t *testing.T) {
	m, err := Render(load(t, "observability"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mc := newMetricCatalogue(t, nil)
	lc := newLogCatalogue(t, m)
	ev := eventCatalogue(t)
	for _, c := range []struct{ promql, logql string }{
		{promql: `sum(rate(xnat_upload_completed_total[5m]))`},
		{promql: `SeaweedFS_volumeServer_no_such_thing`},
		{logql: `sum(count_over_time({app="xnat-ingest"} | json | event="upload_done" [5m]))`},
		{logql: `sum(sum_over_time({app="xnat-ingest"} | json | unwrap dicom [5m]))`},
		{logql: `{app="xnat-ingest", job="edge"}`},
		{logql: `{app="orthanc"}`},
		{logql: `{app="xnat-ingest"} | json | line_format "{{.patient}}"`},
		{logql: `sum by (project_id) (count_over_time({app="xnat-ingest"} | json [5m]))`},
	} {
		rec := &recorder{}
		if c.promql != "" {
			checkPromQL(rec, "probe", c.promql, mc)
		} else {
			checkLogQL(rec, "probe", c.logql, lc, ev)
		}
		if len(rec.errs) == 0 {
			t.Errorf("not caught: %s%s", c.promql, c.logql)
		}
	}
}

// reporter is the part of *testing.T the checks use.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// recorder collects a check's errors (for testing the checks).
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
