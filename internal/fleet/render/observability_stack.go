package render

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The management cluster's observability stack: Loki, Prometheus, Alertmanager, Grafana.

// lokiCADir is where Loki's pod mounts monitoring/ca-bundle.
const lokiCADir = "/etc/loki/ca"

// LokiCABundle returns Loki's monitoring/ca-bundle Secret holding pem (the
// private CA, which signs SeaweedFS's in-cluster certificate), as the
// hub's. apply writes it when the bundle was not known at render time
// (HubCABundleMissing), and rotate-ca keeps it current.
func LokiCABundle(pem []byte) *unstructured.Unstructured {
	return secret(NSMonitoring, CABundleSecret, map[string]string{"app": "loki"}, map[string][]byte{"ca.crt": pem})
}

// lokiConfig is Loki's single-binary configuration: chunks and index in
// the SeaweedFS logs bucket over TLS (SeaweedFS's in-cluster port, the
// certificate checked against the private CA, as the hub does;
// credentials from the environment), retention by the compactor. Loki
// reads the CA file when it starts: rotate-ca rolls it with the bundle.
func (r *renderer) lokiConfig() []byte {
	o := r.obs()
	return mustYAML(map[string]any{
		"auth_enabled": false,
		"server":       map[string]any{"http_listen_port": 3100, "grpc_listen_port": 9095, "log_level": "info"},
		"common": map[string]any{
			"path_prefix":        "/loki",
			"replication_factor": 1,
			"ring":               map[string]any{"kvstore": map[string]any{"store": "inmemory"}},
			"storage": map[string]any{"s3": map[string]any{
				"endpoint":          seaweedServiceHost + ":8443",
				"bucketnames":       o.LogsBucket,
				"access_key_id":     "${S3_ACCESS_KEY}",
				"secret_access_key": "${S3_SECRET_KEY}",
				"s3forcepathstyle":  true,
				"insecure":          false,
				"http_config":       map[string]any{"ca_file": lokiCADir + "/ca.crt"},
				"region":            "us-east-1",
			}},
		},
		"schema_config": map[string]any{"configs": []any{map[string]any{
			"from": "2024-01-01", "store": "tsdb", "object_store": "s3", "schema": "v13",
			"index": map[string]any{"prefix": "index_", "period": "24h"},
		}}},
		"compactor": map[string]any{
			"working_directory":    "/loki/compactor",
			"retention_enabled":    true,
			"delete_request_store": "s3",
		},
		"limits_config": map[string]any{
			"retention_period":           o.Retention,
			"reject_old_samples":         true,
			"reject_old_samples_max_age": "168h",
		},
		"analytics": map[string]any{"reporting_enabled": false},
	})
}

func (r *renderer) lokiDeployment(rollHash string) *appsv1.Deployment {
	o := r.obs()
	l := map[string]string{"app": "loki"}
	uid := int64(10001)
	env := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: LokiS3Secret}, Key: key}}}
	}
	return singleton(NSMonitoring, "loki", l, rollHash, corev1.PodSpec{
		AutomountServiceAccountToken: boolp(false),
		SecurityContext:              &corev1.PodSecurityContext{FSGroup: &uid},
		Containers: []corev1.Container{{
			Name:            "loki",
			Image:           o.Images.Loki,
			Args:            []string{"-config.file=/etc/loki/loki.yaml", "-config.expand-env=true", "-target=all"},
			Env:             []corev1.EnvVar{env("S3_ACCESS_KEY", "access-key"), env("S3_SECRET_KEY", "secret-key")},
			Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 3100}, {Name: "grpc", ContainerPort: 9095}},
			SecurityContext: nonRoot(uid),
			ReadinessProbe:  httpProbe("/ready", "http"),
			VolumeMounts: []corev1.VolumeMount{
				{Name: "config", MountPath: "/etc/loki", ReadOnly: true},
				{Name: "ca", MountPath: lokiCADir, ReadOnly: true},
				{Name: "data", MountPath: "/loki"},
				{Name: "tmp", MountPath: "/tmp"},
			},
		}},
		Volumes: []corev1.Volume{cmVolume("config", "loki-config"), secretVolume("ca", CABundleSecret, 0o444), pvcVolume("data", "loki-data"), emptyDir("tmp")},
	})
}

