package render

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/fleet"
)

// The observability of a site: its log and metric shippers.

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
	objs = append(objs, svc(NSIngest, EdgeMetricsService, edgeLabels, edgeLabels, port("http", 8080)),
		serviceMonitor(NSIngest, EdgeMetricsService, edgeLabels, s.Name, s.Name))
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
