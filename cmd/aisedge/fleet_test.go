package main

import (
	"bytes"
	"strings"
	"testing"
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
	if code != 1 || out != "" {
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
	if code != 1 || !strings.Contains(errs, "management.env:1: (syntax): $(…) runs a command") || !strings.Contains(errs, "management.env:3: (syntax): backticks") {
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
	if code != 1 || !strings.Contains(errs, "management.images.aisedge") {
		t.Fatalf("bad --image: exit %d\n%s", code, errs)
	}
	if code, _, _ := runCmd(t, "fleet", "render", "--config", fleetTestdata+"native/onprem.yaml"); code != 2 {
		t.Errorf("render without --out: exit %d", code)
	}
}
