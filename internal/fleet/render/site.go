package render

import (
	"fmt"
	"os"
	"strconv"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/deidconf"
	"github.com/aisedge/aisedge/internal/fleet"
)

// Pod labels of the edge workload. The original ran three Deployments
// (sort, s3-uploader, orthanc); aisedge runs one process whose upload
// events are the ones the original's dashboards and alerts count, so the
// pod keeps the uploader's labels (docs/compat.md, "Observability").
var edgeLabels = map[string]string{"app": "xnat-ingest", "component": "s3-uploader"}

// EdgeCABundle returns the child cluster's ca-bundle Secret holding pem.
// apply uses it when the bundle was not known at render time.
func EdgeCABundle(pem []byte) *unstructured.Unstructured {
	return secret(NSIngest, CABundleSecret, edgeLabels, map[string][]byte{"ca.crt": pem})
}

// marshalConfig writes a daemon configuration (internal/config types) and
// drops zero values, which the daemon's loader treats as "use the default"
// anyway, so that the file shows only what the fleet sets.
func marshalConfig(v any) ([]byte, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	prune(m)
	return yaml.Marshal(m)
}

func prune(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			prune(x)
			if len(x) == 0 {
				delete(m, k)
			}
		case nil:
			delete(m, k)
		case string:
			if x == "" || x == "0s" {
				delete(m, k)
			}
		case int:
			if x == 0 {
				delete(m, k)
			}
		case bool:
			if !x {
				delete(m, k)
			}
		}
	}
}

// edgeConfig is the edge's configuration file: no secrets (the S3 key is
// read from mounted Secret files, the HMAC key from the environment).
func (r *renderer) edgeConfig(s *fleet.Site) ([]byte, error) {
	m := &r.c.Management
	endpoint := "https://" + m.SeaweedFSHostname
	if m.IngressPort != 443 {
		endpoint += ":" + strconv.Itoa(m.IngressPort)
	}
	e := &config.Edge{
		Name:    s.Name,
		DataDir: "/data",
		DICOM:   config.DICOM{Listen: "0.0.0.0:4242", AETitle: s.AETitle},
		Project: s.Project,
		Profile: s.Profile,
		FacilityBackup: config.FacilityBackup{
			Dir: "/facility-backup",
		},
		Study: config.Study{QuietPeriod: config.Duration(s.QuietPeriodDuration())},
		S3: config.S3{Endpoint: endpoint, Bucket: m.S3.Bucket,
			AccessKeyFile: podS3Dir + "/access-key", SecretKeyFile: podS3Dir + "/secret-key"},
		// The pod's IP, not loopback: the kubelet's probes and the API
		// server's pod proxy (fleet status) connect to it. The port is
		// read-only (metrics, health, status); the actions stay on the
		// local socket, as httpActions is left off.
		HTTP: "0.0.0.0:8080",
	}
	if r.needCA() {
		e.S3.CAFile = podCADir + "/ca.crt"
	}
	if s.Routing != "" {
		e.Routing = podRoutingDir + "/routing.json"
	}
	if !deidconf.IsBuiltin(s.Profile) {
		e.Profile = podProfileDir + "/profile.json"
	}
	return marshalConfig(struct {
		Edge *config.Edge `yaml:"edge"`
	}{e})
}

