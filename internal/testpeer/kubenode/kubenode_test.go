package kubenode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aisedge/aisedge/internal/fleet/image"
)

// TestNodeRunsPods brings a node up, runs a pod of a locally built image
// (the pause image, referenced by digest), resolves a Service's name
// through the cluster DNS and reaches it through kube-proxy, and checks
// that Stop leaves nothing of the node on the host.
func TestNodeRunsPods(t *testing.T) {
	n := Start(t)
	ctx := context.Background()

	// A pod of a locally built image, pinned by digest: the sandbox and
	// the container both come from images imported here.
	bin := filepath.Join(t.TempDir(), "pause")
	if err := BuildStatic(ctx, "./internal/testpeer/kubenode/pause", bin); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	img, err := StaticImage(data, "/usr/bin/sleeper", "1000:1000")
	if err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "sleeper.tar")
	if _, err := image.WriteArchive(img, "docker.io/aisedge-test/sleeper:1", archive); err != nil {
		t.Fatal(err)
	}
	n.ImportImage(t, archive, "docker.io/aisedge-test/sleeper")

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "sleeper", Image: "aisedge-test/sleeper@" + digest.String(), ImagePullPolicy: corev1.PullNever,
			}},
			AutomountServiceAccountToken: new(bool),
		},
	}
	if _, err := n.Clientset.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := n.WaitPodReady(ctx, "default", "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	_, podNet, _ := net.ParseCIDR(PodCIDR)
	if ip := net.ParseIP(p.Status.PodIP); ip == nil || !podNet.Contains(ip) {
		t.Errorf("pod IP %q is not in %s", p.Status.PodIP, PodCIDR)
	}
	if !strings.Contains(n.PodsReport(ctx), "default     sleeper   1/1     Running") {
		t.Errorf("pods report:\n%s", n.PodsReport(ctx))
	}

	// The API server answers through the namespace's own address too.
	c, err := n.DialContext(ctx, "tcp", NodeIP+":"+apiPort)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	// Cluster DNS answers a Service's name with its Service IP, and
	// kube-proxy routes that IP to the API server behind it.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return n.DialContext(ctx, network, DNSIP+":53")
	}}
	addrs, err := r.LookupHost(ctx, "kubernetes.default.svc."+ClusterDomain)
	if err != nil {
		t.Fatalf("cluster DNS: %v", err)
	}
	svc, err := n.Clientset.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0] != svc.Spec.ClusterIP {
		t.Errorf("kubernetes.default.svc resolves to %v, want the Service IP %s", addrs, svc.Spec.ClusterIP)
	}
	if _, err := r.LookupHost(ctx, "missing.default.svc."+ClusterDomain); err == nil {
		t.Error("a Service that does not exist resolves")
	}
	// The kubelet gives pods the cluster DNS (it warns when it has none
	// and falls back to the node's resolv.conf).
	if strings.Contains(n.PodsReport(ctx), "MissingClusterDNS") {
		t.Errorf("the kubelet has no cluster DNS:\n%s", n.PodsReport(ctx))
	}
	c, err = n.DialContext(ctx, "tcp", net.JoinHostPort(svc.Spec.ClusterIP, "443"))
	if err != nil {
		t.Fatalf("the kubernetes Service's IP through kube-proxy: %v", err)
	}
	c.Close()

	// What containerd and the CNI plugins keep outside the node's folder,
	// for each sandbox and container.
	// (One shim serves a pod: its socket is named after the sandbox.)
	var outside []string
	ids, _ := os.ReadDir(filepath.Join(n.Dir, "containerd", "state", "io.containerd.runtime.v2.task", "k8s.io"))
	sockets := 0
	for _, id := range ids {
		sum := sha256.Sum256([]byte(filepath.Join(n.containerdSocket(), "k8s.io", id.Name())))
		sock := filepath.Join("/run/containerd/s", hex.EncodeToString(sum[:]))
		if _, err := os.Stat(sock); err == nil {
			sockets++
			outside = append(outside, sock)
		}
		r, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", "*-"+id.Name()+"-*"))
		outside = append(outside, r...)
	}
	if len(ids) < 2 || sockets != 1 || len(outside) < 3 {
		t.Errorf("expected a sandbox and a container, one shim socket and the CNI results where the clean-up looks; found %d tasks, %v", len(ids), outside)
	}

	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range outside {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left after Stop (%v)", p, err)
		}
	}
	for _, p := range []string{n.Dir, netnsPath(n.ID)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left after Stop (%v)", p, err)
		}
	}
	if m := mountsUnder(n.Dir); len(m) > 0 {
		t.Errorf("mounts left after Stop: %v", m)
	}
	mounts, _ := cgroupMounts()
	for _, m := range mounts {
		if _, err := os.Stat(filepath.Join(m, n.ID)); !os.IsNotExist(err) {
			t.Errorf("cgroup %s is left after Stop (%v)", filepath.Join(m, n.ID), err)
		}
	}
}
