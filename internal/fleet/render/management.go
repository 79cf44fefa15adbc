package render

import (
	"cmp"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/s3iam"
)

// In-cluster address of SeaweedFS's S3 TLS port (the hub's endpoint): its
// certificate (SeaweedFSInternalTLS) is the private CA's, for the
// Service's names, whatever issuer signs the external one.
const (
	seaweedS3URL       = "https://" + seaweedServiceHost + ":8443"
	seaweedServiceHost = "seaweedfs." + NSSeaweedFS + ".svc.cluster.local"
	seaweedTLSDir      = "/etc/seaweedfs-tls"
)

// Common labels of everything aisedge renders.
func partOf(extra map[string]string) map[string]string {
	l := map[string]string{"app.kubernetes.io/part-of": "aisedge", "app.kubernetes.io/managed-by": "aisedge"}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

func namespace(name string, extra map[string]string) *unstructured.Unstructured {
	return toUnstructured(&corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: partOf(extra)},
	})
}

func secret(ns, name string, labels map[string]string, data map[string][]byte) *unstructured.Unstructured {
	return toUnstructured(&corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: partOf(labels)},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	})
}

func configMap(ns, name string, labels map[string]string, data map[string]string) *unstructured.Unstructured {
	return toUnstructured(&corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: partOf(labels)},
		Data:       data,
	})
}

