package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Config says how to reach and trust one host.
type Config struct {
	// Host is the address (IP or name) and Port the SSH port (0: 22).
	Host string
	Port int
	User string
	// KeyFile is the private key (OpenSSH or PEM, without passphrase).
	KeyFile string
	// KnownHosts is the known_hosts file pinning host keys (created on
	// the first accepted key).
	KnownHosts string
	// AcceptNew records the key of a host the file does not know yet
	// (OpenSSH's accept-new); without it such a host is refused. A host
	// whose key differs from the recorded one is refused either way.
	AcceptNew bool
	// ConnectTimeout bounds the TCP connection and the SSH handshake (0:
	// 15 s); CommandTimeout each command (0: 5 min).
	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	// Notef receives notes (a host key added to known_hosts); nil drops
	// them.
	Notef func(format string, args ...any)
}

func (c *Config) addr() string {
	port := c.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(port))
}

// HostKeyError is a host key that is not trusted: unknown (Want empty) or
// different from the one known_hosts records (Want lists those).
type HostKeyError struct {
	Addr       string
	KnownHosts string
	// Got is the fingerprint (SHA256:...) the server presented.
	Got  string
	Want []KnownKey
}

// KnownKey is a key known_hosts records for the host.
type KnownKey struct {
	Fingerprint string
	Line        int
}

// Changed reports whether the host presented a key different from a
// recorded one (as opposed to being unknown).
func (e *HostKeyError) Changed() bool { return len(e.Want) > 0 }

func (e *HostKeyError) Error() string {
	if !e.Changed() {
		return fmt.Sprintf("host key of %s is not in %s (the server presented %s); check the fingerprint on the edge (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and rerun with --accept-new-host-key to record it",
			e.Addr, e.KnownHosts, e.Got)
	}
	var want []string
	for _, k := range e.Want {
		want = append(want, fmt.Sprintf("%s (%s:%d)", k.Fingerprint, e.KnownHosts, k.Line))
	}
	return fmt.Sprintf("HOST KEY CHANGED for %s: the server presented %s but known_hosts records %s; someone may be intercepting the connection. Nothing was run. If the edge was reinstalled, verify the new key and remove the old one (ssh-keygen -R %s -f %s)",
		e.Addr, e.Got, strings.Join(want, ", "), e.Host(), e.KnownHosts)
}

// Host is the host part of Addr in the form ssh-keygen -R expects.
func (e *HostKeyError) Host() string {
	h, port, err := net.SplitHostPort(e.Addr)
	if err != nil || port == "22" {
		return h
	}
	return "[" + h + "]:" + port
}

// Client is a Runner on one SSH connection. It is safe for concurrent use.
type Client struct {
	cfg    Config
	conn   *ssh.Client
	hostFP string
}

var _ Runner = (*Client)(nil)

// Dial connects and authenticates, checking the host key against
// cfg.KnownHosts (see Config.AcceptNew). A refused host key is a
// *HostKeyError and no command has run.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 5 * time.Minute
	}
	signer, err := loadKey(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	hk := &hostKeys{file: cfg.KnownHosts, acceptNew: cfg.AcceptNew, notef: cfg.Notef}
	algos, err := hk.algorithms(cfg.addr())
	if err != nil {
		return nil, err
	}
	cc := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: algos,
		Timeout:           cfg.ConnectTimeout,
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	d := net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", cfg.addr())
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", cfg.addr(), err)
	}
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(nc, cfg.addr(), cc)
	stop()
	if err != nil {
		nc.Close()
		var he *HostKeyError
		if errors.As(err, &he) {
			return nil, he
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w after %s", ErrTimeout, cfg.ConnectTimeout)
		}
		return nil, fmt.Errorf("ssh %s@%s: %w", cfg.User, cfg.addr(), err)
	}
	nc.SetDeadline(time.Time{})
	return &Client{cfg: cfg, conn: ssh.NewClient(sc, chans, reqs), hostFP: hk.presented}, nil
}

