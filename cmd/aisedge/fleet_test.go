package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/fleet/kube/kubetest"
)

const fleetTestdata = "../../internal/fleet/testdata/"

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestFleetConfigValidate(t *testing.T) {
	code, out, errs := runCmd(t, "fleet", "config", "validate", "--config", fleetTestdata+"native/three-sites.yaml")
	if code != 0 || !strings.Contains(out, "is valid: 3 site(s)") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	// Secrets show where they come from, never their value.
	if strings.Contains(out, "admin-secret-0123456789abcdef") || !strings.Contains(out, "file: ../secrets/s3-admin-secret-key") {
		t.Errorf("effective configuration shows a secret or hides its source:\n%s", out)
	}

	code, out, errs = runCmd(t, "fleet", "config", "validate", "--config", fleetTestdata+"invalid/everything.yaml")
	if code != exitConfig || out != "" {
		t.Fatalf("invalid: exit %d, stdout %q", code, out)
	}
	if n := strings.Count(errs, "(fix: "); n < 25 {
		t.Errorf("only %d problems named:\n%s", n, errs)
	}

	code, out, errs = runCmd(t, "fleet", "config", "validate", "--env", fleetTestdata+"legacy/config")
	if code != 0 || !strings.Contains(out, "is valid: 2 site(s)") || !strings.Contains(errs, "warning: ") || !strings.Contains(errs, "SITE_CONTACT") {
		t.Fatalf("env dir: exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, "uqcai-secret-0001") || strings.Contains(out, "p@ss") {
		t.Errorf("effective configuration shows a secret:\n%s", out)
	}

	code, _, errs = runCmd(t, "fleet", "config", "validate", "--env", fleetTestdata+"legacy-invalid/config")
	if code != exitConfig || !strings.Contains(errs, "management.env:1: (syntax): $(…) runs a command") || !strings.Contains(errs, "management.env:3: (syntax): backticks") {
		t.Fatalf("commands in env files: exit %d\n%s", code, errs)
	}

	for _, args := range [][]string{
		{"fleet", "config", "validate"},
		{"fleet", "config", "validate", "--config", "a", "--env", "b"},
		{"fleet", "config"},
		{"fleet", "nope"},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestFleetRender(t *testing.T) {
	out := t.TempDir() + "/out"
	code, stdout, errs := runCmd(t, "fleet", "render", "--config", fleetTestdata+"native/three-sites.yaml", "--out", out)
	if code != 0 || strings.Count(stdout, "\n") != 11+3*3 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errs)
	}
	if !strings.Contains(errs, "ca-bundle Secret is not rendered") {
		t.Errorf("no note about the CA bundle: %s", errs)
	}
	// --image overrides the file; a bad one is refused with the field.
	code, _, errs = runCmd(t, "fleet", "render", "--config", fleetTestdata+"native/onprem.yaml", "--out", out, "--image", "Not An Image")
	if code != exitConfig || !strings.Contains(errs, "management.images.aisedge") {
		t.Fatalf("bad --image: exit %d\n%s", code, errs)
	}
	if code, _, _ := runCmd(t, "fleet", "render", "--config", fleetTestdata+"native/onprem.yaml"); code != 2 {
		t.Errorf("render without --out: exit %d", code)
	}
}

// fleetOnApiservers starts a management and a child kube-apiserver and
// writes a fleet file (testdata's onprem.yaml, one site) whose site's
// kubeconfig is the child's; it returns the management server and the file.
func fleetOnApiservers(t *testing.T) (*kubetest.Server, string) {
	mgmt := kubetest.Start(t)
	mgmt.InstallCRDs(t, kubetest.CertManagerCRDs(), kubetest.K0smotronCRDs())
	child := kubetest.Start(t)
	secrets, err := filepath.Abs(fleetTestdata + "secrets")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(fleetTestdata + "native/onprem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	cfg := strings.ReplaceAll(string(src), "../secrets", secrets) +
		"    kubeconfig: " + child.Kubeconfig + "\n"
	cfg = strings.Replace(cfg, "  domain: aisedge.local\n", "  domain: aisedge.local\n  tls:\n    caBundleFile: "+ca+"\n", 1)
	return mgmt, writeFile(t, dir, "fleet.yaml", cfg)
}

// TestFleetApply runs `aisedge fleet apply` against real apiservers: the
// management cluster and one site's child cluster (its kubeconfig named in
// the fleet file); a second apply and a server dry run change nothing.
func TestFleetApply(t *testing.T) {
	mgmt, fleetFile := fleetOnApiservers(t)
	args := []string{"fleet", "apply", "--config", fleetFile, "--kubeconfig", mgmt.Kubeconfig, "--wait=false"}

	code, out, errs := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"management: 22 created", "management: Secret xnat-upload/ca-bundle created", "edge-uqcai: 7 created", "edge-uqcai: Secret xnat-ingest/ca-bundle created"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	code, out, errs = runCmd(t, args...)
	if code != 0 || !strings.Contains(out, "management: 22 unchanged") || !strings.Contains(out, "edge-uqcai: 7 unchanged") {
		t.Fatalf("second apply: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCmd(t, append(args, "--dry-run=server")...)
	if code != 0 || !strings.Contains(out, "management: 22 unchanged") || !strings.Contains(out, "dry run: nothing was changed") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := runCmd(t, append(args, "--site", "nope")...); code != 2 || !strings.Contains(errs, "no such site") {
		t.Errorf("--site nope: exit %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, append(args, "--dry-run=client")...); code != 2 || !strings.Contains(errs, "use --dry-run=server") {
		t.Errorf("--dry-run=client: exit %d %s", code, errs)
	}
}

// TestFleetImage packages a prebuilt binary (the image package's test
// builds and runs the real one).
func TestFleetImage(t *testing.T) {
	dir := t.TempDir()
	bin := writeFile(t, dir, "aisedge", "#!/bin/false\n")
	certs := writeFile(t, dir, "certs.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	out := filepath.Join(dir, "aisedge.tar")
	args := []string{"fleet", "image", "--binary", bin, "--ca-certificates", certs, "--out", out, "--arch", "arm64"}
	code, o1, errs := runCmd(t, args...)
	if code != 0 || !strings.Contains(o1, "\tsha256:") {
		t.Fatalf("exit %d\n%s\n%s", code, o1, errs)
	}
	if code, o2, _ := runCmd(t, args...); code != 0 || o2 != o1 {
		t.Errorf("second build: %q, first %q", o2, o1)
	}
	if code, _, errs := runCmd(t, "fleet", "image", "--binary", bin, "--ca-certificates", filepath.Join(dir, "none"), "--out", out); code != 1 || !strings.Contains(errs, "CA certificates") {
		t.Errorf("missing CA bundle: exit %d %s", code, errs)
	}
}
