package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOCIIndex(t *testing.T) {
	labels := map[string]string{LabelVersion: "1.2.3", LabelRevision: "0123456789abcdef", LabelSource: "https://github.com/aisedge/aisedge", LabelLicenses: "NOASSERTION"}
	sbom := []byte(`{"spdxVersion":"SPDX-2.3"}` + "\n")
	o := &OCIIndex{Binaries: map[string][]byte{"amd64": []byte("amd64 binary"), "arm64": []byte("arm64 binary")},
		CACertificates: []byte("-----BEGIN CERTIFICATE-----\n"), Labels: labels, Tag: "aisedge:1.2.3", SBOM: sbom}
	out := filepath.Join(t.TempDir(), "aisedge.oci.tar")
	d1, err := o.Write(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyOCIArchive(out, t.TempDir(), labels, sbom)
	if err != nil {
		t.Error(err)
	}
	if got != d1 {
		t.Errorf("index digest %s, Write said %s", got, d1)
	}
	// The check can fail: another label, or a single platform.
	if _, err := VerifyOCIArchive(out, t.TempDir(), map[string]string{LabelVersion: "9.9.9"}, sbom); err == nil {
		t.Error("a wrong version label passed")
	}
	one := &OCIIndex{Binaries: map[string][]byte{"amd64": []byte("x")}, CACertificates: []byte("x"), Labels: labels, Tag: "t"}
	oneOut := filepath.Join(t.TempDir(), "one.tar")
	if _, err := one.Write(oneOut); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyOCIArchive(oneOut, t.TempDir(), labels, nil); err == nil || !strings.Contains(err.Error(), "platforms") {
		t.Errorf("a single-platform index passed: %v", err)
	}
	// Reproducible: the same inputs give the same index.
	d2, err := o.Write(filepath.Join(t.TempDir(), "again.tar"))
	if err != nil || d2 != d1 {
		t.Errorf("second build: %s %v, first %s", d2, err, d1)
	}
}

func TestSBOM(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the aisedge binary")
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Skip("no go command")
	}
	modRoot := filepath.Dir(strings.TrimSpace(string(root)))
	bin := filepath.Join(t.TempDir(), "aisedge")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/aisedge")
	cmd.Dir = modRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	doc, err := SBOM(bin, "1.2.3", "NOASSERTION", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	n, inMod, err := VerifySBOM(raw, modRoot, "1.2.3")
	if err != nil {
		t.Error(err)
	}
	t.Logf("SBOM: %d modules, %d of them named in go.mod", n, inMod)
	// The check can fail: a module left out.
	doc.Packages = doc.Packages[:len(doc.Packages)-1]
	raw, _ = doc.JSON()
	if _, _, err := VerifySBOM(raw, modRoot, "1.2.3"); err == nil {
		t.Error("an SBOM without a linked module passed")
	}
	if _, err := SBOM(filepath.Join(modRoot, "go.mod"), "1", "x", time.Unix(0, 0)); err == nil {
		t.Error("SBOM of a file that is not a Go binary")
	}
}
