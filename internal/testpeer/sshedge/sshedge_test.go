package sshedge

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// login runs cmd on the edge as its user, with its key, checking its host
// key against its known_hosts.
func login(t *testing.T, e *Edge, cmd string) string {
	t.Helper()
	b, err := os.ReadFile(e.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := knownhosts.New(e.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", e.Addr(), &ssh.ClientConfig{User: e.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk})
	if err != nil {
		t.Fatalf("ssh to %s: %v\n%s", e.Addr(), err, e.Log())
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	return string(out)
}

// The loopback fallback (no network namespace) listens on a reserved
// port; when that port is taken before sshd binds it, sshd is started
// again on another one. The port is taken before the first and the second
// attempt here.
func TestLoopbackPortTaken(t *testing.T) {
	var taken []int
	e := start(t, "loopback", options{loopback: true, beforeRun: func(e *Edge, attempt int) {
		if attempt > 2 {
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(e.Port))
		if err != nil {
			t.Fatalf("occupying %d: %v", e.Port, err)
		}
		t.Cleanup(func() { ln.Close() })
		taken = append(taken, e.Port)
	}})
	if e.attempts != 3 {
		t.Errorf("started after %d attempts, want 3", e.attempts)
	}
	if e.NetNS != "" || e.Host != "127.0.0.1" || slices.Contains(taken, e.Port) {
		t.Errorf("edge on %s (namespace %q), ports taken %v", e.Addr(), e.NetNS, taken)
	}
	if !strings.Contains(e.Log(), "Address already in use") {
		t.Errorf("sshd's log does not show the collisions:\n%s", e.Log())
	}
	if got := login(t, e, "echo ready; cat /etc/hosts"); got != "ready\n"+InitialHosts {
		t.Errorf("on the edge: %q", got)
	}
	if c := e.Commands(t); len(c) != 1 || c[0] != "echo ready; cat /etc/hosts" {
		t.Errorf("Commands = %q", c)
	}
}

// The usual edge: its own network namespace, port 22.
func TestNamespace(t *testing.T) {
	e := Start(t, "netns")
	if e.NetNS == "" {
		t.Skip("no network namespace on this machine (the loopback fallback is tested by TestLoopbackPortTaken)")
	}
	if e.Port != 22 || e.attempts != 1 {
		t.Errorf("edge on %s after %d attempts", e.Addr(), e.attempts)
	}
	if got := login(t, e, "k0s version"); got != "v1.35.2+k0s.0\n" {
		t.Errorf("k0s version on the edge: %q", got)
	}
}

func TestBindFailed(t *testing.T) {
	out := "Server listening on 127.0.0.1 port 2223.\nBind to port 2222 on 127.0.0.1 failed: Address already in use.\nCannot bind any address.\n"
	if !bindFailed(out, 2222) || bindFailed(out, 2223) || bindFailed("sshd: no hostkeys available -- exiting.\n", 2222) {
		t.Error("bindFailed misreads sshd's output")
	}
}
