package render

import (
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aisedge/aisedge/internal/fleet"
)

// NetworkPolicies of aisedge's pods: each may receive on its own ports
// only and send only where its data goes. A cluster without a policy
// engine ignores them; with one, a compromised edge cannot reach anything
// but the S3 endpoint.

func tcp(port int32) networkingv1.NetworkPolicyPort {
	p, i := corev1.ProtocolTCP, intstr.FromInt32(port)
	return networkingv1.NetworkPolicyPort{Protocol: &p, Port: &i}
}

// dns lets a pod resolve names (the cluster's DNS, or a node-local
// cache: its address differs between distributions, so only the port is
// named).
func dns() networkingv1.NetworkPolicyEgressRule {
	udp, t, port := corev1.ProtocolUDP, corev1.ProtocolTCP, intstr.FromInt32(53)
	return networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &port}, {Protocol: &t, Port: &port}}}
}

func networkPolicy(ns, name string, labels, selector map[string]string, ingress []networkingv1.NetworkPolicyPort, egress []networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: partOf(labels)},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selector},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: ingress}},
			Egress:      egress,
		},
	}
}

// edgePolicy: DICOM and the status port in; out only to the S3 endpoint
// (the management node's address on-prem; in the cloud the endpoint's
// address comes from DNS, so its port and DNS).
func (r *renderer) edgePolicy() *networkingv1.NetworkPolicy {
	m := &r.c.Management
	s3 := networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{tcp(int32(m.IngressPort))}}
	egress := []networkingv1.NetworkPolicyEgressRule{s3}
	if m.Topology == fleet.OnPrem && m.NodeIP != "" {
		s3.To = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: hostCIDR(m.NodeIP)}}}
		egress = []networkingv1.NetworkPolicyEgressRule{s3}
	} else {
		egress = append(egress, dns())
	}
	return networkPolicy(NSIngest, EdgeDeployment, edgeLabels, edgeLabels, []networkingv1.NetworkPolicyPort{tcp(4242), tcp(8080)}, egress)
}

// hubPolicy: the status port in; out to SeaweedFS's S3 TLS port and to XNAT
// (whose address comes from DNS).
func (r *renderer) hubPolicy(labels map[string]string) *networkingv1.NetworkPolicy {
	m := &r.c.Management
	seaweed := networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": NSSeaweedFS}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "seaweedfs"}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{tcp(8443)},
	}
	xnat := networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{tcp(urlPort(m.XNAT.URL))}}
	return networkPolicy(NSUpload, HubDeployment, labels, labels, []networkingv1.NetworkPolicyPort{tcp(8081)}, []networkingv1.NetworkPolicyEgressRule{seaweed, xnat, dns()})
}

// hostCIDR is the one-address block of an IPv4 or IPv6 address.
func hostCIDR(ip string) string {
	for _, c := range ip {
		if c == ':' {
			return ip + "/128"
		}
	}
	return ip + "/32"
}

// urlPort is the TCP port a URL names or implies.
func urlPort(raw string) int32 {
	u, err := url.Parse(raw)
	if err != nil {
		return 443
	}
	if p, err := strconv.Atoi(u.Port()); err == nil && p > 0 && p < 65536 {
		return int32(p)
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}
