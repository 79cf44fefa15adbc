package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/fleet/join/jointest"
	"github.com/aisedge/aisedge/internal/fleet/kube/kubetest"
	"github.com/aisedge/aisedge/internal/testpeer/sshedge"
)

// TestFleetJoin joins a fake edge (real sshd) through the command line,
// twice, after a dry run, with the management cluster (also the child
// cluster here) a real kube-apiserver.
func TestFleetJoin(t *testing.T) {
	// client-go's logger is set once, before any client runs (the
	// command sets it too; a later write would race with the controller).
	quietKlog()
	srv := kubetest.Start(t)
	srv.InstallCRDs(t, kubetest.K0smotronCRDs())
	const site = "edge-uqcai"
	edge := sshedge.Start(t, site)
	cs, _, _, ctrl := jointest.PrepareCluster(t, srv, site)
	secrets, err := filepath.Abs(fleetTestdata + "secrets")
	if err != nil {
		t.Fatal(err)
	}
	src := readTestFile(t, fleetTestdata+"native/onprem.yaml")
	cfg := strings.ReplaceAll(src, "../secrets", secrets)
	cfg = strings.Replace(cfg, "nodeIP: 203.101.230.171", "nodeIP: "+edge.Host, 1)
	cfg = strings.Replace(cfg, "ssh: {user: ubuntu, key: ~/.ssh/id_ed25519}", "ssh: {user: root, key: "+edge.KeyFile+"}", 1)
	cfg += "    dataDir: " + sshedge.DataDir + "\n    facilityBackupDir: " + sshedge.BackupDir + "\n    kubeconfig: " + srv.Kubeconfig + "\n"
	dir := t.TempDir()
	fleetFile := writeFile(t, dir, "fleet.yaml", cfg)
	knownHosts := filepath.Join(dir, "known_hosts")
	args := []string{"fleet", "join", site, "--config", fleetFile, "--kubeconfig", srv.Kubeconfig,
		"--known-hosts", knownHosts, "--ssh-port", strconv.Itoa(edge.Port), "--timeout", "30s"}

	// Unknown host: refused, nothing recorded, nothing run.
	code, out, errs := runCmd(t, args...)
	if code == 0 || !strings.Contains(errs, "--accept-new-host-key") || !strings.Contains(errs, "ssh") {
		t.Fatalf("unknown host: exit %d\n%s\n%s", code, out, errs)
	}
	if len(edge.Commands(t)) != 0 {
		t.Fatalf("commands ran: %q", edge.Commands(t))
	}

	// The token step ran before ssh: one request, reused from now on.
	if ctrl.Issued() != 1 {
		t.Fatalf("tokens issued: %d", ctrl.Issued())
	}

	code, out, errs = runCmd(t, append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(out, "dry run: nothing was changed") || !strings.Contains(out, "install worker --token-file /etc/k0s/join-token") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	if c, h, n := edge.Commands(t), edge.ReadFile(t, "/etc/hosts"), ctrl.Issued(); len(c) != 0 || h != sshedge.InitialHosts || n != 1 {
		t.Fatalf("the dry run changed something: commands %q, /etc/hosts %q, tokens issued %d\n%s", c, h, n, out)
	}

	code, out, errs = runCmd(t, append(args, "--accept-new-host-key")...)
	if code != 0 {
		t.Fatalf("join: exit %d\n%s\n%s\n%s", code, out, errs, edge.Log())
	}
	for _, want := range []string{"[edge-uqcai] join-token: unchanged (reused", "[edge-uqcai] ssh: done", "added the host key",
		"[edge-uqcai] hosts: changed", "[edge-uqcai] k0s-worker: changed", "[edge-uqcai] coredns: changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if !strings.Contains(readTestFile(t, filepath.Join(dir, "join-token-"+site)), "H4sI") { // base64 of gzip's magic
		t.Errorf("no local token copy")
	}

	// Second run (the key is pinned now): every step unchanged.
	code, out, errs = runCmd(t, args...)
	if code != 0 {
		t.Fatalf("second join: exit %d\n%s\n%s", code, out, errs)
	}
	if n := strings.Count(out, ": unchanged"); n != 6 || strings.Contains(out, ": changed") {
		t.Errorf("second run:\n%s", out)
	}
	if calls := edge.K0sCalls(t); strings.Count(strings.Join(calls, "\n"), "install worker") != 1 || ctrl.Issued() != 1 {
		t.Errorf("k0s calls %q, tokens issued %d", calls, ctrl.Issued())
	}
	if h := edge.ReadFile(t, "/etc/hosts"); strings.Count(h, "# BEGIN aisedge") != 1 || !strings.Contains(h, "203.0.113.10\tk0s-edge-uqcai.aisedge.local") {
		t.Errorf("/etc/hosts:\n%s", h)
	}
	if core := jointest.Corefile(t, cs); !strings.Contains(core, "203.0.113.10 k0s-edge-uqcai.aisedge.local") || !strings.Contains(core, "kubernetes cluster.local") {
		t.Errorf("Corefile:\n%s", core)
	}

	// Usage errors: exit 2.
	for _, bad := range [][]string{
		{"fleet", "join", "--config", fleetFile},
		{"fleet", "join", "nope", "--config", fleetFile},
		{"fleet", "join", site, "--config", fleetFile, "--data-owner", "0:0"},
	} {
		if code, _, errs := runCmd(t, bad...); code != 2 {
			t.Errorf("%q: exit %d %s", bad, code, errs)
		}
	}
}

func readTestFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
