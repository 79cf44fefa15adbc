// Package join joins an edge worker to its site's child cluster: the
// original installer's steps 05 and 06 (and the folders of 07/07c) as
// named, idempotent steps (docs/compat.md, "Joining an edge"):
//
//	join-token    reuse the site's JoinTokenRequest and its Secret on the
//	              management cluster while valid, else mint one; the
//	              token's server is the site's API host through the
//	              management ingress; a copy in join-token-<site> (0600)
//	ssh           connect to the edge, host key pinned (internal/fleet/remote)
//	hosts         on-prem: the management hostnames in a marked block of
//	              the edge's /etc/hosts (cloud: no block)
//	data-dirs     the edge's data folders, owned by the edge pod's user,
//	              0750/0700 (never 777)
//	haproxy-cert  the certificate k0smotron's ingress mode needs on the
//	              worker, from the child CA; kept while valid
//	k0s-worker    the token in /etc/k0s/join-token (over stdin), `k0s
//	              install worker` once, `k0s start` when not running
//	coredns       on-prem: a marked hosts block in the child cluster's
//	              CoreDNS Corefile, the rest of it untouched
//
// Every step reports changed or unchanged ("[site] step: unchanged"); run
// twice, the second run changes nothing. A failing step stops the join
// with its name (and, for remote steps, the remote stderr). In a dry run
// nothing changes anywhere: remote commands are printed (the edge is not
// contacted, so every command a step may need is shown) and Kubernetes
// changes are printed and checked by the server's dry run.
//
// cmd/aisedge's `fleet join` is the only importer.
package join

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/image"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/remote"
)

// Step names, in the order they run.
const (
	StepToken   = "join-token"
	StepSSH     = "ssh"
	StepHosts   = "hosts"
	StepDirs    = "data-dirs"
	StepHAProxy = "haproxy-cert"
	StepK0s     = "k0s-worker"
	StepCoreDNS = "coredns"
)

// Outcome of a step.
type Outcome string

const (
	Changed   Outcome = "changed"
	Unchanged Outcome = "unchanged"
	Done      Outcome = "done"    // the step has no state (ssh)
	Skipped   Outcome = "skipped" // not needed in this topology
	DryRun    Outcome = "dry run" // printed, not done
)

// StepResult is one step's outcome.
type StepResult struct {
	Step    string
	Outcome Outcome
	Detail  string
}

// Options of Join.
type Options struct {
	// Out receives the progress lines (and, in a dry run, the commands
	// and changes); nil discards them.
	Out io.Writer
	// DryRun changes nothing: remote commands and Kubernetes changes are
	// printed.
	DryRun bool
	// SSH is the base of the connection settings (KnownHosts, AcceptNew,
	// Port, timeouts); host, user and key come from the site.
	SSH remote.Config
	// Dial connects to the edge (nil: remote.Dial). Not called in a dry
	// run.
	Dial func(ctx context.Context, cfg remote.Config) (remote.Runner, error)
	// SiteConfig returns the child cluster's REST config; nil uses the
	// site's kubeconfig file, else the Secret <site>-kubeconfig k0smotron
	// wrote on the management cluster.
	SiteConfig func(site *fleet.Site) (*rest.Config, error)
	// Timeout bounds the wait for a new join token (0: 2 min).
	Timeout time.Duration
	// TokenExpiry of a newly requested token (0: 24 h). A token is
	// reused while more than TokenMargin (0: 10 min) of it is left.
	TokenExpiry time.Duration
	TokenMargin time.Duration
	// DataUID and DataGID own the edge's data folders (0: the aisedge
	// image's user, 65532, which the edge Deployment runs as).
	DataUID, DataGID int
	// PollInterval of waits (0: 1 s); Now the clock (nil: time.Now).
	PollInterval time.Duration
	Now          func() time.Time
}

