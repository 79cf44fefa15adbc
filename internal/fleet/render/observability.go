package render

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/aisedge/aisedge/deploy/monitoring"
	"github.com/aisedge/aisedge/internal/fleet"
)

// Names of the observability stack (docs/observability.md). The site's
// namespace, DaemonSet and CA Secret are the ones `fleet rotate-ca`
// already updates (logging/vector, logging/ca-bundle).
const (
	NSMonitoring       = "monitoring" // Loki, Prometheus, Alertmanager, Grafana (management)
	NSLogging          = "logging"    // Vector and the metrics agent (every cluster)
	ShipperDaemonSet   = "vector"
	ShipperClusterRole = "aisedge-vector" // and its ClusterRoleBinding: pods, namespaces, nodes (read)
	MetricsAgent       = "prometheus-agent"
	PushSecret         = "push-credentials" // a site's user name and password for the ingest route
	PushAuthSecret     = "site-push-auth"   // the ingress's htpasswd file of every site
	ObservabilityTLS   = "observability-tls"
	HubMetricsService  = "aisedge-hub-metrics"
	EdgeMetricsService = "aisedge-edge-metrics"
	LokiS3Secret       = "loki-s3"
	GrafanaSecret      = "grafana-admin"
	AlertmanagerSecret = "alertmanager-secrets"
	CABundleHashAnn    = "aisedge.io/ca-bundle-hash" // the annotation rotate-ca rolls pods with

	// ManagementCluster is the cluster label of the management cluster's
	// series and log lines; a site's is its name.
	ManagementCluster = "management"

	// PushPathLogs and PushPathMetrics are the two paths of the ingest
	// route (lokiHostname): Loki's push API and Prometheus's remote-write
	// receiver.
	PushPathLogs    = "/loki/api/v1/push"
	PushPathMetrics = "/api/v1/write"

	lokiURL         = "http://loki.monitoring.svc.cluster.local:3100"
	prometheusURL   = "http://prometheus.monitoring.svc.cluster.local:9090"
	alertmanagerURL = "alertmanager.monitoring.svc.cluster.local:9093"
	hubMetricsAddr  = HubMetricsService + "." + NSUpload + ".svc.cluster.local:8081"
	edgeMetricsAddr = EdgeMetricsService + "." + NSIngest + ".svc.cluster.local:8080"
	seaweedMetrics  = "seaweedfs.seaweedfs.svc.cluster.local:9324"
	ingressMetrics  = "ingress-nginx-controller-metrics.ingress-nginx.svc.cluster.local:10254"

	scrapeInterval = "30s"
)

// Paths inside the stack's pods.
const (
	vectorCADir   = "/etc/aisedge-ca" // not under /etc/vector: a mount inside the ConfigMap volume
	agentCADir    = "/etc/prometheus/ca"
	agentPushDir  = "/etc/prometheus/push"
	promConfigDir = "/etc/prometheus"
	promRulesDir  = "/etc/prometheus/rules"
	amSecretsDir  = "/etc/alertmanager/secrets"
)

// SiteToken is the password a site pushes logs and metrics with:
// HMAC-SHA256 of the site's name under observability.siteTokenKey, or
// under the S3 admin secret key when that is not set. No edge holds
// either key, so no site can compute another's token.
func SiteToken(c *fleet.Config, site string) string {
	key := c.Observability.SiteTokenKey.Value()
	if key == "" {
		key = "aisedge-observability:" + c.Management.S3.AdminSecretKey.Value()
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte("aisedge-site-push/" + site))
	return hex.EncodeToString(mac.Sum(nil))[:40]
}

