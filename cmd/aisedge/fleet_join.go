package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/fleet/image"
	"github.com/aisedge/aisedge/internal/fleet/join"
	"github.com/aisedge/aisedge/internal/fleet/remote"
)

func init() {
	registerFleet(fleetCommand{name: "join", run: runFleetJoin, usage: `join SITE         join the site's edge worker over SSH: reuse (or request) the join
                  token, write the management names to the edge's /etc/hosts,
                  make its data folders (not 777), install the haproxy certificate,
                  install and start the k0s worker once, patch the child CoreDNS
                  hosts block; idempotent, one progress line per step; host key
                  pinned in --known-hosts; --dry-run prints every command`})
}

func runFleetJoin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet join", stderr)
	var src fleetSource
	src.addFlags(fs)
	var mgmt mgmtCluster
	mgmt.addFlags(fs)
	home, _ := os.UserHomeDir()
	knownHosts := fs.String("known-hosts", filepath.Join(home, ".ssh", "known_hosts"), "known_hosts `file` pinning the edges' host keys")
	acceptNew := fs.Bool("accept-new-host-key", false, "record the host key of an edge known_hosts does not know yet (a changed key is refused regardless)")
	dryRun := fs.Bool("dry-run", false, "change nothing: print every remote command and every Kubernetes change")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for a new join token, and for each remote command")
	connectTimeout := fs.Duration("connect-timeout", 15*time.Second, "how long to wait for the SSH connection")
	port := fs.Int("ssh-port", 22, "SSH `port` of the edge")
	expiry := fs.Duration("token-expiry", 24*time.Hour, "validity of a newly requested join token")
	owner := fs.String("data-owner", fmt.Sprintf("%d:%d", image.UID, image.UID), "`UID:GID` owning the edge's data folders (the edge pod's user)")
	// The site may come before the flags (fleet join SITE --dry-run).
	var site string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		site, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if site == "" && fs.NArg() > 0 {
		site = fs.Arg(0)
		if err := parseFlags(fs, fs.Args()[1:]); err != nil {
			return err
		}
	}
	if site == "" || fs.NArg() > 0 {
		return usageError{"usage: aisedge fleet join SITE (--config FILE | --env DIR) [flags]"}
	}
	uid, gid, err := parseOwner(*owner)
	if err != nil {
		return usageError{"--data-owner: " + err.Error()}
	}
	c, _, err := src.load(stderr)
	if err != nil {
		return err
	}
	if _, ok := c.Site(site); !ok {
		var names []string
		for _, s := range c.Sites {
			names = append(names, s.Name)
		}
		return usageError{fmt.Sprintf("no site %q in the configuration (sites: %s)", site, strings.Join(names, ", "))}
	}
	cfg, err := mgmt.restConfig()
	if err != nil {
		return err
	}
	opt := join.Options{
		Out:    stdout,
		DryRun: *dryRun,
		SSH: remote.Config{Port: *port, KnownHosts: *knownHosts, AcceptNew: *acceptNew,
			ConnectTimeout: *connectTimeout, CommandTimeout: *timeout},
		Timeout:     *timeout,
		TokenExpiry: *expiry,
		DataUID:     uid,
		DataGID:     gid,
	}
	if _, err := join.Join(ctx, c, site, cfg, opt); err != nil {
		return err
	}
	if *dryRun {
		fmt.Fprintln(stdout, "dry run: nothing was changed")
	}
	return nil
}

func parseOwner(s string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not UID:GID", s)
	}
	if uid, err = strconv.Atoi(u); err != nil || uid <= 0 {
		return 0, 0, fmt.Errorf("%q: the UID must be a number above 0 (the edge pod does not run as root)", s)
	}
	if gid, err = strconv.Atoi(g); err != nil || gid <= 0 {
		return 0, 0, fmt.Errorf("%q: the GID must be a number above 0", s)
	}
	return uid, gid, nil
}
