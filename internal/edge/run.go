package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/events"
	"github.com/aisedge/aisedge/internal/fault"
	"github.com/aisedge/aisedge/internal/fsutil"
	"github.com/aisedge/aisedge/internal/health"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/route"
	"github.com/aisedge/aisedge/internal/spool"
)

// Config assembles an edge.
type Config struct {
	// Name is the edge's name in object keys, manifests and events.
	Name string
	// DataDir holds spool/, staging/, quarantine/ and tmp/.
	DataDir string
	// Listen and AETitle are the DICOM receiver's address and title.
	Listen  string
	AETitle string
	Routes  *route.Table
	Engine  EngineFor
	// BackupDir is the facility backup; BackupMaxAge/BackupMaxBytes prune
	// it (0 = keep forever / no size limit).
	BackupDir      string
	BackupMaxAge   time.Duration
	BackupMaxBytes int64
	// Quiet and Force drive study completion.
	Quiet, Force time.Duration
	// MinFreeBytes is the disk watermark under which C-STOREs get A700.
	MinFreeBytes    int64
	MaxAssociations int
	// MaxAssociationsPerSource, IdleTimeout and MinRate go to the DICOM
	// server (zero: its defaults).
	MaxAssociationsPerSource int
	IdleTimeout              time.Duration
	MinRate                  int64
	// Store receives sealed sessions under "staged/<Name>/"; Layout is its
	// multipart layout.
	Store  objstore.Store
	Layout objstore.PartLayout
	// Registry receives the metrics (nil: a private registry).
	Registry prometheus.Registerer
	// UIDHash keys the identifiers shown for original SOP Instance UIDs
	// (dimse.NewUIDHasher(keys.LogKey())); nil: a key of the process's own.
	UIDHash *dimse.UIDHasher
	Log     *slog.Logger
	// EventsOut receives the JSON pipeline events (nil: os.Stdout).
	EventsOut io.Writer
	Now       func() time.Time
	// Tick is the period of the stage/ship loop (default 1 s).
	Tick time.Duration
	// OnSealed, if set, is called after a session generation is sealed
	// (the standalone mode wakes its in-process hub with it).
	OnSealed func()
	// OriginalComponents names the components as the original system did
	// (orthanc-deid, s3-uploader, sort), for the dashboards and log
	// queries of a site that moved from it (the edge role); otherwise
	// receiver, shipper and stager (standalone).
	OriginalComponents bool
}

// Edge is a running edge: receiver, stager, shipper and janitor.
type Edge struct {
	cfg      Config
	Spool    *spool.Spool
	Receiver *Receiver
	Stager   *Stager
	Shipper  *Shipper
	Server   *dimse.Server
	Backup   *Backup
	// StoreProbe checks from start-up that the object store answers for
	// this edge's prefix; its state feeds readiness, status and metrics.
	StoreProbe *health.Probe

	journal  *journal
	appliers *appliers

	mu      sync.Mutex
	addr    net.Addr
	lastErr string

	closeOnce sync.Once
	closeErr  error
}

