package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aisedge/aisedge/internal/api"
	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/fsperm"
	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/objstore"
	objfs "github.com/aisedge/aisedge/internal/objstore/fs"
	"github.com/aisedge/aisedge/internal/route"
)

func init() {
	register(command{name: "run", summary: "run the whole pipeline on this machine (standalone: receiver, de-identification, edge, hub)", run: runStandalone})
}

// standaloneOptions are the flags of `aisedge run`.
type standaloneOptions struct {
	listen, aeTitle, dataDir, routing, project, profile, httpAddr, archiveDir, edgeName string
	xnatURL, xnatCA, s3URL, s3Bucket, s3CA                                              string
	httpActionToken, httpAllowedHosts                                                   string
	logLevel, deidKeyFile                                                               string
	quiet, force                                                                        time.Duration
	minFree                                                                             int64
}

func (o *standaloneOptions) addFlags(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	Int64Var(*int64, string, int64, string)
}) {
	fs.StringVar(&o.listen, "listen", "0.0.0.0:4242", "DICOM listen `address`")
	fs.StringVar(&o.aeTitle, "ae-title", "AISEDGE", "the receiver's AE title")
	fs.StringVar(&o.dataDir, "data-dir", "./aisedge-data", "`folder` for spool, state, facility backup, staging, object store and archive")
	fs.StringVar(&o.routing, "routing", "", "routing `file` (the original routing.json format, or the native one); without it every called AE title routes to --project")
	fs.StringVar(&o.project, "project", "AISEDGE", "project for every called AE title when there is no --routing")
	fs.StringVar(&o.profile, "profile", "research-default", "de-identification profile: a JSON `file` or a built-in name ("+strings.Join(deid.BuiltinProfiles(), ", ")+")")
	fs.DurationVar(&o.quiet, "quiet-period", 30*time.Second, "a study is complete after this long without new instances")
	fs.DurationVar(&o.force, "force-timeout", 2*time.Hour, "a study that keeps receiving is staged anyway after this long")
	fs.StringVar(&o.httpAddr, "http", "127.0.0.1:8080", "`address` for /metrics, /healthz, /readyz, /api/status and the status page (read-only; the actions are on <data-dir>/aisedge.sock)")
	fs.StringVar(&o.httpActionToken, "http-action-token", "", "also serve the operator actions (quarantine requeue, release and discard, dead-letter requeue; the status page then offers them as forms) on --http, to requests carrying the bearer token in this `file` (at least 32 characters, mode 0600), a Host that is an IP address, localhost or an --http-allowed-hosts name, and not from another site's page")
	fs.StringVar(&o.httpAllowedHosts, "http-allowed-hosts", "", "comma-separated host names (or host:port) the actions on --http may be reached by, besides IP addresses and localhost")
	fs.StringVar(&o.archiveDir, "archive-dir", "", "deliver sessions as an XNAT-like tree into this `folder` (default <data-dir>/archive)")
	fs.StringVar(&o.edgeName, "edge-name", "standalone", "this edge's `name` in object keys, manifests and events")
	fs.Int64Var(&o.minFree, "min-free-bytes", 1<<30, "free-space watermark: below it C-STOREs are refused with A700")
	fs.StringVar(&o.xnatURL, "xnat-url", "", "deliver to this XNAT (`URL`; credentials from XNAT_USER and XNAT_PASS) instead of --archive-dir")
	fs.StringVar(&o.xnatCA, "xnat-ca", "", "PEM `file` of the CA that signed XNAT's certificate (besides the system roots)")
	fs.StringVar(&o.s3URL, "s3-url", "", "use this S3 endpoint (`URL`; keys from AISEDGE_S3_ACCESS_KEY and AISEDGE_S3_SECRET_KEY) between edge and hub instead of <data-dir>/bucket")
	fs.StringVar(&o.s3Bucket, "s3-bucket", "ingest-bucket", "S3 `bucket`")
	fs.StringVar(&o.s3CA, "s3-ca", "", "PEM `file` of the CA that signed the S3 endpoint's certificate")
	fs.StringVar(&o.deidKeyFile, "deid-key-file", "", "the de-identification key's `file` (64 hex digits, mode 0600); default $AIS_DEID_HMAC_SALT_FILE, then $AIS_DEID_HMAC_SALT, then <data-dir>/deid-hmac-salt (generated on first start)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log and event `level`: debug (adds a line per instance), info (a line per association and per session), warn or error")
}

func runStandalone(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o standaloneOptions
	fs := newFlagSet("run", stderr)
	o.addFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected arguments: " + strings.Join(fs.Args(), " ")}
	}
	logs, events, err := logSinks(o.logLevel, stdout, stderr)
	if err != nil {
		return err
	}
	return o.run(ctx, logs.Logger(), events, nil)
}

