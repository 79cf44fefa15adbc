package render_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/image"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/kube/kubetest"
	"github.com/aisedge/aisedge/internal/fleet/ops"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/testpeer/kubenode"
	"github.com/aisedge/aisedge/internal/testpeer/samples"
)

// fleetOnNode is a rendered fleet applied to a test node by `fleet
// apply` (kube.Deploy): SeaweedFS, the hub and one site's edge as pods,
// the XNAT emulator as a pod of its own (xnat_node_test.go), and the test
// standing in for the controllers the node lacks.
type fleetOnNode struct {
	node *kubenode.Node
	c    *fleet.Config
	site *fleet.Site
	xnat *xnatREST
}

// startFleet renders the testdata on-prem fleet (copied, with its secret
// files, to a temporary folder the operations may write) for the node and
// applies it as `fleet apply --wait` does, the CA bundles read from the
// cluster. What cannot run on the node is stood in for by the test:
// cert-manager (its CRDs are installed; certManager issues the
// Certificates, CAs self-signed, the others with the issuer's CA and
// their names), ingress-nginx (serveIngress terminates TLS on the node's
// port 8443 with the Secret seaweedfs-tls, as the rendered Ingress does,
// and hands the connection to the seaweedfs Service), k0smotron (its CRDs
// are installed; the rendered Cluster is left out, the site's workloads
// run on the same node) and the bucket Job (left out: its script needs a
// shell, which the SeaweedFS image built from the test's weed binary
// lacks; the test makes the bucket with the admin key, as the Job would).
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
	ctx, began := context.Background(), time.Now()
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
	xnatArchive, xnatRes := buildXNATImage(t)

	c, err := fleet.Load(copyFleet(t, "../testdata/native/onprem.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := &c.Management
	m.NodeIP, m.IngressPort = kubenode.NodeIP, 8443
	m.Images.AISEdge = "aisedge-test/aisedge@" + img.Digest.String()
	m.Images.SeaweedFS = "aisedge-test/seaweedfs@" + weedRes.Digest.String()
	m.XNAT.URL, m.XNAT.AllowInsecureRedirect = xnatURL, true
	// Short timings through the fleet's own settings: a study is
	// uploaded 3 s after its last instance, the hub looks every 2 s (the
	// defaults, 30 s and 60 s, would make each delivery wait out both).
	m.Hub.Interval = "2s"
	hostDir := t.TempDir()
	m.S3.DataDir = filepath.Join(hostDir, "seaweedfs")
	site := &c.Sites[0]
	site.DataDir, site.FacilityBackupDir = filepath.Join(hostDir, "data"), filepath.Join(hostDir, "backup")
	site.QuietPeriod = "3s"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{site.DataDir, site.FacilityBackupDir} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, image.UID, image.UID); err != nil {
			t.Fatal(err)
		}
	}
	manifests, err := render.Render(c, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !manifests.CABundleMissing || !manifests.HubCABundleMissing {
		t.Fatal("the CA bundles are known before the cluster issued the CA")
	}
	for i := range manifests.Management.Files {
		f := &manifests.Management.Files[i]
		var keep []*unstructured.Unstructured
		for _, o := range f.Objects {
			if o.GetKind() != "Job" && !strings.HasPrefix(o.GetAPIVersion(), "k0smotron.io/") {
				keep = append(keep, o)
			}
		}
		f.Objects = keep
	}

	node := kubenode.Start(t)
	node.ImportImage(t, archive, "docker.io/aisedge-test/aisedge")
	node.ImportImage(t, weedArchive, "docker.io/aisedge-test/seaweedfs")
	node.ImportImage(t, xnatArchive, "docker.io/aisedge-test/xnatemu")
	f := &fleetOnNode{node: node, c: c, site: site}
	installCRDs(t, node)
	runCertManager(t, node)

	// XNAT: the emulator pod with the fleet's account and the site's
	// project; the hub's NetworkPolicy lets it out to XNAT's port.
	f.xnat = startXNAT(t, node, "aisedge-test/xnatemu@"+xnatRes.Digest.String(), m.XNAT.Username.Value(), m.XNAT.Password.Value(), site.Project)
	if !hubEgressAllows(t, manifests, xnatPort) {
		t.Fatalf("the hub's NetworkPolicy does not let it reach XNAT on port %d", xnatPort)
	}

	// The hub's volume, as the local-path provisioner makes one.
	hubPV(t, node)
	serveIngress(t, node)
	f.makeBucket(t)

	// The hub trusts SeaweedFS's own TLS port by the CA bundle.
	cfg := hubConfigOf(t, manifests)
	if !strings.Contains(cfg, "endpoint: https://seaweedfs.seaweedfs.svc.cluster.local:8443") {
		t.Fatalf("the hub's S3 endpoint is not SeaweedFS's TLS port:\n%s", cfg)
	}
	if !strings.Contains(cfg, "interval: 2s") {
		t.Fatalf("the hub's interval is not the fleet's 2s:\n%s", cfg)
	}
	var out lockedBuffer
	err = kube.Deploy(ctx, c, manifests, node.Config, kube.Options{Out: &out, Wait: true, Timeout: 10 * time.Minute,
		PollInterval: 500 * time.Millisecond, SiteConfig: func(*fleet.Site) (*rest.Config, error) { return node.Config, nil }})
	if err != nil {
		t.Fatalf("fleet apply: %v\n%s", err, out.String())
	}
	t.Logf("fleet apply (%v after the test began):\n%s", time.Since(began).Round(time.Second), out.String())
	waitPodReady(t, node, render.NSIngest, "")
	return f
}

