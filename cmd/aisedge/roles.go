package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.yaml.in/yaml/v3"

	"github.com/aisedge/aisedge/internal/api"
	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/health"
	"github.com/aisedge/aisedge/internal/lifecycle"
	"github.com/aisedge/aisedge/internal/logging"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/s3"
)

func init() {
	register(command{name: "edge", summary: "run the facility role: DICOM receiver, de-identification, staging, upload to S3 (--config FILE)", run: runEdge})
	register(command{name: "hub", summary: "run the management role: sealed sessions from S3 into XNAT (--config FILE)", run: runHub})
	register(command{name: "config", summary: "config validate [--role edge|hub] FILE: check a configuration file and what its roles need on this machine at start, and print the effective configuration", run: runConfig})
}

func loadConfig(path string) (*config.File, error) {
	if path == "" {
		return nil, usageError{"--config FILE is required"}
	}
	return config.Load(path)
}

// loadRole loads the configuration for role (edge or hub) and runs the
// role's start checks: every problem of the file and of what the role
// needs from this machine, at once. It creates nothing.
func loadRole(path, role string) (*config.File, error) {
	f, err := loadConfig(path)
	if f == nil {
		return nil, err
	}
	var probs []config.Problem
	var ce *config.Error
	if errors.As(err, &ce) {
		probs = ce.Problems
	} else if err != nil {
		return nil, err
	}
	switch {
	case role == "edge" && f.Edge != nil:
		probs = append(probs, edgeStartProblems(f)...)
	case role == "hub" && f.Hub != nil:
		probs = append(probs, hubStartProblems(f)...)
	default:
		probs = append(probs, config.Problem{File: path, Line: 1, Field: "(file)", Msg: "no " + role + " section", Fix: "add `" + role + ":`"})
	}
	return f, startError(probs)
}

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config", stderr)
	role := fs.String("role", "", "check only this `role`'s section (edge or hub); default: every section the file has")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: aisedge config validate [--role edge|hub] FILE")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Checks the file and what its roles need on this machine at start (secrets, key files, profiles, folders),")
		fmt.Fprintln(w, "reports every problem with file:line, field and fix (exit status 3), and prints the effective")
		fmt.Fprintln(w, "configuration when there is none. Every field is in docs/reference.md.")
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
		fmt.Fprintln(w, "\nexamples:")
		fmt.Fprintln(w, "  aisedge config validate /etc/aisedge/aisedge.yaml")
		fmt.Fprintln(w, "  aisedge config validate --role edge /etc/aisedge/aisedge.yaml")
	}
	rest := args
	if len(rest) > 0 && rest[0] == "validate" {
		rest = rest[1:]
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if len(rest) == len(args) || fs.NArg() != 1 {
		return usageError{"usage: aisedge config validate [--role edge|hub] FILE"}
	}
	if *role != "" && *role != "edge" && *role != "hub" {
		return usageError{fmt.Sprintf("--role %q: want edge or hub", *role)}
	}
	path := fs.Arg(0)
	f, err := loadConfig(path)
	if f == nil {
		return err
	}
	var roles []string
	for _, r := range []string{"edge", "hub"} {
		if (*role == "" && (r == "edge" && f.Edge != nil || r == "hub" && f.Hub != nil)) || *role == r {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 { // neither section: the loader said so
		return err
	}
	var probs []config.Problem
	seen := map[string]bool{}
	for _, r := range roles {
		_, err := loadRole(path, r)
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				if k := p.String(); !seen[k] { // the file's own problems come with each role
					seen[k] = true
					probs = append(probs, p)
				}
			}
		} else if err != nil {
			return err
		}
	}
	if err := startError(probs); err != nil {
		return err
	}
	for i, r := range roles {
		roles[i] = "aisedge " + r
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# %s is valid: %s can start with it on this machine; effective configuration:\n%s", path, strings.Join(roles, " and "), b)
	return nil
}

// s3Store builds the S3 object store of a role, with retries and logging.
func s3Store(c config.S3, writeOnly bool, log *slog.Logger) (objstore.Store, objstore.PartLayout, error) {
	ak, err := config.Secret(c.AccessKeyFile, c.AccessKeyEnv)
	if err != nil {
		return nil, objstore.PartLayout{}, fmt.Errorf("S3 access key: %w", err)
	}
	sk, err := config.Secret(c.SecretKeyFile, c.SecretKeyEnv)
	if err != nil {
		return nil, objstore.PartLayout{}, fmt.Errorf("S3 secret key: %w", err)
	}
	st, err := s3.New(s3.Config{Endpoint: c.Endpoint, Bucket: c.Bucket, Region: c.Region, CAFile: c.CAFile,
		AccessKey: ak, SecretKey: sk, WriteOnly: writeOnly})
	if err != nil {
		return nil, objstore.PartLayout{}, err
	}
	return objstore.WithLogging(objstore.WithRetry(st, objstore.RetryPolicy{}), log.With("component", "objstore")), st.Layout(), nil
}

// tcpActions reads the configuration of the actions on the http address
// (nil when they are off).
func tcpActions(a config.HTTPActions) (*api.TCPActions, error) {
	if !a.Enabled {
		return nil, nil
	}
	tok, err := actionToken(a.TokenFile)
	if err != nil {
		return nil, err
	}
	return &api.TCPActions{Token: tok, Hosts: a.AllowedHosts}, nil
}

// fieldNamer names settings as fields of a configuration file's section.
func fieldNamer(path, section string) namer {
	return func(setting string) string { return path + ": " + section + "." + setting }
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		health.BuildInfoCollector())
	return reg
}