// htpasswdLine is an nginx auth_basic_user_file entry in {SSHA} form
// (salted SHA-1). The salt is derived from the token so that renders are
// reproducible; the tokens are 160-bit random-looking values, which is
// what makes a fast hash acceptable here.
func htpasswdLine(user, token string) string {
	s := sha256.Sum256([]byte("salt/" + user + "/" + token))
	salt := s[:8]
	h := sha1.New()
	h.Write([]byte(token))
	h.Write(salt)
	return user + ":{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// CheckHtpasswd reports whether user and password match an {SSHA} line
// of an htpasswd file (what ingress-nginx's basic auth does; the
// acceptance tests use it in place of the ingress).
func CheckHtpasswd(file, user, password string) bool {
	for _, l := range strings.Split(file, "\n") {
		u, h, ok := strings.Cut(l, ":{SSHA}")
		if !ok || u != user {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(h)
		if err != nil || len(raw) <= sha1.Size {
			return false
		}
		d := sha1.New()
		d.Write([]byte(password))
		d.Write(raw[sha1.Size:])
		return hmac.Equal(d.Sum(nil), raw[:sha1.Size])
	}
	return false
}

func (r *renderer) obs() *fleet.Observability { return &r.c.Observability }

// pushURL is where sites push: the Loki hostname on the ingress port.
func (r *renderer) pushURL(path string) string {
	u := "https://" + r.obs().LokiHostname
	if p := r.c.Management.IngressPort; p != 443 {
		u += ":" + strconv.Itoa(p)
	}
	return u + path
}

func svc(ns, name string, labels, selector map[string]string, ports ...corev1.ServicePort) *unstructured.Unstructured {
	return toUnstructured(&corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: partOf(labels)},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selector, Ports: ports},
	})
}

func port(name string, p int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, TargetPort: intstr.FromString(name)}
}

func pvc(ns, name string, labels map[string]string, size, class string) *unstructured.Unstructured {
	p := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: partOf(labels)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	if class != "" {
		p.Spec.StorageClassName = &class
	}
	return toUnstructured(p)
}

// nonRoot is the security context of the stack's own containers: the
// image's user (uid), nothing else.
func nonRoot(uid int64) *corev1.SecurityContext {
	sc := restricted()
	sc.RunAsUser, sc.RunAsGroup = &uid, &uid
	return sc
}

func cmVolume(name, cm string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}
}

func secretVolume(name, secret string, m int32) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: mode(m)}}}
}

func pvcVolume(name, claim string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
}

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

func mustYAML(v any) []byte {
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("render: %v", err)) // plain maps always marshal
	}
	return b
}

// --- management cluster ----------------------------------------------------

