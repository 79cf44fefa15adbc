package remote_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/aisedge/aisedge/internal/fleet/remote"
	"github.com/aisedge/aisedge/internal/testpeer/sshedge"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"/etc/k0s/join-token", "/etc/k0s/join-token"},
		{"", "''"},
		{"two words", "'two words'"},
		{"it's", `'it'\''s'`},
		{"$(reboot)", "'$(reboot)'"},
		{"`id`; rm -rf /", "'`id`; rm -rf /'"},
		{"a\nb", "'a\nb'"},
		{"*", "'*'"},
	}
	for _, tt := range tests {
		if got := remote.Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
		// What a real shell makes of it: the same single word.
		out, err := exec.Command("sh", "-c", "printf '%s|' "+remote.Quote(tt.in)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != tt.in+"|" {
			t.Errorf("sh read %q back as %q", tt.in, out)
		}
	}
}

func TestScript(t *testing.T) {
	tests := []struct {
		sudo bool
		args []string
		want string
	}{
		{false, []string{"x y", "$HOME"}, `sh -c 'printf "%s;" "$@"' sh 'x y' '$HOME'`},
		{true, []string{"a"}, `sudo -n -- sh -c 'printf "%s;" "$@"' sh a`},
	}
	for _, tt := range tests {
		got := remote.Script(tt.sudo, `printf "%s;" "$@"`, tt.args...)
		if got != tt.want {
			t.Errorf("Script = %s, want %s", got, tt.want)
		}
		if tt.sudo {
			continue
		}
		out, err := exec.Command("sh", "-c", got).Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Join(tt.args, ";") + ";"; string(out) != want {
			t.Errorf("ran %s: %q, want %q", got, out, want)
		}
	}
}

func TestDryRun(t *testing.T) {
	var out bytes.Buffer
	d := &remote.DryRun{Host: "root@10.0.0.5", Out: &out}
	secret := []byte("K0S-SECRET-TOKEN")
	b, err := d.Run(context.Background(), "k0s", remote.Command("k0s", "start"), secret)
	if err != nil || b != nil {
		t.Fatalf("Run = %q, %v", b, err)
	}
	got := out.String()
	if !strings.Contains(got, "k0s: ssh root@10.0.0.5 k0s start") || !strings.Contains(got, "16 bytes on standard input") {
		t.Errorf("output:\n%s", got)
	}
	if strings.Contains(got, string(secret)) {
		t.Errorf("the dry run printed the input:\n%s", got)
	}
}

func dial(t *testing.T, e *sshedge.Edge, mod func(*remote.Config)) (*remote.Client, error) {
	t.Helper()
	// Ceilings, not budgets: a loaded machine makes sshd and the login
	// shell slow to answer.
	cfg := remote.Config{Host: e.Host, Port: e.Port, User: e.User, KeyFile: e.KeyFile, KnownHosts: e.KnownHosts,
		ConnectTimeout: 2 * time.Minute, CommandTimeout: 2 * time.Minute}
	if mod != nil {
		mod(&cfg)
	}
	c, err := remote.Dial(context.Background(), cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestSSH(t *testing.T) {
	e := sshedge.Start(t, "remote")
	ctx := context.Background()
	c, err := dial(t, e, nil)
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, e.Log())
	}
	if c.HostKeyFingerprint() != ssh.FingerprintSHA256(e.HostKey) {
		t.Errorf("fingerprint %s, want %s", c.HostKeyFingerprint(), ssh.FingerprintSHA256(e.HostKey))
	}

	t.Run("stdin and stdout", func(t *testing.T) {
		out, err := c.Run(ctx, "echo", remote.Script(false, `cat; printf '%s' "$1"`, "it's $HOME"), []byte("in:"))
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != "in:it's $HOME" {
			t.Errorf("stdout %q", out)
		}
	})
	t.Run("exit status and stderr", func(t *testing.T) {
		_, err := c.Run(ctx, "failing-step", remote.Script(false, `echo "it broke: $1" >&2; exit 3`, "why"), []byte("SECRET-INPUT"))
		var ee *remote.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("err = %v (%T), want *ExitError", err, err)
		}
		if ee.Step != "failing-step" || ee.Status != 3 || ee.Stderr != "it broke: why" {
			t.Errorf("ExitError %+v", ee)
		}
		for _, want := range []string{"failing-step", "exit status 3", "it broke: why"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "SECRET-INPUT") {
			t.Errorf("error shows the input: %v", err)
		}
	})
	t.Run("edge filesystem is its own", func(t *testing.T) {
		out, err := c.Run(ctx, "hosts", "cat /etc/hosts", nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != sshedge.InitialHosts {
			t.Errorf("edge /etc/hosts = %q", out)
		}
		out, err = c.Run(ctx, "k0s", "command -v k0s && k0s version", nil)
		if err != nil || string(out) != "/usr/local/bin/k0s\nv1.35.2+k0s.0\n" {
			t.Errorf("k0s: %q, %v", out, err)
		}
		cmds := e.Commands(t)
		if len(cmds) == 0 || cmds[len(cmds)-1] != "command -v k0s && k0s version" {
			t.Errorf("the edge recorded %q", cmds)
		}
		if calls := e.K0sCalls(t); len(calls) != 1 || calls[0] != "version" {
			t.Errorf("k0s calls %q", calls)
		}
	})
	t.Run("command timeout", func(t *testing.T) {
		short, err := dial(t, e, func(c *remote.Config) { c.CommandTimeout = 300 * time.Millisecond })
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = short.Run(ctx, "sleepy", "sleep 120", nil)
		if !errors.Is(err, remote.ErrTimeout) || !strings.Contains(err.Error(), "sleepy") {
			t.Errorf("err = %v, want a timeout naming the step", err)
		}
		// Well before the command would have ended, however slow the
		// machine.
		if d := time.Since(start); d > time.Minute {
			t.Errorf("took %s", d)
		}
	})
}

