package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFleetOps runs the operations' commands in-process against real
// apiservers after a fleet apply: usage errors exit 2; uninstall without a
// terminal and without the phrase refuses (exit 1) and deletes nothing;
// site remove of the only site points at uninstall;
// rotate-ca --phase 2 before phase 1 is refused; rotate-keys refuses keys
// from the environment with the fix; certs and status print their tables
// (an unreachable site as a row).
func TestFleetOps(t *testing.T) {
	mgmt, fleetFile := fleetOnApiservers(t)
	b, err := os.ReadFile(fleetFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, dir := string(b), filepath.Dir(fleetFile)
	secrets, err := filepath.Abs(fleetTestdata + "secrets")
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--config", fleetFile, "--kubeconfig", mgmt.Kubeconfig}
	if code, out, errs := runCmd(t, append([]string{"fleet", "apply", "--wait=false"}, base...)...); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errs)
	}
	stdinTerminal = func() bool { return false }

	for _, args := range [][]string{
		{"fleet", "site"}, {"fleet", "site", "move", "edge-uqcai"}, {"fleet", "rotate-keys"},
		{"fleet", "rotate-ca"}, {"fleet", "rotate-ca", "--phase", "3"}, {"fleet", "certs", "x"}, {"fleet", "status", "--edge-url", "nourl"},
	} {
		if code, _, _ := runCmd(t, append(args, base...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}

	code, out, errs := runCmd(t, append([]string{"fleet", "uninstall"}, base...)...)
	if code != 1 || !strings.Contains(errs, `--yes-delete-data="uninstall aisedge from kubetest"`) {
		t.Errorf("uninstall without a terminal: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCmd(t, append([]string{"fleet", "site", "remove", "edge-uqcai", "--yes-delete-data=edge-usyd"}, base...)...)
	if code != 1 || !strings.Contains(errs, "the fleet's only site: use aisedge fleet uninstall") {
		t.Errorf("site remove of the only site: exit %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = runCmd(t, append([]string{"fleet", "rotate-ca", "--phase", "2"}, base...)...)
	if code != 1 || !strings.Contains(errs, "run rotate-ca --phase 1 first") {
		t.Errorf("rotate-ca --phase 2 first: exit %d\n%s", code, errs)
	}

	// Keys from the environment cannot be rotated.
	envCfg := strings.Replace(cfg, "s3SecretKey: {file: "+secrets+"/edge-uqcai-secret-key}", "s3SecretKey: {env: EDGE_SECRET}", 1)
	t.Setenv("EDGE_SECRET", "edge-secret-from-env")
	envFile := writeFile(t, dir, "fleet-env.yaml", envCfg)
	code, _, errs = runCmd(t, "fleet", "rotate-keys", "edge-uqcai", "--config", envFile, "--kubeconfig", mgmt.Kubeconfig)
	if code != 1 || !strings.Contains(errs, "comes from $EDGE_SECRET") || !strings.Contains(errs, "{file: PATH}") {
		t.Errorf("rotate-keys with an env key: exit %d\n%s", code, errs)
	}

	code, out, errs = runCmd(t, append([]string{"fleet", "certs"}, base...)...)
	if code != 0 || !strings.Contains(out, "cert-manager/ais-edge-ca") || !strings.Contains(out, "not issued") {
		t.Errorf("certs: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCmd(t, append([]string{"fleet", "status", "--hub-url", "http://127.0.0.1:1"}, base...)...)
	if code != 0 || !strings.Contains(out, "edge-uqcai") || !strings.Contains(out, "hub: unreachable") {
		t.Errorf("status: exit %d\n%s\n%s", code, out, errs)
	}
	// Nothing was deleted by the refused commands.
	code, out, _ = runCmd(t, append([]string{"fleet", "apply", "--wait=false", "--dry-run=server"}, base...)...)
	if code != 0 || strings.Contains(out, " created") {
		t.Errorf("after the refused commands something is missing:\n%s", out)
	}
}
