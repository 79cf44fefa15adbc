package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTools skips when Debian's rpm or rpm2cpio is missing (scripts/test
// installs both).
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian packages rpm, rpm2cpio, cpio; ./scripts/test installs them)", tool)
		}
	}
}

func rpmCmd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("rpm", append([]string{"--dbpath", t.TempDir()}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("rpm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// TestRPMReadByRPM writes a package and reads it with rpm: its digests
// check (rpm -K), its fields, files with modes, sizes and digests,
// dependencies and scriptlets are what was written, and rpm2cpio | cpio
// extracts the files byte for byte.
func TestRPMReadByRPM(t *testing.T) {
	needTools(t, "rpm", "rpm2cpio", "cpio")
	big := bytes.Repeat([]byte("aisedge binary "), 70000)
	p := &RPM{Name: "aisedge", Version: "1.2.3", Release: "1", Arch: "x86_64", Summary: "de-identified DICOM to XNAT",
		Description: "Line one.\nLine two.", License: "NOASSERTION", URL: "https://github.com/aisedge/aisedge", Group: "Applications/Science",
		BuildTime: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC),
		Files: []RPMFile{
			{Path: "/usr/bin/aisedge", Mode: 0o755, Data: big},
			{Path: "/usr/lib/systemd/system/aisedge-edge.service", Mode: 0o644, Data: []byte("[Unit]\n")},
			{Path: "/usr/share/doc/aisedge/README.md", Mode: 0o644, Data: []byte("# aisedge\n"), Doc: true},
			{Path: "/etc/aisedge/example.yaml", Mode: 0o640, Data: []byte("edge: {}\n"), Config: true},
		},
		Requires: []RPMDep{{Name: "/usr/sbin/useradd", Flags: SensePre}},
		PreIn:    "getent passwd aisedge >/dev/null || useradd -r aisedge\n",
		PostIn:   "systemctl daemon-reload || :\n",
		PreUn:    "if [ \"$1\" -eq 0 ]; then systemctl stop aisedge-edge.service || :; fi\n",
		PostUn:   "systemctl daemon-reload || :\n",
	}
	dir := t.TempDir()
	pkg := filepath.Join(dir, "aisedge-1.2.3-1.x86_64.rpm")
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pkg, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	if out := rpmCmd(t, "-K", pkg); !strings.Contains(out, "digests OK") {
		t.Errorf("rpm -K: %s", out)
	}
	info := rpmCmd(t, "-qip", pkg)
	for _, want := range []string{"Name        : aisedge", "Version     : 1.2.3", "Release     : 1", "Architecture: x86_64",
		"License     : NOASSERTION", "Summary     : de-identified DICOM to XNAT", "Line one.\nLine two.", "Source RPM  : aisedge-1.2.3-1.src.rpm"} {
		if !strings.Contains(info, want) {
			t.Errorf("rpm -qip lacks %q:\n%s", want, info)
		}
	}
	list := rpmCmd(t, "-qp", "--qf", `[%{FILEMODES:perms} %{FILESIZES} %{FILEDIGESTS} %{FILEFLAGS:fflags} %{FILENAMES}\n]`, pkg)
	wantList := "-rw-r----- 9 " + sha(p.Files[3].Data) + " cn /etc/aisedge/example.yaml\n" +
		"-rwxr-xr-x 1050000 " + sha(big) + "  /usr/bin/aisedge\n" +
		"-rw-r--r-- 7 " + sha(p.Files[1].Data) + "  /usr/lib/systemd/system/aisedge-edge.service\n" +
		"-rw-r--r-- 10 " + sha(p.Files[2].Data) + " d /usr/share/doc/aisedge/README.md\n"
	if list != wantList {
		t.Errorf("files:\n%s\nwant:\n%s", list, wantList)
	}
	if reqs := rpmCmd(t, "-qp", "--requires", pkg); !strings.Contains(reqs, "/usr/sbin/useradd\n") || !strings.Contains(reqs, "rpmlib(FileDigests) <= 4.6.0-1") {
		t.Errorf("requires:\n%s", reqs)
	}
	if prov := rpmCmd(t, "-qp", "--provides", pkg); prov != "aisedge = 1.2.3-1\naisedge(x86_64) = 1.2.3-1\n" {
		t.Errorf("provides:\n%s", prov)
	}
	scripts := rpmCmd(t, "-qp", "--scripts", pkg)
	for _, want := range []string{"preinstall scriptlet (using /bin/sh):\ngetent passwd aisedge >/dev/null || useradd -r aisedge",
		"postinstall scriptlet (using /bin/sh):\nsystemctl daemon-reload", "preuninstall scriptlet (using /bin/sh):\nif [ \"$1\" -eq 0 ]",
		"postuninstall scriptlet (using /bin/sh):\nsystemctl daemon-reload"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("scriptlets lack %q:\n%s", want, scripts)
		}
	}

	ex := filepath.Join(dir, "x")
	os.MkdirAll(ex, 0o755)
	cmd := exec.Command("sh", "-c", "rpm2cpio "+pkg+" | cpio -idm --quiet")
	cmd.Dir = ex
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpm2cpio | cpio: %v\n%s", err, out)
	}
	for _, f := range p.Files {
		got, err := os.ReadFile(filepath.Join(ex, f.Path))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s extracted wrong: %v", f.Path, err)
		}
	}
}

// TestRPMRefuses: what rpm could not represent is refused.
func TestRPMRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    RPM
	}{
		{"no files", RPM{Name: "a", Version: "1", Release: "1", Arch: "x86_64"}},
		{"dash in version", RPM{Name: "a", Version: "1-2", Release: "1", Arch: "x86_64", Files: []RPMFile{{Path: "/a"}}}},
		{"relative path", RPM{Name: "a", Version: "1", Release: "1", Arch: "x86_64", Files: []RPMFile{{Path: "usr/a"}}}},
		{"unclean path", RPM{Name: "a", Version: "1", Release: "1", Arch: "x86_64", Files: []RPMFile{{Path: "/usr/../a"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Write(&bytes.Buffer{}); err == nil {
				t.Error("written")
			}
		})
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