// run starts the standalone pipeline and blocks until ctx ends. ready, if
// not nil, receives the DICOM and HTTP addresses once both listen.
func (o *standaloneOptions) run(ctx context.Context, log *slog.Logger, events io.Writer, ready func(dicomAddr, httpAddr string)) error {
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	if o.httpAllowedHosts != "" && o.httpActionToken == "" {
		return usageError{"--http-allowed-hosts needs --http-action-token"}
	}
	// The folders are made 0700/0750; existing ones must be this user's
	// and writable by no one else.
	folders := []folder{
		{role: "data folder", path: dataDir, perm: 0o750},
		{role: "edge data folder", path: filepath.Join(dataDir, "edge"), perm: 0o750},
		{role: "spool folder", path: filepath.Join(dataDir, "edge", "spool"), perm: 0o700},
		{role: "staging folder", path: filepath.Join(dataDir, "edge", "staging"), perm: 0o750},
		{role: "quarantine folder", path: filepath.Join(dataDir, "edge", "quarantine"), perm: 0o750},
		{role: "facility backup folder", path: filepath.Join(dataDir, "facility-backup"), perm: 0o700},
		{role: "hub data folder", path: filepath.Join(dataDir, "hub"), perm: 0o700},
	}
	if o.s3URL == "" {
		folders = append(folders, folder{role: "bucket folder", path: filepath.Join(dataDir, "bucket"), perm: 0o750})
	}
	if o.archiveDir == "" && o.xnatURL == "" {
		folders = append(folders, folder{role: "archive folder", path: filepath.Join(dataDir, "archive"), perm: 0o750})
	}
	for _, d := range folders {
		if err := fsperm.EnsureDir(d.role, d.path, d.perm); err != nil {
			return err
		}
	}
	keys, err := standaloneKeys(dataDir, o.deidKeyFile, log)
	if err != nil {
		return err
	}
	var actions *api.TCPActions
	if o.httpActionToken != "" {
		tok, err := actionToken(o.httpActionToken)
		if err != nil {
			return fmt.Errorf("--http-action-token: %w", err)
		}
		actions = &api.TCPActions{Token: tok}
		for h := range strings.SplitSeq(o.httpAllowedHosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				actions.Hosts = append(actions.Hosts, h)
			}
		}
		if err := api.CheckTCPActions(*actions); err != nil {
			return fmt.Errorf("--http-allowed-hosts: %w", err)
		}
	}
	if o.xnatURL != "" && o.archiveDir != "" {
		return usageError{"--xnat-url and --archive-dir exclude each other"}
	}
	// The edge and the hub are the daemons' roles, assembled by the same
	// code from the settings below; between them is <data-dir>/bucket
	// (or --s3-url), and the hub delivers to <data-dir>/archive (or
	// --archive-dir, or --xnat-url).
	edgeCfg, hubCfg := o.roles(dataDir)
	var store objstore.Store
	var layout objstore.PartLayout
	if o.s3URL != "" {
		if store, layout, err = s3Store(edgeCfg.S3, false, log); err != nil {
			return fmt.Errorf("--s3-url: %w", err)
		}
	} else if store, err = objfs.Open(filepath.Join(dataDir, "bucket")); err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	destination := o.xnatURL
	var dest hub.Destination
	if o.xnatURL == "" {
		destination = o.archiveDir
		if destination == "" {
			destination = filepath.Join(dataDir, "archive")
		}
		dest = &hub.ArchiveDir{Dir: destination}
	}
	p := newProcess(log, events)
	name := flagNamer
	h, err := p.addHub(hubSpec{ctx: ctx, cfg: hubCfg, store: store, dest: dest, component: "hub", name: name})
	if err != nil {
		p.release()
		return err
	}
	e, err := p.addEdge(edgeSpec{cfg: edgeCfg, keys: keys, store: store, layout: layout, onSealed: h.Wake, name: name})
	if err != nil {
		p.release()
		return err
	}
	var httpAddr string
	g := p.group(&apiSpec{http: o.httpAddr, socket: filepath.Join(dataDir, "aisedge.sock"), audit: filepath.Join(dataDir, auditFile),
		actions: actions, name: name, onListening: func(addr string) {
			httpAddr = addr
			log.Info("standalone pipeline starting", "dicom", o.listen, "aet", o.aeTitle, "http", addr,
				"destination", destination, "profile", o.profile, "quietPeriod", o.quiet.String())
		}})
	if ready != nil {
		setReady := g.OnReady
		g.OnReady = func() {
			setReady()
			ready(e.Addr().String(), httpAddr)
		}
	}
	err = g.Run(ctx)
	log.Info("standalone pipeline stopped")
	return err
}