// restricted is the container security context of aisedge's own pods:
// the image's non-root user, nothing else.
func restricted() *corev1.SecurityContext {
	f, t := false, true
	uid := int64(65532)
	return &corev1.SecurityContext{
		RunAsNonRoot: &t, RunAsUser: &uid, RunAsGroup: &uid,
		AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &t,
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func int32p(v int32) *int32 { return &v }

func mode(v int32) *int32 { return &v }

func (r *renderer) management() (Cluster, error) {
	c := r.c
	m := &c.Management
	cl := Cluster{Name: "management"}

	// Namespaces (one per site for its k0smotron control plane).
	nss := []*unstructured.Unstructured{
		namespace(NSCertManager, nil),
		seaweedNamespace(),
		namespace(NSUpload, merge(map[string]string{"app": "xnat-ingest"}, podSecurity(psaRestricted))),
	}
	for _, s := range c.Sites {
		nss = append(nss, namespace(s.Name, map[string]string{"aisedge.io/site": s.Name}))
	}
	if c.Observability.Enabled {
		nss = append(nss, namespace(NSMonitoring, nil), namespace(NSLogging, nil))
	}
	cl.Files = append(cl.Files, File{Path: "management/00-namespaces.yaml", Objects: nss})

	// cert-manager: the private CA, its issuer, the server certificate.
	certs, certSecrets := r.certManager()
	if len(certSecrets) > 0 {
		cl.Files = append(cl.Files, File{Path: "management/10-cert-manager-secrets.yaml", Objects: certSecrets, Secret: true})
	}
	cl.Files = append(cl.Files, File{Path: "management/10-cert-manager.yaml", Objects: certs})

	// SeaweedFS.
	edges := map[string][]s3iam.Key{}
	for _, s := range c.Sites {
		edges[s.Name] = append([]s3iam.Key{{AccessKey: s.S3AccessKey.Value(), SecretKey: s.S3SecretKey.Value()}}, r.extraKeys[s.Name]...)
	}
	s3json := s3iam.ConfigKeys(m.S3.Bucket, s3iam.Key{AccessKey: m.S3.AdminAccessKey.Value(), SecretKey: m.S3.AdminSecretKey.Value()}, edges)
	swLabels := map[string]string{"app": "seaweedfs"}
	cl.Files = append(cl.Files,
		File{Path: "management/20-seaweedfs-secrets.yaml", Secret: true, Objects: []*unstructured.Unstructured{
			secret(NSSeaweedFS, S3ConfigSecret, swLabels, map[string][]byte{"s3.json": s3json}),
		}},
		File{Path: "management/20-seaweedfs.yaml", Objects: r.seaweedfs(hash(s3json))},
	)

	// The hub.
	hubFiles, err := r.hub()
	if err != nil {
		return cl, err
	}
	cl.Files = append(cl.Files, hubFiles...)

	// One k0smotron control plane per site.
	for i := range c.Sites {
		cl.Files = append(cl.Files, File{Path: fmt.Sprintf("management/40-site-%s.yaml", c.Sites[i].Name),
			Objects: []*unstructured.Unstructured{r.k0smotronCluster(&c.Sites[i])}})
	}

	// The observability stack, when enabled.
	if c.Observability.Enabled {
		cl.Files = append(cl.Files, r.observabilityManagement()...)
	}

	// Not applied: ingress-nginx's Helm values and the k0s controller
	// configuration of a fresh management node.
	vals, err := r.ingressValues()
	if err != nil {
		return cl, err
	}
	cl.Files = append(cl.Files, File{Path: "management/ingress-nginx-values.yaml", Raw: vals,
		Note: "Helm values for ingress-nginx (not applied by aisedge fleet apply):\n  helm upgrade --install ingress-nginx ingress-nginx/ingress-nginx -n ingress-nginx --create-namespace -f ingress-nginx-values.yaml"})
	if m.Mode == fleet.Fresh {
		k0s, err := r.k0sController()
		if err != nil {
			return cl, err
		}
		cl.Files = append(cl.Files, File{Path: "management/k0s.yaml", Raw: k0s,
			Note: "k0s controller configuration of the management node (not applied):\n  k0s install controller --single -c k0s.yaml"})
	}
	return cl, nil
}

// certManager renders the issuers and certificates (docs/compat.md,
// "Certificates": the
// original's names, durations and key sizes).
func (r *renderer) certManager() (objs, secrets []*unstructured.Unstructured) {
	m := &r.c.Management
	const cm = "cert-manager.io/v1"
	l := partOf(nil)
	objs = append(objs,
		obj(cm, "ClusterIssuer", "", SelfSignedIssuer, l, map[string]any{"selfSigned": map[string]any{}}),
		obj(cm, "Certificate", NSCertManager, CACertificate, l, map[string]any{
			"isCA":        true,
			"commonName":  "AIS Edge Root CA",
			"secretName":  CASecret,
			"duration":    "87600h",
			"renewBefore": "8760h",
			"privateKey":  map[string]any{"algorithm": "RSA", "size": int64(4096)},
			"issuerRef":   map[string]any{"name": SelfSignedIssuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
		}),
		obj(cm, "ClusterIssuer", "", fleet.IssuerCA, l, map[string]any{"ca": map[string]any{"secretName": cmp.Or(r.issuerSecret, CASecret)}}),
	)
	if m.TLS.Issuer == fleet.IssuerLetsEncrypt || m.TLS.Issuer == fleet.IssuerLetsEncryptStaging {
		server := "https://acme-v02.api.letsencrypt.org/directory"
		if m.TLS.Issuer == fleet.IssuerLetsEncryptStaging {
			server = "https://acme-staging-v02.api.letsencrypt.org/directory"
		}
		var solver map[string]any
		switch m.TLS.DNSProvider {
		case "cloudflare":
			solver = map[string]any{"cloudflare": map[string]any{"apiTokenSecretRef": map[string]any{"name": "cloudflare-api-token", "key": "api-token"}}}
			secrets = append(secrets, secret(NSCertManager, "cloudflare-api-token", nil, map[string][]byte{"api-token": []byte(m.TLS.CloudflareAPIToken.Value())}))
		case "route53":
			r53 := map[string]any{"hostedZoneID": m.TLS.Route53HostedZoneID}
			if m.TLS.Route53Region != "" {
				r53["region"] = m.TLS.Route53Region
			}
			solver = map[string]any{"route53": r53}
		}
		objs = append(objs, obj(cm, "ClusterIssuer", "", m.TLS.Issuer, l, map[string]any{
			"acme": map[string]any{
				"server":              server,
				"email":               m.TLS.ACMEEmail,
				"privateKeySecretRef": map[string]any{"name": m.TLS.Issuer + "-account-key"},
				"solvers":             []any{map[string]any{"dns01": solver}},
			},
		}))
	}
	spec := map[string]any{
		"secretName":  SeaweedFSTLS,
		"dnsNames":    []any{m.SeaweedFSHostname},
		"duration":    "8760h",
		"renewBefore": "720h",
		"privateKey":  map[string]any{"algorithm": "RSA", "size": int64(2048)},
		"issuerRef":   map[string]any{"name": m.TLS.Issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
	}
	if m.Topology == fleet.OnPrem && m.NodeIP != "" {
		spec["ipAddresses"] = []any{m.NodeIP}
	}
	objs = append(objs, obj(cm, "Certificate", NSSeaweedFS, SeaweedFSTLS, l, spec))
	// The Service's certificate, for the hub: always the private CA's (a
	// public CA does not sign cluster-internal names).
	objs = append(objs, obj(cm, "Certificate", NSSeaweedFS, SeaweedFSInternalTLS, l, map[string]any{
		"secretName":  SeaweedFSInternalTLS,
		"dnsNames":    []any{seaweedServiceHost, "seaweedfs." + NSSeaweedFS + ".svc"},
		"duration":    "8760h",
		"renewBefore": "720h",
		"privateKey":  map[string]any{"algorithm": "RSA", "size": int64(2048)},
		"issuerRef":   map[string]any{"name": fleet.IssuerCA, "kind": "ClusterIssuer", "group": "cert-manager.io"},
	}))
	return objs, secrets
}

// seaweedNamespace is SeaweedFS's namespace: its volumes are a host folder
// (management.s3.dataDir), which the baseline level forbids.
func seaweedNamespace() *unstructured.Unstructured {
	ns := namespace(NSSeaweedFS, podSecurity(psaPrivileged))
	ns.SetAnnotations(map[string]string{PodSecurityJustification: "SeaweedFS keeps its volumes in a host folder (hostPath management.s3.dataDir); its containers drop every capability"})
	return ns
}

// seaweedSecurity is the security context of SeaweedFS's containers. Its
// image runs as root and writes the host folder the kubelet creates
// root-owned; nothing else of root is needed: no capability, no
// privilege escalation, the runtime's seccomp profile.
func seaweedSecurity() *corev1.SecurityContext {
	f := false
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: &f,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// seaweedfs renders the Deployment, Service and Ingress; configHash rolls
// the pod when s3.json changes.
func (r *renderer) seaweedfs(configHash string) []*unstructured.Unstructured {
	m := &r.c.Management
	labels := map[string]string{"app": "seaweedfs"}
	hostPathType := corev1.HostPathDirectoryOrCreate
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: NSSeaweedFS, Name: "seaweedfs", Labels: partOf(labels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: int32p(1),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: partOf(labels), Annotations: map[string]string{S3ConfigHashAnn: configHash}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:  "seaweedfs",
						Image: m.Images.SeaweedFS,
						// S3 over HTTP for the ingress (which terminates
						// TLS) and over TLS for the hub; SeaweedFS reloads
						// the certificate when cert-manager renews it.
						Args: []string{"server", "-dir=/data", "-master.volumeSizeLimitMB=1024", "-volume.max=0",
							"-filer", "-s3", "-s3.config=/etc/seaweedfs/s3.json", "-s3.port=8333", "-s3.port.https=8443",
							"-s3.cert.file=" + seaweedTLSDir + "/tls.crt", "-s3.key.file=" + seaweedTLSDir + "/tls.key", "-metricsPort=9324"},
						Ports: []corev1.ContainerPort{
							{Name: "s3", ContainerPort: 8333}, {Name: "s3-https", ContainerPort: 8443}, {Name: "master", ContainerPort: 9333},
							{Name: "filer", ContainerPort: 8888}, {Name: "metrics", ContainerPort: 9324},
						},
						// SeaweedFS looks for a renewed certificate every
						// 5 hours by default; after rotate-ca's phase 2 the
						// hub trusts the new CA only, so a minute.
						Env:             []corev1.EnvVar{{Name: "WEED_TLS_CERT_REFRESH_INTERVAL", Value: "1m"}},
						SecurityContext: seaweedSecurity(),
						Resources:       resources("200m", "256Mi", "2", "2Gi"),
						StartupProbe:    startupProbe("/cluster/status", "master"),
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/cluster/status", Port: intstr.FromInt32(9333)}},
							PeriodSeconds: 10, InitialDelaySeconds: 5,
						},
						// The S3 port accepting connections: a master busy
						// electing itself must not be restarted.
						LivenessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("s3")}},
							PeriodSeconds: 10, FailureThreshold: 6,
						},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "data", MountPath: "/data"},
							{Name: "s3-config", MountPath: "/etc/seaweedfs", ReadOnly: true},
							{Name: "tls", MountPath: seaweedTLSDir, ReadOnly: true},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: m.S3.DataDir, Type: &hostPathType}}},
						{Name: "s3-config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: S3ConfigSecret, DefaultMode: mode(0o400)}}},
						{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: SeaweedFSInternalTLS, DefaultMode: mode(0o400),
							Items: []corev1.KeyToPath{{Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}}}}},
					},
				},
			},
		},
	}
	app{name: "seaweedfs", component: "object-store", instance: "management", image: m.Images.SeaweedFS}.label(dep)
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: NSSeaweedFS, Name: "seaweedfs", Labels: partOf(labels)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: labels,
			Ports: []corev1.ServicePort{
				{Name: "s3", Port: 8333, TargetPort: intstr.FromString("s3")},
				{Name: "s3-https", Port: 8443, TargetPort: intstr.FromString("s3-https")},
				{Name: "master", Port: 9333, TargetPort: intstr.FromString("master")},
				{Name: "filer", Port: 8888, TargetPort: intstr.FromString("filer")},
				{Name: "metrics", Port: 9324, TargetPort: intstr.FromString("metrics")},
				// gRPC of master and filer, for `weed shell` (the bucket Job).
				{Name: "master-grpc", Port: 19333, TargetPort: intstr.FromInt32(19333)},
				{Name: "filer-grpc", Port: 18888, TargetPort: intstr.FromInt32(18888)},
			},
		},
	}
	className := "nginx"
	pathType := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Namespace: NSSeaweedFS, Name: "seaweedfs", Labels: partOf(labels), Annotations: map[string]string{
			"nginx.ingress.kubernetes.io/proxy-body-size":         "50g",
			"nginx.ingress.kubernetes.io/proxy-read-timeout":      "3600",
			"nginx.ingress.kubernetes.io/proxy-send-timeout":      "3600",
			"nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
		}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &className,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{m.SeaweedFSHostname}, SecretName: SeaweedFSTLS}},
			Rules: []networkingv1.IngressRule{{
				Host: m.SeaweedFSHostname,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &pathType,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "seaweedfs", Port: networkingv1.ServiceBackendPort{Name: "s3"}}},
				}}}},
			}},
		},
	}
	return []*unstructured.Unstructured{toUnstructured(dep), toUnstructured(svc), toUnstructured(ing), toUnstructured(r.bucketJob(m.S3.Bucket))}
}

