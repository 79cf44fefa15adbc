package render_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/image"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/testpeer/kubenode"
	"github.com/aisedge/aisedge/internal/testpeer/samples"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

// fleetOnNode is a rendered fleet running on a test node: SeaweedFS, the
// hub and one site's edge as pods, the XNAT emulator served by the test
// on the node's address (port 8088), and the test standing in for
// ingress-nginx on the node's port 8443.
type fleetOnNode struct {
	node      *kubenode.Node
	c         *fleet.Config
	site      *fleet.Site
	manifests *render.Manifests
	xnat      *xnattest.Server
	admin     *minio.Client // SeaweedFS's admin key, through the ingress
	caPEM     []byte
}

// startFleet renders the testdata on-prem fleet for the node and applies
// the management cluster's workloads (SeaweedFS, the hub) and the site's
// edge, then waits for all three pods to be Ready. What cannot run on the
// node is left out and stood in for: cert-manager (the test writes the
// certificates it would issue), ingress-nginx (the test terminates TLS on
// the node's port 8443 and hands the connection to the seaweedfs Service,
// as the rendered Ingress routes it), k0smotron (the site's workloads run
// on the same node) and the bucket Job (its script needs a shell, which
// the SeaweedFS image built from the test's weed binary lacks: the test
// makes the bucket with the admin key, as the Job would).
func startFleet(t *testing.T) *fleetOnNode {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no node")
	}
	if why := kubenode.Requirements(); why != "" {
		t.Skip("kubenode: " + why)
	}
	weed := filepath.Join(os.Getenv("HOME"), ".cache", "aisedge-test", "weed-4.53", "weed")
	if c := os.Getenv("AISEDGE_CACHE"); c != "" {
		weed = filepath.Join(c, "weed-4.53", "weed")
	}
	if _, err := os.Stat(weed); err != nil {
		t.Skipf("SeaweedFS is not built (%v): run ./scripts/seaweedfs.sh", err)
	}
	ctx := context.Background()
	archive, img := buildImage(t)
	weedImg, err := kubenode.BinaryImage(weed, "/usr/bin/weed", "0:0")
	if err != nil {
		t.Fatal(err)
	}
	weedArchive := filepath.Join(t.TempDir(), "seaweedfs.tar")
	weedRes, err := image.WriteArchive(weedImg, "docker.io/aisedge-test/seaweedfs:test", weedArchive)
	if err != nil {
		t.Fatal(err)
	}

	c, err := fleet.Load("../testdata/native/onprem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := &c.Management
	m.NodeIP, m.IngressPort = kubenode.NodeIP, 8443
	m.Images.AISEdge = "aisedge-test/aisedge@" + img.Digest.String()
	m.Images.SeaweedFS = "aisedge-test/seaweedfs@" + weedRes.Digest.String()
	m.XNAT.URL, m.XNAT.AllowInsecureRedirect = "http://"+kubenode.NodeIP+":8088", true
	hostDir := t.TempDir()
	m.S3.DataDir = filepath.Join(hostDir, "seaweedfs")
	site := &c.Sites[0]
	site.DataDir, site.FacilityBackupDir = filepath.Join(hostDir, "data"), filepath.Join(hostDir, "backup")
	for _, d := range []string{site.DataDir, site.FacilityBackupDir} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, image.UID, image.UID); err != nil {
			t.Fatal(err)
		}
	}
	// One certificate for the external name (the ingress's) and the
	// Service's names (SeaweedFS's own TLS port, the hub's endpoint).
	caPEM, certFile, keyFile := writeTLS(t, kubenode.NodeIP, m.SeaweedFSHostname,
		"seaweedfs."+render.NSSeaweedFS+".svc.cluster.local", "seaweedfs."+render.NSSeaweedFS+".svc")
	manifests, err := render.Render(c, render.Options{CABundle: caPEM})
	if err != nil {
		t.Fatal(err)
	}

	node := kubenode.Start(t)
	node.ImportImage(t, archive, "docker.io/aisedge-test/aisedge")
	node.ImportImage(t, weedArchive, "docker.io/aisedge-test/seaweedfs")
	f := &fleetOnNode{node: node, c: c, site: site, manifests: manifests, caPEM: caPEM}

	// XNAT: the emulator with the fleet's user and the site's project.
	f.xnat = xnattest.New(xnattest.Options{})
	t.Cleanup(f.xnat.Close)
	f.xnat.AddUser(m.XNAT.Username.Value(), m.XNAT.Password.Value())
	f.xnat.AddProject(site.Project, map[string]xnattest.Role{m.XNAT.Username.Value(): xnattest.Owner})
	xl, err := node.Listen("tcp", kubenode.NodeIP+":8088")
	if err != nil {
		t.Fatal(err)
	}
	xsrv := &http.Server{Handler: f.xnat}
	go xsrv.Serve(xl)
	t.Cleanup(func() { xsrv.Close() })

	// The hub's volume, as the local-path provisioner makes one.
	hubPV(t, node)

	// The management cluster's objects, less what stands in for the
	// missing controllers.
	var mgmt []*unstructured.Unstructured
	for _, o := range manifests.Management.Objects() {
		group, _, _ := strings.Cut(o.GetAPIVersion(), "/")
		if group == "cert-manager.io" || group == "k0smotron.io" || o.GetKind() == "Job" {
			continue
		}
		mgmt = append(mgmt, o)
	}
	mc, err := kube.New("management", node.Config)
	if err != nil {
		t.Fatal(err)
	}
	mc.PollInterval = 500 * time.Millisecond
	if _, err := mc.Apply(ctx, mgmt); err != nil {
		t.Fatal(err)
	}
	// The Secret cert-manager would issue for the Certificate of
	// SeaweedFS's Service names (the pod waits for it, as it would for
	// cert-manager).
	tlsSecret(t, node, render.NSSeaweedFS, render.SeaweedFSInternalTLS, caPEM, certFile, keyFile)
	// The hub trusts SeaweedFS's own TLS port by the rendered bundle.
	if cfg := hubConfigOf(t, manifests); !strings.Contains(cfg, "endpoint: https://seaweedfs.seaweedfs.svc.cluster.local:8443") {
		t.Fatalf("the hub's S3 endpoint is not SeaweedFS's TLS port:\n%s", cfg)
	}
	waitPodReady(t, node, render.NSSeaweedFS, "")
	svc, err := node.Clientset.CoreV1().Services(render.NSSeaweedFS).Get(ctx, "seaweedfs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serveIngress(t, node, certFile, keyFile, net.JoinHostPort(svc.Spec.ClusterIP, "8333"))
	f.admin, err = minio.New(kubenode.NodeIP+":8443", &minio.Options{
		Creds:     credentials.NewStaticV4(m.S3.AdminAccessKey.Value(), m.S3.AdminSecretKey.Value(), ""),
		Secure:    true,
		Transport: nodeTransport(node, caPEM),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SeaweedFS takes a bucket", func() (bool, string) {
		err := f.admin.MakeBucket(ctx, m.S3.Bucket, minio.MakeBucketOptions{})
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return false, err.Error()
		}
		return true, ""
	})
	waitPodReady(t, node, render.NSUpload, "")

	// The site's edge, applied as `fleet apply` does.
	sc, _ := manifests.Site(site.Name)
	cl, err := kube.New(site.Name, node.Config)
	if err != nil {
		t.Fatal(err)
	}
	cl.PollInterval = 500 * time.Millisecond
	if _, err := cl.Apply(ctx, sc.Objects()); err != nil {
		t.Fatal(err)
	}
	waitPodReady(t, node, render.NSIngest, "")
	return f
}