// observabilityManagement renders the management side of the stack.
func (r *renderer) observabilityManagement() []File {
	c := r.c
	m := &c.Management
	o := r.obs()
	labels := func(app string) map[string]string { return map[string]string{"app": app} }

	// Secrets.
	var htpasswd []string
	for _, s := range c.Sites {
		htpasswd = append(htpasswd, htpasswdLine(s.Name, SiteToken(c, s.Name)))
	}
	amSecrets := map[string][]byte{}
	if v := o.Alerts.SMTPPassword.Value(); v != "" {
		amSecrets["smtp-password"] = []byte(v)
	}
	if v := o.Alerts.SlackWebhookURL.Value(); v != "" {
		amSecrets["slack-webhook-url"] = []byte(v)
	}
	lokiS3 := map[string][]byte{"access-key": []byte(m.S3.AdminAccessKey.Value()), "secret-key": []byte(m.S3.AdminSecretKey.Value())}
	grafanaAdmin := map[string][]byte{"user": []byte(o.GrafanaAdminUser), "password": []byte(o.GrafanaAdminPassword.Value())}
	pushAuth := map[string][]byte{"auth": []byte(strings.Join(htpasswd, "\n") + "\n")}
	secrets := []*unstructured.Unstructured{
		secret(NSMonitoring, LokiS3Secret, labels("loki"), lokiS3),
		secret(NSMonitoring, GrafanaSecret, labels("grafana"), grafanaAdmin),
		secret(NSMonitoring, AlertmanagerSecret, labels("alertmanager"), amSecrets),
		secret(NSMonitoring, PushAuthSecret, labels("ingest"), pushAuth),
	}

	lokiYAML := r.lokiConfig()
	promYAML := r.prometheusConfig()
	amYAML := r.alertmanagerConfig()
	rules := map[string]string{
		"aisedge-alerts.yml":    string(monitoring.AlertRules()),
		"aisedge-recording.yml": string(monitoring.RecordingRules()),
		"aisedge-sites.yml":     string(r.siteRules()),
	}
	dashboards := map[string]string{}
	for n, b := range monitoring.Dashboards() {
		dashboards[n] = string(b)
	}
	grafanaProv := r.grafanaProvisioning()

	objs := []*unstructured.Unstructured{r.observabilityCertificate()}
	// The logs bucket, made like the ingest bucket.
	objs = append(objs, toUnstructured(r.bucketJob(o.LogsBucket)))
	// The hub's metrics port as a Service Prometheus scrapes.
	objs = append(objs, svc(NSUpload, HubMetricsService, map[string]string{"app": "xnat-ingest", "component": "upload"},
		map[string]string{"app": "xnat-ingest", "component": "upload"}, port("http", 8081)))

	// Loki.
	objs = append(objs,
		configMap(NSMonitoring, "loki-config", labels("loki"), map[string]string{"loki.yaml": string(lokiYAML)}),
		pvc(NSMonitoring, "loki-data", labels("loki"), o.StorageSize, m.StorageClass),
		toUnstructured(r.lokiDeployment(hash(lokiYAML, sortedData(lokiS3)))),
		svc(NSMonitoring, "loki", labels("loki"), labels("loki"), port("http", 3100)),
	)
	// Prometheus.
	ruleHash := []byte{}
	for _, k := range sortedKeys(rules) {
		ruleHash = append(ruleHash, rules[k]...)
	}
	objs = append(objs,
		configMap(NSMonitoring, "prometheus-config", labels("prometheus"), map[string]string{"prometheus.yml": string(promYAML)}),
		configMap(NSMonitoring, "prometheus-rules", labels("prometheus"), rules),
		pvc(NSMonitoring, "prometheus-data", labels("prometheus"), o.StorageSize, m.StorageClass),
		toUnstructured(r.prometheusDeployment(hash(promYAML, ruleHash))),
		svc(NSMonitoring, "prometheus", labels("prometheus"), labels("prometheus"), port("http", 9090)),
	)
	// Alertmanager.
	objs = append(objs,
		configMap(NSMonitoring, "alertmanager-config", labels("alertmanager"), map[string]string{"alertmanager.yml": string(amYAML)}),
		toUnstructured(r.alertmanagerDeployment(hash(amYAML, sortedData(amSecrets)))),
		svc(NSMonitoring, "alertmanager", labels("alertmanager"), labels("alertmanager"), port("http", 9093)),
	)
	// Grafana.
	dashHash := []byte{}
	for _, k := range sortedKeys(dashboards) {
		dashHash = append(dashHash, dashboards[k]...)
	}
	objs = append(objs,
		configMap(NSMonitoring, "grafana-provisioning", labels("grafana"), grafanaProv),
		configMap(NSMonitoring, "grafana-dashboards", labels("grafana"), dashboards),
		pvc(NSMonitoring, "grafana-data", labels("grafana"), o.StorageSize, m.StorageClass),
		toUnstructured(r.grafanaDeployment(hash([]byte(grafanaProv["datasources.yaml"]), []byte(grafanaProv["dashboards.yaml"]), dashHash, sortedData(grafanaAdmin)))),
		svc(NSMonitoring, "grafana", labels("grafana"), labels("grafana"), port("http", 3000)),
	)
	objs = append(objs, r.observabilityIngresses()...)
	// Vector on the management cluster ships its pods' logs to Loki
	// directly (no ingress, no credentials).
	mgmtVector := r.vectorConfig(ManagementCluster, lokiURL, false)
	objs = append(objs, r.vectorObjects(mgmtVector, "", nil)...)

	return []File{
		{Path: "management/50-observability-secrets.yaml", Secret: true, Objects: secrets},
		{Path: "management/50-observability.yaml", Objects: objs},
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// observabilityCertificate is the server certificate of the two extra SNI
// names, from the same issuer as SeaweedFS's.
func (r *renderer) observabilityCertificate() *unstructured.Unstructured {
	o := r.obs()
	return obj("cert-manager.io/v1", "Certificate", NSMonitoring, ObservabilityTLS, partOf(nil), map[string]any{
		"secretName":  ObservabilityTLS,
		"dnsNames":    []any{o.GrafanaHostname, o.LokiHostname},
		"duration":    "8760h",
		"renewBefore": "720h",
		"privateKey":  map[string]any{"algorithm": "RSA", "size": int64(2048)},
		"issuerRef":   map[string]any{"name": r.c.Management.TLS.Issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
	})
}

// observabilityIngresses are the two extra SNI routes on the one ingress:
// Grafana for people, and the ingest route for sites (logs to Loki,
// metrics to Prometheus's remote-write receiver), behind per-site basic
// authentication.
func (r *renderer) observabilityIngresses() []*unstructured.Unstructured {
	o := r.obs()
	className := "nginx"
	exact := networkingv1.PathTypeExact
	prefix := networkingv1.PathTypePrefix
	backend := func(svc string, p int32) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: p}}}
	}
	grafana := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Namespace: NSMonitoring, Name: "grafana", Labels: partOf(map[string]string{"app": "grafana"})},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &className,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{o.GrafanaHostname}, SecretName: ObservabilityTLS}},
			Rules: []networkingv1.IngressRule{{Host: o.GrafanaHostname, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: backend("grafana", 3000)}},
			}}}},
		},
	}
	ingest := &networkingv1.Ingress{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Namespace: NSMonitoring, Name: "ingest", Labels: partOf(map[string]string{"app": "ingest"}), Annotations: map[string]string{
			"nginx.ingress.kubernetes.io/auth-type":        "basic",
			"nginx.ingress.kubernetes.io/auth-secret":      PushAuthSecret,
			"nginx.ingress.kubernetes.io/auth-secret-type": "auth-file",
			"nginx.ingress.kubernetes.io/auth-realm":       "aisedge sites",
			"nginx.ingress.kubernetes.io/proxy-body-size":  "16m",
		}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &className,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{o.LokiHostname}, SecretName: ObservabilityTLS}},
			Rules: []networkingv1.IngressRule{{Host: o.LokiHostname, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{
					{Path: PushPathLogs, PathType: &exact, Backend: backend("loki", 3100)},
					{Path: PushPathMetrics, PathType: &exact, Backend: backend("prometheus", 9090)},
				},
			}}}},
		},
	}
	return []*unstructured.Unstructured{toUnstructured(grafana), toUnstructured(ingest)}
}