// bucketScript creates $BUCKET unless it exists; the bucket name comes from
// the environment, so the script is constant text.
const bucketScript = `out=$(echo "s3.bucket.create -name $BUCKET" | weed shell -master=seaweedfs.seaweedfs.svc:9333 -filer=seaweedfs.seaweedfs.svc:8888 2>&1)
echo "$out"
case "$out" in *"created bucket"*|*"already exists"*) exit 0 ;; esac
exit 1
`

// bucketJob creates a bucket (the ingest bucket, and the logs bucket of
// the observability stack; the original ran mc mb through a
// port-forward). Its name carries a hash of what it does: a Job's template
// cannot change, a new bucket or image makes a new Job.
func (r *renderer) bucketJob(bucket string) *batchv1.Job {
	m := &r.c.Management
	labels := map[string]string{"app": "seaweedfs", "component": "bucket"}
	name := "seaweedfs-bucket-" + hash([]byte(bucket), []byte(m.Images.SeaweedFS), []byte(bucketScript))[:8]
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Namespace: NSSeaweedFS, Name: name, Labels: partOf(labels)},
		Spec: batchv1.JobSpec{
			BackoffLimit: int32p(20),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: partOf(labels)},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyOnFailure,
					AutomountServiceAccountToken: boolp(false),
					Containers: []corev1.Container{{
						Name:            "create-bucket",
						Image:           m.Images.SeaweedFS,
						Command:         []string{"/bin/sh", "-c", bucketScript},
						Env:             []corev1.EnvVar{{Name: "BUCKET", Value: bucket}},
						SecurityContext: seaweedSecurity(),
						Resources:       resources("50m", "64Mi", "500m", "256Mi"),
					}},
				},
			},
		},
	}
}

