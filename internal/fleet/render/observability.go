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

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
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

// serviceMonitor is the Prometheus Operator's scrape of a metrics Service
// (port http, /metrics) with the labels aisedge's own Prometheus gives
// the target (job aisedge, instance, cluster), for a cluster whose
// monitoring is the operator's. fleet apply skips it where the kind is
// not served (kube.OptionalKinds).
func serviceMonitor(ns, name string, selector map[string]string, instance, cluster string) *unstructured.Unstructured {
	return obj("monitoring.coreos.com/v1", "ServiceMonitor", ns, name, partOf(selector), map[string]any{
		"selector": map[string]any{"matchLabels": stringMap(partOf(selector))},
		"endpoints": []any{map[string]any{
			"port": "http", "path": "/metrics", "interval": scrapeInterval,
			"relabelings": []any{
				map[string]any{"targetLabel": "job", "replacement": "aisedge"},
				map[string]any{"targetLabel": "instance", "replacement": instance},
				map[string]any{"targetLabel": "cluster", "replacement": cluster},
			},
		}},
	})
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
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
	if len(r.ca) > 0 {
		secrets = append(secrets, LokiCABundle(r.ca))
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
		map[string]string{"app": "xnat-ingest", "component": "upload"}, port("http", 8081)),
		serviceMonitor(NSUpload, HubMetricsService, map[string]string{"app": "xnat-ingest", "component": "upload"}, "hub", ManagementCluster))

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