// lokiConfig is Loki's single-binary configuration: chunks and index in
// the SeaweedFS logs bucket (credentials from the environment), retention
// by the compactor.
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
				"endpoint":          "seaweedfs.seaweedfs.svc.cluster.local:8333",
				"bucketnames":       o.LogsBucket,
				"access_key_id":     "${S3_ACCESS_KEY}",
				"secret_access_key": "${S3_SECRET_KEY}",
				"s3forcepathstyle":  true,
				"insecure":          true,
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
				{Name: "data", MountPath: "/loki"},
				{Name: "tmp", MountPath: "/tmp"},
			},
		}},
		Volumes: []corev1.Volume{cmVolume("config", "loki-config"), pvcVolume("data", "loki-data"), emptyDir("tmp")},
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

// --- every cluster: Vector ---------------------------------------------------

// vectorConfig ships every pod's output of the node to Loki, labelled
// with the cluster (the site's name), node, namespace, pod, container and
// the pod's app and component labels (the original's labels, which its
// queries select on). Lines go as they are: the event lines stay JSON.
func (r *renderer) vectorConfig(cluster, endpoint string, push bool) []byte {
	sink := map[string]any{
		"type":     "loki",
		"inputs":   []any{"pods"},
		"endpoint": endpoint,
		"encoding": map[string]any{"codec": "text"},
		"labels": map[string]any{
			"cluster":   cluster,
			"node":      "{{ kubernetes.pod_node_name }}",
			"namespace": "{{ kubernetes.pod_namespace }}",
			"pod":       "{{ kubernetes.pod_name }}",
			"container": "{{ kubernetes.container_name }}",
			"app":       "{{ kubernetes.pod_labels.app }}",
			"component": "{{ kubernetes.pod_labels.component }}",
		},
		"out_of_order_action": "accept",
		"buffer":              map[string]any{"type": "disk", "max_size": 268435488, "when_full": "block"},
		"batch":               map[string]any{"max_bytes": 1048576, "timeout_secs": 5},
	}
	if push {
		sink["auth"] = map[string]any{"strategy": "basic", "user": cluster, "password": "${PUSH_PASSWORD}"}
		if r.needCA() {
			sink["tls"] = map[string]any{"ca_file": vectorCADir + "/ca.crt", "verify_certificate": true, "verify_hostname": true}
		}
	}
	return mustYAML(map[string]any{
		"data_dir": "/vector-data-dir",
		"sources": map[string]any{"pods": map[string]any{
			"type":                     "kubernetes_logs",
			"glob_minimum_cooldown_ms": 5000,
			"ignore_older_secs":        86400,
			"max_line_bytes":           262144,
			"use_apiserver_cache":      true,
		}},
		"sinks": map[string]any{"loki": sink},
	})
}

