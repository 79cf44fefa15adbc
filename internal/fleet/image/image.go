// Package image builds the aisedge container image without a container
// engine: a static binary (CGO off, -trimpath, no build ID), the CA
// certificates and a non-root user in two layers on an empty base, written
// as an OCI image layout in a tar file (an "oci-archive": skopeo, podman,
// crane and docker ≥ 25 load it). Every timestamp, owner and ordering is
// fixed, so the same source tree, Go version and CA bundle give the same
// image digest.
//
// cmd/aisedge's `fleet image` uses it.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the image.
const (
	BinaryPath  = "/usr/local/bin/aisedge"
	CertsPath   = "/etc/ssl/certs/ca-certificates.crt"
	UID         = 65532 // "nonroot", as distroless; the manifests run as it
	User        = "65532:65532"
	DefaultCert = "/etc/ssl/certs/ca-certificates.crt"
)

// DefaultCmd is what the image runs without arguments.
var DefaultCmd = []string{"run", "--data-dir=" + DataDir, "--http=0.0.0.0:8080"}

// DataDir is the image's data folder (owned by UID, mode 0700).
const DataDir = "/var/lib/aisedge"

// Epoch is the time stamped on every file and on the image: fixed, so
// that builds are reproducible.
var Epoch = time.Unix(0, 0).UTC()

// Options of a build.
type Options struct {
	// Binary is a prebuilt static aisedge binary; empty builds one from
	// ModuleDir with Go.
	Binary string
	// ModuleDir is the aisedge source tree (for Build).
	ModuleDir string
	// GOARCH of the image (default: the host's).
	Arch string
	// CACertificates is the PEM bundle copied to /etc/ssl/certs (default:
	// the build host's).
	CACertificates string
	// Tag names the image in the archive's index (org.opencontainers.image.ref.name).
	Tag string
	// Log receives the go build command line; nil discards it.
	Log io.Writer
}

// Result describes a written image.
type Result struct {
	Digest v1.Hash // manifest digest: what a registry will call it
	Size   int64   // bytes of the archive
}

// BuildBinary compiles cmd/aisedge statically and reproducibly into out.
func BuildBinary(ctx context.Context, moduleDir, arch, out string, log io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=auto",
		"-ldflags=-s -w -buildid=", "-o", out, "./cmd/aisedge")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if log != nil {
		fmt.Fprintf(log, "building: CGO_ENABLED=0 GOOS=linux GOARCH=%s %s (in %s)\n", arch, strings.Join(cmd.Args, " "), moduleDir)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, stderr.String())
	}
	return nil
}