// TestFleetDeliversOnNode sends a series to the edge pod and finds it in
// XNAT: the edge uploads it over TLS to the SeaweedFS pod (through the
// ingress), the hub pod reads the sealed session from the seaweedfs
// Service (its name resolved by the cluster DNS, its address routed by
// kube-proxy) and delivers it to the XNAT emulator.
func TestFleetDeliversOnNode(t *testing.T) {
	f := startFleet(t)
	const n = 3
	series := samples.Series{PatientID: "NODE-E2E", StudyUID: "1.2.826.0.1.3680043.10.1500.2",
		SeriesUID: "1.2.826.0.1.3680043.10.1500.2.1", SeriesNumber: 1, N: n}.Write(t)
	f.send(t, series)
	f.waitDelivered(t, n)
}

// send stores every file of the folder into the edge through the node's
// hostPort 4242.
func (f *fleetOnNode) send(t *testing.T, dir string) {
	t.Helper()
	out, err := f.node.Command(context.Background(), "storescu", "-aec", f.site.AETitle, "+sd",
		kubenode.NodeIP, "4242", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("storescu to the edge: %v\n%s", err, out)
	}
}

// waitDelivered waits until the site's XNAT project holds want DICOM
// files in all, in one experiment per study.
func (f *fleetOnNode) waitDelivered(t *testing.T, want int) {
	t.Helper()
	p := f.site.Project
	waitFor(t, fmt.Sprintf("%d instances in XNAT project %s", want, p), func() (bool, string) {
		got, exps := 0, f.xnat.Experiments(p)
		for _, e := range exps {
			for _, s := range f.xnat.Scans(p, e.ID) {
				got += len(f.xnat.Files(p, e.ID, s.ID, "DICOM"))
			}
		}
		return got >= want, fmt.Sprintf("%d experiments, %d DICOM files", len(exps), got)
	})
}