// PrometheusScrapeJobs are the management Prometheus's scrape jobs: the
// hub (job aisedge, as deploy/monitoring's rules expect), SeaweedFS, the
// ingress controller and the stack itself. Edges are not scraped: their
// metrics agents push.
func (r *renderer) prometheusScrapeJobs() []any {
	static := func(job, target, instance string, extra map[string]any) map[string]any {
		j := map[string]any{
			"job_name":       job,
			"static_configs": []any{map[string]any{"targets": []any{target}, "labels": map[string]any{"cluster": ManagementCluster}}},
			"relabel_configs": []any{map[string]any{
				"target_label": "instance", "replacement": instance,
			}},
		}
		for k, v := range extra {
			j[k] = v
		}
		return j
	}
	return []any{
		static("aisedge", hubMetricsAddr, "hub", nil),
		static("seaweedfs", seaweedMetrics, "seaweedfs", nil),
		static("ingress-nginx", ingressMetrics, "ingress-nginx", nil),
		static("loki", "loki.monitoring.svc.cluster.local:3100", "loki", nil),
		static("alertmanager", alertmanagerURL, "alertmanager", nil),
		static("prometheus", "localhost:9090", "prometheus", nil),
	}
}

func (r *renderer) prometheusConfig() []byte {
	return mustYAML(map[string]any{
		"global":     map[string]any{"scrape_interval": scrapeInterval, "evaluation_interval": scrapeInterval},
		"rule_files": []any{promRulesDir + "/*.yml"},
		"alerting": map[string]any{"alertmanagers": []any{map[string]any{
			"static_configs": []any{map[string]any{"targets": []any{alertmanagerURL}}},
		}}},
		"scrape_configs": r.prometheusScrapeJobs(),
	})
}

// siteRules are the per-site rules only the fleet can write: a site whose
// metrics stop arriving altogether (site offline, agent down, credentials
// refused) is silent, which no rule on its series can see.
func (r *renderer) siteRules() []byte {
	var rules []any
	for _, s := range r.c.Sites {
		rules = append(rules, map[string]any{
			"alert": "SiteSilent",
			"expr":  fmt.Sprintf(`absent(up{job="aisedge", cluster=%q})`, s.Name),
			"for":   "15m",
			"labels": map[string]any{
				"severity": "critical",
				"cluster":  s.Name,
			},
			"annotations": map[string]any{
				"summary": fmt.Sprintf("site %s has pushed no metrics for 15 minutes", s.Name),
				"description": fmt.Sprintf("No up{job=\"aisedge\"} series has arrived from %s's metrics agent for 15 minutes: "+
					"the site is offline or cannot reach %s on port %d, its agent is not running, or its push credentials are refused. "+
					"Its scanners may still be sending; the edge keeps what it receives until it can ship.",
					s.Name, r.obs().LokiHostname, r.c.Management.IngressPort),
			},
		})
	}
	return mustYAML(map[string]any{"groups": []any{map[string]any{"name": "aisedge-sites", "rules": rules}}})
}

func (r *renderer) prometheusDeployment(rollHash string) *appsv1.Deployment {
	o := r.obs()
	uid := int64(65534)
	return singleton(NSMonitoring, "prometheus", map[string]string{"app": "prometheus"}, rollHash, corev1.PodSpec{
		AutomountServiceAccountToken: boolp(false),
		SecurityContext:              &corev1.PodSecurityContext{FSGroup: &uid},
		Containers: []corev1.Container{{
			Name:  "prometheus",
			Image: o.Images.Prometheus,
			Args: []string{
				"--config.file=" + promConfigDir + "/prometheus.yml",
				"--storage.tsdb.path=/prometheus",
				"--storage.tsdb.retention.time=" + o.Retention,
				// Sites push their edges' metrics through the ingest route.
				"--web.enable-remote-write-receiver",
			},
			Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 9090}},
			SecurityContext: nonRoot(uid),
			ReadinessProbe:  httpProbe("/-/ready", "http"),
			VolumeMounts: []corev1.VolumeMount{
				{Name: "config", MountPath: promConfigDir + "/prometheus.yml", SubPath: "prometheus.yml", ReadOnly: true},
				{Name: "rules", MountPath: promRulesDir, ReadOnly: true},
				{Name: "data", MountPath: "/prometheus"},
			},
		}},
		Volumes: []corev1.Volume{cmVolume("config", "prometheus-config"), cmVolume("rules", "prometheus-rules"), pvcVolume("data", "prometheus-data")},
	})
}