// Paths inside aisedge's pods.
const (
	podConfigDir  = "/etc/aisedge"
	podS3Dir      = "/etc/aisedge/s3"
	podXNATDir    = "/etc/aisedge/xnat"
	podCADir      = "/etc/aisedge/ca"
	podRoutingDir = "/etc/aisedge/routing"
	podProfileDir = "/etc/aisedge/profile"
	podStateDir   = "/var/lib/aisedge"
)

// hubConfig is the hub's configuration file: no secrets, only the paths
// of the mounted Secret files.
func (r *renderer) hubConfig() ([]byte, error) {
	m := &r.c.Management
	return marshalConfig(struct {
		Hub *config.Hub `yaml:"hub"`
	}{&config.Hub{
		// A folder of the volume, not its root: a provisioner may leave
		// the root world-writable (local-path makes it 0777), which the
		// hub refuses for its state; this folder it creates 0700 itself.
		DataDir: podStateDir + "/hub",
		S3: config.S3{Endpoint: seaweedS3URL, Bucket: m.S3.Bucket, CAFile: podCADir + "/ca.crt",
			AccessKeyFile: podS3Dir + "/access-key", SecretKeyFile: podS3Dir + "/secret-key"},
		Prefix:   "staged/",
		Interval: config.Duration(m.Hub.IntervalDuration()),
		XNAT: &config.XNAT{URL: m.XNAT.URL, AllowInsecureRedirect: m.XNAT.AllowInsecureRedirect,
			UsernameFile: podXNATDir + "/username", PasswordFile: podXNATDir + "/password"},
		// The pod's IP for the probes and the pod proxy; read-only (the
		// actions stay on the local socket, httpActions is left off).
		HTTP: "0.0.0.0:8081",
	}})
}

