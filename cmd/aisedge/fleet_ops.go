package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/fleet/ops"
	"github.com/aisedge/aisedge/internal/objstore/s3"
)

func init() {
	registerFleet(fleetCommand{name: "site", run: runFleetSite, usage: `site add SITE     apply one site (it must be in the fleet file): its namespace, control
                  plane and S3 identity on the management cluster, then its edge
site remove SITE  remove one site: its edge, S3 identity, control plane and namespace;
                  deletes its staged S3 objects and empties its edge data folder after
                  the site's name is typed (--yes-delete-data=SITE without a
                  terminal; --keep-data deletes no data); never the facility backup`})
	registerFleet(fleetCommand{name: "rotate-keys", run: runFleetRotateKeys, usage: `rotate-keys SITE  a new random S3 key for one edge, without losing uploads: s3.json
                  accepts old and new key, the key files and the edge's Secret get the
                  new one and the edge rolls, then the old key is refused`})
	registerFleet(fleetCommand{name: "rotate-ca", run: runFleetRotateCA, usage: `rotate-ca --phase 1|2
                  two-phase rotation of the private CA (repeatable: ais-edge-ca-g2,
                  -g3, …): phase 1 adds the new CA to every bundle (edges, Vector,
                  ais-edge-ca.crt); phase 2 switches the issuer, re-issues, drops the old`})
	registerFleet(fleetCommand{name: "certs", run: runFleetCerts, usage: `certs             every certificate of the management cluster and of the CA bundles,
                  with its expiry date and days left`})
	registerFleet(fleetCommand{name: "uninstall", run: runFleetUninstall, usage: `uninstall         delete everything aisedge created after a typed confirmation
                  (--yes-delete-data=PHRASE without a terminal); never facility
                  backups or host folders; prints what it removed and kept`})
	registerFleet(fleetCommand{name: "status", run: runFleetStatus, usage: `status            one row per site: nodes, edge pod, last upload, queue, health (read
                  through the API servers, or --hub-url/--edge-url), and the hub`})
}

// opsFlags are the flags every operation shares.
type opsFlags struct {
	fleetSource
	mgmtCluster
	dryRun  bool
	timeout time.Duration
}

func (o *opsFlags) addFlags(fs *flag.FlagSet, dryRun bool) {
	o.fleetSource.addFlags(fs)
	o.mgmtCluster.addFlags(fs)
	if dryRun {
		fs.BoolVar(&o.dryRun, "dry-run", false, "print every change, change nothing (the API servers check each object)")
	}
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long to wait for each rollout or certificate")
}

// env loads the fleet file and the management cluster's configuration.
func (o *opsFlags) env(stdout, stderr io.Writer) (*ops.Env, error) {
	c, _, err := o.load(stderr)
	if err != nil {
		return nil, err
	}
	cc := o.clientConfig()
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	name := cfg.Host
	if raw, err := cc.RawConfig(); err == nil {
		ctxName := o.context
		if ctxName == "" {
			ctxName = raw.CurrentContext
		}
		if k := raw.Contexts[ctxName]; k != nil && k.Cluster != "" {
			name = k.Cluster
		}
	}
	return &ops.Env{Config: c, Management: cfg, ManagementName: name, Out: stdout, DryRun: o.dryRun, Timeout: o.timeout}, nil
}

// stdin and stdinTerminal are the typed confirmation's input (tests
// replace them).
var (
	stdin         io.Reader = os.Stdin
	stdinTerminal           = func() bool {
		st, err := os.Stdin.Stat()
		return err == nil && st.Mode()&os.ModeCharDevice != 0
	}
)

func confirmer(given string, stdout io.Writer) ops.Confirmer {
	return &ops.Typed{Given: given, Terminal: stdinTerminal(), In: stdin, Out: stdout}
}