// alertmanagerConfig routes by severity as deploy/monitoring describes:
// everything by e-mail; with Slack, critical alerts also to Slack and
// info alerts to Slack only. Passwords are read from the mounted Secret.
func (r *renderer) alertmanagerConfig() []byte {
	a := &r.obs().Alerts
	global := map[string]any{
		"smtp_smarthost":   a.SMTPSmarthost,
		"smtp_from":        a.EmailFrom,
		"smtp_require_tls": a.RequireTLS(),
	}
	if a.SMTPUsername != "" {
		global["smtp_auth_username"] = a.SMTPUsername
		global["smtp_auth_password_file"] = amSecretsDir + "/smtp-password"
	}
	email := map[string]any{"to": strings.Join(a.EmailTo, ", "), "send_resolved": true}
	receivers := []any{map[string]any{"name": "email", "email_configs": []any{email}}}
	route := map[string]any{
		"receiver":        "email",
		"group_by":        []any{"alertname", "cluster"},
		"group_wait":      "30s",
		"group_interval":  "5m",
		"repeat_interval": "4h",
	}
	if a.SlackWebhookURL.IsSet() {
		global["slack_api_url_file"] = amSecretsDir + "/slack-webhook-url"
		slack := map[string]any{"send_resolved": true, "title": `{{ .CommonLabels.alertname }} ({{ .CommonLabels.cluster }})`,
			"text": `{{ range .Alerts }}{{ .Annotations.summary }}{{ "\n" }}{{ end }}`}
		receivers = append(receivers,
			map[string]any{"name": "email-and-slack", "email_configs": []any{email}, "slack_configs": []any{slack}},
			map[string]any{"name": "slack", "slack_configs": []any{slack}},
		)
		route["routes"] = []any{
			map[string]any{"matchers": []any{`severity="critical"`}, "receiver": "email-and-slack"},
			map[string]any{"matchers": []any{`severity="info"`}, "receiver": "slack"},
		}
	}
	return mustYAML(map[string]any{"global": global, "route": route, "receivers": receivers})
}

func (r *renderer) alertmanagerDeployment(rollHash string) *appsv1.Deployment {
	o := r.obs()
	uid := int64(65534)
	return singleton(NSMonitoring, "alertmanager", map[string]string{"app": "alertmanager"}, rollHash, corev1.PodSpec{
		AutomountServiceAccountToken: boolp(false),
		SecurityContext:              &corev1.PodSecurityContext{FSGroup: &uid},
		Containers: []corev1.Container{{
			Name:            "alertmanager",
			Image:           o.Images.Alertmanager,
			Args:            []string{"--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager", "--cluster.listen-address="},
			Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 9093}},
			SecurityContext: nonRoot(uid),
			ReadinessProbe:  httpProbe("/-/ready", "http"),
			VolumeMounts: []corev1.VolumeMount{
				{Name: "config", MountPath: "/etc/alertmanager/alertmanager.yml", SubPath: "alertmanager.yml", ReadOnly: true},
				{Name: "secrets", MountPath: amSecretsDir, ReadOnly: true},
				{Name: "data", MountPath: "/alertmanager"},
			},
		}},
		Volumes: []corev1.Volume{cmVolume("config", "alertmanager-config"), secretVolume("secrets", AlertmanagerSecret, 0o440), emptyDir("data")},
	})
}