func runEdge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("edge", stderr)
	path := fs.String("config", "", "configuration `file` (YAML, section edge)")
	level := logLevelFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logs, events, err := logSinks(*level, stdout, stderr)
	if err != nil {
		return err
	}
	// Everything the machine must provide is checked before anything
	// starts, as `aisedge config validate` does; then the folders are made.
	f, err := loadRole(*path, "edge")
	if err != nil {
		return err
	}
	c := f.Edge
	if err := prepareFolders(f, edgeFolders(c)); err != nil {
		return err
	}
	log := logs.Logger().With("edge", c.Name)
	keys, keySource, err := deidKeys(c.DeidKeyFile)
	if err != nil {
		return err
	}
	log.Info("de-identification key loaded", "from", keySource, "keyId", keys.KeyID())
	name := fieldNamer(*path, "edge")
	store, layout, err := s3Store(c.S3, true, log)
	if err != nil {
		return fmt.Errorf("%s: %w", name("s3"), err)
	}
	actions, err := tcpActions(c.HTTPActions)
	if err != nil {
		return fmt.Errorf("%s: %w", name("httpActions"), err)
	}
	p := newProcess(log, events)
	if _, err := p.addEdge(edgeSpec{cfg: c, keys: keys, store: store, layout: layout, original: true, name: name}); err != nil {
		p.release()
		return err
	}
	return p.group(&apiSpec{http: c.HTTP, socket: socketPath(c.Socket, c.DataDir), audit: filepath.Join(c.DataDir, auditFile),
		actions: actions, name: name}).Run(ctx)
}

func runHub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hub", stderr)
	path := fs.String("config", "", "configuration `file` (YAML, section hub)")
	once := fs.Bool("once", false, "deliver what is sealed now, then exit")
	level := logLevelFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logs, events, err := logSinks(*level, stdout, stderr)
	if err != nil {
		return err
	}
	f, err := loadRole(*path, "hub")
	if err != nil {
		return err
	}
	c := f.Hub
	if err := prepareFolders(f, hubFolders(c)); err != nil {
		return err
	}
	log := logs.Logger()
	name := fieldNamer(*path, "hub")
	store, _, err := s3Store(c.S3, false, log)
	if err != nil {
		return fmt.Errorf("%s: %w", name("s3"), err)
	}
	actions, err := tcpActions(c.HTTPActions)
	if err != nil {
		return fmt.Errorf("%s: %w", name("httpActions"), err)
	}
	p := newProcess(log, events)
	h, err := p.addHub(hubSpec{ctx: ctx, cfg: c, store: store, probeStore: true, name: name})
	if err != nil {
		p.release()
		return err
	}
	if *once {
		// The hub's state only (no API, no probes, no rounds) and one
		// round of delivery.
		p.work = []lifecycle.Component{{Name: "delivery", Run: func(ctx context.Context, ready func()) error {
			ready()
			return h.RunOnce(ctx)
		}}}
		return p.group(nil).Run(ctx)
	}
	return p.group(&apiSpec{http: c.HTTP, socket: socketPath(c.Socket, c.DataDir), audit: filepath.Join(c.DataDir, auditFile),
		actions: actions, name: name}).Run(ctx)
}

// auditFile is the audit log's name in a role's data folder: every
// operator action, appended.
const auditFile = "audit.jsonl"

// quarantineActions are the edge's quarantine actions on the local API.
func quarantineActions(e *edge.Edge) map[string]api.ActionFunc {
	return map[string]api.ActionFunc{
		"quarantine-requeue": e.Requeue,
		"quarantine-release": func(ctx context.Context, id string) error { return e.Release(ctx, id, api.ActorFrom(ctx).Reason) },
		"quarantine-discard": e.Discard,
	}
}

// probeStates is the "health" part of a hub's status document.
func probeStates(ps health.ProbeCollector) map[string]health.ProbeState {
	out := map[string]health.ProbeState{}
	for _, p := range ps {
		out[p.Peer] = p.State()
	}
	return out
}

// logLevelFlag adds --log-level.
func logLevelFlag(fs *flag.FlagSet) *string {
	return fs.String("log-level", "info", "log and event `level`: debug (adds a line per instance), info (a line per association and per session), warn or error")
}

// logSinks returns the log stream (stderr) and the event stream (stdout)
// at the level named by a --log-level value; both write the one schema of
// internal/logging.
func logSinks(level string, stdout, stderr io.Writer) (logs, events *logging.Sink, err error) {
	lvl, err := logging.ParseLevel(level)
	if err != nil {
		return nil, nil, usageError{"--log-level: " + err.Error()}
	}
	return logging.NewSink(stderr, lvl), logging.NewSink(stdout, lvl), nil
}

// nonEmpty drops empty strings.
func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