// HubCABundle returns the hub's ca-bundle Secret holding pem (the CA it
// trusts for SeaweedFS's in-cluster certificate). apply uses it when the
// bundle was not known at render time.
func HubCABundle(pem []byte) *unstructured.Unstructured {
	return secret(NSUpload, CABundleSecret, map[string]string{"app": "xnat-ingest", "component": "upload"}, map[string][]byte{"ca.crt": pem})
}

func (r *renderer) hub() ([]File, error) {
	m := &r.c.Management
	labels := map[string]string{"app": "xnat-ingest", "component": "upload"}
	hubYAML, err := r.hubConfig()
	if err != nil {
		return nil, err
	}
	s3 := map[string][]byte{"access-key": []byte(m.S3.AdminAccessKey.Value()), "secret-key": []byte(m.S3.AdminSecretKey.Value())}
	xnat := map[string][]byte{"server": []byte(m.XNAT.URL), "username": []byte(m.XNAT.Username.Value()), "password": []byte(m.XNAT.Password.Value())}
	secrets := []*unstructured.Unstructured{
		secret(NSUpload, HubS3Secret, labels, s3),
		secret(NSUpload, XNATSecret, labels, xnat),
	}
	// The private CA, which signs SeaweedFS's in-cluster certificate; when
	// it is not known yet apply writes it from the management cluster
	// (HubCABundleMissing), and rotate-ca keeps it current.
	if len(r.ca) > 0 {
		secrets = append(secrets, HubCABundle(r.ca))
	}
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Namespace: NSUpload, Name: HubPVC, Labels: partOf(labels)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if m.StorageClass != "" {
		sc := m.StorageClass
		pvc.Spec.StorageClassName = &sc
	}
	// The hash covers the configuration and the Secrets' content, so that
	// a rotated credential rolls the pod.
	rollHash := hash(hubYAML, sortedData(s3), sortedData(xnat))
	gid := int64(65532)
	// One writer of the state volume at a time.
	dep := singleton(NSUpload, HubDeployment, labels, rollHash, corev1.PodSpec{
		AutomountServiceAccountToken: boolp(false),
		SecurityContext:              &corev1.PodSecurityContext{FSGroup: &gid},
		Containers: []corev1.Container{{
			Name:            "hub",
			Image:           m.Images.AISEdge,
			Args:            []string{"hub", "--config", podConfigDir + "/hub.yaml"},
			Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8081}},
			SecurityContext: restricted(),
			Resources:       resources("100m", "128Mi", "1", "1Gi"),
			StartupProbe:    startupProbe("/healthz", "http"),
			// A failed start's last log lines become the pod's
			// termination message (kubectl describe shows them).
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			ReadinessProbe:           httpProbe("/readyz", "http"),
			LivenessProbe:            httpProbe("/healthz", "http"),
			VolumeMounts: []corev1.VolumeMount{
				{Name: "config", MountPath: podConfigDir + "/hub.yaml", SubPath: "hub.yaml", ReadOnly: true},
				{Name: "s3", MountPath: podS3Dir, ReadOnly: true},
				{Name: "xnat", MountPath: podXNATDir, ReadOnly: true},
				{Name: "ca", MountPath: podCADir, ReadOnly: true},
				{Name: "state", MountPath: podStateDir},
				{Name: "tmp", MountPath: "/tmp"},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: HubConfigMap}}}},
			{Name: "s3", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: HubS3Secret, DefaultMode: mode(0o440)}}},
			{Name: "xnat", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: XNATSecret, DefaultMode: mode(0o440),
				Items: []corev1.KeyToPath{{Key: "username", Path: "username"}, {Key: "password", Path: "password"}}}}},
			{Name: "ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: CABundleSecret, DefaultMode: mode(0o444)}}},
			{Name: "state", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: HubPVC}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	})
	app{name: "aisedge-hub", component: "hub", instance: "management", image: m.Images.AISEdge}.label(dep)
	return []File{
		{Path: "management/30-hub-secrets.yaml", Secret: true, Objects: secrets},
		{Path: "management/30-hub.yaml", Objects: []*unstructured.Unstructured{
			configMap(NSUpload, HubConfigMap, labels, map[string]string{"hub.yaml": string(hubYAML)}),
			toUnstructured(pvc),
			toUnstructured(dep),
			toUnstructured(r.hubPolicy(labels)),
		}},
	}, nil
}