// New builds an edge from its configuration, its spool and journal open;
// nothing runs until Serve (or Run).
func New(cfg Config) (*Edge, error) {
	if cfg.Name == "" || cfg.DataDir == "" || cfg.Routes == nil || cfg.Engine == nil || cfg.Store == nil {
		return nil, errors.New("edge: Name, DataDir, Routes, Engine and Store are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.EventsOut == nil {
		cfg.EventsOut = os.Stdout
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.BackupDir == "" {
		cfg.BackupDir = filepath.Join(cfg.DataDir, "facility-backup")
	}
	if cfg.UIDHash == nil {
		cfg.UIDHash = dimse.RandomUIDHasher()
	}
	aetLabel := func(aet string) string {
		if aet == cfg.AETitle || cfg.Routes.Configured(aet) {
			return aet
		}
		return "ae-" + cfg.UIDHash.Hash("ae:"+aet)
	}
	sp, err := spool.Open(filepath.Join(cfg.DataDir, "spool"), spool.Options{Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	metrics := NewMetrics(cfg.Registry)
	deidComp, shipComp, stageComp := "receiver", "shipper", "stager"
	if cfg.OriginalComponents {
		deidComp, shipComp, stageComp = "orthanc-deid", "s3-uploader", "sort"
	}
	e := &Edge{cfg: cfg, Spool: sp, Backup: &Backup{Dir: cfg.BackupDir}}
	e.Receiver = &Receiver{
		Routes: cfg.Routes, Engine: cfg.Engine, Spool: sp, Backup: e.Backup,
		Quarantine: &Quarantine{Dir: filepath.Join(cfg.DataDir, "quarantine")},
		Events:     events.New(cfg.EventsOut, deidComp, cfg.Name, cfg.Now),
		Log:        cfg.Log.With("component", "receiver"), Metrics: metrics, Now: cfg.Now, UIDHash: cfg.UIDHash, AETLabel: aetLabel,
	}
	// Instances acknowledged before a stop but not yet in the backup and
	// the spool (de-identified) are put there before anything else
	// happens.
	journalDir := filepath.Join(cfg.DataDir, "journal")
	n, err := replayJournal(journalDir, func(r *journalRecord) error { return e.applyRecord(r, fsutil.Synced) })
	if err != nil {
		sp.Close()
		return nil, err
	}
	if n > 0 {
		cfg.Log.Info("journal replayed: acknowledged instances written to the facility backup and the spool", "instances", n)
	}
	if e.journal, err = openJournal(journalDir); err != nil {
		sp.Close()
		return nil, err
	}
	// Appliers leave their files' flushes to one flush of the file
	// systems for many records (journal.go, startSettler).
	flushDirs := []string{cfg.BackupDir, filepath.Dir(sp.TmpDir()), e.Receiver.Quarantine.Dir}
	e.journal.startSettler(func() error { return fsutil.SyncFS(flushDirs...) }, func(err error, retryIn time.Duration) {
		cfg.Log.Error("flushing the facility backup and the spool failed; their journal records stay and the flush is retried",
			"err", fsutil.PublicError(err), "retryIn", retryIn.String())
	})
	e.appliers = newAppliers(e)
	e.Receiver.journal, e.Receiver.enqueue = e.journal, e.appliers.enqueue
	e.Stager = &Stager{Spool: sp, Dir: filepath.Join(cfg.DataDir, "staging"), Edge: cfg.Name,
		Quiet: cfg.Quiet, Force: cfg.Force, Waiting: e.journal.oldestWaiting, Log: cfg.Log.With("component", stageComp), Now: cfg.Now, Metrics: metrics}
	e.Shipper = &Shipper{Spool: sp, Stager: e.Stager, Store: cfg.Store, Layout: cfg.Layout,
		Prefix: "staged/" + cfg.Name + "/", Events: events.New(cfg.EventsOut, shipComp, cfg.Name, cfg.Now),
		Log: cfg.Log.With("component", shipComp), Now: cfg.Now, Metrics: metrics, OnSealed: cfg.OnSealed}
	srv, err := dimse.NewServer(dimse.ServerConfig{
		Handler: e.Receiver, TempDir: sp.TmpDir(), MaxAssociations: cfg.MaxAssociations,
		MaxAssociationsPerSource: cfg.MaxAssociationsPerSource, IdleTimeout: cfg.IdleTimeout, MinRate: cfg.MinRate,
		MinFreeBytes: cfg.MinFreeBytes, Admit: Admitter(cfg.Routes), Logger: cfg.Log.With("component", "dimse"),
		UIDHash: cfg.UIDHash, AETLabel: aetLabel, HandlerSyncs: true, MemoryBytes: receiveInMemory,
	})
	if err != nil {
		e.journal.close()
		sp.Close()
		return nil, err
	}
	e.Server = srv
	e.StoreProbe = e.newStoreProbe(shipComp)
	// The commands register StoreProbe's metrics with their other probes'
	// (health.ProbeCollector), one collector per process.
	cfg.Registry.MustRegister(newStateCollector(e))
	return e, nil
}

// Admitter maps routing decisions to association rejections.
func Admitter(tab *route.Table) func(*dimse.AssociationInfo) *dimse.Rejection {
	return func(info *dimse.AssociationInfo) *dimse.Rejection {
		_, err := tab.Admit(info.CalledAET, info.CallingAET, info.Remote)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, route.ErrUnknownCalledAET):
			return dimse.RejectCalledAET
		case errors.Is(err, route.ErrCallingAETNotAllowed):
			return dimse.RejectCallingAET
		default:
			return dimse.RejectNoReason
		}
	}
}

// Addr returns the receiver's listening address once Run has started it.
func (e *Edge) Addr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addr
}

// Run is Serve, then Close.
func (e *Edge) Run(ctx context.Context, ready func(net.Addr)) error {
	err := e.Serve(ctx, ready)
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the journal and the spool; call it after Serve returned,
// and after whatever else reads the spool (the status API) has stopped.
// Closing again returns the first close's error.
func (e *Edge) Close() error {
	e.closeOnce.Do(func() {
		e.journal.close()
		e.closeErr = e.Spool.Close()
	})
	return e.closeErr
}

// Serve listens for DICOM and runs the stage/ship loop until ctx ends, then
// finishes in-flight C-STOREs, releases the associations and applies what
// the journal holds. ready, if not nil, is called once the listener is up.
// The spool stays open: Close closes it.
func (e *Edge) Serve(ctx context.Context, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", e.cfg.Listen)
	if err != nil {
		return fmt.Errorf("edge: listening for DICOM on %s: %w", e.cfg.Listen, err)
	}
	e.mu.Lock()
	e.addr = ln.Addr()
	e.mu.Unlock()
	e.cfg.Log.Info("receiver listening", "addr", ln.Addr().String(), "aet", e.cfg.AETitle)
	if ready != nil {
		ready(ln.Addr())
	}
	e.appliers.start()
	serveErr := make(chan error, 1)
	go func() { serveErr <- e.Server.Serve(ln) }()
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); e.loop(ctx) }()
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		e.Shipper.Events.Emit("info", "startup", "", "edge starting")
		e.StoreProbe.Run(ctx) // staging and shipping do not wait for it
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if err != nil && !errors.Is(err, dimse.ErrServerClosed) {
			runErr = err
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Server.Shutdown(shutCtx); err != nil && runErr == nil && !errors.Is(err, dimse.ErrServerClosed) {
		runErr = err
	}
	<-loopDone
	<-probeDone
	// Stopped in the reverse order of their start: no handler runs any
	// more, so the appliers finish what the journal holds; the journal and
	// the spool close in Close.
	e.appliers.stopAndDrain(shutCtx)
	return runErr
}

// loop stages ready studies and ships staged sessions, backing off after
// failures, and prunes the facility backup hourly.
func (e *Edge) loop(ctx context.Context) {
	tick := time.NewTicker(e.cfg.Tick)
	defer tick.Stop()
	backoff := fault.Backoff{Initial: e.cfg.Tick, Max: 5 * time.Minute}
	failures := 0 // ship rounds failed in a row
	var nextShip, nextPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := e.Shipper.FinishSealed(); err != nil {
			e.cfg.Log.Error("clean-up of sealed shipments failed", "err", err)
		}
		if _, err := e.Stager.StageReady(); err != nil {
			e.cfg.Log.Error("staging failed", "err", fsutil.PublicError(err))
		}
		now := e.cfg.Now()
		if !now.Before(nextShip) {
			err := e.Shipper.ShipPending(ctx)
			e.mu.Lock()
			if err != nil {
				e.lastErr = err.Error()
				failures++
				nextShip = now.Add(backoff.Nominal(failures))
			} else {
				e.lastErr, failures, nextShip = "", 0, time.Time{}
			}
			e.mu.Unlock()
			if err != nil && !errors.Is(err, ErrHeld) && ctx.Err() == nil {
				e.StoreProbe.Wake() // is the store still there?
			}
		}
		if (e.cfg.BackupMaxAge > 0 || e.cfg.BackupMaxBytes > 0) && !now.Before(nextPrune) {
			if n, err := e.Backup.Prune(now, e.cfg.BackupMaxAge, e.cfg.BackupMaxBytes); err != nil {
				e.cfg.Log.Error("facility backup pruning failed", "err", fsutil.PublicError(err))
			} else if n > 0 {
				e.cfg.Log.Info("facility backup pruned", "files", n)
			}
			nextPrune = now.Add(time.Hour)
		}
	}
}

