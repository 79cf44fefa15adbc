package join

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/remote"
)

// Files on the edge.
const (
	HostsFile     = "/etc/hosts"
	TokenPath     = "/etc/k0s/join-token"
	HAProxyCerts  = "/etc/haproxy/certs"
	k0sPreStaged  = "/usr/local/bin/k0s"
	k0sWorkerUnit = "/etc/systemd/system/k0sworker.service"
)

// writeFileScript writes stdin to $1 with mode $2 (its folder made with
// mode $3 when missing) through a temporary file and a rename, so that a
// broken transfer leaves the old file.
const writeFileScript = `set -e
f=$1
d=$(dirname "$f")
[ -d "$d" ] || mkdir -p -m "$3" "$d"
umask 077
tmp=$(mktemp "$d/.aisedge.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chmod "$2" "$tmp"
mv -f "$tmp" "$f"
trap - EXIT`

// writeFile sends content on stdin (never on the command line).
func (j *joiner) writeFile(ctx context.Context, step, file string, mode, dirMode int, content []byte) error {
	_, err := j.run.Run(ctx, step, remote.Script(j.sudo, writeFileScript, file, octal(mode), octal(dirMode)), content)
	return err
}

func octal(m int) string { return "0" + strconv.FormatInt(int64(m), 8) }

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// managementNames are the names an edge must resolve to the management
// node (on-prem only; in the cloud they are in DNS).
func (j *joiner) managementNames() []string {
	m := &j.c.Management
	if m.Topology != fleet.OnPrem || m.NodeIP == "" {
		return nil
	}
	return []string{j.s.APIHost, j.s.KonnectivityHost, m.SeaweedFSHostname}
}

// hostsWriteScript replaces /etc/hosts with stdin if it still has the
// hash $1 the caller read. It writes in place (cat >), not by rename:
// /etc/hosts is often a bind mount (containers, some VM agents).
const hostsWriteScript = `set -e
f=/etc/hosts
if [ -e "$f" ]; then cur=$(sha256sum < "$f"); cur=${cur%% *}; else cur=$(printf '' | sha256sum); cur=${cur%% *}; fi
[ "$cur" = "$1" ] || { echo "$f changed while aisedge fleet join was editing it; run it again" >&2; exit 1; }
tmp=$(mktemp "$f.aisedge.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
cat "$tmp" > "$f"`

// hosts keeps the marked block of the edge's /etc/hosts.
func (j *joiner) hosts(ctx context.Context) (Outcome, string, error) {
	names := j.managementNames()
	cur, err := j.run.Run(ctx, StepHosts, remote.Command("cat", HostsFile), nil)
	if err != nil {
		return "", "", err
	}
	want, err := replaceHostsBlock(string(cur), hostsBlock(j.c.Management.NodeIP, names))
	if err != nil {
		return "", "", err
	}
	for _, l := range conflictingHosts(string(cur), names) {
		j.printf("%s: warning: %q outside the aisedge block also maps a management name (the first entry wins); remove it", StepHosts, l)
	}
	if want == string(cur) {
		if names == nil {
			return Skipped, "cloud topology: names come from DNS", nil
		}
		return Unchanged, "", nil
	}
	if _, err := j.run.Run(ctx, StepHosts, remote.Script(j.sudo, hostsWriteScript, sha256hex(cur)), []byte(want)); err != nil {
		return "", "", err
	}
	if names == nil {
		return Changed, "removed the aisedge block (cloud topology)", nil
	}
	return Changed, fmt.Sprintf("%s → %s", strings.Join(names, " "), j.c.Management.NodeIP), nil
}

// dataDir is one folder the edge pod uses.
type dataDir struct {
	path string
	mode int
}

