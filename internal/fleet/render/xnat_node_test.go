package render_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aisedge/aisedge/internal/fleet/image"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/testpeer/kubenode"
)

// The XNAT emulator pod: the xnatemu command (internal/xnat/xnattest,
// test-only) in an image of its own, behind the Service xnat/xnat, which
// the hub pod reaches by its name (CoreDNS) at xnatURL.
const (
	xnatNS   = "xnat"
	xnatPort = 8080
	xnatURL  = "http://xnat.xnat.svc.cluster.local:8080"
)

// buildXNATImage builds the emulator command as a static binary and packs
// it into an image archive, as the node test's other images are.
func buildXNATImage(t *testing.T) (string, image.Result) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "xnatemu")
	if err := kubenode.BuildStatic(context.Background(), "./internal/xnat/xnattest/xnatemu", bin); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	img, err := kubenode.StaticImage(b, "/usr/bin/xnatemu", "65532:65532")
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "xnatemu.tar")
	res, err := image.WriteArchive(img, "docker.io/aisedge-test/xnatemu:test", archive)
	if err != nil {
		t.Fatal(err)
	}
	return archive, res
}

// startXNAT runs the emulator as a pod (the account the fleet's hub logs
// in with, owning project) behind the Service xnat/xnat, and returns a
// client of its REST API once the pod is Ready.
func startXNAT(t *testing.T, node *kubenode.Node, ref, user, pass, project string) *xnatREST {
	t.Helper()
	ctx := context.Background()
	cs := node.Clientset
	labels := map[string]string{"app": "xnat-emulator"}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: xnatNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: xnatNS, Name: "xnat-account"},
		StringData: map[string]string{"XNAT_USER": user, "XNAT_PASS": pass}}
	if _, err := cs.CoreV1().Secrets(xnatNS).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	one, no, yes := int32(1), false, true
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: xnatNS, Name: "xnat", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: &no,
					Containers: []corev1.Container{{
						Name:            "xnat",
						Image:           ref,
						ImagePullPolicy: corev1.PullNever,
						Args:            []string{"-listen", ":" + strconv.Itoa(xnatPort), "-projects", project},
						EnvFrom:         []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: sec.Name}}}},
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: xnatPort}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}},
							PeriodSeconds: 1},
						SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes, AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(xnatNS).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The Service's port is the pod's: a NetworkPolicy engine matches the
	// hub's egress rule (XNAT's URL port) against the port after kube-proxy's
	// translation, the pod's.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: xnatNS, Name: "xnat", Labels: labels},
		Spec: corev1.ServiceSpec{Selector: labels,
			Ports: []corev1.ServicePort{{Name: "http", Port: xnatPort, TargetPort: intstr.FromInt32(xnatPort)}}},
	}
	svc, err := cs.CoreV1().Services(xnatNS).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitPodReady(t, node, xnatNS, "")
	x := &xnatREST{
		base: "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(xnatPort)),
		user: user, pass: pass,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: node.DialContext}},
	}
	// The emulator answers through the Service (kube-proxy) with the project.
	waitFor(t, "the XNAT emulator answering through its Service", func() (bool, string) {
		_, err := x.experiments(project)
		return err == nil, fmt.Sprint(err)
	})
	return x
}

// xnatREST reads what the XNAT emulator pod archived through XNAT's REST
// API (as the archive's users would), from inside the node's namespace.
type xnatREST struct {
	base       string
	user, pass string
	client     *http.Client
}

// list GETs a listing (?format=json) and returns its rows.
func (x *xnatREST) list(path string) ([]map[string]string, error) {
	req, err := http.NewRequest(http.MethodGet, x.base+"/data"+path+"?format=json", nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(x.user, x.pass)
	resp, err := x.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	var body struct {
		ResultSet struct {
			Result []map[string]string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return body.ResultSet.Result, nil
}

// experiments returns the IDs of the project's experiments.
func (x *xnatREST) experiments(project string) ([]string, error) {
	rows, err := x.list("/projects/" + url.PathEscape(project) + "/experiments")
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r["ID"])
	}
	return ids, nil
}

// dicomFiles counts the files of the DICOM resources of the experiment's
// scans.
func (x *xnatREST) dicomFiles(project, exp string) (int, error) {
	at := "/projects/" + url.PathEscape(project) + "/experiments/" + url.PathEscape(exp)
	scans, err := x.list(at + "/scans")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range scans {
		files, err := x.list(at + "/scans/" + url.PathEscape(s["ID"]) + "/resources/DICOM/files")
		if err != nil {
			return 0, err
		}
		n += len(files)
	}
	return n, nil
}

// hubEgressAllows reports whether the rendered hub NetworkPolicy lets the
// hub send to TCP port (to any address: XNAT's comes from DNS) and ask
// DNS.
func hubEgressAllows(t *testing.T, m *render.Manifests, port int64) bool {
	t.Helper()
	for _, o := range m.Management.Objects() {
		if o.GetKind() != "NetworkPolicy" || o.GetNamespace() != render.NSUpload {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "egress")
		xnat, dns := false, false
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			if _, limited := rule["to"]; limited {
				continue
			}
			ports, _, _ := unstructured.NestedSlice(rule, "ports")
			for _, p := range ports {
				pm, _ := p.(map[string]any)
				n, _, _ := unstructured.NestedInt64(pm, "port")
				xnat = xnat || (n == port && pm["protocol"] == "TCP")
				dns = dns || n == 53
			}
		}
		return xnat && dns
	}
	t.Fatal("no hub NetworkPolicy rendered")
	return false
}
