package image_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aisedge/aisedge/internal/fleet/image"
	"github.com/aisedge/aisedge/internal/testpeer/kubenode"
)

// TestImageRunsOnNode runs the image, pinned by digest and without
// arguments, as a pod on a real kubelet: its default command is the
// standalone pipeline, Ready by its own /readyz, answering C-ECHO (dcmtk's
// echoscu) and serving its metrics to other hosts.
func TestImageRunsOnNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no node")
	}
	if why := kubenode.Requirements(); why != "" {
		t.Skip("kubenode: " + why)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := image.FindModule(wd)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	archive := filepath.Join(t.TempDir(), "aisedge.tar")
	res, err := image.Build(ctx, archive, image.Options{ModuleDir: root, Tag: "docker.io/aisedge-test/aisedge:test"})
	if err != nil {
		t.Fatal(err)
	}

	node := kubenode.Start(t)
	node.ImportImage(t, archive, "docker.io/aisedge-test/aisedge")
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds: 1, FailureThreshold: 120}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "aisedge", Namespace: "default"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: new(bool),
			Containers: []corev1.Container{{
				Name: "aisedge", Image: "aisedge-test/aisedge@" + res.Digest.String(), ImagePullPolicy: corev1.PullNever,
				Ports:          []corev1.ContainerPort{{Name: "dicom", ContainerPort: 4242}, {Name: "http", ContainerPort: 8080}},
				StartupProbe:   probe("/healthz"),
				ReadinessProbe: probe("/readyz"),
			}},
		},
	}
	if _, err := node.Clientset.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := node.WaitPodReady(ctx, "default", "aisedge")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Status.ContainerStatuses[0].ImageID; !strings.HasSuffix(got, res.Digest.String()) {
		t.Errorf("the pod runs image %s, want %s", got, res.Digest)
	}

	out, err := node.Command(ctx, "echoscu", "-aec", "AISEDGE", p.Status.PodIP, "4242").CombinedOutput()
	if err != nil {
		t.Fatalf("echoscu %s 4242: %v\n%s", p.Status.PodIP, err, out)
	}

	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: node.DialContext}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "aisedge_") {
		t.Errorf("GET /metrics from another host: %d\n%.500s", resp.StatusCode, body)
	}

	// The data is where the image says: the pipeline's folders in
	// /var/lib/aisedge (the pod's log names the data folder it uses).
	logs, err := node.Clientset.CoreV1().Pods("default").GetLogs("aisedge", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logs), image.DataDir) {
		t.Errorf("the pod's log does not mention %s:\n%.2000s", image.DataDir, logs)
	}
}