func boolp(v bool) *bool { return &v }

// singleton is the Deployment of one pod at a time (Recreate: the old pod
// is gone before the new one starts), labelled with labels and rolled by
// rollHash in the ConfigHashAnn annotation of its pod template.
func singleton(ns, name string, labels map[string]string, rollHash string, pod corev1.PodSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: partOf(labels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: int32p(1),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: partOf(labels), Annotations: map[string]string{ConfigHashAnn: rollHash}},
				Spec:       pod,
			},
		},
	}
}

func httpProbe(path, port string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(port)}},
		PeriodSeconds: 10, InitialDelaySeconds: 5, FailureThreshold: 3,
	}
}

// sortedData serializes Secret data deterministically for hashing.
func sortedData(d map[string][]byte) []byte {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		b = append(b, []byte(strconv.Itoa(len(k))+":"+k+strconv.Itoa(len(d[k]))+":")...)
		b = append(b, d[k]...)
	}
	return b
}

// k0smotronCluster renders a site's hosted control plane: its own SNI
// hostnames and NodePorts, persistent volumes for k0s and etcd.
func (r *renderer) k0smotronCluster(s *fleet.Site) *unstructured.Unstructured {
	m := &r.c.Management
	pvcSpec := map[string]any{
		"accessModes": []any{"ReadWriteOnce"},
		"resources":   map[string]any{"requests": map[string]any{"storage": m.K0s.StorageSize}},
	}
	etcdPersistence := map[string]any{"size": m.K0s.StorageSize}
	if m.StorageClass != "" {
		pvcSpec["storageClassName"] = m.StorageClass
		etcdPersistence["storageClass"] = m.StorageClass
	}
	sans := []any{s.APIHost, s.KonnectivityHost}
	spec := map[string]any{
		"replicas": int64(1),
		"version":  m.K0s.Version,
		"service": map[string]any{
			"type":             "NodePort",
			"apiPort":          int64(s.APIPort),
			"konnectivityPort": int64(s.KonnectivityPort),
		},
		"ingress": map[string]any{
			"deploy":           true,
			"className":        "nginx",
			"apiHost":          s.APIHost,
			"konnectivityHost": s.KonnectivityHost,
			"port":             int64(m.IngressPort),
			"annotations": map[string]any{
				"nginx.ingress.kubernetes.io/ssl-passthrough":  "true",
				"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
			},
		},
		"persistence": map[string]any{
			"type":                  "pvc",
			"persistentVolumeClaim": map[string]any{"spec": pvcSpec},
		},
		"etcd": map[string]any{
			"image":       m.Images.Etcd,
			"persistence": etcdPersistence,
		},
	}
	external := m.NodeIP
	if m.Topology == fleet.Cloud {
		external = m.Cloud.LoadBalancerIP
	}
	if external != "" {
		spec["externalAddress"] = external
		sans = append(sans, external)
	}
	spec["k0sConfig"] = map[string]any{
		"apiVersion": "k0s.k0sproject.io/v1beta1",
		"kind":       "ClusterConfig",
		"spec":       map[string]any{"api": map[string]any{"sans": sans}},
	}
	return obj("k0smotron.io/v1beta1", "Cluster", s.Name, s.Name, partOf(map[string]string{"aisedge.io/site": s.Name}), spec)
}