// roles returns the edge's and the hub's settings of the standalone
// pipeline: what the flags say, the rest as the edge and hub packages
// default them.
func (o *standaloneOptions) roles(dataDir string) (*config.Edge, *config.Hub) {
	e := &config.Edge{
		Name: o.edgeName, DataDir: filepath.Join(dataDir, "edge"),
		DICOM:   config.DICOM{Listen: o.listen, AETitle: o.aeTitle, MinFreeBytes: config.Size(o.minFree)},
		Routing: o.routing, Project: o.project, Profile: o.profile,
		FacilityBackup: config.FacilityBackup{Dir: filepath.Join(dataDir, "facility-backup")},
		Study:          config.Study{QuietPeriod: config.Duration(o.quiet), ForceTimeout: config.Duration(o.force)},
		S3: config.S3{Endpoint: o.s3URL, Bucket: o.s3Bucket, Region: "us-east-1", CAFile: o.s3CA,
			AccessKeyEnv: "AISEDGE_S3_ACCESS_KEY", SecretKeyEnv: "AISEDGE_S3_SECRET_KEY",
			// Uploads into the local bucket are bound by fsyncs, which
			// the file system batches when many run at once.
			Parallel: 16},
	}
	h := &config.Hub{
		DataDir: filepath.Join(dataDir, "hub"), S3: e.S3,
		Interval: config.Duration(2 * time.Second),
	}
	if o.xnatURL != "" {
		h.XNAT = &config.XNAT{URL: o.xnatURL, CAFile: o.xnatCA}
	}
	return e, h
}

// flagNamer names the settings of `aisedge run` by their flags.
func flagNamer(setting string) string {
	if f, ok := map[string]string{"routing": "--routing", "profile": "--profile", "s3": "--s3-url", "xnat": "--xnat-url", "destinations": "--xnat-url",
		"http": "--http", "httpActions": "--http-action-token", "socket": "local API socket"}[setting]; ok {
		return f
	}
	return setting
}

// standaloneKeys takes the de-identification key from --deid-key-file,
// $AIS_DEID_HMAC_SALT_FILE or $AIS_DEID_HMAC_SALT (deidKeys) or, when none
// is set, from <data-dir>/deid-hmac-salt, generating that file (0600) on
// first start. Every key file must be this user's and 0600 (fsperm): a key
// another user wrote or may read is refused.
func standaloneKeys(dataDir, file string, log *slog.Logger) (*deid.Keys, error) {
	if file != "" || os.Getenv(deid.SaltEnv) != "" || os.Getenv(deid.SaltFileEnv) != "" {
		keys, _, err := deidKeys(file)
		return keys, err
	}
	path := filepath.Join(dataDir, "deid-hmac-salt")
	b, err := fsperm.ReadKeyFile("de-identification key file", path)
	var p *fsperm.Problem
	if errors.As(err, &p) && errors.Is(statErr(path), os.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		b = []byte(hex.EncodeToString(raw) + "\n")
		if err := fsperm.WriteKeyFile(path, b); err != nil {
			return nil, fmt.Errorf("writing the generated de-identification key: %w", err)
		}
		log.Warn("no "+deid.SaltEnv+" set: generated a de-identification key; keep it (and back it up) to keep pseudonyms stable", "file", path)
	} else if err != nil {
		return nil, err
	}
	keys, err := deid.NewKeys(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

func statErr(path string) error {
	_, err := os.Lstat(path)
	return err
}

// newEngineFactory returns the edge's EngineFor: one engine per project,
// with the route's profile (file or built-in name) or the default one.
func newEngineFactory(defaultProfile string, keys *deid.Keys, site string, log *slog.Logger) (edge.EngineFor, error) {
	var mu sync.Mutex
	profiles := map[string]*deid.Profile{}
	load := func(name string) (*deid.Profile, error) {
		mu.Lock()
		defer mu.Unlock()
		if p := profiles[name]; p != nil {
			return p, nil
		}
		b, err := deid.BuiltinProfile(name)
		if err != nil {
			if b, err = os.ReadFile(name); err != nil {
				return nil, fmt.Errorf("profile %q is neither a built-in profile (%s) nor a readable file: %w", name, strings.Join(deid.BuiltinProfiles(), ", "), err)
			}
		}
		p, err := deid.LoadProfile(b)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", name, err)
		}
		profiles[name] = p
		return p, nil
	}
	if _, err := load(defaultProfile); err != nil {
		return nil, err
	}
	return func(rt route.Route) (*deid.Engine, error) {
		name := rt.Profile
		if name == "" {
			name = defaultProfile
		}
		p, err := load(name)
		if err != nil {
			return nil, err
		}
		return deid.New(deid.Config{Profile: p, Keys: keys, Site: site, ProjectCode: rt.Project, Logger: log})
	}, nil
}
