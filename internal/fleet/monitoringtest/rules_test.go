package monitoringtest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

// ruleAnnotations returns the annotations of an alert of the rendered
// rules with {{ $labels.NAME }} filled in from lbls.
func ruleAnnotations(t *testing.T, rules map[string]string, alert string, lbls map[string]string) map[string]string {
	t.Helper()
	for _, body := range rules {
		var rf struct {
			Groups []struct {
				Rules []struct {
					Alert       string            `json:"alert"`
					Annotations map[string]string `json:"annotations"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := yaml.Unmarshal([]byte(body), &rf); err != nil {
			t.Fatal(err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Alert != alert {
					continue
				}
				out := map[string]string{}
				for k, v := range r.Annotations {
					for n, lv := range lbls {
						v = strings.ReplaceAll(v, "{{ $labels."+n+" }}", lv)
					}
					if strings.Contains(v, "{{") {
						t.Fatalf("%s: annotation %s has a template this test does not fill: %s", alert, k, v)
					}
					out[k] = v
				}
				return out
			}
		}
	}
	t.Fatalf("no alert %s in the rendered rules", alert)
	return nil
}

// TestRenderedRulesPromtool runs promtool's unit tests over the rendered
// rule files (deploy/monitoring's alert and recording rules and the
// fleet's per-site rules) with counters that start far above zero, as
// they do on a process that has run for a while: recorded rates and
// increases come out of the slope, not the absolute value, a pushed edge's
// up == 0 fires EdgeDown under its site's name, and a site that pushes
// nothing fires SiteSilent while one that pushes does not.
func TestRenderedRulesPromtool(t *testing.T) {
	promtool := tool(t, "promtool")
	c, m := renderFixture(t)
	rules := data(t, &m.Management, "ConfigMap", render.NSMonitoring, "prometheus-rules")
	dir := t.TempDir()
	var files []any
	for name, body := range rules {
		writeFile(t, dir, name, body, 0o644)
		files = append(files, name)
	}
	pushing, silent := c.Sites[1].Name, c.Sites[0].Name
	edge := func(metric, extra string) string {
		return fmt.Sprintf(`%s{job="aisedge", cluster=%q, instance=%q, role="edge"%s}`, metric, pushing, pushing, extra)
	}
	hub := func(metric string) string {
		return fmt.Sprintf(`%s{job="aisedge", cluster="management", instance="hub"}`, metric)
	}
	edgeDown := map[string]string{"alertname": "EdgeDown", "severity": "critical", "job": "aisedge", "cluster": pushing, "instance": pushing, "role": "edge"}
	// absent() keeps the selector's equality labels: job and cluster.
	siteSilent := map[string]string{"severity": "critical", "cluster": silent, "job": "aisedge"}
	test := map[string]any{
		"rule_files":          files,
		"evaluation_interval": "1m",
		"tests": []any{map[string]any{
			"interval": "1m",
			"input_series": []any{
				map[string]any{"series": edge("up", ""), "values": "1x10 0x20"},
				map[string]any{"series": hub("up"), "values": "1x120"},
				// Counters of long-running processes: far from zero.
				map[string]any{"series": edge("aisedge_instances_received_total", `, status="0000"`), "values": "250000+60x120"},
				map[string]any{"series": edge("aisedge_sessions_shipped_total", ""), "values": "5000+10x120"},
				map[string]any{"series": edge("aisedge_upload_failures_total", `, kind="transient"`), "values": "900+0x120"},
				map[string]any{"series": hub("aisedge_hub_sessions_delivered_total"), "values": "7000+5x120"},
				map[string]any{"series": hub("aisedge_hub_delivery_failures_total") + "", "values": "300+0x120"},
			},
			"alert_rule_test": []any{
				map[string]any{"eval_time": "25m", "alertname": "EdgeDown", "exp_alerts": []any{map[string]any{
					"exp_labels": without(edgeDown, "alertname"), "exp_annotations": ruleAnnotations(t, rules, "EdgeDown", edgeDown)}}},
				map[string]any{"eval_time": "25m", "alertname": "SiteSilent", "exp_alerts": []any{map[string]any{
					"exp_labels": siteSilent, "exp_annotations": ruleAnnotations(t, rules, "SiteSilent", siteSilent)}}},
				// Before its 15 minutes, nothing.
				map[string]any{"eval_time": "10m", "alertname": "SiteSilent", "exp_alerts": []any{}},
				// A steady retry counter far above zero is no retry storm.
				map[string]any{"eval_time": "60m", "alertname": "UploadRetryStorm", "exp_alerts": []any{}},
			},
			"promql_expr_test": []any{
				map[string]any{"expr": `cluster:aisedge_instances_received:rate5m`, "eval_time": "30m", "exp_samples": []any{
					map[string]any{"labels": fmt.Sprintf(`cluster:aisedge_instances_received:rate5m{cluster=%q, status="0000"}`, pushing), "value": 1}}},
				map[string]any{"expr": `cluster:aisedge_sessions_shipped:increase1h`, "eval_time": "90m", "exp_samples": []any{
					map[string]any{"labels": fmt.Sprintf(`cluster:aisedge_sessions_shipped:increase1h{cluster=%q}`, pushing), "value": 600}}},
				map[string]any{"expr": `cluster:aisedge_hub_sessions_delivered:increase1h`, "eval_time": "90m", "exp_samples": []any{
					map[string]any{"labels": `cluster:aisedge_hub_sessions_delivered:increase1h{cluster="management"}`, "value": 300}}},
				map[string]any{"expr": `cluster:aisedge_upload_failures:increase1h`, "eval_time": "90m", "exp_samples": []any{
					map[string]any{"labels": fmt.Sprintf(`cluster:aisedge_upload_failures:increase1h{cluster=%q, kind="transient"}`, pushing), "value": 0}}},
			},
		}},
	}
	f := writeFile(t, dir, "rules.test.yml", string(mustYAML(t, test)), 0o644)
	t.Log(run(t, promtool, "check", "rules", filepath.Join(dir, "aisedge-alerts.yml"), filepath.Join(dir, "aisedge-recording.yml"), filepath.Join(dir, "aisedge-sites.yml")))
	t.Log(run(t, promtool, "test", "rules", f))
}

func without(m map[string]string, k string) map[string]string {
	out := map[string]string{}
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}

// TestRenderedAlertmanagerConfig checks the rendered Alertmanager
// configuration with Alertmanager's own checker (amtool from Debian's
// prometheus-alertmanager), with and without Slack, with the mounted
// secret files in place.
func TestRenderedAlertmanagerConfig(t *testing.T) {
	amtool := tool(t, "amtool")
	for _, slack := range []bool{true, false} {
		t.Run(fmt.Sprintf("slack=%v", slack), func(t *testing.T) {
			c, err := fleet.Load("../testdata/native/observability.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if !slack {
				c.Observability.Alerts.SlackWebhookURL = fleet.Secret{}
			}
			m, err := render.Render(c, render.Options{})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			secrets := data(t, &m.Management, "Secret", render.NSMonitoring, render.AlertmanagerSecret)
			cfg := data(t, &m.Management, "ConfigMap", render.NSMonitoring, "alertmanager-config")["alertmanager.yml"]
			for k, v := range secrets {
				cfg = strings.ReplaceAll(cfg, "/etc/alertmanager/secrets/"+k, writeFile(t, dir, k, v, 0o600))
			}
			if strings.Contains(cfg, "/etc/alertmanager/secrets/") {
				t.Fatalf("a secret file the Secret does not hold:\n%s", cfg)
			}
			out := run(t, amtool, "check-config", writeFile(t, dir, "alertmanager.yml", cfg, 0o644))
			t.Log(out)
			receivers := map[bool]string{true: "3 receivers", false: "1 receivers"}[slack]
			for _, want := range []string{"SUCCESS", receivers} {
				if !strings.Contains(out, want) {
					t.Errorf("amtool: no %q in %s", want, out)
				}
			}
			if strings.Contains(cfg, "slack_api_url_file") != slack {
				t.Errorf("slack=%v, but the configuration says otherwise:\n%s\n%s", slack, cfg, out)
			}
			for _, s := range []string{c.Observability.Alerts.SMTPPassword.Value(), "hooks.slack.com"} {
				if strings.Contains(cfg, s) {
					t.Errorf("the ConfigMap carries a secret (%s)", s)
				}
			}
		})
	}
}