// Grafana's datasource UIDs, which the dashboards name.
const (
	PrometheusDatasourceUID = "aisedge-prometheus"
	LokiDatasourceUID       = "aisedge-loki"
)

func (r *renderer) grafanaProvisioning() map[string]string {
	ds := mustYAML(map[string]any{
		"apiVersion": 1,
		"datasources": []any{
			map[string]any{"name": "Prometheus", "type": "prometheus", "uid": PrometheusDatasourceUID, "access": "proxy", "url": prometheusURL, "isDefault": true, "editable": false},
			map[string]any{"name": "Loki", "type": "loki", "uid": LokiDatasourceUID, "access": "proxy", "url": lokiURL, "editable": false},
			map[string]any{"name": "Alertmanager", "type": "alertmanager", "uid": "aisedge-alertmanager", "access": "proxy", "url": "http://" + alertmanagerURL,
				"jsonData": map[string]any{"implementation": "prometheus"}, "editable": false},
		},
	})
	dash := mustYAML(map[string]any{
		"apiVersion": 1,
		"providers": []any{map[string]any{
			"name": "aisedge", "folder": "AIS Edge", "type": "file", "disableDeletion": true, "allowUiUpdates": false,
			"options": map[string]any{"path": "/etc/grafana/dashboards/aisedge"},
		}},
	})
	return map[string]string{"datasources.yaml": string(ds), "dashboards.yaml": string(dash)}
}

func (r *renderer) grafanaDeployment(rollHash string) *appsv1.Deployment {
	o := r.obs()
	uid := int64(472)
	return singleton(NSMonitoring, "grafana", map[string]string{"app": "grafana"}, rollHash, corev1.PodSpec{
		AutomountServiceAccountToken: boolp(false),
		SecurityContext:              &corev1.PodSecurityContext{FSGroup: &uid},
		Containers: []corev1.Container{{
			Name:  "grafana",
			Image: o.Images.Grafana,
			Env: []corev1.EnvVar{
				{Name: "GF_SECURITY_ADMIN_USER__FILE", Value: "/etc/grafana/admin/user"},
				{Name: "GF_SECURITY_ADMIN_PASSWORD__FILE", Value: "/etc/grafana/admin/password"},
				{Name: "GF_SERVER_ROOT_URL", Value: "https://" + o.GrafanaHostname + "/"},
				{Name: "GF_USERS_ALLOW_SIGN_UP", Value: "false"},
				{Name: "GF_AUTH_ANONYMOUS_ENABLED", Value: "false"},
				{Name: "GF_ANALYTICS_REPORTING_ENABLED", Value: "false"},
				{Name: "GF_ANALYTICS_CHECK_FOR_UPDATES", Value: "false"},
				{Name: "GF_PATHS_PROVISIONING", Value: "/etc/grafana/provisioning"},
			},
			Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 3000}},
			SecurityContext: nonRoot(uid),
			ReadinessProbe:  httpProbe("/api/health", "http"),
			VolumeMounts: []corev1.VolumeMount{
				{Name: "provisioning", MountPath: "/etc/grafana/provisioning/datasources/aisedge.yaml", SubPath: "datasources.yaml", ReadOnly: true},
				{Name: "provisioning", MountPath: "/etc/grafana/provisioning/dashboards/aisedge.yaml", SubPath: "dashboards.yaml", ReadOnly: true},
				{Name: "dashboards", MountPath: "/etc/grafana/dashboards/aisedge", ReadOnly: true},
				{Name: "admin", MountPath: "/etc/grafana/admin", ReadOnly: true},
				{Name: "data", MountPath: "/var/lib/grafana"},
				{Name: "tmp", MountPath: "/tmp"},
			},
		}},
		Volumes: []corev1.Volume{
			cmVolume("provisioning", "grafana-provisioning"), cmVolume("dashboards", "grafana-dashboards"),
			secretVolume("admin", GrafanaSecret, 0o440), pvcVolume("data", "grafana-data"), emptyDir("tmp"),
		},
	})
}
