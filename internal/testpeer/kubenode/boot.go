package kubenode

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// boot starts the cluster's programs in order and waits until the node is
// Ready: etcd, kube-apiserver, containerd (and the pause image), the
// controller manager and the scheduler, CoreDNS, the kubelet, kube-proxy.
func (n *Node) boot(tb testing.TB) error {
	ctx := context.Background()
	for _, d := range []string{"etcd", "pki", "containerd", "cni/net.d", "cni/ipam", "kubelet", "pod-logs"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o700); err != nil {
			return err
		}
	}
	saKey := filepath.Join(n.Dir, "pki", "sa.key")
	if err := writeKey(saKey); err != nil {
		return err
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	n.token = hex.EncodeToString(tok)
	tokens := filepath.Join(n.Dir, "pki", "tokens.csv")
	if err := os.WriteFile(tokens, []byte(n.token+",admin,admin,\"system:masters\"\n"), 0o600); err != nil {
		return err
	}
	bin := func(name string) string { return filepath.Join(CacheDir(), name) }

	// The namespace is the node's own: fixed ports cannot collide.
	if _, err := n.run("etcd", nil, bin("etcd"), "--name=node", "--data-dir="+filepath.Join(n.Dir, "etcd"),
		"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=node=http://127.0.0.1:2380", "--log-level=warn"); err != nil {
		return err
	}
	certDir := filepath.Join(n.Dir, "pki", "apiserver")
	n.URL = "https://" + NodeIP + ":" + apiPort
	if _, err := n.run("kube-apiserver", nil, bin("kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0", "--advertise-address="+NodeIP, "--secure-port="+apiPort,
		"--cert-dir="+certDir,
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saKey,
		"--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range="+ServiceCIDR,
		// The node's name resolves nowhere (no DNS in the namespace).
		"--kubelet-preferred-address-types=InternalIP",
		"--enable-priority-and-fairness=false",
		"--v=0"); err != nil {
		return err
	}
	if err := n.waitAPIServer(); err != nil {
		return err
	}
	ca, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		return err
	}
	n.Config = &rest.Config{Host: n.URL, BearerToken: n.token, TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		QPS: 100, Burst: 200, Dial: n.DialContext}
	if n.Clientset, err = kubernetes.NewForConfig(n.Config); err != nil {
		return err
	}
	if err := n.writeKubeconfig(ca); err != nil {
		return err
	}

	if err := n.startContainerd(); err != nil {
		return err
	}
	if err := n.importPause(ctx); err != nil {
		return err
	}

	kc := n.Kubeconfig
	if _, err := n.run("kube-controller-manager", nil, bin("kube-controller-manager"),
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--secure-port=10257", "--cert-dir="+filepath.Join(n.Dir, "pki", "kcm"),
		"--leader-elect=false", "--use-service-account-credentials=false",
		"--service-account-private-key-file="+saKey, "--root-ca-file="+filepath.Join(certDir, "apiserver.crt"),
		"--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle-controller,-persistentvolume-attach-detach-controller",
		"--v=0"); err != nil {
		return err
	}
	if _, err := n.run("kube-scheduler", nil, bin("kube-scheduler"),
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--secure-port=10259", "--cert-dir="+filepath.Join(n.Dir, "pki", "scheduler"),
		"--leader-elect=false", "--v=0"); err != nil {
		return err
	}

	if err := n.startCoreDNS(); err != nil {
		return err
	}

	cfg := filepath.Join(n.Dir, "kubelet.yaml")
	if err := os.WriteFile(cfg, []byte(n.kubeletConfig()), 0o600); err != nil {
		return err
	}
	if _, err := n.run("kubelet", nil, bin("kubelet"),
		"--config="+cfg, "--kubeconfig="+kc, "--hostname-override="+NodeName, "--node-ip="+NodeIP,
		"--root-dir="+filepath.Join(n.Dir, "kubelet"), "--cert-dir="+filepath.Join(n.Dir, "pki", "kubelet"),
		"--v=1"); err != nil {
		return err
	}
	if err := n.waitFor("node "+NodeName+" Ready", func() (bool, string) { return n.nodeReady(ctx) }); err != nil {
		return err
	}
	// kube-proxy reports healthy only once the node it serves exists.
	return n.startKubeProxy()
}

// waitAPIServer polls /readyz until it answers 200.
func (n *Node) waitAPIServer() error {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     n.DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	defer c.CloseIdleConnections()
	return n.waitFor("kube-apiserver ready", func() (bool, string) {
		req, _ := http.NewRequest("GET", n.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+n.token)
		resp, err := c.Do(req)
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	})
}

// containerdSocket is the node's containerd (its folder stays short: a
// unix socket path has at most 107 bytes).
func (n *Node) containerdSocket() string { return containerdSocketOf(n.Dir) }

// startContainerd writes the CNI and containerd configurations and starts
// containerd.
func (n *Node) startContainerd() error {
	cni := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "aisedge-node",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, filepath.Join(n.Dir, "cni", "ipam"), PodCIDR)
	if err := os.WriteFile(filepath.Join(n.Dir, "cni", "net.d", "10-aisedge.conflist"), []byte(cni), 0o600); err != nil {
		return err
	}
	n.PauseImage = "docker.io/aisedge-test/pause:1"
	root := filepath.Join(n.Dir, "containerd")
	// restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, and runc
	// fails every sandbox ("can't get final child's PID from pipe") when
	// asked to lower an OOM score. netns_mounts_under_state_dir keeps the
	// pods' network namespace mounts in the node's folder, and runc's Root
	// its state.
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.internal.v1.opt"]

[grpc]
  address = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, filepath.Join(root, "root"), filepath.Join(root, "state"), n.containerdSocket(), n.PauseImage,
		filepath.Join(root, "runc"), cniBinDir, filepath.Join(n.Dir, "cni", "net.d"))
	confFile := filepath.Join(root, "config.toml")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		return err
	}
	if _, err := n.run("containerd", nil, "containerd", "--config="+confFile, "--log-level=warn"); err != nil {
		return err
	}
	return n.waitFor("containerd", func() (bool, string) {
		out, err := n.ctr(context.Background(), "version").CombinedOutput()
		return err == nil, strings.TrimSpace(string(out))
	})
}

// ctr runs ctr against the node's containerd in Kubernetes's namespace.
func (n *Node) ctr(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ctr", append([]string{"--address=" + n.containerdSocket(), "--namespace=k8s.io"}, args...)...)
}

// kubeletConfig is the kubelet's configuration: the host offers cgroup v1
// only, the node keeps to its own cgroup and folder, and eviction
// thresholds are low so that a busy shared machine evicts nothing. Its
// API (logs, exec) is open to anyone who reaches it: only the namespace's
// own processes can.
func (n *Node) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupRoot: /%s
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://%s
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
podLogsDir: %s
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
resolvConf: ""
clusterDNS: [%s]
clusterDomain: %s
failSwapOn: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 5s
nodeStatusReportFrequency: 1m
maxPods: 50
`, n.ID, n.containerdSocket(), NodeIP, filepath.Join(n.Dir, "pod-logs"), DNSIP, ClusterDomain)
}