// newStoreProbe returns the object store's reachability probe: a listing
// of this edge's prefix, tried once (no retries), at start, every 30 s
// while it answers and every 5 s (or 5 ticks) while it does not. The first
// failure is logged at once. It emits the original uploader's events
// (startup, alias_retrying, alias_configured, alias_failed) that its
// dashboards and alert rules match; unlike the original the edge does not
// exit after 12 failures: the ship loop keeps retrying with backoff, and
// received instances stay safe in the spool meanwhile.
func (e *Edge) newStoreProbe(component string) *health.Probe {
	const attempts = 12
	configured := false
	return &health.Probe{
		Peer: "s3",
		Check: func(ctx context.Context) error {
			for _, err := range e.cfg.Store.List(objstore.NoRetry(ctx), e.Shipper.Prefix) {
				return err
			}
			return nil
		},
		RetryInterval: min(5*time.Second, 5*e.cfg.Tick),
		Log:           e.cfg.Log.With("component", component),
		Now:           e.cfg.Now,
		OnResult: func(n int, err error) {
			ev := e.Shipper.Events
			switch {
			case configured:
			case err == nil:
				configured = true
				ev.Emit("info", "alias_configured", "", "object store reachable")
			case n < attempts:
				ev.Emit("warn", "alias_retrying", "", err.Error(), "attempt", n)
			case n == attempts:
				ev.Emit("error", "alias_failed", "", "object store unreachable: "+err.Error())
			}
		},
	}
}