// ingressValues are ingress-nginx's Helm values (docs/compat.md,
// "Ingress": SSL
// passthrough for the k0s API and konnectivity, hostNetwork on-prem,
// LoadBalancer in the cloud).
func (r *renderer) ingressValues() ([]byte, error) {
	m := &r.c.Management
	ctrl := map[string]any{
		"ingressClass":         "nginx",
		"ingressClassResource": map[string]any{"name": "nginx", "default": true},
		"extraArgs":            map[string]any{"enable-ssl-passthrough": "true"},
		"config": map[string]any{
			"proxy-body-size":       "50g",
			"proxy-read-timeout":    "3600",
			"proxy-send-timeout":    "3600",
			"use-forwarded-headers": "true",
		},
	}
	if r.c.Observability.Enabled {
		// Prometheus scrapes the controller's metrics Service.
		ctrl["metrics"] = map[string]any{"enabled": true}
	}
	if m.Topology == fleet.OnPrem {
		ctrl["replicaCount"] = 1
		ctrl["hostNetwork"] = true
		ctrl["dnsPolicy"] = "ClusterFirstWithHostNet"
		ctrl["service"] = map[string]any{"type": "ClusterIP"}
		ctrl["tolerations"] = []any{map[string]any{"operator": "Exists"}}
		if m.IngressPort != 443 {
			ctrl["extraArgs"].(map[string]any)["https-port"] = strconv.Itoa(m.IngressPort)
			ctrl["containerPort"] = map[string]any{"http": 80, "https": m.IngressPort}
		}
	} else {
		svc := map[string]any{"type": "LoadBalancer", "ports": map[string]any{"https": m.IngressPort}}
		ann := map[string]any{}
		if m.Cloud.Provider == "aws" {
			ann["service.beta.kubernetes.io/aws-load-balancer-type"] = "nlb"
		}
		for k, v := range m.Cloud.ServiceAnnotations {
			ann[k] = v
		}
		if len(ann) > 0 {
			svc["annotations"] = ann
		}
		if m.Cloud.LoadBalancerIP != "" {
			svc["loadBalancerIP"] = m.Cloud.LoadBalancerIP
		}
		ctrl["replicaCount"] = 2
		ctrl["hostNetwork"] = false
		ctrl["dnsPolicy"] = "ClusterFirst"
		ctrl["service"] = svc
	}
	return yaml.Marshal(map[string]any{"controller": ctrl})
}

// k0sController is the management node's k0s configuration (a fresh
// install; docs/compat.md, "Management cluster").
func (r *renderer) k0sController() ([]byte, error) {
	m := &r.c.Management
	api := map[string]any{}
	if m.NodeIP != "" {
		api["address"] = m.NodeIP
		api["sans"] = []any{m.NodeIP}
	}
	return yaml.Marshal(map[string]any{
		"apiVersion": "k0s.k0sproject.io/v1beta1",
		"kind":       "ClusterConfig",
		"metadata":   map[string]any{"name": "k0s-mgmt"},
		"spec": map[string]any{
			"api":     api,
			"network": map[string]any{"provider": "kuberouter", "podCIDR": "10.244.0.0/16", "serviceCIDR": "10.96.0.0/12"},
		},
	})
}
