package image

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// extract unpacks a tar file into dir.
func extract(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(os.PathSeparator)) {
			t.Fatalf("entry %q escapes", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)&0o777); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestBuild builds the image from this source tree twice (same digest),
// loads the archive as an OCI layout, checks its configuration and layers,
// and runs the binary extracted from it.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the aisedge binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	wd, _ := os.Getwd()
	mod, err := FindModule(wd)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.Background()
	opt := Options{ModuleDir: mod, Tag: "aisedge:test"}
	a, err := Build(ctx, filepath.Join(dir, "a.tar"), opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(ctx, filepath.Join(dir, "b.tar"), opt)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest {
		t.Errorf("two builds of the same tree: %s and %s", a.Digest, b.Digest)
	}
	ab, _ := os.ReadFile(filepath.Join(dir, "a.tar"))
	bb, _ := os.ReadFile(filepath.Join(dir, "b.tar"))
	if string(ab) != string(bb) {
		t.Error("two builds of the same tree wrote different archives")
	}

	// The archive is an OCI image layout.
	f, err := os.Open(filepath.Join(dir, "a.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lay := filepath.Join(dir, "layout")
	extract(t, f, lay)
	idx, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != a.Digest || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "aisedge:test" {
		t.Fatalf("index %+v", im)
	}
	img, err := idx.Image(a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := img.MediaType(); mt != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest media type %s", mt)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if strings.Join(c.Entrypoint, " ") != BinaryPath || c.User != "65532:65532" || cf.OS != "linux" || !cf.Created.Time.Equal(Epoch) {
		t.Errorf("config: entrypoint %v user %q os %s created %v", c.Entrypoint, c.User, cf.OS, cf.Created)
	}
	if !contains(c.Env, "SSL_CERT_FILE="+CertsPath) {
		t.Errorf("env %v", c.Env)
	}

	// Layers: CA certificates + passwd, then the binary; all verified
	// against their digests by the layout reader.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Fatalf("%d layers", len(layers))
	}
	root := filepath.Join(dir, "rootfs")
	for _, l := range layers {
		if mt, _ := l.MediaType(); mt != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("layer media type %s", mt)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		checkOwners(t, rc)
		rc.Close()
		rc, _ = l.Uncompressed()
		extract(t, rc, root)
		rc.Close()
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("passwd: %s", passwd)
	}
	if st, err := os.Stat(filepath.Join(root, CertsPath)); err != nil || st.Size() == 0 {
		t.Errorf("CA certificates: %v", err)
	}
	out, err := exec.Command(filepath.Join(root, BinaryPath), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "aisedge ") {
		t.Fatalf("extracted binary: %v: %s", err, out)
	}
	t.Logf("%s: %s", a.Digest, strings.TrimSpace(string(out)))
	// Static: no interpreter.
	if out, err := exec.Command("file", filepath.Join(root, BinaryPath)).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
		t.Errorf("binary is not static: %s", out)
	}
}

// checkOwners verifies fixed timestamps and that only the nonroot folders
// belong to 65532.
func checkOwners(t *testing.T, r io.Reader) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(Epoch) {
			t.Errorf("%s: mtime %v", h.Name, h.ModTime)
		}
		want := 0
		if h.Name == "home/nonroot/" || h.Name == "var/lib/aisedge/" {
			want = UID
		}
		if h.Uid != want || h.Gid != want {
			t.Errorf("%s: owner %d:%d", h.Name, h.Uid, h.Gid)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The digest depends on the content only.
func TestImageDeterministic(t *testing.T) {
	d := func(bin string) v1.Hash {
		img, err := Image([]byte(bin), []byte("certs"), "amd64")
		if err != nil {
			t.Fatal(err)
		}
		h, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if d("x") != d("x") || d("x") == d("y") {
		t.Error("digest is not a function of the content")
	}
}
