// Package ops runs the day-2 operations of a fleet on its clusters: add
// and remove a site, rotate an edge's S3 key, rotate the private CA in two
// phases, list certificates, uninstall, and report the fleet's status.
// It owns the order of each operation's steps (so that nothing is lost
// while a key or a CA changes hands), their resumption after an
// interruption, the typed confirmation before any data is deleted, and the
// rule that facility backups are never deleted.
//
// Every operation is idempotent and resumable: its state is read from the
// clusters (and the fleet's secret files), never from a local journal, so
// running it again after a failure continues where it stopped. With
// Env.DryRun every change is printed and checked by the API servers
// (server-side dry run) and nothing changes. Secret values are never
// printed.
//
// Objects are rendered by internal/fleet/render and applied with
// internal/fleet/kube; cmd/aisedge's fleet subcommands are the only
// importers.
package ops

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/kube"
)

// Env is what every operation works with.
type Env struct {
	Config *fleet.Config
	// Management is the management cluster; ManagementName names it in
	// messages and in uninstall's confirmation phrase.
	Management     *rest.Config
	ManagementName string
	// SiteConfig returns a site's child cluster; nil reads the site's
	// kubeconfig file (written by fleet apply).
	SiteConfig func(*fleet.Site) (*rest.Config, error)
	// Out receives progress lines and reports; nil discards them.
	Out io.Writer
	// DryRun prints every change and makes none (server-side dry run for
	// the objects, no files written, nothing deleted).
	DryRun bool
	// Force takes over fields of rendered objects that another field
	// manager owns (as fleet apply --force-conflicts).
	Force bool
	// Timeout bounds each wait (a rollout, an issued certificate).
	Timeout time.Duration
	// PollInterval of waits (tests shorten it).
	PollInterval time.Duration
	// Confirm asks for the typed confirmation before data is deleted;
	// nil refuses every deletion of data.
	Confirm Confirmer
	// S3 opens the ingest bucket with the admin key (site remove deletes
	// the site's staged objects with it); nil when unavailable.
	S3 func(ctx context.Context) (Bucket, error)
	// Now is the clock (certs' days to expiry); nil is time.Now.
	Now func() time.Time
}

func (e *Env) out() io.Writer {
	if e.Out == nil {
		return io.Discard
	}
	return e.Out
}

// say prints one progress line.
func (e *Env) say(format string, args ...any) {
	fmt.Fprintf(e.out(), format+"\n", args...)
}

// would prints a change a dry run does not make, or announces it.
func (e *Env) would(format string, args ...any) {
	if e.DryRun {
		e.say("dry run: would "+format, args...)
	}
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Env) timeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return 10 * time.Minute
}

func (e *Env) poll() time.Duration {
	if e.PollInterval > 0 {
		return e.PollInterval
	}
	return time.Second
}

// client returns a client for one cluster set up like the Env.
func (e *Env) client(name string, cfg *rest.Config) (*kube.Client, error) {
	c, err := kube.New(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.Out, c.DryRun, c.Force = e.Out, e.DryRun, e.Force
	c.PollInterval, c.ProgressInterval = e.poll(), 10*e.poll()
	return c, nil
}

func (e *Env) mgmt() (*kube.Client, error) {
	if e.Management == nil {
		return nil, errors.New("no management cluster configured")
	}
	return e.client("management", e.Management)
}

// siteRESTConfig returns the REST config of a site's child cluster.
func (e *Env) siteRESTConfig(s *fleet.Site) (*rest.Config, error) {
	if e.SiteConfig != nil {
		return e.SiteConfig(s)
	}
	path := e.Config.Path(s.Kubeconfig)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no kubeconfig for site %s (%s): run aisedge fleet apply once its control plane runs, or set sites[].kubeconfig", s.Name, path)
	}
	return clientcmd.BuildConfigFromFlags("", path)
}

// child returns a client for a site's child cluster whose API server
// answers; an unreachable cluster is an error naming the site.
func (e *Env) child(ctx context.Context, s *fleet.Site) (*kube.Client, error) {
	cfg, err := e.siteRESTConfig(s)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	c, err := e.client(s.Name, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := c.Get(ctx, gvkNamespace, "", "default"); err != nil {
		return nil, fmt.Errorf("site %s: child cluster unreachable: %w", s.Name, err)
	}
	return c, nil
}

// writeFileAtomic replaces path with data (mode perm) through a temporary
// file in the same folder, synced before the rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// shortHash is the first 16 hex digits of the SHA-256 of b.
func shortHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])[:16]
}

// report collects what an operation removed and kept, printed at its end.
type report struct {
	removed, kept []string
}

func (r *report) remove(format string, args ...any) {
	r.removed = append(r.removed, fmt.Sprintf(format, args...))
}

func (r *report) keep(format string, args ...any) {
	r.kept = append(r.kept, fmt.Sprintf(format, args...))
}

func (r *report) print(w io.Writer, dryRun bool) {
	head := "removed"
	if dryRun {
		head = "would remove (dry run: nothing was removed)"
	}
	fmt.Fprintf(w, "%s:\n", head)
	if len(r.removed) == 0 {
		fmt.Fprintln(w, "  nothing")
	}
	for _, l := range r.removed {
		fmt.Fprintln(w, "  - "+l)
	}
	fmt.Fprintln(w, "kept:")
	for _, l := range r.kept {
		fmt.Fprintln(w, "  - "+l)
	}
}

// plural formats n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
