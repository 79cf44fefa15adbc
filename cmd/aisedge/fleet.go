package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

func init() {
	register(command{name: "fleet", summary: "deploy on Kubernetes: fleet config validate | render | apply | image (run 'aisedge fleet' for details)", run: runFleet})
}

const fleetUsage = `usage: aisedge fleet <subcommand> [flags]

subcommands:
  config validate   check a fleet file (--config FILE) or the original's config/ folder
                    (--env DIR); names every problem with file, field and fix
  render            write the manifests of the management cluster and of every site
                    (--config FILE | --env DIR) --out DIR
  apply             server-side apply of the rendered manifests: management cluster
                    first, then each site's child cluster (--dry-run for the server's
                    verdict without changes)
  image             build the aisedge OCI image tarball without a container engine
                    (--out aisedge.tar)

Secrets are never written in the fleet file: they are {file: PATH} or
{env: NAME} references; the original's env files are read, never run.
`

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
		fmt.Fprint(stdout, fleetUsage)
		return nil
	}
	switch args[0] {
	case "config":
		return runFleetConfig(ctx, args[1:], stdout, stderr)
	case "render":
		return runFleetRender(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, fleetUsage)
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
	c, _, err := r.load(stderr)
	if r.image != "" && c != nil {
		c.Management.Images.AISEdge = r.image
		err = c.Validate() // the override may fix (or cause) a problem
	}
	if err != nil {
		return nil, nil, err
	}
	var opt render.Options
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
