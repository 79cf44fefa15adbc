package kubenode

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aisedge/aisedge/internal/fleet/image"
)

// moduleRoot is the aisedge source tree (from this file's location).
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// BuildStatic compiles the Go command in pkg (a path inside the aisedge
// module, such as ./internal/testpeer/kubenode/pause) as a static binary.
func BuildStatic(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = moduleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// StaticImage is an image of one static binary at path, run as user
// (uid:gid) with args.
func StaticImage(binary []byte, path, user string, args ...string) (v1.Image, error) {
	return FilesImage([]ImageFile{{Path: path, Data: binary, Mode: 0o755}}, []string{path}, user, args...)
}

// ImageFile is a file of an image that FilesImage builds.
type ImageFile struct {
	Path string // absolute
	Data []byte
	Mode int64
}

// FilesImage is an image of files (their folders made 0755, and /tmp
// 1777) whose entrypoint runs as user (uid:gid) with args.
func FilesImage(files []ImageFile, entrypoint []string, user string, args ...string) (v1.Image, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dirs := map[string]bool{"tmp": true}
	for _, f := range files {
		for d := filepath.Dir(strings.TrimPrefix(f.Path, "/")); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	for _, d := range sorted {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: mode, ModTime: image.Epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Typeflag: tar.TypeReg, Mode: f.Mode,
			Size: int64(len(f.Data)), ModTime: image.Epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := b.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = runtime.GOARCH, "linux"
	cf.Config = v1.Config{Entrypoint: entrypoint, Cmd: args, User: user, WorkingDir: "/"}
	return mutate.ConfigFile(img, cf)
}

// BinaryImage is an image of the host's binary at bin, installed at path
// with the shared libraries it links (as ldd lists them, at the same
// paths), run as user: a dynamically linked peer (SeaweedFS's weed links
// the C library) runs in a pod as it runs on the host.
func BinaryImage(bin, path, user string, args ...string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	files := []ImageFile{{Path: path, Data: data, Mode: 0o755}}
	libs, err := sharedLibraries(bin)
	if err != nil {
		return nil, err
	}
	for _, l := range libs {
		b, err := os.ReadFile(l) // through symbolic links
		if err != nil {
			return nil, err
		}
		files = append(files, ImageFile{Path: l, Data: b, Mode: 0o755})
	}
	return FilesImage(files, []string{path}, user, args...)
}

// sharedLibraries lists the libraries ldd says bin loads (none for a
// static binary).
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", bin, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
		// "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vdso has no file.
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		case len(f) >= 3 && f[1] == "=>" && f[2] == "not":
			return nil, fmt.Errorf("ldd %s: %s", bin, strings.TrimSpace(line))
		}
	}
	return libs, nil
}

// importPause builds the pause image and imports it as the sandbox image.
func (n *Node) importPause(ctx context.Context) error {
	bin := filepath.Join(n.Dir, "pause")
	if err := BuildStatic(ctx, "./internal/testpeer/kubenode/pause", bin); err != nil {
		return err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	img, err := StaticImage(data, "/pause", "65535:65535")
	if err != nil {
		return err
	}
	archive := filepath.Join(n.Dir, "pause.tar")
	if _, err := image.WriteArchive(img, n.PauseImage, archive); err != nil {
		return err
	}
	return n.importArchive(ctx, archive, strings.TrimSuffix(n.PauseImage, ":1"))
}

// ImportImage imports an OCI archive (as image.WriteArchive writes it,
// tagged name:tag) into the node's image store under name (a full
// reference without tag, such as docker.io/aisedge-test/aisedge); pods
// then name it name:tag or name@digest with imagePullPolicy: Never.
func (n *Node) ImportImage(tb testing.TB, archive, name string) {
	tb.Helper()
	if err := n.importArchive(context.Background(), archive, name); err != nil {
		tb.Fatal(err)
	}
}

func (n *Node) importArchive(ctx context.Context, archive, name string) error {
	if n.stopped {
		return errStopped
	}
	out, err := n.ctr(ctx, "images", "import", "--base-name="+name, "--digests", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %v: %s", filepath.Base(archive), err, out)
	}
	return nil
}

// PodsReport is what `kubectl get pods -A -o wide` shows, followed by each
// pod's container states and the namespace's recent events: what a failing
// test logs.
func (n *Node) PodsReport(ctx context.Context) string {
	if n.Clientset == nil {
		return "(no API server)"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pods, err := n.Clientset.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "list pods: " + err.Error()
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREADY\tSTATUS\tRESTARTS\tAGE\tIP\tNODE")
	var details strings.Builder
	for _, p := range pods.Items {
		ready, restarts := 0, int32(0)
		status := string(p.Status.Phase)
		if p.Status.Reason != "" {
			status = p.Status.Reason
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.Ready {
				ready++
			}
			restarts += c.RestartCount
			switch {
			case c.State.Waiting != nil && c.State.Waiting.Reason != "":
				status = c.State.Waiting.Reason
			case c.State.Terminated != nil && c.State.Terminated.Reason != "":
				status = c.State.Terminated.Reason
			}
			fmt.Fprintf(&details, "%s/%s %s: %s\n", p.Namespace, p.Name, c.Name, containerState(c))
			if t := c.LastTerminationState.Terminated; t != nil {
				fmt.Fprintf(&details, "  last ended: exit %d %s %s\n", t.ExitCode, t.Reason, t.Message)
			}
		}
		if p.DeletionTimestamp != nil {
			status = "Terminating"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%d\t%s\t%s\t%s\n", p.Namespace, p.Name, ready, len(p.Spec.Containers), status,
			restarts, time.Since(p.CreationTimestamp.Time).Round(time.Second), p.Status.PodIP, p.Spec.NodeName)
	}
	tw.Flush()
	b.WriteString(details.String())
	if ev, err := n.Clientset.CoreV1().Events("").List(ctx, metav1.ListOptions{}); err == nil {
		items := ev.Items
		if len(items) > 40 {
			items = items[len(items)-40:]
		}
		b.WriteString("events:\n")
		for _, e := range items {
			if e.Type == corev1.EventTypeNormal && e.Reason != "Failed" {
				continue
			}
			fmt.Fprintf(&b, "%s %s/%s %s: %s\n", e.Type, e.Namespace, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	return b.String()
}

func containerState(c corev1.ContainerStatus) string {
	switch {
	case c.State.Running != nil:
		return fmt.Sprintf("running since %s, ready=%v", c.State.Running.StartedAt.Format(time.RFC3339), c.Ready)
	case c.State.Waiting != nil:
		return "waiting: " + c.State.Waiting.Reason + " " + c.State.Waiting.Message
	case c.State.Terminated != nil:
		t := c.State.Terminated
		return fmt.Sprintf("terminated: exit %d %s %s", t.ExitCode, t.Reason, t.Message)
	}
	return "unknown"
}