// waitPodReady waits until a pod of the namespace whose name is not
// except is Ready (and not being deleted).
func waitPodReady(t *testing.T, node *kubenode.Node, ns, except string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	var ready *corev1.Pod
	waitFor(t, "a pod Ready in "+ns, func() (bool, string) {
		pods, err := node.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for i, p := range pods.Items {
			if p.Name == except || p.DeletionTimestamp != nil {
				continue
			}
			// A crash fails at once, with the termination message
			// the rendered FallbackToLogsOnError fills with the last
			// log lines.
			for _, cs := range p.Status.ContainerStatuses {
				if cs.RestartCount > 0 && cs.LastTerminationState.Terminated != nil {
					logs, _ := node.Clientset.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: cs.Name, Previous: true}).DoRaw(ctx)
					t.Fatalf("%s/%s restarted: %+v\n%s", ns, p.Name, cs.LastTerminationState.Terminated, logs)
				}
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready = &pods.Items[i]
					return true, ""
				}
			}
		}
		return false, node.PodsReport(ctx)
	})
	return ready
}

// hubPV makes the persistent volume the hub's claim binds: a host folder
// of mode 0777, as the local-path provisioner makes them.
func hubPV(t *testing.T, node *kubenode.Node) {
	t.Helper()
	volume := filepath.Join(t.TempDir(), "hub-pv")
	if err := os.Mkdir(volume, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(volume, 0o777); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "hub-pv"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: volume}},
		},
	}
	if _, err := node.Clientset.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// serveIngress stands in for ingress-nginx on the management node: it
// terminates TLS on the node's port 8443 with the SeaweedFS certificate
// and hands each connection, Host header and all, to backend (the
// seaweedfs Service's S3 port, reached through kube-proxy).
func serveIngress(t *testing.T, node *kubenode.Node, certFile, keyFile, backend string) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := node.Listen("tcp", kubenode.NodeIP+":8443")
	if err != nil {
		t.Fatal(err)
	}
	ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				b, err := node.DialContext(ctx, "tcp", backend)
				cancel()
				if err != nil {
					return
				}
				defer b.Close()
				// Either side's end ends both (HTTP needs no half-close).
				done := make(chan struct{}, 2)
				go func() { io.Copy(b, c); done <- struct{}{} }()
				go func() { io.Copy(c, b); done <- struct{}{} }()
				<-done
			}()
		}
	}()
}

// tlsSecret writes a kubernetes.io/tls Secret as cert-manager issues them
// (tls.crt, tls.key, ca.crt).
func tlsSecret(t *testing.T, node *kubenode.Node, ns, name string, caPEM []byte, certFile, keyFile string) {
	t.Helper()
	crt, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": caPEM},
	}
	if _, err := node.Clientset.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// hubConfigOf is the rendered hub.yaml.
func hubConfigOf(t *testing.T, m *render.Manifests) string {
	t.Helper()
	for _, o := range m.Management.Objects() {
		if o.GetKind() == "ConfigMap" && o.GetName() == render.HubConfigMap {
			cfg, _, _ := unstructured.NestedString(o.Object, "data", "hub.yaml")
			return cfg
		}
	}
	t.Fatal("no hub ConfigMap rendered")
	return ""
}