func TestHostKeys(t *testing.T) {
	e := sshedge.Start(t, "hostkeys")
	t.Run("changed key refused, nothing runs", func(t *testing.T) {
		before := len(e.Commands(t))
		wrong := e.WrongKnownHosts(t)
		for _, accept := range []bool{false, true} {
			_, err := dial(t, e, func(c *remote.Config) { c.KnownHosts, c.AcceptNew = wrong, accept })
			var he *remote.HostKeyError
			if !errors.As(err, &he) || !he.Changed() {
				t.Fatalf("accept-new=%v: err = %v, want a changed host key", accept, err)
			}
			for _, want := range []string{"HOST KEY CHANGED", e.Addr(), ssh.FingerprintSHA256(e.HostKey), he.Want[0].Fingerprint} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		}
		if got := e.Commands(t); len(got) != before {
			t.Errorf("commands ran: %q", got[before:])
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "ssh", "known_hosts")
		_, err := dial(t, e, func(c *remote.Config) { c.KnownHosts = kh })
		var he *remote.HostKeyError
		if !errors.As(err, &he) || he.Changed() || !strings.Contains(err.Error(), "--accept-new-host-key") {
			t.Fatalf("err = %v, want an unknown host key naming --accept-new-host-key", err)
		}
		if _, err := os.Stat(kh); !os.IsNotExist(err) {
			t.Errorf("known_hosts written without accept-new: %v", err)
		}
		var notes []string
		c, err := dial(t, e, func(c *remote.Config) {
			c.KnownHosts, c.AcceptNew = kh, true
			c.Notef = func(f string, a ...any) { notes = append(notes, f) }
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if len(notes) != 1 {
			t.Errorf("notes %q", notes)
		}
		b, _ := os.ReadFile(kh)
		if strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(e.HostKey)))) {
			t.Errorf("known_hosts:\n%s", b)
		}
		// Now pinned: no accept-new needed, nothing appended.
		if _, err := dial(t, e, func(c *remote.Config) { c.KnownHosts = kh }); err != nil {
			t.Fatal(err)
		}
		if b2, _ := os.ReadFile(kh); !bytes.Equal(b, b2) {
			t.Errorf("known_hosts changed:\n%s", b2)
		}
	})
	t.Run("wrong client key", func(t *testing.T) {
		other := sshedge.Start(t, "other")
		_, err := dial(t, e, func(c *remote.Config) { c.KeyFile = other.KeyFile })
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("err = %v", err)
		}
	})
}
