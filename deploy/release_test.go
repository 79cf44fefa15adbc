package deploy

import (
	"bufio"
	"debug/elf"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aisedge/aisedge/internal/release"
)

// TestRelease runs ./scripts/release (static binaries for linux/amd64 and
// arm64, tar.gz and .deb per architecture, SHA256SUMS) and checks what it
// made: sums verify; both binaries are static ELF for their machine (the
// arm64 one is aarch64); the amd64 one reports the version it was built
// with; the amd64 .deb installs with dpkg into a scratch root (its
// maintainer scripts do nothing to this machine under DPKG_ROOT) with the
// binary, both units, the manual page and the three completions; the unit
// passes systemd-analyze verify and its security exposure is "OK"; and the
// installed binary starts with the unit's command line against a
// configuration in the scratch root. Both .rpm files read with rpm (digests,
// fields, files, the user's creation in the scriptlets) and the amd64
// one's binary runs; the OCI index has both platforms with the OCI labels
// and the SBOM attached; the SBOM lists the linked modules at go.mod's
// versions. A cold run compiles both architectures (minutes); -short
// skips it.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the release build compiles two architectures")
	}
	for _, tool := range []string{"dpkg-deb", "dpkg", "sha256sum", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("../scripts/release")
	cmd.Env = append(os.Environ(), "VERSION=1.2.3", "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release: %v\n%s", err, b)
	}
	sums := exec.Command("sha256sum", "-c", "SHA256SUMS")
	sums.Dir = out
	if b, err := sums.CombinedOutput(); err != nil || strings.Count(string(b), ": OK") != 8 {
		t.Errorf("sha256sum -c: %v\n%s", err, b)
	}

	bins := map[string]string{}
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		dir := filepath.Join(t.TempDir(), arch)
		os.MkdirAll(dir, 0o755)
		if b, err := exec.Command("tar", "-xzf", filepath.Join(out, "aisedge_1.2.3_linux_"+arch+".tar.gz"), "-C", dir).CombinedOutput(); err != nil {
			t.Fatalf("tar: %v\n%s", err, b)
		}
		bin := filepath.Join(dir, "aisedge_1.2.3_linux_"+arch, "aisedge")
		bins[arch] = bin
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != machine {
			t.Errorf("%s binary is for %v, want %v", arch, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s binary is not static (%v)", arch, p.Type)
			}
		}
		f.Close()
		for _, extra := range []string{"aisedge.1", "aisedge.bash", "_aisedge", "aisedge.fish", "aisedge-edge.service"} {
			if _, err := os.Stat(filepath.Join(filepath.Dir(bin), extra)); err != nil {
				t.Errorf("%s archive lacks %s", arch, extra)
			}
		}
	}
	if b, err := exec.Command(bins["amd64"], "version").Output(); err != nil || !strings.HasPrefix(string(b), "aisedge 1.2.3 ") {
		t.Errorf("aisedge version: %q %v", b, err)
	}
	if b, err := exec.Command("bash", "-n", filepath.Join(filepath.Dir(bins["amd64"]), "aisedge.bash")).CombinedOutput(); err != nil {
		t.Errorf("bash -n on the completion: %v\n%s", err, b)
	}

	// The .deb, installed into a scratch root.
	deb := filepath.Join(out, "aisedge_1.2.3_amd64.deb")
	if b, err := exec.Command("dpkg-deb", "-f", deb, "Package", "Version", "Architecture").Output(); err != nil ||
		string(b) != "Package: aisedge\nVersion: 1.2.3\nArchitecture: amd64\n" {
		t.Errorf("control fields: %q %v", b, err)
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
	install := exec.Command("dpkg", "--root="+root, "--force-not-root", "--force-script-chrootless", "--force-depends", "--log=/dev/null", "-i", deb)
	if b, err := install.CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i into %s: %v\n%s", root, err, b)
	}
	if b, _ := exec.Command("dpkg", "--root="+root, "-s", "aisedge").Output(); !strings.Contains(string(b), "Status: install ok installed") {
		t.Errorf("dpkg -s: %s", b)
	}
	for _, p := range []string{"usr/bin/aisedge", "lib/systemd/system/aisedge-edge.service", "lib/systemd/system/aisedge-hub.service",
		"usr/share/man/man1/aisedge.1.gz", "usr/share/bash-completion/completions/aisedge", "usr/share/zsh/vendor-completions/_aisedge",
		"usr/share/fish/vendor_completions.d/aisedge.fish", "usr/share/doc/aisedge/examples/aisedge.yaml"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("installed package lacks /%s", p)
		}
	}

	// The unit: verified and hardened (its paths pointed into the root).
	unitB, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/aisedge-edge.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(unitB)
	for _, want := range []string{"ExecStart=/usr/bin/aisedge edge --config /etc/aisedge/aisedge.yaml", "User=aisedge", "ProtectSystem=strict", "NoNewPrivileges=yes"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	check := filepath.Join(t.TempDir(), "aisedge-edge.service")
	os.WriteFile(check, []byte(strings.ReplaceAll(unit, "/usr/bin/aisedge", filepath.Join(root, "usr/bin/aisedge"))), 0o644)
	if b, err := exec.Command("systemd-analyze", "verify", "--man=no", check).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, b)
	}
	b, _ := exec.Command("systemd-analyze", "security", "--offline=yes", check).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for aisedge-edge.service: ([0-9.]+) (\w+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Errorf("systemd-analyze security:\n%s", b)
	} else if level, _ := strconv.ParseFloat(m[1], 64); level > 2.5 {
		t.Errorf("exposure level %s %s, want 2.5 or less", m[1], m[2])
	}

	// The installed binary starts with the unit's command line, against a
	// configuration in the root (S3 on a closed port: it runs, not ready).
	etc, lib := filepath.Join(root, "etc/aisedge"), filepath.Join(root, "var/lib/aisedge")
	os.MkdirAll(etc, 0o750)
	os.MkdirAll(lib, 0o750)
	for name, v := range map[string]string{"deid-key": strings.Repeat("ab", 32), "s3-access-key": "ak", "s3-secret-key": "sk"} {
		os.WriteFile(filepath.Join(etc, name), []byte(v+"\n"), 0o600)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	example, _ := os.ReadFile(filepath.Join(root, "usr/share/doc/aisedge/examples/aisedge.yaml"))
	cfg := strings.NewReplacer("/etc/aisedge/", etc+"/", "/var/lib/aisedge/", lib+"/", "https://s3.example.org", "https://"+closed,
		"0.0.0.0:4242", "127.0.0.1:0", "127.0.0.1:8080", "127.0.0.1:0").Replace(string(example))
	cfg = regexp.MustCompile(`(?m)^    caFile: .*\n`).ReplaceAllString(cfg, "")
	os.WriteFile(filepath.Join(etc, "aisedge.yaml"), []byte(cfg), 0o600)
	argv := strings.Fields(strings.TrimPrefix(regexp.MustCompile(`(?m)^ExecStart=.*$`).FindString(unit), "ExecStart="))
	for i, a := range argv {
		if strings.HasPrefix(a, "/") {
			argv[i] = filepath.Join(root, a)
		}
	}
	run := exec.Command(argv[0], argv[1:]...)
	run.Env = []string{"PATH=/usr/bin:/bin"}
	stderr, _ := run.StderrPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	started := false
	var lines []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), `"msg":"receiver listening"`) {
			started = true
			break
		}
	}
	if !started {
		run.Wait()
		t.Fatalf("the installed edge did not start:\n%s", strings.Join(lines, "\n"))
	}
	run.Process.Signal(syscall.SIGTERM)
	go func() {
		for sc.Scan() {
		}
	}()
	if err := run.Wait(); err != nil {
		t.Errorf("the installed edge after SIGTERM: %v", err)
	}

	checkRPMs(t, out)
	checkOCIAndSBOM(t, out)
}

