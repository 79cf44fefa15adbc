// Command aisedge-release writes the release artefacts that scripts/release
// cannot make with the Go toolchain and dpkg-deb: the .rpm of a staged
// file tree, the SPDX SBOM of a built binary and the multi-arch OCI image
// index (internal/release). Only scripts/release runs it; nothing imports
// it.
//
//	aisedge-release rpm --root DIR --scripts DIR --version V --arch amd64|arm64 --out FILE
//	aisedge-release sbom --binary FILE --version V --license EXPR --out FILE
//	aisedge-release oci --binary amd64=FILE --binary arm64=FILE --version V --revision R
//	    --source URL --license EXPR [--sbom FILE] [--ca-certificates FILE] --tag T --out FILE
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/release"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: aisedge-release rpm|sbom|oci [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "rpm":
		err = rpm(os.Args[2:])
	case "sbom":
		err = sbom(os.Args[2:])
	case "oci":
		err = oci(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (rpm, sbom, oci)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aisedge-release:", err)
		os.Exit(1)
	}
}

// epoch is SOURCE_DATE_EPOCH, or the Unix epoch: every artefact is
// stamped with it, so that the same inputs give the same bytes.
func epoch() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}

func writeFile(out string, b []byte) error {
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func rpm(args []string) error {
	f := flag.NewFlagSet("rpm", flag.ExitOnError)
	root := f.String("root", "", "staged file tree (its files, with their modes, become the package's)")
	scripts := f.String("scripts", "deploy/rpm", "folder with preinstall, postinstall, preuninstall and postuninstall")
	version := f.String("version", "", "package version (no '-')")
	rel := f.String("release", "1", "package release")
	arch := f.String("arch", "", "GOARCH: amd64 or arm64")
	license := f.String("license", "NOASSERTION", "SPDX licence expression")
	out := f.String("out", "", "the .rpm to write")
	f.Parse(args)
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[*arch]
	if *root == "" || *version == "" || *out == "" || rpmArch == "" {
		return errors.New("rpm: --root, --version, --out and --arch (amd64 or arm64) are required")
	}
	p := &release.RPM{Name: "aisedge", Version: *version, Release: *rel, Arch: rpmArch, License: *license,
		URL: "https://github.com/aisedge/aisedge", Group: "Applications/Science", BuildTime: epoch(),
		Summary: "de-identified DICOM from imaging facilities to XNAT",
		Description: "One static binary with the edge role (DICOM receiver, facility backup,\n" +
			"de-identification, upload to S3), the hub role (S3 into XNAT), a\n" +
			"standalone mode and the operator tools; hardened systemd units\n" +
			"aisedge-edge and aisedge-hub (not enabled until configured).",
		Requires: []release.RPMDep{{Name: "/usr/sbin/useradd", Flags: release.SensePre}, {Name: "/usr/sbin/groupadd", Flags: release.SensePre}}}
	err := filepath.WalkDir(*root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: only regular files are packaged", path)
		}
		rel, _ := filepath.Rel(*root, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		abs := "/" + filepath.ToSlash(rel)
		p.Files = append(p.Files, release.RPMFile{Path: abs, Mode: uint32(info.Mode().Perm()), Data: data,
			Doc: strings.HasPrefix(abs, "/usr/share/doc/"), Config: strings.HasPrefix(abs, "/etc/")})
		return nil
	})
	if err != nil {
		return err
	}
	for name, dst := range map[string]*string{"preinstall": &p.PreIn, "postinstall": &p.PostIn, "preuninstall": &p.PreUn, "postuninstall": &p.PostUn} {
		b, err := os.ReadFile(filepath.Join(*scripts, name))
		if err != nil {
			return err
		}
		*dst = string(b)
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		return err
	}
	return writeFile(*out, b.Bytes())
}

func sbom(args []string) error {
	f := flag.NewFlagSet("sbom", flag.ExitOnError)
	bin := f.String("binary", "", "the built aisedge binary")
	version := f.String("version", "", "the release's version")
	license := f.String("license", "NOASSERTION", "SPDX licence expression of aisedge")
	out := f.String("out", "", "the SPDX JSON file to write")
	f.Parse(args)
	if *bin == "" || *out == "" {
		return errors.New("sbom: --binary and --out are required")
	}
	doc, err := release.SBOM(*bin, *version, *license, epoch())
	if err != nil {
		return err
	}
	b, err := doc.JSON()
	if err != nil {
		return err
	}
	return writeFile(*out, b)
}

type binFlags map[string]string

func (b binFlags) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binFlags) Set(s string) error {
	arch, path, ok := strings.Cut(s, "=")
	if !ok || arch == "" || path == "" {
		return fmt.Errorf("%q is not ARCH=FILE", s)
	}
	b[arch] = path
	return nil
}

func oci(args []string) error {
	f := flag.NewFlagSet("oci", flag.ExitOnError)
	bins := binFlags{}
	f.Var(bins, "binary", "ARCH=FILE, once per architecture")
	version := f.String("version", "", "org.opencontainers.image.version")
	revision := f.String("revision", "", "org.opencontainers.image.revision (the commit)")
	source := f.String("source", "https://github.com/aisedge/aisedge", "org.opencontainers.image.source")
	license := f.String("license", "NOASSERTION", "org.opencontainers.image.licenses (SPDX expression)")
	sbomPath := f.String("sbom", "", "SPDX JSON to attach to the index")
	certs := f.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle for /etc/ssl/certs in the image")
	tag := f.String("tag", "", "name of the index in the layout (default aisedge:VERSION)")
	out := f.String("out", "", "the oci-archive (tar) to write")
	f.Parse(args)
	if len(bins) == 0 || *version == "" || *revision == "" || *out == "" {
		return errors.New("oci: --binary, --version, --revision and --out are required")
	}
	o := &release.OCIIndex{Binaries: map[string][]byte{}, Tag: *tag, Labels: map[string]string{
		release.LabelVersion: *version, release.LabelRevision: *revision, release.LabelSource: *source, release.LabelLicenses: *license}}
	if o.Tag == "" {
		o.Tag = "aisedge:" + *version
	}
	for arch, path := range bins {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		o.Binaries[arch] = b
	}
	var err error
	if o.CACertificates, err = os.ReadFile(*certs); err != nil {
		return fmt.Errorf("CA certificates: %w", err)
	}
	if *sbomPath != "" {
		if o.SBOM, err = os.ReadFile(*sbomPath); err != nil {
			return err
		}
	}
	d, err := o.Write(*out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: index %s\n", *out, d)
	return nil
}
