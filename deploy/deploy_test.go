package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/health"
	"github.com/aisedge/aisedge/internal/hub"
)

const (
	dashboardFile = "monitoring/aisedge-dashboard.json"
	rulesFile     = "monitoring/aisedge-alerts.yml"
	readmeFile    = "monitoring/README.md"
)

// histograms are the emitted families that are histograms: their series
// are <name>_bucket, _sum and _count.
var histograms = []string{"aisedge_stage_duration_seconds", "aisedge_hub_delivery_duration_seconds"}

// catalogue is what a PromQL expression may reference.
type catalogue struct {
	aisedge  map[string]bool // families the code emits
	standard map[string]bool // up and the Go and process collectors' families
}

func newCatalogue(t *testing.T) *catalogue {
	t.Helper()
	c := &catalogue{aisedge: map[string]bool{}, standard: map[string]bool{"up": true}}
	for _, n := range slices.Concat(edge.MetricNames, hub.MetricNames, health.MetricNames, []string{certMetric(t)}) {
		c.aisedge[n] = true
	}
	for _, h := range histograms {
		if !c.aisedge[h] {
			t.Fatalf("histogram %s is not in edge.MetricNames or hub.MetricNames", h)
		}
	}
	// The commands register these two collectors next to their own.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		c.standard[f.GetName()] = true
	}
	if !c.standard["process_start_time_seconds"] || !c.standard["go_goroutines"] {
		t.Fatalf("standard collectors gathered only %v", c.standard)
	}
	return c
}

// certMetric reads the certificate metric's name from health's collector.
func certMetric(t *testing.T) string {
	ch := make(chan *prometheus.Desc, 1)
	(&health.CertCollector{}).Describe(ch)
	m := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch((<-ch).String())
	if m == nil {
		t.Fatal("cannot read the certificate metric's name")
	}
	return m[1]
}

// family maps a series name to its emitted family: itself, or a
// histogram's for _bucket, _sum and _count. ok is false for a name the
// code does not emit.
func (c *catalogue) family(name string) (fam string, suffix string, ok bool) {
	if c.aisedge[name] || c.standard[name] {
		return name, "", true
	}
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if base, found := strings.CutSuffix(name, s); found && slices.Contains(histograms, base) {
			return base, s, true
		}
	}
	return "", "", false
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

// grafanaMacros are Grafana's interval variables, which are not PromQL.
var grafanaMacros = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?`)

// check parses one expression and returns the emitted families it
// references; problems are reported as errors on t.
func (c *catalogue) check(t reporter, where, expr string) (used []string) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expression", where)
		return nil
	}
	e, err := parser.ParseExpr(grafanaMacros.ReplaceAllString(expr, "5m"))
	if err != nil {
		t.Errorf("%s: %v\n\t%s", where, err, expr)
		return nil
	}
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := n.Name
			if name == "" {
				for _, m := range n.LabelMatchers {
					if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
						name = m.Value
					}
				}
			}
			if name == "" {
				t.Errorf("%s: selector %s names no metric (a regex on __name__ cannot be checked)", where, n)
				return nil
			}
			fam, _, ok := c.family(name)
			if !ok {
				t.Errorf("%s: %s is not a metric the code emits\n\t%s", where, name, expr)
				return nil
			}
			used = append(used, fam)
		case *parser.Call:
			c.checkCall(t, where, n)
		}
		return nil
	})
	return used
}

// counterFuncs need counters (or a histogram's series); gaugeFuncs need
// gauges.
var (
	counterFuncs = []string{"rate", "irate", "increase", "resets"}
	gaugeFuncs   = []string{"deriv", "predict_linear", "delta", "idelta"}
)

func (c *catalogue) checkCall(t reporter, where string, call *parser.Call) {
	t.Helper()
	fn := call.Func.Name
	if slices.Contains(counterFuncs, fn) || slices.Contains(gaugeFuncs, fn) {
		ms, ok := call.Args[0].(*parser.MatrixSelector)
		if !ok {
			return // a subquery; its selectors are checked on their own
		}
		vs, ok := ms.VectorSelector.(*parser.VectorSelector)
		if !ok || vs.Name == "" {
			return
		}
		_, suffix, ok := c.family(vs.Name)
		if !ok {
			return // reported by the selector check
		}
		counter := strings.HasSuffix(vs.Name, "_total") || suffix != ""
		if slices.Contains(counterFuncs, fn) && !counter {
			t.Errorf("%s: %s() of %s, which is not a counter", where, fn, vs.Name)
		}
		if slices.Contains(gaugeFuncs, fn) && counter {
			t.Errorf("%s: %s() of %s, which is a counter", where, fn, vs.Name)
		}
	}
	if fn == "histogram_quantile" {
		buckets := false
		parser.Inspect(call.Args[1], func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.VectorSelector:
				if _, suffix, ok := c.family(n.Name); ok && suffix == "_bucket" {
					buckets = true
				}
			case *parser.AggregateExpr:
				if !n.Without && !slices.Contains(n.Grouping, "le") {
					t.Errorf("%s: histogram_quantile over %s, which drops the le label", where, n)
				}
			}
			return nil
		})
		if !buckets {
			t.Errorf("%s: histogram_quantile of %s, which has no _bucket series", where, call.Args[1])
		}
	}
}

// --- alert rules -------------------------------------------------------

type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval"`
	Limit    int    `yaml:"limit"`
	Rules    []rule `yaml:"rules"`
}