// Build makes the image and writes the archive to out.
func Build(ctx context.Context, out string, opt Options) (Result, error) {
	if opt.Arch == "" {
		opt.Arch = runtime.GOARCH
	}
	if opt.CACertificates == "" {
		opt.CACertificates = DefaultCert
	}
	if opt.Tag == "" {
		opt.Tag = "aisedge:latest"
	}
	bin := opt.Binary
	if bin == "" {
		if opt.ModuleDir == "" {
			return Result{}, errors.New("image: neither a binary nor the source tree to build it from")
		}
		tmp, err := os.MkdirTemp("", "aisedge-image-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(tmp)
		bin = filepath.Join(tmp, "aisedge")
		if err := BuildBinary(ctx, opt.ModuleDir, opt.Arch, bin, opt.Log); err != nil {
			return Result{}, err
		}
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return Result{}, err
	}
	certs, err := os.ReadFile(opt.CACertificates)
	if err != nil {
		return Result{}, fmt.Errorf("CA certificates: %w (give a PEM bundle with --ca-certificates)", err)
	}
	img, err := Image(binData, certs, opt.Arch)
	if err != nil {
		return Result{}, err
	}
	return WriteArchive(img, opt.Tag, out)
}

// entry is a file or folder of a layer.
type entry struct {
	name string
	mode int64
	uid  int
	data []byte
	dir  bool
}

// layer builds a deterministic uncompressed tar layer.
func layer(entries []entry) (v1.Layer, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: Epoch, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := b.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// Image assembles the image from the binary and the CA bundle.
func Image(binary, caCerts []byte, arch string) (v1.Image, error) {
	return ImageWithLabels(binary, caCerts, arch, nil)
}

// ImageWithLabels is Image with more configuration labels (e.g. the OCI
// version, revision, source and licences of a release).
func ImageWithLabels(binary, caCerts []byte, arch string, labels map[string]string) (v1.Image, error) {
	base, err := layer([]entry{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(CertsPath, "/"), mode: 0o644, data: caCerts},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/nonroot", mode: 0o700, uid: UID, dir: true},
		{name: "tmp", mode: 0o1777, dir: true},
		{name: "var", mode: 0o755, dir: true},
		{name: "var/lib", mode: 0o755, dir: true},
		{name: "var/lib/aisedge", mode: 0o700, uid: UID, dir: true},
	})
	if err != nil {
		return nil, err
	}
	app, err := layer([]entry{
		{name: "usr", mode: 0o755, dir: true},
		{name: "usr/local", mode: 0o755, dir: true},
		{name: "usr/local/bin", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, data: binary},
	})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: "aisedge fleet image: CA certificates, nonroot user"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: "aisedge fleet image: " + BinaryPath}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = arch, "linux"
	cf.Created = v1.Time{Time: Epoch}
	sum := sha256.Sum256(binary)
	cf.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		// The main job by default: the standalone pipeline with its data
		// in the image's own folder, and its read-only status, health and
		// metrics reachable from outside the container (the actions stay
		// on the unix socket in the data folder).
		Cmd:        DefaultCmd,
		User:       User,
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + CertsPath},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "aisedge",
			"org.opencontainers.image.description": "AIS-Edge: DICOM receiver, de-identification and S3/XNAT delivery",
			"io.aisedge.binary.sha256":             hex.EncodeToString(sum[:]),
		},
	}
	for k, v := range labels {
		cf.Config.Labels[k] = v
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, v1.Time{Time: Epoch})
}

// ImageBlobs adds img's manifest, configuration and layers to blobs (by
// hex digest) and returns its manifest digest and size.
func ImageBlobs(img v1.Image, blobs map[string][]byte) (v1.Hash, int, error) {
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	blobs[digest.Hex], blobs[cfgName.Hex] = manifest, config
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return v1.Hash{}, 0, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, 0, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return v1.Hash{}, 0, err
		}
		blobs[d.Hex] = b
	}
	return digest, len(manifest), nil
}

// WriteArchive writes img as an OCI image layout inside a tar file, with
// fixed timestamps and ordering.
func WriteArchive(img v1.Image, tag, out string) (Result, error) {
	blobs := map[string][]byte{}
	digest, size, err := ImageBlobs(img, blobs)
	if err != nil {
		return Result{}, err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(types.OCIImageIndex),
		"manifests": []any{map[string]any{
			"mediaType":   string(types.OCIManifestSchema1),
			"digest":      digest.String(),
			"size":        size,
			"annotations": map[string]string{"org.opencontainers.image.ref.name": tag},
		}},
	})
	if err != nil {
		return Result{}, err
	}
	st, err := WriteLayout(out, index, blobs)
	if err != nil {
		return Result{}, err
	}
	return Result{Digest: digest, Size: st}, nil
}

// WriteLayout writes an OCI image layout (oci-layout, the given
// index.json, blobs/sha256/<hex>) into the tar file out, with fixed
// timestamps and ordering, and returns its size.
func WriteLayout(out string, index []byte, blobs map[string][]byte) (int64, error) {
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	add := func(name string, data []byte, dir bool) error {
		h := &tar.Header{Name: name, Mode: 0o644, ModTime: Epoch, Typeflag: tar.TypeReg, Size: int64(len(data)), Format: tar.FormatPAX}
		if dir {
			h.Mode, h.Typeflag, h.Size = 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	err = errors.Join(
		add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`), false),
		add("index.json", index, false),
		add("blobs/", nil, true),
		add("blobs/sha256/", nil, true),
	)
	names := make([]string, 0, len(blobs))
	for n := range blobs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		err = errors.Join(err, add("blobs/sha256/"+n, blobs[n], false))
	}
	err = errors.Join(err, tw.Close())
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(tmp)
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// FindModule walks up from dir to the aisedge module root.
func FindModule(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/aisedge/aisedge\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no aisedge source tree above %s: run from a checkout, or give a prebuilt static binary with --binary", dir)
		}
	}
}
