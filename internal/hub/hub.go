// Package hub is the management side of aisedge: it takes sessions that
// edges sealed in the bucket, verifies every object against its manifest,
// delivers them to each of its destinations (XNAT, a local XNAT-like
// folder, a PACS over DICOM C-STORE, a DICOMweb STOW-RS service; the
// contract is on Destination), records the deliveries durably and then
// clears the bucket. cmd/aisedge assembles it; of the project's other
// packages only its conformance suite (hubtest) and tests import it. Its
// peers it reaches through the object store, the XNAT client and the DIMSE
// client (internal/dimse); it reads headers with the codec (internal/dicom).
//
// Order of a delivery (each step idempotent, so a crash anywhere is
// repaired by running again):
//
//	sealed manifest ─▶ download + SHA-256 check ─▶ deliver + verify at each destination
//	  ─▶ record delivered (bbolt, fsync) ─▶ delete the session's objects
//
// Generations of one session are delivered in order; a later generation
// (an append) waits for the earlier ones. A generation counts as delivered
// when every destination that takes its project has it (each destination's
// delivery is recorded on its own, so a retry goes only to those that lack
// it). A permanent failure (a checksum mismatch, a missing project)
// dead-letters the generation with its reason until an operator requeues
// it. Refused credentials dead-letter nothing: they pause delivery to the
// destination that refused them until they work again (ErrCredentials).
// A failing destination backs off on its own and slows no other.
//
// The files: hub.go (assembly and the delivery loop), backoff.go (per
// destination and hub-wide), scan.go (finding sealed generations),
// legacy.go (the original system's layout, the only place that knows it),
// fetch.go (download and checks), deliver.go (one generation to its
// destinations, failures, pause), state.go (the records), metrics.go, and
// one file per destination.
package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/aisedge/aisedge/internal/events"
	"github.com/aisedge/aisedge/internal/fault"
	"github.com/aisedge/aisedge/internal/objstore"
)

// Config assembles a hub.
type Config struct {
	Store objstore.Store
	// Prefix is where edges seal sessions (default "staged/").
	Prefix string
	// Destinations receive the sessions (at least one; names unique).
	Destinations []Target
	// DataDir holds the hub's state and its download area.
	DataDir string
	// Parallel bounds concurrent session deliveries (default 2).
	Parallel int
	// Transfers bounds concurrent object downloads and deletes within one
	// session (default 8): a session of many small files is bound by round
	// trips, not bandwidth.
	Transfers int
	// Retain keeps delivered objects in the bucket instead of deleting them.
	Retain bool
	// LegacySettle is how long a session in the original system's layout
	// (staged/<folder>/, uploaded by mc mirror without a seal) must stay
	// unchanged before it is taken as complete (default 10 min). Legacy
	// sessions are looked for only when Prefix is the bucket's "staged/"
	// (a hub confined to staged/<edge>/ sees only sealed sessions).
	LegacySettle time.Duration
	Log          *slog.Logger
	// EventsOut receives the JSON events (delivery_*, and xnat_upload_*
	// for XNAT destinations: docs/compat.md).
	EventsOut io.Writer
	// Component names the hub in its events: "upload" (default), the
	// original's uploader, for the hub role; aisedge run names it "hub".
	Component string
	Now       func() time.Time
	// Registry receives the metrics (nil: none).
	Registry prometheus.Registerer
}

// Hub delivers sealed sessions.
type Hub struct {
	cfg     Config
	db      *bolt.DB
	events  *events.Writer
	metrics *metrics
	wake    chan struct{}

	pauseMu sync.Mutex
	paused  map[string]*Pause // by destination

	retryMu     sync.Mutex
	retries     map[string]*destRetry // failing destinations (backoff.go)
	destBackoff fault.Backoff
}

// Open prepares a hub: its state store and download area.
func Open(cfg Config) (*Hub, error) {
	if cfg.Store == nil || len(cfg.Destinations) == 0 || cfg.DataDir == "" {
		return nil, errors.New("hub: Store, Destinations and DataDir are required")
	}
	names := map[string]bool{}
	for _, t := range cfg.Destinations {
		if t.Dest == nil {
			return nil, errors.New("hub: a target without a destination")
		}
		if names[t.Dest.Name()] {
			return nil, fmt.Errorf("hub: two destinations named %q", t.Dest.Name())
		}
		names[t.Dest.Name()] = true
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "staged/"
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 2
	}
	if cfg.Transfers <= 0 {
		cfg.Transfers = 8
	}
	if cfg.LegacySettle <= 0 {
		cfg.LegacySettle = 10 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.EventsOut == nil {
		cfg.EventsOut = os.Stdout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	db, err := openState(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	// Downloads of an interrupted run are redone.
	work := filepath.Join(cfg.DataDir, "work")
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o700); err != nil {
		db.Close()
		return nil, err
	}
	if cfg.Component == "" {
		cfg.Component = "upload"
	}
	h := &Hub{cfg: cfg, db: db, events: events.New(cfg.EventsOut, cfg.Component, "", cfg.Now), wake: make(chan struct{}, 1),
		paused: map[string]*Pause{}, retries: map[string]*destRetry{},
		destBackoff: fault.Backoff{Initial: 10 * time.Second, Max: maxBackoff}}
	if cfg.Registry != nil {
		h.metrics = newMetrics(cfg.Registry, h)
	}
	return h, nil
}

// Close closes the state store.
func (h *Hub) Close() error { return h.db.Close() }

// RunOnce delivers every sealed generation that is not delivered or held,
// to every destination (whatever its backoff). It returns the errors of
// the failed ones, joined.
//
// While deliveries to a destination are paused (refused credentials), it
// first tries to resume them; one still paused is skipped (its
// generations wait in the bucket), the others are delivered to, and the
// error of the pause is returned with the others.
func (h *Hub) RunOnce(ctx context.Context) error { return h.round(ctx, false) }

// round is one delivery round. With backoff, destinations backing off
// (backoff.go) are neither resumed nor delivered to; one that fails during
// the round is not tried again in it.
func (h *Hub) round(ctx context.Context, backoff bool) error {
	errPaused := h.resume(ctx, backoff)
	sealed, err := h.Scan(ctx)
	if err != nil {
		return errors.Join(errPaused, fmt.Errorf("hub: listing the bucket: %w", err))
	}
	// Group by session; sessions in parallel, generations in order.
	bySession := map[string][]Sealed{}
	var order []string
	for _, s := range sealed {
		if _, ok := bySession[s.Base]; !ok {
			order = append(order, s.Base)
		}
		bySession[s.Base] = append(bySession[s.Base], s)
	}
	sem := make(chan struct{}, h.cfg.Parallel)
	var mu sync.Mutex
	errs := []error{errPaused}
	var wg sync.WaitGroup
	for _, base := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, s := range bySession[base] {
				if h.dead(s.Base, s.Generation) {
					return // later generations wait behind it
				}
				if err := h.deliver(ctx, s, backoff); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Run delivers until ctx ends, every interval. A failing destination
// backs off on its own, from interval up to 5 minutes, and slows no other
// (backoff.go); a round that fails for the hub itself (the bucket, the
// state store) makes the next wait longer in the same way, and a round
// without such a failure resets it.
func (h *Hub) Run(ctx context.Context, interval time.Duration) error {
	h.setDestBackoff(interval)
	failed := 0
	for {
		var wait time.Duration
		wait, failed = roundWait(h.round(ctx, true), failed, interval)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		case <-h.wake:
		}
	}
}

// Wake makes Run start its next round now (the standalone edge calls it
// when it seals a session, so that delivery does not wait for a poll).
func (h *Hub) Wake() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}