// site renders a child cluster's objects.
func (r *renderer) site(s *fleet.Site) (Cluster, error) {
	m := &r.c.Management
	cl := Cluster{Name: s.Name}
	dir := "sites/" + s.Name + "/"
	edgeYAML, err := r.edgeConfig(s)
	if err != nil {
		return cl, err
	}
	cms := []*unstructured.Unstructured{configMap(NSIngest, EdgeConfigMap, edgeLabels, map[string]string{"edge.yaml": string(edgeYAML)})}
	var routing, profile []byte
	if s.Routing != "" {
		if routing, err = os.ReadFile(r.c.Path(s.Routing)); err != nil {
			return cl, fmt.Errorf("routing: %w", err)
		}
		cms = append(cms, configMap(NSIngest, RoutingConfigMap, edgeLabels, map[string]string{"routing.json": string(routing)}))
	}
	if !deidconf.IsBuiltin(s.Profile) {
		if profile, err = os.ReadFile(r.c.Path(s.Profile)); err != nil {
			return cl, fmt.Errorf("profile: %w", err)
		}
		cms = append(cms, configMap(NSIngest, ProfileConfigMap, edgeLabels, map[string]string{"profile.json": string(profile)}))
	}

	s3 := map[string][]byte{"access-key": []byte(s.S3AccessKey.Value()), "secret-key": []byte(s.S3SecretKey.Value())}
	hmac := map[string][]byte{"hmac-key": []byte(m.HMACKey.Value())}
	secrets := []*unstructured.Unstructured{
		secret(NSIngest, EdgeS3Secret, edgeLabels, s3),
		secret(NSIngest, HMACSecret, edgeLabels, hmac),
	}
	if r.needCA() && len(r.ca) > 0 {
		secrets = append(secrets, EdgeCABundle(r.ca))
	}
	// The CA bundle is not in the hash: apply may fill it in later, and a
	// new bundle is picked up by the S3 client on its next connection.
	rollHash := hash(edgeYAML, routing, profile, sortedData(s3), sortedData(hmac))

	dirType := corev1.HostPathDirectory
	gid := int64(65532)
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: EdgeConfigMap}}}},
		{Name: "s3", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: EdgeS3Secret, DefaultMode: mode(0o440)}}},
		// Host folders made by `fleet join` with the image user (65532)
		// as owner; Directory (not DirectoryOrCreate) so that a missing
		// folder stops the pod with a clear event instead of a root-owned
		// folder it cannot write.
		{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: s.DataDir, Type: &dirType}}},
		{Name: "facility-backup", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: s.FacilityBackupDir, Type: &dirType}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: podConfigDir + "/edge.yaml", SubPath: "edge.yaml", ReadOnly: true},
		{Name: "s3", MountPath: podS3Dir, ReadOnly: true},
		{Name: "data", MountPath: "/data"},
		{Name: "facility-backup", MountPath: "/facility-backup"},
		{Name: "tmp", MountPath: "/tmp"},
	}
	if r.needCA() {
		volumes = append(volumes, corev1.Volume{Name: "ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: CABundleSecret, DefaultMode: mode(0o444)}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "ca", MountPath: podCADir, ReadOnly: true})
	}
	if routing != nil {
		volumes = append(volumes, corev1.Volume{Name: "routing", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: RoutingConfigMap}}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "routing", MountPath: podRoutingDir, ReadOnly: true})
	}
	if profile != nil {
		volumes = append(volumes, corev1.Volume{Name: "profile", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: ProfileConfigMap}}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "profile", MountPath: podProfileDir, ReadOnly: true})
	}
	pod := corev1.PodSpec{
		AutomountServiceAccountToken: boolp(false),
		SecurityContext:              &corev1.PodSecurityContext{FSGroup: &gid},
		Containers: []corev1.Container{{
			Name:  "edge",
			Image: m.Images.AISEdge,
			Args:  []string{"edge", "--config", podConfigDir + "/edge.yaml"},
			Env: []corev1.EnvVar{{Name: deidconf.SaltEnv, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: HMACSecret}, Key: "hmac-key"}}}},
			Ports: []corev1.ContainerPort{
				// DICOM on the facility LAN (AE title AISEDGE, port 4242).
				{Name: "dicom", ContainerPort: 4242, HostPort: 4242, Protocol: corev1.ProtocolTCP},
				{Name: "http", ContainerPort: 8080},
			},
			SecurityContext: restricted(),
			Resources:       resources("250m", "256Mi", "2", "2Gi"),
			StartupProbe:    startupProbe("/healthz", "http"),
			// A failed start's last log lines become the pod's
			// termination message (kubectl describe shows them).
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			ReadinessProbe:           httpProbe("/readyz", "http"),
			LivenessProbe:            httpProbe("/healthz", "http"),
			VolumeMounts:             mounts,
		}},
		Volumes: volumes,
	}
	if m.Topology == fleet.OnPrem && m.NodeIP != "" {
		// No DNS on-prem: the management names resolve to its node.
		pod.HostAliases = []corev1.HostAlias{{IP: m.NodeIP, Hostnames: []string{m.SeaweedFSHostname, s.APIHost, s.KonnectivityHost}}}
	}
	// hostPort 4242 and the host folders belong to one pod at a time.
	dep := singleton(NSIngest, EdgeDeployment, edgeLabels, rollHash, pod)
	app{name: "aisedge-edge", component: "edge", instance: s.Name, image: m.Images.AISEdge}.label(dep)
	// The edge's pod cannot meet the baseline level: it keeps DICOM in
	// host folders (the spool must outlive the pod, and `fleet join`
	// makes them with the image user as owner) and listens on the
	// facility LAN at hostPort 4242 (modalities are configured with the
	// edge host's address). Everything else of the restricted level it
	// meets, and warnings and audit stay at restricted.
	ingest := namespace(NSIngest, merge(map[string]string{"app": "xnat-ingest"}, podSecurity(psaPrivileged)))
	ingest.SetAnnotations(map[string]string{PodSecurityJustification: "the edge keeps DICOM in host folders (hostPath) and receives on the facility LAN at hostPort 4242; it otherwise meets the restricted level"})
	nss := []*unstructured.Unstructured{ingest}
	if r.c.Observability.Enabled {
		nss = append(nss, namespace(NSLogging, nil))
	}
	cl.Files = []File{
		{Path: dir + "00-namespace.yaml", Objects: nss},
		{Path: dir + "10-edge-secrets.yaml", Secret: true, Objects: secrets},
		{Path: dir + "20-edge.yaml", Objects: append(cms, toUnstructured(dep), toUnstructured(r.edgePolicy()))},
	}
	if r.c.Observability.Enabled {
		osecrets, oobjs := r.observabilitySite(s)
		cl.Files = append(cl.Files,
			File{Path: dir + "30-observability-secrets.yaml", Secret: true, Objects: osecrets},
			File{Path: dir + "30-observability.yaml", Objects: oobjs},
		)
	}
	return cl, nil
}
