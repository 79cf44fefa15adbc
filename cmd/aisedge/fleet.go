package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/aisedge/aisedge/internal/fleet"
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