// HostKeyFingerprint is the SHA256 fingerprint of the server's key.
func (c *Client) HostKeyFingerprint() string { return c.hostFP }

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Run implements Runner.
func (c *Client) Run(ctx context.Context, step, cmd string, stdin []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	fail := func(err error) error { return &Error{Host: c.cfg.addr(), Step: step, Err: err} }
	s, err := c.conn.NewSession()
	if err != nil {
		return nil, fail(fmt.Errorf("opening a session: %w", err))
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &limited{w: &stderr, n: 64 << 10}
	if stdin != nil {
		s.Stdin = bytes.NewReader(stdin)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Signal(ssh.SIGKILL)
		s.Close()
		// A server that refuses the signal (forced commands) keeps the
		// channel open until the command ends: do not wait for that.
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fail(fmt.Errorf("%w after %s", ErrTimeout, c.cfg.CommandTimeout))
		}
		return nil, fail(ctx.Err())
	}
	var ee *ssh.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.Bytes(), &ExitError{Host: c.cfg.addr(), Step: step, Status: ee.ExitStatus(), Signal: ee.Signal(),
			Stderr: strings.TrimSpace(stderr.String())}
	case err != nil:
		var missing *ssh.ExitMissingError
		if errors.As(err, &missing) {
			return stdout.Bytes(), fail(fmt.Errorf("the connection closed before the command exited: %s", strings.TrimSpace(stderr.String())))
		}
		return stdout.Bytes(), fail(err)
	}
	return stdout.Bytes(), nil
}

// limited keeps the first n bytes written (a runaway stderr must not
// exhaust memory).
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		q := p
		if len(q) > l.n {
			q = q[:l.n]
		}
		l.w.Write(q)
		l.n -= len(q)
	}
	return len(p), nil
}

func loadKey(path string) (ssh.Signer, error) {
	if path == "" {
		return nil, errors.New("no SSH key: set sites[].ssh.key")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("SSH key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var pp *ssh.PassphraseMissingError
	if errors.As(err, &pp) {
		return nil, fmt.Errorf("SSH key %s is protected by a passphrase; use a key without one for fleet join (kept readable by you only)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("SSH key %s: %w", path, err)
	}
	return s, nil
}

// hostKeys checks host keys against a known_hosts file.
type hostKeys struct {
	file      string
	acceptNew bool
	notef     func(string, ...any)
	mu        sync.Mutex
	presented string
}

// callback reads the file (a missing file knows no host).
func (h *hostKeys) callback() (ssh.HostKeyCallback, error) {
	if h.file == "" {
		return nil, errors.New("no known_hosts file given")
	}
	if _, err := os.Stat(h.file); errors.Is(err, os.ErrNotExist) {
		return func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }, nil
	}
	cb, err := knownhosts.New(h.file)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	return cb, nil
}

// algorithms returns the host key algorithms of the keys known_hosts has
// for addr, so that the server presents a key of a recorded type (as
// OpenSSH does) instead of an unrecorded type mistaken for a changed key.
// Nil (the library's default order) for an unknown host.
func (h *hostKeys) algorithms(addr string) ([]string, error) {
	cb, err := h.callback()
	if err != nil {
		return nil, err
	}
	// A key no one has: the error lists the recorded keys.
	probe, err := ssh.NewPublicKey(ed25519Zero)
	if err != nil {
		return nil, err
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, tcpAddr(addr), probe); !errors.As(err, &ke) {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// ed25519Zero is a public key nobody has (all zero bytes).
var ed25519Zero = ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func tcpAddr(addr string) net.Addr {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return &net.TCPAddr{IP: net.ParseIP(host), Port: p}
}

func (h *hostKeys) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	fp := ssh.FingerprintSHA256(key)
	h.mu.Lock()
	h.presented = fp
	h.mu.Unlock()
	cb, err := h.callback()
	if err != nil {
		return err
	}
	err = cb(hostname, remote, key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return fmt.Errorf("host key %s of %s is marked @revoked in %s", fp, hostname, h.file)
	case !errors.As(err, &ke):
		return err
	case len(ke.Want) > 0:
		he := &HostKeyError{Addr: hostname, KnownHosts: h.file, Got: fp}
		for _, k := range ke.Want {
			he.Want = append(he.Want, KnownKey{Fingerprint: ssh.FingerprintSHA256(k.Key), Line: k.Line})
		}
		return he
	case !h.acceptNew:
		return &HostKeyError{Addr: hostname, KnownHosts: h.file, Got: fp}
	}
	if err := appendKnownHost(h.file, hostname, key); err != nil {
		return fmt.Errorf("recording the host key of %s: %w", hostname, err)
	}
	if h.notef != nil {
		h.notef("added the host key of %s (%s) to %s", hostname, fp, h.file)
	}
	return nil
}

// appendKnownHost adds one line; the file and its folder are created
// private when missing.
func appendKnownHost(file, hostname string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n"
	// A file whose last line lacks its newline must not be glued to ours.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		if b, err := os.ReadFile(file); err == nil && !bytes.HasSuffix(b, []byte("\n")) {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
