package join_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/join"
	"github.com/aisedge/aisedge/internal/fleet/join/jointest"
	"github.com/aisedge/aisedge/internal/fleet/kube/kubetest"
	"github.com/aisedge/aisedge/internal/fleet/remote"
	"github.com/aisedge/aisedge/internal/testpeer/sshedge"
)

func outcomes(rs []join.StepResult) map[string]join.Outcome {
	m := map[string]join.Outcome{}
	for _, r := range rs {
		m[r.Step] = r.Outcome
	}
	return m
}

func startServer(t *testing.T) *kubetest.Server {
	srv := kubetest.Start(t)
	srv.InstallCRDs(t, kubetest.K0smotronCRDs())
	return srv
}

func TestJoin(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()

	t.Run("twice: the second run changes nothing", func(t *testing.T) {
		e := jointest.NewEnv(t, srv, "edge-a")
		var out bytes.Buffer
		rs, err := join.Join(ctx, e.Config, e.Site, srv.Config, e.Options(&out))
		if err != nil {
			t.Fatalf("first join: %v\n%s\n%s", err, out.String(), e.Edge.Log())
		}
		want := map[string]join.Outcome{join.StepToken: join.Changed, join.StepSSH: join.Done, join.StepHosts: join.Changed,
			join.StepDirs: join.Changed, join.StepHAProxy: join.Changed, join.StepK0s: join.Changed, join.StepCoreDNS: join.Changed}
		if got := outcomes(rs); !equalMaps(got, want) {
			t.Errorf("first run: %v, want %v\n%s", got, want, out.String())
		}
		t.Logf("first run:\n%s", out.String())
		jtr1, sec1 := tokenObjects(t, e)
		hosts1 := e.Edge.ReadFile(t, "/etc/hosts")
		core1 := jointest.Corefile(t, e.CS)

		out.Reset()
		rs, err = join.Join(ctx, e.Config, e.Site, srv.Config, e.Options(&out))
		if err != nil {
			t.Fatalf("second join: %v\n%s", err, out.String())
		}
		for _, r := range rs {
			if r.Step != join.StepSSH && r.Outcome != join.Unchanged {
				t.Errorf("second run: %s %s (%s)", r.Step, r.Outcome, r.Detail)
			}
		}
		for _, step := range []string{join.StepToken, join.StepHosts, join.StepDirs, join.StepHAProxy, join.StepK0s, join.StepCoreDNS} {
			if !strings.Contains(out.String(), "["+e.Site+"] "+step+": unchanged") {
				t.Errorf("no progress line for %s:\n%s", step, out.String())
			}
		}

		// The token was reused: same request, same Secret, one issued.
		jtr2, sec2 := tokenObjects(t, e)
		if jtr1.GetUID() != jtr2.GetUID() || sec1.UID != sec2.UID || e.Controller.Issued() != 1 {
			t.Errorf("token not reused: request %s→%s, Secret %s→%s, issued %d", jtr1.GetUID(), jtr2.GetUID(), sec1.UID, sec2.UID, e.Controller.Issued())
		}
		if exp, _, _ := unstructured.NestedString(jtr1.Object, "spec", "expiry"); exp != "24h0m0s" {
			t.Errorf("expiry %q", exp)
		}

		// k0s installed once, started once.
		calls := e.Edge.K0sCalls(t)
		if n := count(calls, "install worker --token-file /etc/k0s/join-token"); n != 1 {
			t.Errorf("install worker ran %d times: %q", n, calls)
		}
		if n := count(calls, "start"); n != 1 {
			t.Errorf("start ran %d times: %q", n, calls)
		}

		// The token on the edge and in the local copy points at the API
		// host through the ingress; the edge's copy is private.
		edgeTok := e.Edge.ReadFile(t, join.TokenPath)
		checkToken(t, edgeTok, "https://k0s-edge-a.aisedge.local:443")
		checkMode(t, e.Edge, join.TokenPath, 0o600)
		local, err := os.ReadFile(filepath.Join(e.Config.Dir, "join-token-edge-a"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(local)) != edgeTok {
			t.Errorf("local copy differs from the edge's token")
		}
		if st, _ := os.Stat(filepath.Join(e.Config.Dir, "join-token-edge-a")); st.Mode().Perm() != 0o600 {
			t.Errorf("local copy mode %o", st.Mode().Perm())
		}
		// The token never appears on a command line or in the output.
		secret := strings.TrimSpace(edgeTok)
		for _, c := range e.Edge.Commands(t) {
			if strings.Contains(c, secret) || strings.Contains(c, "abcdef.0123456789") {
				t.Errorf("a command carries the token: %s", c)
			}
		}
		if strings.Contains(out.String(), secret) {
			t.Errorf("the output carries the token")
		}

		// /etc/hosts: the original lines and exactly one block.
		hosts := e.Edge.ReadFile(t, "/etc/hosts")
		if hosts != hosts1 || !strings.HasPrefix(hosts, sshedge.InitialHosts) || strings.Count(hosts, join.BeginMarker) != 1 ||
			!strings.Contains(hosts, "10.0.0.1\tk0s-edge-a.aisedge.local konnect-edge-a.aisedge.local seaweedfs.aisedge.local\n") {
			t.Errorf("/etc/hosts:\n%s", hosts)
		}

		// Data folders: owned by the edge pod's user, never 777.
		for p, mode := range map[string]os.FileMode{sshedge.DataDir: 0o750, sshedge.DataDir + "/spool": 0o700,
			sshedge.DataDir + "/staging": 0o750, sshedge.BackupDir: 0o700} {
			checkMode(t, e.Edge, p, mode)
			checkOwner(t, e.Edge, p, 65532, 65532)
		}

		// haproxy: signed by the child CA, for the node's address.
		checkHAProxyCert(t, e)

		// CoreDNS: the rest of the Corefile is kept, one hosts block.
		core := jointest.Corefile(t, e.CS)
		if core != core1 || strings.Count(core, "hosts {") != 1 || !strings.Contains(core, "10.0.0.1 k0s-edge-a.aisedge.local") {
			t.Errorf("Corefile:\n%s", core)
		}
		begin := strings.Index(core, "    "+join.BeginMarker)
		end := strings.Index(core, join.EndMarker+"\n") + len(join.EndMarker+"\n")
		without := core[:begin] + core[end:]
		if without != jointest.K0sCorefile {
			t.Errorf("the Corefile outside the block changed:\n%s", without)
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		e := jointest.NewEnv(t, srv, "edge-dry")
		var out bytes.Buffer
		opt := e.Options(&out)
		opt.DryRun = true
		rs, err := join.Join(ctx, e.Config, e.Site, srv.Config, opt)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if len(rs) != 7 {
			t.Errorf("results %v", rs)
		}
		if got := e.Edge.Commands(t); len(got) != 0 {
			t.Errorf("commands ran on the edge: %q", got)
		}
		if got := e.Edge.ReadFile(t, "/etc/hosts"); got != sshedge.InitialHosts {
			t.Errorf("/etc/hosts changed:\n%s", got)
		}
		if calls := e.Edge.K0sCalls(t); len(calls) != 0 {
			t.Errorf("k0s ran: %q", calls)
		}
		if l, err := e.Dyn.Resource(join.JoinTokenRequestGVR).Namespace(e.Site).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
			t.Errorf("JoinTokenRequests: %v %v", l, err)
		}
		if core := jointest.Corefile(t, e.CS); core != jointest.K0sCorefile {
			t.Errorf("Corefile changed:\n%s", core)
		}
		if _, err := os.Stat(filepath.Join(e.Config.Dir, "join-token-"+e.Site)); !os.IsNotExist(err) {
			t.Errorf("local token copy written: %v", err)
		}
		// Every remote command was printed, secrets not.
		o := out.String()
		t.Logf("dry run:\n%s", o)
		for _, want := range []string{"would create JoinTokenRequest edge-dry/edge-dry-token", "ssh root@" + e.Edge.Host + " cat /etc/hosts",
			"install worker --token-file /etc/k0s/join-token", "start", "mkdir -p", "would patch ConfigMap kube-system/coredns",
			"+     hosts {", "bytes on standard input (not shown)"} {
			if !strings.Contains(o, want) {
				t.Errorf("dry-run output lacks %q:\n%s", want, o)
			}
		}
		if strings.Contains(o, "PRIVATE KEY") {
			t.Errorf("dry-run output shows a key:\n%s", o)
		}
	})

	t.Run("a changed host key is refused before anything runs", func(t *testing.T) {
		e := jointest.NewEnv(t, srv, "edge-mitm")
		var out bytes.Buffer
		opt := e.Options(&out)
		opt.SSH.KnownHosts = e.Edge.WrongKnownHosts(t)
		opt.SSH.AcceptNew = true // never overrides a changed key
		_, err := join.Join(ctx, e.Config, e.Site, srv.Config, opt)
		var se *join.StepError
		var he *remote.HostKeyError
		if !errors.As(err, &se) || se.Step != join.StepSSH || !errors.As(err, &he) || !he.Changed() {
			t.Fatalf("err = %v, want a changed host key in step ssh", err)
		}
		if !strings.Contains(err.Error(), "HOST KEY CHANGED") || !strings.Contains(err.Error(), e.Edge.Addr()) {
			t.Errorf("error %q", err)
		}
		if got := e.Edge.Commands(t); len(got) != 0 {
			t.Errorf("commands ran on the edge: %q", got)
		}
		if got := e.Edge.ReadFile(t, "/etc/hosts"); got != sshedge.InitialHosts {
			t.Errorf("/etc/hosts changed:\n%s", got)
		}
	})

	t.Run("a failing remote step stops with its name and stderr", func(t *testing.T) {
		e := jointest.NewEnv(t, srv, "edge-fail")
		e.Edge.FailK0s(t, "install", "Error: failed to install k0s service: disk full on /var/lib/k0s")
		var out bytes.Buffer
		rs, err := join.Join(ctx, e.Config, e.Site, srv.Config, e.Options(&out))
		var se *join.StepError
		var ee *remote.ExitError
		if !errors.As(err, &se) || se.Step != join.StepK0s || !errors.As(err, &ee) || ee.Status != 1 {
			t.Fatalf("err = %v, want step %s failing with exit status 1", err, join.StepK0s)
		}
		for _, want := range []string{"k0s-worker", "exit status 1", "disk full on /var/lib/k0s"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if got := outcomes(rs); got[join.StepCoreDNS] != "" || got[join.StepHAProxy] != join.Changed {
			t.Errorf("steps %v", got)
		}
		if core := jointest.Corefile(t, e.CS); core != jointest.K0sCorefile {
			t.Errorf("a step after the failure ran: Corefile\n%s", core)
		}
		// Fixed, the next run goes on where it stopped.
		e.Edge.FailK0s(t, "install", "")
		out.Reset()
		rs, err = join.Join(ctx, e.Config, e.Site, srv.Config, e.Options(&out))
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if got := outcomes(rs); got[join.StepHosts] != join.Unchanged || got[join.StepK0s] != join.Changed {
			t.Errorf("steps %v", got)
		}
	})

	t.Run("an expired token is replaced", func(t *testing.T) {
		e := jointest.NewEnv(t, srv, "edge-exp")
		e.WriteChildKubeconfig(t) // the child cluster through kubeconfig-<site>
		var out bytes.Buffer
		opt := e.Options(&out)
		opt.SiteConfig = nil
		if _, err := join.Join(ctx, e.Config, e.Site, srv.Config, opt); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		jtr1, _ := tokenObjects(t, e)
		opt.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
		out.Reset()
		rs, err := join.Join(ctx, e.Config, e.Site, srv.Config, opt)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		jtr2, _ := tokenObjects(t, e)
		if jtr1.GetUID() == jtr2.GetUID() || e.Controller.Issued() != 2 {
			t.Errorf("token not replaced: %s → %s, issued %d", jtr1.GetUID(), jtr2.GetUID(), e.Controller.Issued())
		}
		got := outcomes(rs)
		if got[join.StepToken] != join.Changed || got[join.StepK0s] != join.Changed || got[join.StepHosts] != join.Unchanged {
			t.Errorf("steps %v\n%s", got, out.String())
		}
		// The worker is installed already: only the token file changes.
		if n := count(e.Edge.K0sCalls(t), "install worker --token-file /etc/k0s/join-token"); n != 1 {
			t.Errorf("install worker ran %d times", n)
		}
	})

	t.Run("cloud topology: no hosts blocks", func(t *testing.T) {
		e := jointest.NewEnv(t, srv, "edge-cloud")
		e.Config.Management.Topology = fleet.Cloud
		e.Config.Management.NodeIP = ""
		var out bytes.Buffer
		rs, err := join.Join(ctx, e.Config, e.Site, srv.Config, e.Options(&out))
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		got := outcomes(rs)
		if got[join.StepHosts] != join.Skipped || got[join.StepCoreDNS] != join.Skipped {
			t.Errorf("steps %v", got)
		}
		if h := e.Edge.ReadFile(t, "/etc/hosts"); h != sshedge.InitialHosts {
			t.Errorf("/etc/hosts:\n%s", h)
		}
		if core := jointest.Corefile(t, e.CS); core != jointest.K0sCorefile {
			t.Errorf("Corefile:\n%s", core)
		}
	})
}

func tokenObjects(t *testing.T, e *jointest.Env) (*unstructured.Unstructured, *corev1.Secret) {
	t.Helper()
	ctx := context.Background()
	jtr, err := e.Dyn.Resource(join.JoinTokenRequestGVR).Namespace(e.Site).Get(ctx, e.Site+"-token", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := e.CS.CoreV1().Secrets(e.Site).Get(ctx, e.Site+"-token", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return jtr, sec
}

func checkToken(t *testing.T, tok, server string) {
	t.Helper()
	kcb, err := join.DecodeToken([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(kcb)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range kc.Clusters {
		if c.Server != server {
			t.Errorf("token server %s, want %s", c.Server, server)
		}
	}
}

func checkMode(t *testing.T, e *sshedge.Edge, p string, mode os.FileMode) {
	t.Helper()
	st, err := e.Stat(p)
	if err != nil {
		t.Error(err)
		return
	}
	if st.Mode().Perm() != mode {
		t.Errorf("%s: mode %o, want %o", p, st.Mode().Perm(), mode)
	}
}

func checkOwner(t *testing.T, e *sshedge.Edge, p string, uid, gid uint32) {
	t.Helper()
	st, err := e.Stat(p)
	if err != nil {
		t.Error(err)
		return
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != uid || sys.Gid != gid {
		t.Errorf("%s: owner %d:%d, want %d:%d", p, sys.Uid, sys.Gid, uid, gid)
	}
}

func checkHAProxyCert(t *testing.T, e *jointest.Env) {
	t.Helper()
	if got := e.Edge.ReadFile(t, join.HAProxyCerts+"/ca.crt"); !strings.Contains(got, "BEGIN CERTIFICATE") {
		t.Fatalf("ca.crt: %q", got)
	}
	b, _ := pem.Decode([]byte(e.Edge.ReadFile(t, join.HAProxyCerts+"/server.pem")))
	if b == nil {
		t.Fatal("server.pem holds no certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSignatureFrom(e.CACert); err != nil {
		t.Errorf("not signed by the child CA: %v", err)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if c.Subject.CommonName != "k0smotron-haproxy" || !strings.Contains(strings.Join(ips, ","), e.Edge.Host) ||
		!strings.Contains(strings.Join(c.DNSNames, ","), "kubernetes.default.svc.cluster.local") {
		t.Errorf("certificate CN %s, IPs %v, DNS %v", c.Subject.CommonName, ips, c.DNSNames)
	}
	if !strings.Contains(e.Edge.ReadFile(t, join.HAProxyCerts+"/server.pem"), "PRIVATE KEY") {
		t.Errorf("server.pem holds no key")
	}
}

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if l == s {
			n++
		}
	}
	return n
}

func equalMaps(a, b map[string]join.Outcome) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