type rule struct {
	Alert         string            `yaml:"alert"`
	Record        string            `yaml:"record"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// loadRules decodes the rule file strictly: an unknown or misspelt key is
// an error, as it is for Prometheus.
func loadRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rf
}

// templateFuncs stands in for the functions Prometheus offers alert
// templates, so that the templates can be parsed and run.
var templateFuncs = func() template.FuncMap {
	fm := template.FuncMap{}
	stub := func(args ...any) string { return fmt.Sprint(args...) }
	for _, n := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp",
		"title", "toUpper", "toLower", "match", "reReplaceAll", "label", "value", "strvalue", "safeHtml", "externalURL",
		"pathPrefix", "stripPort", "stripDomain", "graphLink", "tableLink", "parseDuration", "toTime", "args", "first", "query", "sortByLabel"} {
		fm[n] = stub
	}
	return fm
}()

// checkTemplate parses and runs an annotation or label template as
// Prometheus does (with $labels, $externalLabels and $value defined).
func checkTemplate(t *testing.T, where, text string) {
	t.Helper()
	const defs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}"
	tmpl, err := template.New(where).Funcs(templateFuncs).Option("missingkey=zero").Parse(defs + text)
	if err != nil {
		t.Errorf("%s: template: %v", where, err)
		return
	}
	data := map[string]any{
		"Labels":         map[string]string{"instance": "edge-a:8080", "job": "aisedge", "file": "/etc/aisedge/ca.pem"},
		"ExternalLabels": map[string]string{"cluster": "site-1"},
		"Value":          1.5,
	}
	if err := tmpl.Execute(new(bytes.Buffer), data); err != nil {
		t.Errorf("%s: template: %v", where, err)
	}
}

var (
	alertName  = regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)
	severities = []string{"critical", "warning", "info"}
	// The alerts the brief and docs/compat.md ("Observability") ask for
	// (repairs of the
	// original's dead and false-positive rules).
	requiredAlerts = []string{"EdgeDown", "HubDeliveryFailing", "HubDeadLetters", "HubBacklogStalled", "ShipmentsHeld",
		"UploadRetryStorm", "OldestQueuedTooOld", "DiskAlmostFull", "CertificateExpiringSoon", "QuarantineGrowing"}
)

func TestAlertRules(t *testing.T) {
	cat := newCatalogue(t)
	rf := loadRules(t)
	if len(rf.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	groups, alerts := map[string]bool{}, map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q empty or repeated", g.Name)
		}
		groups[g.Name] = true
		if g.Interval != "" {
			if _, err := model.ParseDuration(g.Interval); err != nil {
				t.Errorf("group %s: interval: %v", g.Name, err)
			}
		}
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for i, r := range g.Rules {
			where := fmt.Sprintf("%s: group %s rule %d (%s)", rulesFile, g.Name, i, r.Alert)
			if r.Record != "" || r.Alert == "" {
				t.Errorf("%s: want an alerting rule (alert set, record unset)", where)
				continue
			}
			if !alertName.MatchString(r.Alert) || alerts[r.Alert] {
				t.Errorf("%s: alert name not CamelCase or repeated", where)
			}
			alerts[r.Alert] = true
			for _, d := range []string{r.For, r.KeepFiringFor} {
				if d == "" {
					continue
				}
				if _, err := model.ParseDuration(d); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
			if len(cat.check(t, where, r.Expr)) == 0 {
				t.Errorf("%s: references no metric", where)
			}
			if e, err := parser.ParseExpr(r.Expr); err == nil && e.Type() != parser.ValueTypeVector {
				t.Errorf("%s: an alert's expression must be an instant vector, not %s", where, e.Type())
			}
			if !slices.Contains(severities, r.Labels["severity"]) {
				t.Errorf("%s: severity %q, want one of %v", where, r.Labels["severity"], severities)
			}
			for k, v := range r.Labels {
				if !model.LabelName(k).IsValid() {
					t.Errorf("%s: label name %q", where, k)
				}
				checkTemplate(t, where+" label "+k, v)
			}
			for _, k := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[k]) == "" {
					t.Errorf("%s: annotation %s missing", where, k)
				}
			}
			for k, v := range r.Annotations {
				checkTemplate(t, where+" annotation "+k, v)
			}
		}
	}
	for _, a := range requiredAlerts {
		if !alerts[a] {
			t.Errorf("alert %s missing", a)
		}
	}
	// The README says what each alert replaces.
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	for a := range alerts {
		if !bytes.Contains(readme, []byte(a)) {
			t.Errorf("%s does not mention the alert %s", readmeFile, a)
		}
	}
}

// --- dashboard ---------------------------------------------------------

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// instanceFilter matches the dashboard's instance variable.
var instanceFilter = regexp.MustCompile(`instance=~"\$instance"`)

func TestDashboard(t *testing.T) {
	cat := newCatalogue(t)
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
		t.Fatalf("%s: uid %q, title %q, schemaVersion %d, %d panels", dashboardFile, d.UID, d.Title, d.SchemaVersion, len(d.Panels))
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil {
			json.Unmarshal(v.Query, &q.Query) // older dashboards: a plain string
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		cat.check(t, "variable "+v.Name, m[1])
	}
	if !vars["datasource"] || !vars["instance"] {
		t.Errorf("want the variables datasource and instance, have %v", vars)
	}

	ids := map[int]bool{}
	used := map[string]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("%s: panel %d %q", dashboardFile, p.ID, p.Title)
			if p.ID == 0 || ids[p.ID] {
				t.Errorf("%s: id missing or repeated", where)
			}
			ids[p.ID] = true
			if g := p.GridPos; g == nil || g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Title == "" || len(p.Targets) == 0 {
				t.Errorf("%s: no title or no targets", where)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource must be the ${datasource} variable", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: refId %q empty or repeated", where, tg.RefID)
				}
				refs[tg.RefID] = true
				for _, fam := range cat.check(t, where, tg.Expr) {
					used[fam] = true
				}
				if strings.Contains(tg.Expr, "aisedge_") && !instanceFilter.MatchString(tg.Expr) {
					t.Errorf("%s: %s ignores the instance variable", where, tg.Expr)
				}
			}
		}
	}
	walk(d.Panels)
	// Every family the code emits has a panel.
	for fam := range cat.aisedge {
		if !used[fam] {
			t.Errorf("%s: no panel shows %s", dashboardFile, fam)
		}
	}
}

// TestCheckerCatches makes sure the checks above fail where they should.
func TestCheckerCatches(t *testing.T) {
	cat := newCatalogue(t)
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`aisedge_shipments_held > 0`, true},
		{`sum by (le, stage) (rate(aisedge_stage_duration_seconds_bucket[5m]))`, true},
		{`histogram_quantile(0.9, sum by (le) (rate(aisedge_hub_delivery_duration_seconds_bucket[$__rate_interval])))`, true},
		{`rate(aisedge_hub_delivery_duration_seconds_count[5m])`, true},
		{`changes(process_start_time_seconds{job="aisedge"}[30m]) > 2`, true},
		{`up == 0`, true},
		{`{__name__="aisedge_studies_open"}`, true},
		{`aisedge_shipments_helds > 0`, false},                                                   // misspelt
		{`xnat_upload_completed`, false},                                                         // the original's dead alert
		{`aisedge_studies_open_bucket`, false},                                                   // not a histogram
		{`rate(aisedge_studies_open[5m])`, false},                                                // rate of a gauge
		{`predict_linear(aisedge_upload_bytes_total[1h], 60)`, false},                            // gauge function of a counter
		{`histogram_quantile(0.9, sum(rate(aisedge_stage_duration_seconds_bucket[5m])))`, false}, // le dropped
		{`histogram_quantile(0.9, rate(aisedge_stage_duration_seconds_sum[5m]))`, false},         // no buckets
		{`{__name__=~"aisedge_.*"}`, false},
		{`sum(rate(aisedge_upload_bytes_total[5m]`, false}, // syntax
		{`go_nonexistent_metric`, false},
	} {
		var r recorder
		cat.check(&r, "case", tc.expr)
		if ok := len(r.errs) == 0; ok != tc.ok {
			t.Errorf("%s: check passed = %v, want %v %q", tc.expr, ok, tc.ok, r.errs)
		}
	}
}

// TestPromtool runs Prometheus's own checks when promtool is installed
// (Debian package prometheus): the rule file as Prometheus loads it, and
// the unit tests in aisedge-alerts.test.yml, which show each alert firing
// on its condition (with its rendered annotations) and staying quiet on
// its look-alike.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus); the rule file is still checked by TestAlertRules")
	}
	for _, args := range [][]string{
		{"check", "rules", "aisedge-alerts.yml"},
		{"test", "rules", "aisedge-alerts.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "monitoring"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s: %s", strings.Join(args, " "), bytes.TrimSpace(out))
	}
}
