package kubenode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Services on the node as a cluster has them: kube-proxy (iptables mode)
// routes Service IPs to their pods, and CoreDNS (its kubernetes plugin)
// answers Service names, so that a pod reaches
// seaweedfs.seaweedfs.svc.cluster.local as it would in any cluster. Both
// run as processes of the node, like its control plane.

const (
	// ServiceCIDR is the cluster's Service IP range.
	ServiceCIDR = "10.96.0.0/16"
	// ClusterDomain is the DNS domain of Services
	// (<service>.<namespace>.svc.cluster.local).
	ClusterDomain = "cluster.local"
	// DNSIP is the cluster DNS server's address (the node's own: CoreDNS
	// listens there, and the kubelet writes it into every pod's
	// resolv.conf).
	DNSIP = NodeIP
)

// startKubeProxy starts kube-proxy in iptables mode and waits until it
// has written its rules once (its /healthz answers 200).
func (n *Node) startKubeProxy() error {
	// Pod to Service to a pod on the same bridge: the bridge hands the
	// packets to iptables only with this set (per network namespace).
	if out, err := n.Command(context.Background(), "sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1").CombinedOutput(); err != nil {
		return fmt.Errorf("sysctl net.bridge.bridge-nf-call-iptables: %v: %s", err, out)
	}
	// conntrack: the table's size and timeouts are the host's (0 leaves
	// them alone; the node has no right to change them anyway).
	cfg := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, n.Kubeconfig, PodCIDR, NodeName, NodeIP)
	file := filepath.Join(n.Dir, "kube-proxy.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		return err
	}
	if _, err := n.run("kube-proxy", nil, filepath.Join(CacheDir(), "kube-proxy"), "--config="+file, "--v=1"); err != nil {
		return err
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: n.DialContext}}
	defer c.CloseIdleConnections()
	return n.waitFor("kube-proxy synced", func() (bool, string) {
		resp, err := c.Get("http://127.0.0.1:10256/healthz")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	})
}

// startCoreDNS starts CoreDNS on the node's address, port 53, answering
// the cluster domain (and reverse lookups of pod and Service IPs) from the
// API server through the node's kubeconfig, and waits until its
// kubernetes plugin has synced. Other names get REFUSED at once: the node
// has no route out, so there is nowhere to forward them.
func (n *Node) startCoreDNS() error {
	corefile := fmt.Sprintf(`%s:53 in-addr.arpa:53 ip6.arpa:53 {
    bind %s
    errors
    ready 127.0.0.1:8181
    kubernetes %s in-addr.arpa ip6.arpa {
        kubeconfig %s node
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
}
`, ClusterDomain, DNSIP, ClusterDomain, n.Kubeconfig)
	file := filepath.Join(n.Dir, "Corefile")
	if err := os.WriteFile(file, []byte(corefile), 0o600); err != nil {
		return err
	}
	if _, err := n.run("coredns", nil, filepath.Join(CacheDir(), "coredns"), "-conf", file); err != nil {
		return err
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: n.DialContext}}
	defer c.CloseIdleConnections()
	return n.waitFor("CoreDNS ready", func() (bool, string) {
		resp, err := c.Get("http://127.0.0.1:8181/ready")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	})
}