// vectorObjects are the DaemonSet and what it needs on one cluster. push
// is the site's credentials Secret (nil on the management cluster);
// hostAliases resolve the management names on-prem.
func (r *renderer) vectorObjects(cfg []byte, pushSecret string, aliases []corev1.HostAlias) []*unstructured.Unstructured {
	o := r.obs()
	l := map[string]string{"app": "vector"}
	sa := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Namespace: NSLogging, Name: ShipperDaemonSet, Labels: partOf(l)},
	}
	role := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: ShipperClusterRole, Labels: partOf(l)},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "nodes"}, Verbs: []string{"get", "list", "watch"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: ShipperClusterRole, Labels: partOf(l)},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: ShipperClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: ShipperDaemonSet, Namespace: NSLogging}},
	}
	root := int64(0)
	f, t := false, true
	dirType := corev1.HostPathDirectoryOrCreate
	env := []corev1.EnvVar{
		{Name: "VECTOR_SELF_NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "VECTOR_SELF_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "VECTOR_SELF_POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: "/etc/vector", ReadOnly: true},
		{Name: "data", MountPath: "/vector-data-dir"},
		{Name: "var-log", MountPath: "/var/log", ReadOnly: true},
	}
	volumes := []corev1.Volume{
		cmVolume("config", "vector-config"),
		{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/vector", Type: &dirType}}},
		{Name: "var-log", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
	}
	roll := [][]byte{cfg}
	if pushSecret != "" {
		env = append(env, corev1.EnvVar{Name: "PUSH_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: pushSecret}, Key: "password"}}})
		if r.needCA() {
			mounts = append(mounts, corev1.VolumeMount{Name: "ca", MountPath: vectorCADir, ReadOnly: true})
			volumes = append(volumes, secretVolume("ca", CABundleSecret, 0o444))
		}
	}
	ds := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: NSLogging, Name: ShipperDaemonSet, Labels: partOf(l)},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: partOf(l), Annotations: map[string]string{ConfigHashAnn: hash(roll...)}},
				Spec: corev1.PodSpec{
					ServiceAccountName: ShipperDaemonSet,
					HostAliases:        aliases,
					Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{
						Name:  "vector",
						Image: o.Images.Vector,
						Args:  []string{"--config-dir", "/etc/vector/"},
						Env:   env,
						// Root to read the node's /var/log/pods (0640
						// root), with every capability dropped.
						SecurityContext: &corev1.SecurityContext{
							RunAsUser: &root, RunAsNonRoot: &f, AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &t,
							Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
						VolumeMounts: mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}
	return []*unstructured.Unstructured{
		toUnstructured(sa), toUnstructured(role), toUnstructured(binding),
		configMap(NSLogging, "vector-config", l, map[string]string{"vector.yaml": string(cfg)}),
		toUnstructured(ds),
	}
}

// --- sites -------------------------------------------------------------------

// AgentConfig is a site's metrics agent configuration (Prometheus in agent
// mode): it scrapes the edge every 30 s as job aisedge, labels every
// series with the site as cluster and instance, and remote-writes through
// the ingest route with the site's credentials and CA bundle.
func (r *renderer) agentConfig(s *fleet.Site) []byte {
	rw := map[string]any{
		"url":        r.pushURL(PushPathMetrics),
		"basic_auth": map[string]any{"username": s.Name, "password_file": agentPushDir + "/password"},
	}
	if r.needCA() {
		rw["tls_config"] = map[string]any{"ca_file": agentCADir + "/ca.crt"}
	}
	return mustYAML(map[string]any{
		"global": map[string]any{"scrape_interval": scrapeInterval, "external_labels": map[string]any{"cluster": s.Name}},
		"scrape_configs": []any{map[string]any{
			"job_name":        "aisedge",
			"static_configs":  []any{map[string]any{"targets": []any{edgeMetricsAddr}, "labels": map[string]any{"role": "edge"}}},
			"relabel_configs": []any{map[string]any{"target_label": "instance", "replacement": s.Name}},
		}},
		"remote_write": []any{rw},
	})
}

// ShipperCABundle is a site's logging/ca-bundle Secret holding pem (apply
// adds it when the bundle was not known at render time).
func ShipperCABundle(pem []byte) *unstructured.Unstructured {
	return secret(NSLogging, CABundleSecret, map[string]string{"app": "vector"}, map[string][]byte{"ca.crt": pem})
}

// observabilitySite renders a site's shipper and agent.
func (r *renderer) observabilitySite(s *fleet.Site) (secrets, objs []*unstructured.Unstructured) {
	m := &r.c.Management
	o := r.obs()
	push := map[string][]byte{"username": []byte(s.Name), "password": []byte(SiteToken(r.c, s.Name))}
	secrets = append(secrets, secret(NSLogging, PushSecret, map[string]string{"app": "vector"}, push))
	if r.needCA() && len(r.ca) > 0 {
		secrets = append(secrets, ShipperCABundle(r.ca))
	}
	var aliases []corev1.HostAlias
	if m.Topology == fleet.OnPrem && m.NodeIP != "" {
		aliases = []corev1.HostAlias{{IP: m.NodeIP, Hostnames: []string{o.LokiHostname}}}
	}
	objs = append(objs, svc(NSIngest, EdgeMetricsService, edgeLabels, edgeLabels, port("http", 8080)))
	objs = append(objs, r.vectorObjects(r.vectorConfig(s.Name, r.pushURL(""), true), PushSecret, aliases)...)

	cfg := r.agentConfig(s)
	l := map[string]string{"app": MetricsAgent}
	uid := int64(65534)
	volumes := []corev1.Volume{cmVolume("config", "prometheus-agent-config"), secretVolume("push", PushSecret, 0o440), emptyDir("data")}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: promConfigDir + "/prometheus.yml", SubPath: "prometheus.yml", ReadOnly: true},
		{Name: "push", MountPath: agentPushDir, ReadOnly: true},
		{Name: "data", MountPath: "/prometheus"},
	}
	if r.needCA() {
		// The CA file is read again on each new connection, so a rotated
		// bundle takes effect without a restart.
		volumes = append(volumes, secretVolume("ca", CABundleSecret, 0o444))
		mounts = append(mounts, corev1.VolumeMount{Name: "ca", MountPath: agentCADir, ReadOnly: true})
	}
	dep := singleton(NSLogging, MetricsAgent, l, hash(cfg, sortedData(push)), corev1.PodSpec{
		AutomountServiceAccountToken: boolp(false),
		SecurityContext:              &corev1.PodSecurityContext{FSGroup: &uid},
		HostAliases:                  aliases,
		Containers: []corev1.Container{{
			Name:  "prometheus-agent",
			Image: o.Images.Prometheus,
			// Agent mode: scrape and forward, no local queries or rules.
			Args:            []string{"--agent", "--config.file=" + promConfigDir + "/prometheus.yml", "--storage.agent.path=/prometheus"},
			Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 9090}},
			SecurityContext: nonRoot(uid),
			ReadinessProbe:  httpProbe("/-/ready", "http"),
			VolumeMounts:    mounts,
		}},
		Volumes: volumes,
	})
	objs = append(objs,
		configMap(NSLogging, "prometheus-agent-config", l, map[string]string{"prometheus.yml": string(cfg)}),
		toUnstructured(dep),
	)
	return secrets, objs
}
