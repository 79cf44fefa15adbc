package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aisedge/aisedge/internal/api"
	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/health"
	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/lifecycle"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/route"
)

// process is one aisedge process being assembled: the roles it runs
// (addEdge, addHub; `aisedge run` adds both) share its registry, its API
// server (status parts, actions, readiness checks), its probes and its
// lifecycle. Components start in this order and stop in reverse:
//
//	state  what the roles own (the edge's spool, the hub's records, the
//	       XNAT session), opened first and closed last
//	api    the HTTP and local API, which reads that state
//	work   the receiver, probes and delivery rounds, stopped first
//
// so the API that reads the spool stops before the spool closes.
type process struct {
	log    *slog.Logger
	events io.Writer
	reg    *prometheus.Registry

	status  map[string]api.StatusFunc
	actions map[string]api.ActionFunc
	probes  health.ProbeCollector
	certs   []string
	state   []lifecycle.Component
	work    []lifecycle.Component
}

// release closes what the roles assembled so far hold, for a process whose
// assembly failed (a process that runs has its group stop them).
func (p *process) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range slices.Backward(p.state) {
		if c.Start == nil && c.Run == nil && c.Stop != nil {
			if err := c.Stop(ctx); err != nil {
				p.log.Warn("releasing after a failed start", "component", c.Name, "err", err)
			}
		}
	}
	p.state = nil
}

func newProcess(log *slog.Logger, events io.Writer) *process {
	return &process{log: log, events: events, reg: newRegistry(),
		status: map[string]api.StatusFunc{}, actions: map[string]api.ActionFunc{}}
}

// namer names a setting in errors: a configuration field (edge.routing)
// for the daemons, a flag (--routing) for `aisedge run`.
type namer func(setting string) string

// edgeSpec is what the edge role is assembled from.
type edgeSpec struct {
	cfg    *config.Edge
	keys   *deid.Keys
	store  objstore.Store
	layout objstore.PartLayout
	// original names the components as the original system did
	// (orthanc-deid, s3-uploader, sort) in events and logs.
	original bool
	// onSealed is called after each seal (the hub's wake-up in `run`).
	onSealed func()
	name     namer
}

// addEdge assembles the edge role: routing, de-identification engines
// (every route's profile loaded now), the edge with its spool, and its
// receiver.
func (p *process) addEdge(s edgeSpec) (*edge.Edge, error) {
	limitEdgeMemory()
	c := s.cfg
	table := route.CatchAll(c.Project)
	if c.Routing != "" {
		var err error
		if table, err = route.Load(c.Routing); err != nil {
			return nil, fmt.Errorf("%s %s: %w", s.name("routing"), c.Routing, err)
		}
	}
	engines, err := newEngineFactory(c.Profile, s.keys, c.Name, p.log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name("profile"), err)
	}
	for _, rt := range table.Routes() {
		if _, err := engines(rt); err != nil {
			return nil, fmt.Errorf("%s: route %s: %w", s.name("routing"), rt.CalledAET, err)
		}
	}
	e, err := edge.New(edge.Config{
		Name: c.Name, DataDir: c.DataDir, Listen: c.DICOM.Listen, AETitle: c.DICOM.AETitle, Routes: table, Engine: engines,
		BackupDir: c.FacilityBackup.Dir, BackupMaxAge: time.Duration(c.FacilityBackup.MaxAge), BackupMaxBytes: int64(c.FacilityBackup.MaxBytes),
		Quiet: time.Duration(c.Study.QuietPeriod), Force: time.Duration(c.Study.ForceTimeout),
		MinFreeBytes: int64(c.DICOM.MinFreeBytes), MaxAssociations: c.DICOM.MaxAssociations,
		MaxAssociationsPerSource: c.DICOM.MaxAssociationsPerSource, IdleTimeout: time.Duration(c.DICOM.IdleTimeout),
		MinRate: int64(c.DICOM.MinRate),
		Store:   s.store, Layout: s.layout, Registry: p.reg, Log: p.log, EventsOut: p.events, OriginalComponents: s.original,
		UIDHash: dimse.NewUIDHasher(s.keys.LogKey()), OnSealed: s.onSealed,
	})
	if err != nil {
		return nil, err
	}
	e.Shipper.Parallel = c.S3.Parallel
	p.status["edge"] = func() (any, error) { return e.Status() }
	maps.Copy(p.actions, quarantineActions(e))
	p.probes = append(p.probes, e.StoreProbe) // run by the edge itself
	p.certs = append(p.certs, c.S3.CAFile)
	p.state = append(p.state, lifecycle.Component{Name: "edge spool",
		Stop: func(context.Context) error { return e.Close() }})
	p.work = append(p.work, lifecycle.Component{Name: "receiver",
		Run: func(ctx context.Context, ready func()) error {
			return e.Serve(ctx, func(net.Addr) { ready() })
		}})
	return e, nil
}

// hubSpec is what the hub role is assembled from.
type hubSpec struct {
	ctx   context.Context // bounds the destinations' pre-flight
	cfg   *config.Hub
	store objstore.Store
	// dest, if set, is the destination; nil means the configuration's
	// (hub.destinations and hub.xnat).
	dest hub.Destination
	// probeStore adds a probe of the bucket (a standalone process has the
	// edge's already).
	probeStore bool
	// component names the hub in logs and events: "upload" (the
	// original's uploader) for the hub role, "hub" in aisedge run.
	component string
	name      namer
}