// env is the operations' view of the fleet on the node (its sites' child
// cluster is the node too).
func (f *fleetOnNode) env(out io.Writer) *ops.Env {
	return &ops.Env{Config: f.c, Management: f.node.Config, ManagementName: "node",
		SiteConfig: func(*fleet.Site) (*rest.Config, error) { return f.node.Config, nil },
		Out:        out, Timeout: 5 * time.Minute, PollInterval: 500 * time.Millisecond, Confirm: confirmed{}}
}

// confirmed confirms every deletion (the operator typed the phrase).
type confirmed struct{}

func (confirmed) Confirm(string, string) error { return nil }

// TestFleetOnNode runs a rendered fleet on real pods through its
// operations, a series sent to the edge pod and found in XNAT after each:
// the edge (hostPort 4242) uploads over TLS to the SeaweedFS pod (through
// the ingress), the hub pod reads the sealed session over TLS from the
// seaweedfs Service (its name answered by CoreDNS, its IP routed by
// kube-proxy) and delivers it to the XNAT emulator pod (through the
// Service xnat/xnat, by name too); the test reads the archive through
// XNAT's REST API. The edge pod deleted mid-send (no grace period): every
// instance it acknowledged reaches XNAT through its successor, which
// replays the spool on the host folder.
// Then rotate-keys (SeaweedFS and the edge roll; the edge uploads with the
// new key), rotate-ca in both phases (the edge and the hub roll with the
// bundles, SeaweedFS serves certificates of the new CA) and uninstall,
// which leaves the facility backup on the node.
func TestFleetOnNode(t *testing.T) {
	f := startFleet(t)
	ctx := context.Background()
	studies, originals := 0, 0
	// series writes a new study of n instances and returns its folder.
	series := func(n int) string {
		studies++
		originals += n
		uid := fmt.Sprintf("1.2.826.0.1.3680043.10.1500.%d", 100+studies)
		return samples.Series{PatientID: "NODE-E2E", StudyUID: uid, SeriesUID: uid + ".1", SeriesNumber: 1, N: n}.Write(t)
	}
	deliver := func(what string, n int) {
		t.Helper()
		before, start := f.experiments(t), time.Now()
		f.send(t, series(n))
		f.waitDelivered(t, before, n)
		t.Logf("%s: %d instances in XNAT %v after the send began", what, n, time.Since(start).Round(time.Second))
	}
	deliver("after fleet apply", 3)

	// The edge pod killed mid-send.
	edge := waitPodReady(t, f.node, render.NSIngest, "")
	before, killStart := f.experiments(t), time.Now()
	const sent = 300
	send := f.node.Command(ctx, "storescu", "-v", "-aec", f.site.AETitle, "+sd", kubenode.NodeIP, "4242", series(sent))
	send.Env = append(os.Environ(), "TCP_NODELAY=1")
	var sendOut lockedBuffer
	send.Stdout, send.Stderr = &sendOut, &sendOut
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	acked := func() int { return strings.Count(sendOut.String(), "Received Store Response (Success)") }
	waitFor(t, "50 instances acknowledged", func() (bool, string) {
		return acked() >= 50, strconv.Itoa(acked())
	})
	zero := int64(0)
	if err := f.node.Clientset.CoreV1().Pods(render.NSIngest).Delete(ctx, edge.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	sendErr := send.Wait()
	n := acked()
	t.Logf("edge pod deleted after %d of %d instances were acknowledged (storescu: %v)", n, sent, sendErr)
	edge = waitPodReady(t, f.node, render.NSIngest, edge.Name)
	f.waitDelivered(t, before, n)
	t.Logf("every acknowledged instance is in XNAT, %v after the send began", time.Since(killStart).Round(time.Second))

	var out lockedBuffer
	opStart := time.Now()
	if err := f.env(&out).RotateKeys(ctx, f.site.Name); err != nil {
		t.Fatalf("rotate-keys: %v\n%s", err, out.String())
	}
	t.Logf("rotate-keys (%v):\n%s", time.Since(opStart).Round(time.Second), out.String())
	edge = waitPodReady(t, f.node, render.NSIngest, edge.Name) // the edge rolled
	deliver("after rotate-keys", 2)

	for phase := 1; phase <= 2; phase++ {
		out = lockedBuffer{}
		opStart = time.Now()
		if err := f.env(&out).RotateCA(ctx, phase); err != nil {
			t.Fatalf("rotate-ca --phase %d: %v\n%s", phase, err, out.String())
		}
		t.Logf("rotate-ca --phase %d (%v):\n%s", phase, time.Since(opStart).Round(time.Second), out.String())
		edge = waitPodReady(t, f.node, render.NSIngest, edge.Name)
		deliver(fmt.Sprintf("after rotate-ca --phase %d", phase), 2)
	}

	// uninstall: the workloads go, the originals stay at the facility
	// (<patient>/<study>/<series>/<instance>.dcm; every acknowledged one,
	// and any the killed edge stored without acknowledging).
	atLeast := originals - sent + n
	kept, _ := filepath.Glob(filepath.Join(f.site.FacilityBackupDir, "NODE-E2E", "*", "*", "*.dcm"))
	if len(kept) < atLeast {
		t.Fatalf("the facility backup holds %d originals before uninstall, want at least %d", len(kept), atLeast)
	}
	out = lockedBuffer{}
	if err := f.env(&out).Uninstall(ctx); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out.String())
	}
	t.Logf("uninstall:\n%s", out.String())
	waitFor(t, "the edge's namespace gone", func() (bool, string) {
		_, err := f.node.Clientset.CoreV1().Namespaces().Get(ctx, render.NSIngest, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err) + "\n" + f.node.PodsReport(ctx)
	})
	after, _ := filepath.Glob(filepath.Join(f.site.FacilityBackupDir, "NODE-E2E", "*", "*", "*.dcm"))
	if len(after) != len(kept) {
		t.Errorf("the facility backup holds %d originals after uninstall, %d before", len(after), len(kept))
	}
}