func (o *Options) defaults() {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Dial == nil {
		o.Dial = func(ctx context.Context, cfg remote.Config) (remote.Runner, error) { return remote.Dial(ctx, cfg) }
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.TokenExpiry == 0 {
		o.TokenExpiry = 24 * time.Hour
	}
	if o.TokenMargin == 0 {
		o.TokenMargin = 10 * time.Minute
	}
	if o.DataUID == 0 {
		o.DataUID = image.UID
	}
	if o.DataGID == 0 {
		o.DataGID = image.UID
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// StepError is a failed step.
type StepError struct {
	Site, Step string
	Err        error
}

func (e *StepError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Site, e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// joiner carries one join's state between the steps.
type joiner struct {
	c    *fleet.Config
	s    *fleet.Site
	opt  Options
	mgmt *rest.Config
	mcs  kubernetes.Interface
	mdyn dynamic.Interface
	// token is the join token (k0s form: base64 of gzip of a kubeconfig).
	token []byte
	run   remote.Runner
	sudo  bool
}

// Join runs every step for site against the management cluster mgmt and
// returns their outcomes (up to the failing one, whose error is a
// *StepError).
func Join(ctx context.Context, c *fleet.Config, site string, mgmt *rest.Config, opt Options) ([]StepResult, error) {
	opt.defaults()
	s, ok := c.Site(site)
	if !ok {
		return nil, fmt.Errorf("no site %q in the configuration", site)
	}
	if err := checkSite(s); err != nil {
		return nil, err
	}
	j := &joiner{c: c, s: s, opt: opt, mgmt: mgmt, sudo: s.SSH.User != "root"}
	var err error
	if j.mcs, err = kubernetes.NewForConfig(mgmt); err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	if j.mdyn, err = dynamic.NewForConfig(mgmt); err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	if opt.DryRun {
		j.printf("dry run: nothing is changed; the edge is not contacted, so every command a step may need is shown")
	} else {
		defer func() {
			if cl, ok := j.run.(io.Closer); ok {
				cl.Close()
			}
		}()
	}
	steps := []struct {
		name string
		fn   func(context.Context) (Outcome, string, error)
	}{
		{StepToken, j.joinToken},
		{StepSSH, j.connect},
		{StepHosts, j.hosts},
		{StepDirs, j.dataDirs},
		{StepHAProxy, j.haproxyCert},
		{StepK0s, j.k0sWorker},
		{StepCoreDNS, j.coreDNS},
	}
	var results []StepResult
	for _, st := range steps {
		out, detail, err := st.fn(ctx)
		if err != nil {
			j.printf("%s: failed", st.name)
			return results, &StepError{Site: s.Name, Step: st.name, Err: err}
		}
		if opt.DryRun && (out == Changed || out == Unchanged) {
			out = DryRun
		}
		results = append(results, StepResult{Step: st.name, Outcome: out, Detail: detail})
		if detail != "" {
			j.printf("%s: %s (%s)", st.name, out, detail)
		} else {
			j.printf("%s: %s", st.name, out)
		}
	}
	return results, nil
}

func checkSite(s *fleet.Site) error {
	var missing []string
	if s.NodeIP == "" {
		missing = append(missing, "nodeIP (the edge worker's address)")
	}
	if s.SSH.User == "" {
		missing = append(missing, "ssh.user")
	}
	if s.SSH.Key == "" {
		missing = append(missing, "ssh.key (a private key file)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("site %s: fleet join needs %v", s.Name, missing)
	}
	return nil
}

func (j *joiner) printf(format string, args ...any) {
	fmt.Fprintf(j.opt.Out, "[%s] "+format+"\n", append([]any{j.s.Name}, args...)...)
}

// connect opens the SSH connection (a printing runner in a dry run).
func (j *joiner) connect(ctx context.Context) (Outcome, string, error) {
	cfg := j.opt.SSH
	cfg.Host, cfg.User, cfg.KeyFile = j.s.NodeIP, j.s.SSH.User, j.c.Path(j.s.SSH.Key)
	if cfg.Notef == nil {
		cfg.Notef = func(format string, args ...any) { j.printf("ssh: "+format, args...) }
	}
	if j.opt.DryRun {
		j.run = &remote.DryRun{Host: cfg.User + "@" + cfg.Host, Out: j.opt.Out}
		return Skipped, "dry run: not connecting to " + cfg.User + "@" + cfg.Host, nil
	}
	r, err := j.opt.Dial(ctx, cfg)
	if err != nil {
		return "", "", err
	}
	j.run = r
	detail := cfg.User + "@" + cfg.Host
	if fp, ok := r.(interface{ HostKeyFingerprint() string }); ok {
		detail += ", host key " + fp.HostKeyFingerprint()
	}
	return Done, detail, nil
}

// childConfig is the REST config of the site's child cluster.
func (j *joiner) childConfig(ctx context.Context) (*rest.Config, error) {
	if j.opt.SiteConfig != nil {
		return j.opt.SiteConfig(j.s)
	}
	path := j.c.Path(j.s.Kubeconfig)
	if _, err := os.Stat(path); err == nil {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	name := j.s.Name + "-kubeconfig"
	sec, err := j.mcs.CoreV1().Secrets(j.s.Name).Get(ctx, name, getOpts)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("no kubeconfig for the child cluster: %s does not exist and Secret %s/%s is missing (run aisedge fleet apply first)", path, j.s.Name, name)
		}
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	kc, err := kube.SiteKubeconfig(sec.Data["value"], j.c, j.s)
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s: %w", j.s.Name, name, err)
	}
	return clientcmd.RESTConfigFromKubeConfig(kc)
}
