package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/image"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/ops"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

func init() {
	register(command{name: "fleet", summary: "deploy and operate sites on Kubernetes (run 'aisedge fleet' for the subcommands)", run: runFleet})
	// The fleet configuration checks each site's profile as the edge
	// will load it; deployment does not import de-identification.
	fleet.CheckProfile = func(b []byte) error { _, err := deid.LoadProfile(b); return err }
}

// fleetCommand is one `aisedge fleet` subcommand. Each registers itself
// from its own file with registerFleet, in init.
type fleetCommand struct {
	name string
	// usage is the subcommand's paragraph in `aisedge fleet` help: its
	// first line starts with the name, the rest indented to match.
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var fleetCommands []fleetCommand

func registerFleet(c fleetCommand) { fleetCommands = append(fleetCommands, c) }

func init() {
	registerFleet(fleetCommand{name: "config", run: runFleetConfig, usage: `config validate   check a fleet file (--config FILE) or the original's config/ folder
                  (--env DIR); names every problem with file, field and fix`})
	registerFleet(fleetCommand{name: "render", run: runFleetRender, usage: `render            write the manifests of the management cluster and of every site
                  (--config FILE | --env DIR) --out DIR`})
	registerFleet(fleetCommand{name: "apply", run: runFleetApply, usage: `apply             server-side apply of the rendered manifests (field manager aisedge,
                  strict validation): management cluster first (--kubeconfig), then
                  each site's child cluster through kubeconfig-<site>; waits for
                  readiness; --dry-run=server for the servers' verdict, no changes`})
	registerFleet(fleetCommand{name: "image", run: runFleetImage, usage: `image             build the aisedge image without a container engine: a static
                  binary, CA certificates and a non-root user, written as an OCI
                  archive (--out aisedge.tar); same source tree, same digest`})
}

// fleetUsage is the help of `aisedge fleet`, in registration order
// (main's init runs files in name order: fleet.go first).
func fleetUsage() string {
	var b strings.Builder
	b.WriteString("usage: aisedge fleet <subcommand> [flags]\n\nsubcommands:\n")
	for _, c := range fleetCommands {
		b.WriteString("  " + strings.ReplaceAll(c.usage, "\n", "\n  ") + "\n")
	}
	b.WriteString(`
Secrets are never written in the fleet file: they are {file: PATH} or
{env: NAME} references; the original's env files are read, never run.
`)
	return b.String()
}

// fleetSource holds the flags that name a fleet configuration.
type fleetSource struct {
	config string
	envDir string
}

func (s *fleetSource) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.config, "config", "", "fleet `file` (YAML: management + sites)")
	fs.StringVar(&s.envDir, "env", "", "the original installer's config/ `folder` (management.env, edge-nodes.env, orthanc/)")
}

// load reads the configuration and prints the loader's warnings.
func (s *fleetSource) load(stderr io.Writer) (*fleet.Config, string, error) {
	var c *fleet.Config
	var err error
	var name string
	switch {
	case (s.config == "") == (s.envDir == ""):
		return nil, "", usageError{"give exactly one of --config FILE and --env DIR"}
	case s.config != "":
		name = s.config
		c, err = fleet.Load(s.config)
	default:
		name = s.envDir
		c, err = fleet.LoadEnvDir(s.envDir, os.LookupEnv)
	}
	if c != nil {
		for _, w := range c.Warnings {
			fmt.Fprintln(stderr, "warning:", w)
		}
	}
	return c, name, err
}

func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, fleetUsage())
		return nil
	}
	for _, c := range fleetCommands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprint(stderr, fleetUsage())
	return usageError{fmt.Sprintf("unknown fleet subcommand %q", args[0])}
}

func runFleetConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "validate" {
		return usageError{"usage: aisedge fleet config validate (--config FILE | --env DIR)"}
	}
	fs := newFlagSet("fleet config validate", stderr)
	var src fleetSource
	src.addFlags(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected arguments: " + strings.Join(fs.Args(), " ")}
	}
	c, name, err := src.load(stderr)
	if err != nil {
		return err
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# %s is valid: %d site(s); effective configuration (secrets show where they come from):\n%s", name, len(c.Sites), b)
	return nil
}