// addHub assembles the hub role: its destinations (built from the
// configuration, credentials read here; an XNAT must pass its pre-flight),
// its delivery records, its probes and its delivery rounds.
func (p *process) addHub(s hubSpec) (*hub.Hub, error) {
	c := s.cfg
	log := p.log
	var probes health.ProbeCollector
	if s.probeStore {
		probes = append(probes, storeProbe(s.store, c.Prefix, log.With("component", "hub")))
	}
	targets := []hub.Target{{Dest: s.dest}}
	if s.dest == nil {
		ctx := s.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		dests, err := openDestinations(ctx, c, log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name("destinations"), err)
		}
		targets = dests.targets
		p.certs = append(p.certs, dests.caFiles...)
		p.state = append(p.state, lifecycle.Component{Name: "destinations",
			Stop: func(context.Context) error { dests.close(); return nil }})
		probes = append(probes, dests.probes...)
	}
	component := s.component
	if component == "" {
		component = "upload"
	}
	h, err := hub.Open(hub.Config{Store: s.store, Prefix: c.Prefix, Destinations: targets,
		DataDir: c.DataDir, Parallel: c.Parallel, Retain: c.Retain, Log: log.With("component", component), EventsOut: p.events,
		Component: component, Registry: p.reg})
	if err != nil {
		return nil, err
	}
	p.certs = append(p.certs, c.S3.CAFile)
	p.state = append(p.state, lifecycle.Component{Name: "hub records",
		Stop: func(context.Context) error { return h.Close() }})
	p.status["hub"] = func() (any, error) { return h.Status() }
	if len(probes) > 0 {
		p.status["health"] = func() (any, error) { return probeStates(probes), nil }
		p.probes = append(p.probes, probes...)
		p.work = append(p.work, lifecycle.Component{Name: "hub probes", Run: runProbes(probes)})
	}
	p.actions["deadletter-requeue"] = h.RequeueKey
	interval := time.Duration(c.Interval)
	p.work = append(p.work, lifecycle.Component{Name: "delivery",
		Run: func(ctx context.Context, ready func()) error {
			ready()
			if err := h.Run(ctx, interval); !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}})
	return h, nil
}

// apiSpec is where a process serves its API.
type apiSpec struct {
	http, socket string
	audit        string          // the audit log's file
	actions      *api.TCPActions // nil: the actions only on the socket
	name         namer
	// onListening, if set, is called with the HTTP address once it listens.
	onListening func(httpAddr string)
}

// group returns the process's lifecycle: the roles' state, the API (when
// a is not nil), then the roles' work. OnReady marks the API ready.
func (p *process) group(a *apiSpec) *lifecycle.Group {
	p.reg.MustRegister(p.probes, &health.CertCollector{Files: dedupe(nonEmpty(p.certs...))})
	g := &lifecycle.Group{Log: p.log.With("component", "lifecycle")}
	g.Add(p.state...)
	if a != nil {
		srv := api.New(p.reg, p.status, p.actions, p.log)
		for _, pr := range p.probes {
			srv.AddCheck(pr.Peer, pr.Err)
		}
		srv.AddCheck("components", g.NotReady)
		g.Add(p.apiComponent(srv, *a))
		g.OnReady = srv.SetReady
	}
	g.Add(p.work...)
	return g
}

// apiComponent serves srv: the audit log open, HTTP on a.http and the
// local API on a.socket.
func (p *process) apiComponent(srv *api.Server, a apiSpec) lifecycle.Component {
	var audit *api.Audit
	var wg sync.WaitGroup
	return lifecycle.Component{Name: "api",
		Start: func(context.Context) error {
			if a.actions != nil {
				if err := srv.EnableTCPActions(*a.actions); err != nil {
					return fmt.Errorf("%s: %w", a.name("httpActions"), err)
				}
			}
			var err error
			if audit, err = api.OpenAudit(a.audit); err != nil {
				return err
			}
			srv.SetAudit(audit)
			httpLn, err := net.Listen("tcp", a.http)
			if err != nil {
				audit.Close()
				return fmt.Errorf("%s %s: %w", a.name("http"), a.http, err)
			}
			sockLn, err := srv.ListenUnix(a.socket)
			if err != nil {
				httpLn.Close()
				audit.Close()
				return fmt.Errorf("%s %s: %w", a.name("socket"), a.socket, err)
			}
			wg.Add(2)
			go func() { defer wg.Done(); srv.Serve(httpLn) }()
			go func() { defer wg.Done(); srv.ServeLocal(sockLn) }()
			if a.onListening != nil {
				a.onListening(httpLn.Addr().String())
			}
			return nil
		},
		Stop: func(ctx context.Context) error {
			err := srv.Shutdown(ctx)
			wg.Wait()
			return errors.Join(err, audit.Close())
		}}
}

// storeProbe probes a bucket: a listing of prefix, tried once.
func storeProbe(store objstore.Store, prefix string, log *slog.Logger) *health.Probe {
	return &health.Probe{Peer: "s3", Log: log, Check: func(ctx context.Context) error {
		for _, err := range store.List(objstore.NoRetry(ctx), prefix) {
			return err
		}
		return nil
	}}
}

// runProbes runs probes until ctx ends; they are ready at once (their
// state starts unknown).
func runProbes(probes health.ProbeCollector) func(context.Context, func()) error {
	return func(ctx context.Context, ready func()) error {
		var wg sync.WaitGroup
		for _, pr := range probes {
			wg.Go(func() { pr.Run(ctx) })
		}
		ready()
		wg.Wait()
		return nil
	}
}

// dedupe drops repeated strings, keeping the first.
func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