// dataDirs are the folders of the edge: its data folder (spool, staging,
// quarantine, the local API socket; modes as the edge itself makes them)
// and the facility backup of the originals (owner only).
func (j *joiner) dataDirs(ctx context.Context) (Outcome, string, error) {
	d := j.s.DataDir
	dirs := []dataDir{
		{d, 0o750},
		{path.Join(d, "spool"), 0o700},
		{path.Join(d, "staging"), 0o750},
		{path.Join(d, "quarantine"), 0o750},
		{j.s.FacilityBackupDir, 0o700},
	}
	args := make([]string, len(dirs))
	for i, dd := range dirs {
		args[i] = dd.path
	}
	out, err := j.run.Run(ctx, StepDirs, remote.Script(j.sudo, `for d do
	if [ -d "$d" ]; then stat -c '%a %u %g %n' -- "$d"; else echo "missing - - $d"; fi
done`, args...), nil)
	if err != nil {
		return "", "", err
	}
	have := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.SplitN(l, " ", 4); len(f) == 4 {
			have[f[3]] = strings.Join(f[:3], " ")
		}
	}
	var fix []string
	var what []string
	for _, dd := range dirs {
		want := fmt.Sprintf("%o %d %d", dd.mode, j.opt.DataUID, j.opt.DataGID)
		if have[dd.path] == want {
			continue
		}
		fix = append(fix, dd.path, octal(dd.mode), strconv.Itoa(j.opt.DataUID), strconv.Itoa(j.opt.DataGID))
		what = append(what, fmt.Sprintf("%s %s", dd.path, octal(dd.mode)))
	}
	if len(fix) == 0 {
		return Unchanged, "", nil
	}
	_, err = j.run.Run(ctx, StepDirs, remote.Script(j.sudo, `set -e
while [ $# -ge 4 ]; do
	mkdir -p -- "$1"
	chown -- "$3:$4" "$1"
	chmod -- "$2" "$1"
	shift 4
done`, fix...), nil)
	if err != nil {
		return "", "", err
	}
	return Changed, fmt.Sprintf("%s, owner %d:%d", strings.Join(what, ", "), j.opt.DataUID, j.opt.DataGID), nil
}

// k0sProbe reports the worker's state: "missing", or "binary PATH" and
// any of "installed UNIT", "token SHA256", "running".
const k0sProbe = `k=$(command -v k0s 2>/dev/null || true)
if [ -z "$k" ] && [ -x ` + k0sPreStaged + ` ]; then k=` + k0sPreStaged + `; fi
if [ -z "$k" ]; then echo missing; exit 0; fi
echo "binary $k"
for u in ` + k0sWorkerUnit + ` /etc/init.d/k0sworker /etc/rc.d/init.d/k0sworker; do
	if [ -e "$u" ]; then echo "installed $u"; fi
done
if [ -f ` + TokenPath + ` ]; then s=$(sha256sum < ` + TokenPath + `); echo "token ${s%% *}"; fi
if "$k" status >/dev/null 2>&1; then echo running; fi
exit 0`

type k0sState struct {
	missing, installed, running bool
	binary, tokenSum            string
}

func parseK0sState(out []byte) k0sState {
	var st k0sState
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		switch k {
		case "missing":
			st.missing = true
		case "binary":
			st.binary = v
		case "installed":
			st.installed = true
		case "token":
			st.tokenSum = v
		case "running":
			st.running = true
		}
	}
	return st
}