func runFleetSite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: aisedge fleet site add|remove SITE (--config FILE | --env DIR) [flags]"
	fs := newFlagSet("fleet site", stderr)
	var o opsFlags
	o.addFlags(fs, true)
	wait := fs.Bool("wait", true, "add: wait until the control plane, SeaweedFS and the edge are ready")
	force := fs.Bool("force-conflicts", false, "add: take over fields another field manager owns")
	yes := fs.String("yes-delete-data", "", "remove: confirm deleting the site's data without a terminal: the site's `name`")
	keep := fs.Bool("keep-data", false, "remove: keep the site's staged S3 objects and its edge data folder (no confirmation needed)")
	skipChild := fs.Bool("skip-child-cluster", false, "remove: go on when the site's child cluster cannot be reached")
	endpoint := fs.String("s3-endpoint", "", "remove: the S3 `URL` to delete staged objects through (default https://<seaweedfsHostname>)")
	s3CA := fs.String("s3-ca", "", "remove: PEM `file` trusted for the S3 endpoint (default management.tls.caBundleFile, else ais-edge-ca.crt next to the fleet file)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "add" && pos[0] != "remove") {
		return usageError{use}
	}
	env, err := o.env(stdout, stderr)
	if err != nil {
		return err
	}
	env.Force = *force
	site := pos[1]
	if pos[0] == "add" {
		return env.SiteAdd(ctx, site, ops.AddOptions{Wait: *wait})
	}
	env.Confirm = confirmer(*yes, stdout)
	c := env.Config
	env.S3 = func(context.Context) (ops.Bucket, error) {
		ep := *endpoint
		if ep == "" {
			ep = "https://" + c.Management.SeaweedFSHostname
			if c.Management.IngressPort != 443 {
				ep += ":" + strconv.Itoa(c.Management.IngressPort)
			}
		}
		ca := *s3CA
		if ca == "" && strings.HasPrefix(ep, "https://") {
			ca = c.Path(c.Management.TLS.CABundleFile)
			if c.Management.TLS.CABundleFile == "" {
				if p := c.Path("ais-edge-ca.crt"); fileExists(p) {
					ca = p
				}
			}
		}
		return s3.New(s3.Config{Endpoint: ep, Bucket: c.Management.S3.Bucket, AccessKey: c.Management.S3.AdminAccessKey.Value(),
			SecretKey: c.Management.S3.AdminSecretKey.Value(), CAFile: ca})
	}
	return env.SiteRemove(ctx, site, ops.RemoveOptions{KeepData: *keep, SkipChild: *skipChild})
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func runFleetRotateKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet rotate-keys", stderr)
	var o opsFlags
	o.addFlags(fs, true)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: aisedge fleet rotate-keys SITE (--config FILE) [--dry-run]"}
	}
	env, err := o.env(stdout, stderr)
	if err != nil {
		return err
	}
	return env.RotateKeys(ctx, pos[0])
}

func runFleetRotateCA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet rotate-ca", stderr)
	var o opsFlags
	o.addFlags(fs, true)
	phase := fs.Int("phase", 0, "`1`: add the new CA to every bundle; 2: switch the issuer to it and drop the old CA from the bundles")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || (*phase != 1 && *phase != 2) {
		return usageError{"usage: aisedge fleet rotate-ca --phase 1|2 (--config FILE) [--dry-run]"}
	}
	env, err := o.env(stdout, stderr)
	if err != nil {
		return err
	}
	return env.RotateCA(ctx, *phase)
}

func runFleetCerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet certs", stderr)
	var o opsFlags
	o.addFlags(fs, false)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"usage: aisedge fleet certs (--config FILE)"}
	}
	env, err := o.env(stdout, stderr)
	if err != nil {
		return err
	}
	rows, err := env.Certs(ctx)
	if err != nil {
		return err
	}
	env.PrintCerts(rows)
	return nil
}

func runFleetUninstall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet uninstall", stderr)
	var o opsFlags
	o.addFlags(fs, true)
	yes := fs.String("yes-delete-data", "", "confirm without a terminal: the `phrase` \"uninstall aisedge from <management cluster>\"")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"usage: aisedge fleet uninstall (--config FILE) [--dry-run] [--yes-delete-data=PHRASE]"}
	}
	env, err := o.env(stdout, stderr)
	if err != nil {
		return err
	}
	env.Confirm = confirmer(*yes, stdout)
	return env.Uninstall(ctx)
}

func runFleetStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet status", stderr)
	var o opsFlags
	o.addFlags(fs, false)
	hubURL := fs.String("hub-url", "", "read the hub's status from this base `URL` (e.g. a port-forward) instead of through the API server")
	var edgeURLs multiFlag
	fs.Var(&edgeURLs, "edge-url", "read a site's edge status from `SITE=URL` (repeatable; with --hub-url)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"usage: aisedge fleet status (--config FILE) [--hub-url URL --edge-url SITE=URL ...]"}
	}
	env, err := o.env(stdout, stderr)
	if err != nil {
		return err
	}
	var src ops.StatusSource = ops.ProxySource{Env: env}
	if *hubURL != "" || len(edgeURLs) > 0 {
		u := ops.URLSource{HubURL: *hubURL, EdgeURLs: map[string]string{}}
		for _, e := range edgeURLs {
			site, url, ok := strings.Cut(e, "=")
			if !ok {
				return usageError{fmt.Sprintf("--edge-url %q: want SITE=URL", e)}
			}
			u.EdgeURLs[site] = url
		}
		src = u
	}
	rows, hub := env.Status(ctx, src)
	env.PrintStatus(rows, hub)
	return nil
}