// experiments returns the IDs of the site's XNAT project's experiments.
func (f *fleetOnNode) experiments(t *testing.T) map[string]bool {
	t.Helper()
	list, err := f.xnat.experiments(f.site.Project)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range list {
		ids[e] = true
	}
	return ids
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

// waitDelivered waits until the experiments of the site's XNAT project
// not in before (the studies sent since) hold want DICOM files in all. A
// failed delivery round (SeaweedFS restarting when an operation rolls it)
// makes the hub back off up to 5 minutes, so the wait fails only when
// nothing is delivered for longer than that.
func (f *fleetOnNode) waitDelivered(t *testing.T, before map[string]bool, want int) {
	t.Helper()
	p := f.site.Project
	const quiet = 6 * time.Minute
	last, since := -1, time.Now()
	// count is the DICOM files of the experiments not in before (-1 and
	// the error when the archive did not answer).
	count := func() (int, error) {
		exps, err := f.xnat.experiments(p)
		if err != nil {
			return -1, err
		}
		got := 0
		for _, e := range exps {
			if before[e] {
				continue
			}
			n, err := f.xnat.dicomFiles(p, e)
			if err != nil {
				return -1, err
			}
			got += n
		}
		return got, nil
	}
	for {
		got, err := count()
		if got >= want {
			return
		}
		if got != last {
			last, since = got, time.Now()
		}
		if time.Since(since) > quiet {
			f.logPods(t, render.NSUpload, render.NSIngest, render.NSSeaweedFS, xnatNS)
			t.Fatalf("%d of %d instances in new experiments of XNAT project %s, none delivered for %v (last error: %v)", got, want, p, quiet, err)
		}
		time.Sleep(time.Second)
	}
}

// logPods logs the last lines of every pod's log in the namespaces.
func (f *fleetOnNode) logPods(t *testing.T, namespaces ...string) {
	ctx := context.Background()
	tail := int64(40)
	for _, ns := range namespaces {
		pods, err := f.node.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			b, _ := f.node.Clientset.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: &tail}).DoRaw(ctx)
			t.Logf("%s/%s:\n%s", ns, p.Name, b)
		}
	}
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
// terminates TLS on the node's port 8443 with the certificate of the
// Secret seaweedfs-tls (read at every handshake, so a re-issued one is
// served at once, as the controller does) and hands each connection,
// Host header and all, to the seaweedfs Service's S3 port (through
// kube-proxy), as the rendered Ingress routes it.
func serveIngress(t *testing.T, node *kubenode.Node) {
	t.Helper()
	ctx := context.Background()
	getCert := func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		s, err := node.Clientset.CoreV1().Secrets(render.NSSeaweedFS).Get(ctx, render.SeaweedFSTLS, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		c, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
		return &c, err
	}
	ln, err := node.Listen("tcp", kubenode.NodeIP+":8443")
	if err != nil {
		t.Fatal(err)
	}
	ln = tls.NewListener(ln, &tls.Config{GetCertificate: getCert})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				svc, err := node.Clientset.CoreV1().Services(render.NSSeaweedFS).Get(ctx, "seaweedfs", metav1.GetOptions{})
				if err != nil {
					return
				}
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				b, err := node.DialContext(dctx, "tcp", net.JoinHostPort(svc.Spec.ClusterIP, "8333"))
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

// makeBucket stands in for the bucket Job: once SeaweedFS answers through
// the ingress, it makes the ingest bucket with the admin key (in the
// background: fleet apply waits for the hub, which waits for the bucket).
func (f *fleetOnNode) makeBucket(t *testing.T) {
	m := &f.c.Management
	kubetest.Loop(t, time.Second, func(ctx context.Context) bool {
		ca, err := f.node.Clientset.CoreV1().Secrets(render.NSCertManager).Get(ctx, render.CASecret, metav1.GetOptions{})
		if err != nil {
			return false
		}
		admin, err := minio.New(kubenode.NodeIP+":8443", &minio.Options{
			Creds:     credentials.NewStaticV4(m.S3.AdminAccessKey.Value(), m.S3.AdminSecretKey.Value(), ""),
			Secure:    true,
			Transport: nodeTransport(f.node, ca.Data["tls.crt"]),
		})
		if err != nil {
			return false
		}
		err = admin.MakeBucket(ctx, m.S3.Bucket, minio.MakeBucketOptions{})
		return err == nil || minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou"
	})
}

// installCRDs installs cert-manager's and k0smotron's CRDs on the node.
func installCRDs(t *testing.T, node *kubenode.Node) {
	t.Helper()
	for _, d := range []string{kubetest.CertManagerCRDs(), kubetest.K0smotronCRDs()} {
		if _, err := os.Stat(d); err != nil {
			t.Skipf("CRDs not found (%v): run ./scripts/kube-apiserver.sh", err)
		}
	}
	objs, err := kubetest.ReadObjects(kubetest.CertManagerCRDs(), kubetest.K0smotronCRDs())
	if err != nil {
		t.Fatal(err)
	}
	c, err := kube.New("crds", node.Config)
	if err != nil {
		t.Fatal(err)
	}
	c.PollInterval = 200 * time.Millisecond
	if _, err := c.Apply(context.Background(), objs); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(context.Background(), objs, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// copyFleet copies a testdata fleet file and the secret files it names
// (../secrets/) into a temporary folder, so that operations may rewrite
// them; it returns the copy's path.
func copyFleet(t *testing.T, file string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"native", "secrets"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	secrets, err := filepath.Glob(filepath.Join(filepath.Dir(file), "..", "secrets", "*"))
	if err != nil || len(secrets) == 0 {
		t.Fatalf("no secret files next to %s (%v)", file, err)
	}
	for _, src := range append(secrets, file) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "secrets", filepath.Base(src))
		if src == file {
			dst = filepath.Join(dir, "native", filepath.Base(src))
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "native", filepath.Base(file))
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