// mgmtCluster names the management cluster: --kubeconfig and --context,
// shared by apply, join and the operations.
type mgmtCluster struct {
	kubeconfig, context string
}

func (m *mgmtCluster) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.kubeconfig, "kubeconfig", "", "kubeconfig `file` of the management cluster (default $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&m.context, "context", "", "kubeconfig `context` of the management cluster (default: the current one)")
}

// clientConfig loads the kubeconfig (silencing client-go's own logging:
// everything that matters comes back as an error).
func (m *mgmtCluster) clientConfig() clientcmd.ClientConfig {
	quietKlog()
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if m.kubeconfig != "" {
		rules.ExplicitPath = m.kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: m.context})
}

// restConfig is the management cluster's REST configuration.
func (m *mgmtCluster) restConfig() (*rest.Config, error) {
	cfg, err := m.clientConfig().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	return cfg, nil
}

// quietKlog silences client-go's own logging once per process.
var quietKlog = sync.OnceFunc(func() { klog.SetLogger(logr.Discard()) })

// renderFlags are shared by render and apply.
type renderFlags struct {
	fleetSource
	caBundle string
	image    string
}

func (r *renderFlags) addFlags(fs *flag.FlagSet) {
	r.fleetSource.addFlags(fs)
	fs.StringVar(&r.caBundle, "ca-bundle", "", "PEM `file` the edges trust for the S3 endpoint (default: management.tls.caBundleFile, else read from the cluster by apply)")
	fs.StringVar(&r.image, "image", "", "aisedge image `reference` (overrides management.images.aisedge)")
}

// render loads, validates and renders the configuration.
func (r *renderFlags) render(stderr io.Writer) (*fleet.Config, *render.Manifests, error) {
	return r.renderWith(stderr, nil)
}

// renderWith renders like render; trust, when not nil, is the management
// cluster's current CA state (after a rotation), which a --ca-bundle flag
// still overrides.
func (r *renderFlags) renderWith(stderr io.Writer, trust *ops.Trust) (*fleet.Config, *render.Manifests, error) {
	c, _, err := r.load(stderr)
	if r.image != "" && c != nil {
		c.Management.Images.AISEdge = r.image
		err = c.Validate() // the override may fix (or cause) a problem
	}
	if err != nil {
		return nil, nil, err
	}
	var opt render.Options
	if trust != nil && c.Management.TLS.Issuer == fleet.IssuerCA {
		opt.IssuerSecret, opt.CABundle = trust.IssuerSecret, trust.Bundle
	}
	if r.caBundle != "" {
		if opt.CABundle, err = os.ReadFile(r.caBundle); err != nil {
			return nil, nil, fmt.Errorf("--ca-bundle: %w", err)
		}
	}
	m, err := render.Render(c, opt)
	return c, m, err
}

func runFleetRender(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet render", stderr)
	var rf renderFlags
	rf.addFlags(fs)
	out := fs.String("out", "", "output `folder` (created; a folder an earlier render wrote is replaced)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return usageError{"usage: aisedge fleet render (--config FILE | --env DIR) --out DIR"}
	}
	_, m, err := rf.render(stderr)
	if err != nil {
		return err
	}
	if err := m.Write(*out); err != nil {
		return err
	}
	for _, p := range m.Paths() {
		fmt.Fprintln(stdout, filepath.Join(*out, p))
	}
	if m.CABundleMissing {
		fmt.Fprintln(stderr, "note: the edges' ca-bundle Secret is not rendered (no CA bundle yet); aisedge fleet apply creates it from the management cluster's CA, or pass --ca-bundle")
	}
	return nil
}

// dryRunFlag accepts --dry-run, --dry-run=server and --dry-run=none.
type dryRunFlag struct{ server bool }

