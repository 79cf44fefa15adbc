package render_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/aisedge/aisedge/internal/fleet/kube/kubetest"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/testpeer/kubenode"
	"github.com/aisedge/aisedge/internal/testpeer/testcert"
)

// runCertManager stands in for cert-manager's controller on the node until
// the test ends: every half second it issues each Certificate whose
// Secret is missing (a kubernetes.io/tls Secret with tls.crt, tls.key and
// ca.crt) and marks it Ready. A CA Certificate gets a self-signed CA; any
// other is signed, for its dnsNames and ipAddresses, by the CA whose
// Secret its ClusterIssuer names (spec.ca.secretName), as the CA issuer
// does; nothing is issued without the issuer. rotate-ca's re-issue (it
// deletes the Secrets) is answered as cert-manager answers it.
func runCertManager(t *testing.T, node *kubenode.Node) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(node.Config)
	if err != nil {
		t.Fatal(err)
	}
	certs := dyn.Resource(schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"})
	issuers := dyn.Resource(schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "clusterissuers"})
	kubetest.Loop(t, 500*time.Millisecond, func(ctx context.Context) bool {
		l, err := certs.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for i := range l.Items {
			if err := issue(ctx, node, certs, issuers, &l.Items[i]); err != nil && ctx.Err() == nil {
				t.Logf("fake cert-manager: %s/%s: %v", l.Items[i].GetNamespace(), l.Items[i].GetName(), err)
			}
		}
		return false
	})
}

// issue issues one Certificate when its Secret is missing, and marks it
// Ready.
func issue(ctx context.Context, node *kubenode.Node, certs, issuers dynamic.NamespaceableResourceInterface, cert *unstructured.Unstructured) error {
	ns := cert.GetNamespace()
	secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	_, err := node.Clientset.CoreV1().Secrets(ns).Get(ctx, secret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		issuerName, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
		iss, err := issuers.Get(ctx, issuerName, metav1.GetOptions{})
		if err != nil {
			return nil // not applied yet
		}
		isCA, _, _ := unstructured.NestedBool(cert.Object, "spec", "isCA")
		cn, _, _ := unstructured.NestedString(cert.Object, "spec", "commonName")
		dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
		ips, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "ipAddresses")
		var crt, key, ca []byte
		if isCA {
			if crt, key, err = testcert.Issue(cn, nil, nil, nil, nil); err != nil {
				return err
			}
			ca = crt
		} else {
			caSecret, _, _ := unstructured.NestedString(iss.Object, "spec", "ca", "secretName")
			if caSecret == "" {
				return fmt.Errorf("issuer %s is not a CA issuer", issuerName)
			}
			s, err := node.Clientset.CoreV1().Secrets(render.NSCertManager).Get(ctx, caSecret, metav1.GetOptions{})
			if err != nil {
				return nil // the CA is not issued yet
			}
			ca = s.Data["tls.crt"]
			if crt, key, err = testcert.Issue(cn, dnsNames, ips, ca, s.Data["tls.key"]); err != nil {
				return err
			}
		}
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secret},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": ca},
		}
		if _, err := node.Clientset.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	case err != nil:
		return err
	}
	conds, _, _ := unstructured.NestedSlice(cert.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return nil
		}
	}
	unstructured.SetNestedSlice(cert.Object, []any{map[string]any{"type": "Ready", "status": "True",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "reason": "Issued"}}, "status", "conditions")
	_, err = certs.Namespace(ns).UpdateStatus(ctx, cert, metav1.UpdateOptions{})
	return err
}