// checkRPMs reads both .rpm files with Debian's rpm: digests, fields,
// files (binary, units, manual page, completions, example), the service
// user's creation before install, and extracts the amd64 binary with
// rpm2cpio, identical to the tar.gz's.
func checkRPMs(t *testing.T, out string) {
	t.Helper()
	for _, tool := range []string{"rpm", "rpm2cpio", "cpio"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Errorf("%s not installed (Debian packages rpm, rpm2cpio, cpio): the .rpm is not checked", tool)
			return
		}
	}
	q := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("rpm", append([]string{"--dbpath", t.TempDir()}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("rpm %s: %v\n%s%s", strings.Join(args, " "), err, b, stderr.String())
		}
		return string(b)
	}
	for arch, rpmArch := range map[string]string{"amd64": "x86_64", "arm64": "aarch64"} {
		pkg := filepath.Join(out, "aisedge-1.2.3-1."+rpmArch+".rpm")
		if got := q("-K", pkg); !strings.Contains(got, "digests OK") {
			t.Errorf("rpm -K %s: %s", arch, got)
		}
		info := q("-qip", pkg)
		for _, want := range []string{"Name        : aisedge", "Version     : 1.2.3", "Release     : 1", "Architecture: " + rpmArch} {
			if !strings.Contains(info, want) {
				t.Errorf("rpm -qip %s lacks %q:\n%s", arch, want, info)
			}
		}
		files := q("-qlp", pkg)
		for _, want := range []string{"/usr/bin/aisedge", "/usr/lib/systemd/system/aisedge-edge.service", "/usr/lib/systemd/system/aisedge-hub.service",
			"/usr/share/man/man1/aisedge.1.gz", "/usr/share/bash-completion/completions/aisedge", "/usr/share/zsh/vendor-completions/_aisedge",
			"/usr/share/fish/vendor_completions.d/aisedge.fish", "/usr/share/doc/aisedge/examples/aisedge.yaml"} {
			if !strings.Contains(files, want+"\n") {
				t.Errorf("rpm -qlp %s lacks %s:\n%s", arch, want, files)
			}
		}
		scripts := q("-qp", "--scripts", pkg)
		for _, want := range []string{"preinstall scriptlet (using /bin/sh):", "useradd -r -g aisedge -d /var/lib/aisedge", "groupadd -r aisedge",
			"postinstall scriptlet (using /bin/sh):", "systemctl daemon-reload", "preuninstall scriptlet (using /bin/sh):", "disable --now aisedge-edge.service"} {
			if !strings.Contains(scripts, want) {
				t.Errorf("rpm --scripts %s lacks %q:\n%s", arch, want, scripts)
			}
		}
		if reqs := q("-qp", "--requires", pkg); !strings.Contains(reqs, "/usr/sbin/useradd") {
			t.Errorf("rpm --requires %s: %s", arch, reqs)
		}
	}
	dir := t.TempDir()
	x := exec.Command("sh", "-c", "rpm2cpio "+filepath.Join(out, "aisedge-1.2.3-1.x86_64.rpm")+" | cpio -idm --quiet ./usr/bin/aisedge")
	x.Dir = dir
	if b, err := x.CombinedOutput(); err != nil {
		t.Errorf("rpm2cpio | cpio: %v\n%s", err, b)
		return
	}
	if b, err := exec.Command(filepath.Join(dir, "usr/bin/aisedge"), "version").Output(); err != nil || !strings.HasPrefix(string(b), "aisedge 1.2.3 ") {
		t.Errorf("aisedge version from the .rpm: %q %v", b, err)
	}
}

// checkOCIAndSBOM checks the multi-arch index (both platforms, the OCI
// labels on each image and the index, the SBOM attached) and that the SBOM
// lists every module the binary links at go.mod's version.
func checkOCIAndSBOM(t *testing.T, out string) {
	t.Helper()
	sbom, err := os.ReadFile(filepath.Join(out, "aisedge_1.2.3.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{release.LabelVersion: "1.2.3", release.LabelRevision: strings.TrimSpace(string(rev)),
		release.LabelSource: "https://github.com/aisedge/aisedge", release.LabelLicenses: "NOASSERTION"}
	if _, err := release.VerifyOCIArchive(filepath.Join(out, "aisedge_1.2.3_oci.tar"), t.TempDir(), labels, sbom); err != nil {
		t.Errorf("OCI index: %v", err)
	}
	n, inMod, err := release.VerifySBOM(sbom, "..", "1.2.3")
	if err != nil {
		t.Errorf("SBOM: %v", err)
	}
	t.Logf("SBOM: %d modules, %d named in go.mod", n, inMod)
}
