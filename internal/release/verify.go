package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// The checks of a built release that its tests (and anyone holding the
// artefacts) run: the OCI archive's index, platforms, labels and attached
// SBOM; the SBOM against the module graph of the source tree.

// untar unpacks an oci-archive into dir.
func untar(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("entry %q escapes the layout", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
}

// VerifyOCIArchive checks an oci-archive written by OCIIndex.Write: one
// image index with an image for linux/amd64 and one for linux/arm64, each
// configuration carrying labels and saying its platform, the index
// annotated with labels, and, when sbom is set, that SBOM attached with
// the index as its subject. It unpacks into scratch and returns the
// index's digest.
func VerifyOCIArchive(archive, scratch string, labels map[string]string, sbom []byte) (v1.Hash, error) {
	if err := untar(archive, scratch); err != nil {
		return v1.Hash{}, err
	}
	lp, err := layout.FromPath(scratch)
	if err != nil {
		return v1.Hash{}, err
	}
	top, err := lp.ImageIndex()
	if err != nil {
		return v1.Hash{}, err
	}
	tm, err := top.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	var idxDigest v1.Hash
	var artifact *v1.Descriptor
	for i, d := range tm.Manifests {
		switch {
		case d.MediaType == "application/vnd.oci.image.index.v1+json":
			idxDigest = d.Digest
		case d.ArtifactType == SPDXMediaType:
			artifact = &tm.Manifests[i]
		}
	}
	idx, err := top.ImageIndex(idxDigest)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("no image index in the layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	var errs []error
	for k, v := range labels {
		if im.Annotations[k] != v {
			errs = append(errs, fmt.Errorf("index annotation %s = %q, want %q", k, im.Annotations[k], v))
		}
	}
	platforms := map[string]bool{}
	for _, d := range im.Manifests {
		if d.Platform == nil {
			return v1.Hash{}, fmt.Errorf("manifest %s has no platform", d.Digest)
		}
		pl := d.Platform.OS + "/" + d.Platform.Architecture
		platforms[pl] = true
		img, err := idx.Image(d.Digest)
		if err != nil {
			return v1.Hash{}, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return v1.Hash{}, err
		}
		if cf.OS+"/"+cf.Architecture != pl {
			errs = append(errs, fmt.Errorf("%s image's configuration says %s/%s", pl, cf.OS, cf.Architecture))
		}
		for k, v := range labels {
			if cf.Config.Labels[k] != v {
				errs = append(errs, fmt.Errorf("%s label %s = %q, want %q", pl, k, cf.Config.Labels[k], v))
			}
		}
	}
	if len(platforms) != 2 || !platforms["linux/amd64"] || !platforms["linux/arm64"] {
		errs = append(errs, fmt.Errorf("platforms %v, want linux/amd64 and linux/arm64", platforms))
	}
	if sbom != nil {
		if artifact == nil {
			return idxDigest, errors.Join(append(errs, errors.New("no SBOM artifact in the layout"))...)
		}
		raw, err := os.ReadFile(filepath.Join(scratch, "blobs", "sha256", artifact.Digest.Hex))
		if err != nil {
			return idxDigest, err
		}
		var m struct {
			Subject v1.Descriptor   `json:"subject"`
			Layers  []v1.Descriptor `json:"layers"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.Subject.Digest != idxDigest || len(m.Layers) != 1 || m.Layers[0].MediaType != SPDXMediaType {
			return idxDigest, fmt.Errorf("SBOM artifact %s (%v)", raw, err)
		}
		got, err := os.ReadFile(filepath.Join(scratch, "blobs", "sha256", m.Layers[0].Digest.Hex))
		if err != nil || !bytes.Equal(got, sbom) {
			errs = append(errs, fmt.Errorf("attached SBOM differs from the one given (%v)", err))
		}
	}
	return idxDigest, errors.Join(errs...)
}

// goModRequires lists go.mod's requirements (path → version).
func goModRequires(gomod string) (map[string]string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	req := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "require ("):
			in = true
		case in && l == ")":
			in = false
		case in && l != "":
			if fs := strings.Fields(l); len(fs) >= 2 {
				req[fs[0]] = fs[1]
			}
		case strings.HasPrefix(l, "require "):
			if fs := strings.Fields(l); len(fs) >= 3 {
				req[fs[1]] = fs[2]
			}
		}
	}
	return req, sc.Err()
}

// VerifySBOM checks an SPDX document made by SBOM for the aisedge binary
// of the module at modRoot: it describes the main module at version and
// lists every module the binary links (go list -deps, for linux without
// cgo) at its version, which is the one go.mod requires for the modules
// go.mod names, and nothing else beside the toolchain. It returns how
// many modules it lists and how many of those go.mod names.
func VerifySBOM(raw []byte, modRoot, version string) (modules, inGoMod int, err error) {
	var doc SPDX
	if err := json.Unmarshal(raw, &doc); err != nil {
		return 0, 0, fmt.Errorf("SBOM is not JSON: %w", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.DocumentNamespace == "" || len(doc.Packages) < 2 {
		return 0, 0, fmt.Errorf("SBOM header: %s %s %q, %d packages", doc.SPDXVersion, doc.DataLicense, doc.DocumentNamespace, len(doc.Packages))
	}
	var errs []error
	if doc.Packages[0].Name != "github.com/aisedge/aisedge" || doc.Packages[0].VersionInfo != version {
		errs = append(errs, fmt.Errorf("main package %s %s, want github.com/aisedge/aisedge %s", doc.Packages[0].Name, doc.Packages[0].VersionInfo, version))
	}
	got := map[string]string{}
	for _, p := range doc.Packages[2:] {
		got[p.Name] = p.VersionInfo
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}", "./cmd/aisedge")
	cmd.Dir = modRoot
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("go list -deps: %w", err)
	}
	linked := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if fs := strings.Fields(l); len(fs) == 2 {
			linked[fs[0]] = fs[1]
		}
	}
	req, err := goModRequires(filepath.Join(modRoot, "go.mod"))
	if err != nil {
		return 0, 0, err
	}
	for path, v := range linked {
		if got[path] != v {
			errs = append(errs, fmt.Errorf("SBOM lists %s at %q, the binary links %s", path, got[path], v))
		}
		if rv, ok := req[path]; ok {
			inGoMod++
			if rv != got[path] {
				errs = append(errs, fmt.Errorf("go.mod requires %s %s, the SBOM says %q", path, rv, got[path]))
			}
		}
	}
	for path := range got {
		if _, ok := linked[path]; !ok {
			errs = append(errs, fmt.Errorf("SBOM lists %s, which the binary does not link", path))
		}
	}
	if inGoMod < 10 {
		errs = append(errs, fmt.Errorf("only %d of go.mod's modules in the SBOM", inGoMod))
	}
	return len(got), inGoMod, errors.Join(errs...)
}