// Status is a value-free snapshot for `aisedge status` and the status page.
type Status struct {
	Edge       string            `json:"edge"`
	Listen     string            `json:"listen"`
	Open       []StudyStatus     `json:"openStudies"`
	Queued     []spool.Shipment  `json:"queuedShipments"`
	Quarantine []QuarantineEntry `json:"quarantine"`
	// LastUpload is when a session generation was last sealed in the
	// bucket (the last successful upload); zero when none since start.
	LastUpload time.Time `json:"lastUpload,omitzero"`
	// LastError is the last ship attempt's error, until one succeeds.
	LastError string                `json:"lastError,omitempty"`
	Received  dimse.MetricsSnapshot `json:"received"`
	// ObjectStore is the object store's reachability.
	ObjectStore health.ProbeState `json:"objectStore"`
	// Sessions is the progress of the sessions in flight and Shipped the
	// latest generations sealed in the bucket (progress.go).
	Sessions []SessionProgress `json:"sessions"`
	Shipped  []ShippedSession  `json:"shipped"`
}

// StudyStatus is one open study.
type StudyStatus struct {
	Session string `json:"session"`
	Pending int    `json:"pending"`
	// Age is the time since the first pending instance, Idle since the
	// latest, in whole seconds.
	Age  int64 `json:"ageSeconds"`
	Idle int64 `json:"idleSeconds"`
}

// Status reports the edge's state.
func (e *Edge) Status() (Status, error) {
	st := Status{Edge: e.cfg.Name}
	if a := e.Addr(); a != nil {
		st.Listen = a.String()
	}
	studies, err := e.Spool.Studies()
	if err != nil {
		return st, err
	}
	now := e.cfg.Now()
	for _, s := range studies {
		if s.Open() {
			st.Open = append(st.Open, StudyStatus{Session: Folder(s.Session), Pending: s.Pending,
				Age: int64(now.Sub(s.FirstAt).Seconds()), Idle: int64(now.Sub(s.LastAt).Seconds())})
		}
	}
	if st.Queued, err = e.Spool.Shipments(); err != nil {
		return st, err
	}
	if st.Quarantine, err = e.Receiver.Quarantine.List(); err != nil {
		return st, err
	}
	if st.Sessions, st.Shipped, err = sessionStatus(e.Spool); err != nil {
		return st, err
	}
	e.mu.Lock()
	st.LastError = e.lastErr
	e.mu.Unlock()
	st.LastUpload = e.Shipper.LastSealed()
	st.ObjectStore = e.StoreProbe.State()
	st.Received = e.Server.Metrics.Snapshot()
	return st, nil
}