func (d *dryRunFlag) String() string {
	if d != nil && d.server {
		return "server"
	}
	return "none"
}

func (d *dryRunFlag) Set(v string) error {
	switch v {
	case "server", "true":
		d.server = true
	case "none", "false":
		d.server = false
	default:
		return fmt.Errorf("%q: use --dry-run=server (the API servers validate everything, nothing changes) or none", v)
	}
	return nil
}

func (d *dryRunFlag) IsBoolFlag() bool { return true }

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runFleetApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet apply", stderr)
	var rf renderFlags
	rf.addFlags(fs)
	var mgmt mgmtCluster
	mgmt.addFlags(fs)
	var dry dryRunFlag
	fs.Var(&dry, "dry-run", "`server`: the API servers check everything (strict validation, admission) and change nothing")
	wait := fs.Bool("wait", true, "wait until Deployments are available, certificates issued and control planes ready")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait per cluster")
	var sites multiFlag
	fs.Var(&sites, "site", "apply only this `site` after the management cluster (repeatable)")
	mgmtOnly := fs.Bool("management-only", false, "apply the management cluster only")
	force := fs.Bool("force-conflicts", false, "take over fields another field manager owns (e.g. after kubectl edits)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected arguments: " + strings.Join(fs.Args(), " ")}
	}
	c, _, err := rf.load(io.Discard)
	if err != nil {
		return err
	}
	for _, s := range sites {
		if _, ok := c.Site(s); !ok {
			return usageError{fmt.Sprintf("--site %s: no such site in the configuration", s)}
		}
	}
	cfg, err := mgmt.restConfig()
	if err != nil {
		return err
	}
	// After a CA rotation the cluster, not the fleet file, knows which CA
	// the issuer signs with and which bundle the edges must trust.
	var trust *ops.Trust
	if mc, err := kube.New("management", cfg); err == nil {
		if trust, err = ops.CurrentTrust(ctx, mc); err != nil {
			return fmt.Errorf("management cluster: reading the CA state: %w", err)
		}
	}
	if trust != nil && trust.Rotating != "" {
		fmt.Fprintf(stdout, "management: CA rotation %s: the edges keep trusting both CAs\n", trust.Rotating)
	}
	_, m, err := rf.renderWith(stderr, trust)
	if err != nil {
		return err
	}
	opt := kube.Options{Out: stdout, DryRun: dry.server, Force: *force, Wait: *wait && !dry.server,
		Timeout: *timeout, ManagementOnly: *mgmtOnly}
	if len(sites) > 0 {
		opt.Sites = sites
	}
	if err := kube.Deploy(ctx, c, m, cfg, opt); err != nil {
		return err
	}
	if dry.server {
		fmt.Fprintln(stdout, "dry run: nothing was changed")
	}
	return nil
}

func runFleetImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet image", stderr)
	out := fs.String("out", "aisedge.tar", "OCI archive `file` to write (load with skopeo/podman/crane, or docker load)")
	binary := fs.String("binary", "", "package this prebuilt static `binary` instead of building one")
	source := fs.String("source", "", "aisedge source `folder` to build from (default: the checkout around the current folder)")
	arch := fs.String("arch", runtime.GOARCH, "target `GOARCH`")
	certs := fs.String("ca-certificates", image.DefaultCert, "PEM `bundle` installed as the image's CA certificates")
	tag := fs.String("tag", "aisedge:latest", "`name:tag` recorded in the archive's index")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected arguments: " + strings.Join(fs.Args(), " ")}
	}
	opt := image.Options{Binary: *binary, Arch: *arch, CACertificates: *certs, Tag: *tag, Log: stderr}
	if *binary == "" {
		dir := *source
		if dir == "" {
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			dir = wd
		}
		mod, err := image.FindModule(dir)
		if err != nil {
			return err
		}
		opt.ModuleDir = mod
	}
	res, err := image.Build(ctx, *out, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\t%s\t%d bytes\n", *out, res.Digest, res.Size)
	return nil
}