// k0sWorker installs and starts the k0s worker once.
func (j *joiner) k0sWorker(ctx context.Context) (Outcome, string, error) {
	out, err := j.run.Run(ctx, StepK0s, remote.Script(j.sudo, k0sProbe), nil)
	if err != nil {
		return "", "", err
	}
	st := parseK0sState(out)
	if st.missing {
		return "", "", fmt.Errorf("k0s is not installed on the edge: put the k0s binary (version %s) at %s (air-gapped sites pre-stage it there with its images in /var/lib/k0s/images/); fleet join does not download it",
			j.c.Management.K0s.Version, k0sPreStaged)
	}
	if st.binary == "" {
		st.binary = k0sPreStaged // dry run: the probe did not run
	}
	var did []string
	if st.tokenSum != sha256hex(j.token) {
		if err := j.writeFile(ctx, StepK0s, TokenPath, 0o600, 0o755, j.token); err != nil {
			return "", "", err
		}
		did = append(did, "wrote "+TokenPath)
	}
	if !st.installed {
		if _, err := j.run.Run(ctx, StepK0s, remote.Script(j.sudo, `exec "$@"`, st.binary, "install", "worker", "--token-file", TokenPath), nil); err != nil {
			return "", "", err
		}
		did = append(did, "installed the worker service")
	}
	if !st.running {
		if _, err := j.run.Run(ctx, StepK0s, remote.Script(j.sudo, `exec "$@"`, st.binary, "start"), nil); err != nil {
			return "", "", err
		}
		did = append(did, "started")
		if !j.opt.DryRun && !j.waitRunning(ctx, st.binary) {
			did = append(did, "k0s status does not answer yet: check `k0s status` and `journalctl -u k0sworker` on the edge")
		}
	}
	if len(did) == 0 {
		return Unchanged, "installed and running", nil
	}
	return Changed, strings.Join(did, "; "), nil
}

// waitRunning polls `k0s status` for a little while after a start.
func (j *joiner) waitRunning(ctx context.Context, k0s string) bool {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := j.run.Run(ctx, StepK0s, remote.Script(j.sudo, `exec "$@" >/dev/null`, k0s, "status"), nil); err == nil {
			return true
		}
		if time.Now().After(deadline) || fault.Sleep(ctx, 2*time.Second) != nil {
			return false
		}
	}
}

// splitMarker separates the two files of the haproxy probe.
const splitMarker = "%%aisedge-split%%"

// haproxyCert keeps the worker's haproxy certificate (k0smotron's ingress
// mode) signed by the child cluster's current CA.
func (j *joiner) haproxyCert(ctx context.Context) (Outcome, string, error) {
	ca, err := j.childCA(ctx)
	if err != nil {
		if j.opt.DryRun {
			j.printf("%s: note: %v", StepHAProxy, err)
			ca = nil
		} else {
			return "", "", err
		}
	}
	out, err := j.run.Run(ctx, StepHAProxy, remote.Script(j.sudo, `d=$1
if [ -f "$d/ca.crt" ]; then cat "$d/ca.crt"; fi
echo '`+splitMarker+`'
if [ -f "$d/server.pem" ]; then sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$d/server.pem"; fi
exit 0`, HAProxyCerts), nil)
	if err != nil {
		return "", "", err
	}
	curCA, curCert, _ := bytes.Cut(out, []byte(splitMarker+"\n"))
	sans := haproxySANs(j.s.NodeIP)
	if ca != nil {
		if why := keepCert(ca, curCA, curCert, sans, j.opt.Now()); why == "" {
			return Unchanged, "signed by the current CA, more than 30 days left", nil
		}
	}
	var certPEM, keyPEM, caPEM []byte
	reason := "dry run"
	if ca != nil {
		reason = keepCert(ca, curCA, curCert, sans, j.opt.Now())
		if certPEM, keyPEM, err = issueHAProxyCert(ca, sans, j.opt.Now()); err != nil {
			return "", "", err
		}
		caPEM = ca.certPEM
	} else {
		certPEM, keyPEM, caPEM = []byte("(certificate)"), []byte("(key)"), []byte("(CA)")
	}
	if err := j.writeFile(ctx, StepHAProxy, HAProxyCerts+"/ca.crt", 0o644, 0o755, caPEM); err != nil {
		return "", "", err
	}
	// 0644 as the original (docs/compat.md, "Joining an edge"): k0smotron's haproxy pod
	// reads it, and its user is not known here.
	if err := j.writeFile(ctx, StepHAProxy, HAProxyCerts+"/server.pem", 0o644, 0o755, append(certPEM, keyPEM...)); err != nil {
		return "", "", err
	}
	return Changed, "issued CN " + haproxyCN + " (" + reason + ")", nil
}
