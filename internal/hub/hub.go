// Package hub is the management side of aisedge: it takes sessions that
// edges sealed in the bucket, verifies every object against its manifest,
// delivers them to the archive (XNAT, or a local XNAT-like folder for
// standalone installations), records the delivery durably and then clears
// the bucket.
//
// Order of a delivery (each step idempotent, so a crash anywhere is
// repaired by running again):
//
//	sealed manifest ─▶ download + SHA-256 check ─▶ deliver + verify at destination
//	  ─▶ record delivered (bbolt, fsync) ─▶ delete the session's objects
//
// Generations of one session are delivered in order; a later generation
// (an append) waits for the earlier ones. A permanent failure (a checksum
// mismatch, a missing project) dead-letters the generation with its reason
// until an operator requeues it. Refused credentials dead-letter nothing:
// they pause all delivery until the credentials work again (ErrCredentials).
package hub

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/events"
	"github.com/aisedge/aisedge/internal/fault"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/session"
)

// Destination is where sessions are delivered.
type Destination interface {
	// Deliver makes every file of the manifest appear at the destination
	// under the manifest's project, subject and session, and verifies them
	// there (MD5 or better). It must be idempotent: files already present
	// and verified are not sent again, and a retry after a crash fills only
	// the gaps. dir holds the files, at dir/<path> for each manifest path,
	// already checked against the manifest's SHA-256.
	Deliver(ctx context.Context, m *manifest.Manifest, dir string) error
	// Name describes the destination for logs (no credentials).
	Name() string
}

// IsPermanent reports whether a delivery error will not heal by retrying
// (fault.IsPermanent). Destinations mark such errors with ErrPermanent.
func IsPermanent(err error) bool { return fault.IsPermanent(err) }

// ErrPermanent marks errors that retrying will not fix: fault.ErrPermanent.
var ErrPermanent = fault.ErrPermanent

// ErrCredentials marks a transient failure of the whole destination: it
// refuses the hub's credentials (a wrong or rotated password, an expired
// alias token, a locked account). The data is fine, so nothing is
// dead-lettered; instead the hub pauses delivery (Status.Paused, metric
// aisedge_hub_delivery_paused), tries again with backoff, reading the
// credentials anew (Resumer), and resumes by itself once they work.
var ErrCredentials = errors.New("destination refuses the hub's credentials")

// Resumer is implemented by destinations that can check their credentials
// without delivering: Resume reads them again and logs in.
type Resumer interface {
	Resume(ctx context.Context) error
}

// Pause describes a paused hub.
type Pause struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
	// Attempts counts the tries to resume since the pause began.
	Attempts int `json:"attempts"`
}

// Config assembles a hub.
type Config struct {
	Store objstore.Store
	// Prefix is where edges seal sessions (default "staged/").
	Prefix string
	Dest   Destination
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
	// EventsOut receives the JSON events (xnat_upload_*).
	EventsOut io.Writer
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
	paused  *Pause
}

var (
	bucketDelivered = []byte("delivered")
	bucketDead      = []byte("deadletter")
	// bucketEdges holds one EdgeDelivery per edge (by name), updated with
	// each delivery record, for `fleet status`.
	bucketEdges = []byte("edges")
)

// Open prepares a hub: its state store and download area.
func Open(cfg Config) (*Hub, error) {
	if cfg.Store == nil || cfg.Dest == nil || cfg.DataDir == "" {
		return nil, errors.New("hub: Store, Dest and DataDir are required")
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
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.EventsOut == nil {
		cfg.EventsOut = os.Stdout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "work"), 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(cfg.DataDir, "hub.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("hub: opening state: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDelivered, bucketDead, bucketEdges} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	// Downloads of an interrupted run are redone.
	os.RemoveAll(filepath.Join(cfg.DataDir, "work"))
	os.MkdirAll(filepath.Join(cfg.DataDir, "work"), 0o700)
	h := &Hub{cfg: cfg, db: db, events: events.New(cfg.EventsOut, "upload", "", cfg.Now), wake: make(chan struct{}, 1)}
	if cfg.Registry != nil {
		h.metrics = newMetrics(cfg.Registry, h)
	}
	return h, nil
}

// Close closes the state store.
func (h *Hub) Close() error { return h.db.Close() }

// Sealed is one sealed generation found in the bucket.
type Sealed struct {
	// Base is the session's key prefix, "staged/<edge>/<folder>/" (or
	// "staged/<folder>/" for the original system's layout).
	Base       string `json:"base"`
	Generation int    `json:"generation"`
	// ManifestKey is the manifest's key; empty for a legacy session.
	ManifestKey string `json:"manifestKey,omitempty"`
	// Legacy marks a session uploaded by the original system (mc mirror
	// of PROJECT.SUBJECT.VISIT to staged/<folder>/, no seal of ours). It
	// counts as sealed once nothing under it changed for LegacySettle.
	Legacy bool `json:"legacy,omitempty"`

	objects []objstore.Info
}

var (
	manifestName = regexp.MustCompile(`^MANIFEST(?:\.g([0-9]+))?\.json$`)
	// legacyFolder is PROJECT.SUBJECT.VISIT directly under the prefix: the
	// original's layout (edge names never contain dots).
	legacyFolder = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
)

// Scan lists the sealed generations in the bucket, per session in
// generation order.
func (h *Hub) Scan(ctx context.Context) ([]Sealed, error) {
	var out []Sealed
	legacy := map[string]*Sealed{}
	var newest = map[string]time.Time{}
	for info, err := range h.cfg.Store.List(ctx, h.cfg.Prefix) {
		if err != nil {
			return nil, err
		}
		rel := info.Key[len(h.cfg.Prefix):]
		if first, _, ok := strings.Cut(rel, "/"); ok && h.cfg.Prefix == "staged/" && legacyFolder.MatchString(first) {
			base := h.cfg.Prefix + first + "/"
			l := legacy[base]
			if l == nil {
				l = &Sealed{Base: base, Generation: 1, Legacy: true}
				legacy[base] = l
			}
			l.objects = append(l.objects, info)
			if info.LastModified.After(newest[base]) {
				newest[base] = info.LastModified
			}
			continue
		}
		dir, name := info.Key[:strings.LastIndex(info.Key, "/")+1], info.Key[strings.LastIndex(info.Key, "/")+1:]
		m := manifestName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		gen := 1
		if m[1] != "" {
			gen, _ = strconv.Atoi(m[1])
		}
		out = append(out, Sealed{Base: dir, Generation: gen, ManifestKey: info.Key})
	}
	settle := h.cfg.LegacySettle
	if settle == 0 {
		settle = 10 * time.Minute
	}
	for base, l := range legacy {
		if h.cfg.Now().Sub(newest[base]) >= settle {
			out = append(out, *l)
		}
	}
	slices.SortFunc(out, func(a, b Sealed) int {
		if c := strings.Compare(a.Base, b.Base); c != 0 {
			return c
		}
		return a.Generation - b.Generation
	})
	return out, nil
}

func deliveredKey(base string, gen int) []byte { return []byte(fmt.Sprintf("%s#%08d", base, gen)) }

// Delivered reports whether a generation was delivered.
func (h *Hub) Delivered(base string, gen int) bool {
	var ok bool
	h.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketDelivered).Get(deliveredKey(base, gen)) != nil
		return nil
	})
	return ok
}

// DeadLetter is a generation held after a permanent failure.
type DeadLetter struct {
	Base       string    `json:"base"`
	Generation int       `json:"generation"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// DeadLetters lists held generations.
func (h *Hub) DeadLetters() ([]DeadLetter, error) {
	var out []DeadLetter
	err := h.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDead).ForEach(func(_, v []byte) error {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// Requeue releases a dead-lettered generation for another attempt.
func (h *Hub) Requeue(base string, gen int) error {
	return h.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDead)
		if b.Get(deliveredKey(base, gen)) == nil {
			return fmt.Errorf("hub: %s generation %d is not dead-lettered", base, gen)
		}
		return b.Delete(deliveredKey(base, gen))
	})
}

// RequeueKey is Requeue for an id of the form <base>#<generation>, as the
// local API passes it.
func (h *Hub) RequeueKey(_ context.Context, id string) error {
	base, g, ok := strings.Cut(id, "#")
	gen, err := strconv.Atoi(g)
	if !ok || err != nil {
		return fmt.Errorf("hub: %q is not <session prefix>#<generation>", id)
	}
	return h.Requeue(base, gen)
}

func (h *Hub) dead(base string, gen int) bool {
	var ok bool
	h.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketDead).Get(deliveredKey(base, gen)) != nil
		return nil
	})
	return ok
}

// RunOnce delivers every sealed generation that is not delivered or held.
// It returns the errors of the failed ones, joined.
//
// While delivery is paused (refused credentials), it first tries to resume
// and returns the error if that fails, so that Run backs off.
func (h *Hub) RunOnce(ctx context.Context) error {
	if err := h.resume(ctx); err != nil {
		return err
	}
	sealed, err := h.Scan(ctx)
	if err != nil {
		return fmt.Errorf("hub: listing the bucket: %w", err)
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
	var errs []error
	var wg sync.WaitGroup
	for _, base := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, s := range bySession[base] {
				if h.dead(s.Base, s.Generation) || h.Paused() != nil {
					return // later generations wait behind it; nothing starts while paused
				}
				if err := h.deliver(ctx, s); err != nil {
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

// deliver handles one sealed generation.
func (h *Hub) deliver(ctx context.Context, s Sealed) error {
	start := h.cfg.Now()
	session := strings.TrimSuffix(s.Base[len(h.cfg.Prefix):], "/")
	if h.Delivered(s.Base, s.Generation) {
		// Delivered before a crash or while retaining: finish the clean-up.
		return h.cleanup(ctx, s, nil)
	}
	var m *manifest.Manifest
	var err error
	if s.Legacy {
		m, err = legacyManifest(s)
	} else {
		m, err = h.readManifest(ctx, s)
	}
	if err != nil {
		return h.fail(s, session, err)
	}
	h.events.Emit("info", "xnat_upload_started", m.Folder, fmt.Sprintf("delivering generation %d to %s", m.Generation, h.cfg.Dest.Name()),
		"files", len(m.Files), "bytes", m.TotalBytes())
	work, cleanup, err := h.fetch(ctx, s, m)
	if err != nil {
		return h.fail(s, m.Folder, err)
	}
	defer cleanup()
	if s.Legacy {
		legacyModalities(m, work)
	}
	if err := h.cfg.Dest.Deliver(ctx, m, work); err != nil {
		return h.fail(s, m.Folder, err)
	}
	rec, _ := json.Marshal(map[string]any{"at": h.cfg.Now().UTC(), "files": len(m.Files), "destination": h.cfg.Dest.Name()})
	if err := h.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketDelivered).Put(deliveredKey(s.Base, s.Generation), rec); err != nil {
			return err
		}
		return recordEdge(tx, m.Edge, h.cfg.Now().UTC())
	}); err != nil {
		return h.fail(s, m.Folder, err)
	}
	h.metrics.observeDelivered(h.cfg.Now().Sub(start), m.TotalBytes())
	h.events.Emit("info", "xnat_upload_completed", m.Folder, fmt.Sprintf("generation %d delivered and verified", m.Generation),
		"files", len(m.Files), "bytes", m.TotalBytes(), "duration_s", int(h.cfg.Now().Sub(start).Seconds()))
	return h.cleanup(ctx, s, m)
}

// fetch makes a generation's files available in one folder, each checked
// against the manifest's size and SHA-256, and returns the folder. Objects
// of a store that keeps them as local files are checked and read in place
// (the standalone bucket: no copy); otherwise they are downloaded into a
// work folder, which cleanup removes.
func (h *Hub) fetch(ctx context.Context, s Sealed, m *manifest.Manifest) (dir string, cleanup func(), err error) {
	if !s.Legacy {
		if dir, ok, err := h.inPlace(ctx, s, m); ok || err != nil {
			return dir, func() {}, err
		}
	}
	work, err := os.MkdirTemp(filepath.Join(h.cfg.DataDir, "work"), "s-")
	if err != nil {
		return "", nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.cfg.Transfers)
	for i, f := range m.Files {
		dst := filepath.Join(work, filepath.FromSlash(f.Path))
		g.Go(func() error {
			if s.Legacy {
				// No manifest of ours: take the digests from the bytes, and
				// check them against the ETag where it is a plain MD5.
				got, err := h.fetchLegacy(gctx, s.Base+f.Path, dst, f)
				m.Files[i] = got
				return err
			}
			return h.download(gctx, s.Base+f.Path, dst, f)
		})
	}
	if err := g.Wait(); err != nil {
		os.RemoveAll(work)
		return "", nil, err
	}
	return work, func() { os.RemoveAll(work) }, nil
}

// inPlace checks a generation's objects where a local store keeps them and
// returns their folder; ok is false when the store is not local (or the
// files are not laid out as one folder), and the caller downloads instead.
func (h *Hub) inPlace(ctx context.Context, s Sealed, m *manifest.Manifest) (dir string, ok bool, err error) {
	for _, f := range m.Files {
		p, local := objstore.LocalPath(h.cfg.Store, s.Base+f.Path)
		if !local {
			return "", false, nil
		}
		d, found := strings.CutSuffix(p, filepath.FromSlash("/"+f.Path))
		if !found || (dir != "" && d != dir) {
			return "", false, nil
		}
		dir = d
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.cfg.Transfers)
	for _, f := range m.Files {
		g.Go(func() error {
			info, err := h.cfg.Store.Stat(gctx, s.Base+f.Path)
			if err != nil {
				return fmt.Errorf("checking %s: %w", f.Path, err)
			}
			if info.Size != f.Size || hex.EncodeToString(info.SHA256) != f.SHA256 {
				return fmt.Errorf("%w: %s does not match its manifest (size %d, want %d; SHA-256 differs: %v)",
					ErrPermanent, f.Path, info.Size, f.Size, hex.EncodeToString(info.SHA256) != f.SHA256)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", true, err
	}
	return dir, true, nil
}

// cleanup deletes a delivered generation's objects (unless retaining):
// its files first, its manifest last, so that an interrupted clean-up is
// found and finished by the next scan.
func (h *Hub) cleanup(ctx context.Context, s Sealed, m *manifest.Manifest) error {
	if h.cfg.Retain {
		return nil
	}
	if s.Legacy {
		// Everything under the folder, including the original's own
		// manifest and stray objects.
		for _, o := range s.objects {
			if err := h.cfg.Store.Delete(ctx, o.Key); err != nil {
				return fmt.Errorf("hub: deleting delivered objects of %s: %w", s.Base, err)
			}
		}
		return nil
	}
	if m == nil {
		var err error
		if m, err = h.readManifest(ctx, s); err != nil {
			if objstore.IsNotExist(err) {
				return nil
			}
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.cfg.Transfers)
	for _, f := range m.Files {
		g.Go(func() error {
			if err := h.cfg.Store.Delete(gctx, s.Base+f.Path); err != nil {
				return fmt.Errorf("hub: deleting delivered objects of %s: %w", m.Folder, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return h.cfg.Store.Delete(ctx, s.ManifestKey)
}

func (h *Hub) readManifest(ctx context.Context, s Sealed) (*manifest.Manifest, error) {
	rc, err := h.cfg.Store.Get(ctx, s.ManifestKey)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, err
	}
	m, err := manifest.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	if m.Generation != s.Generation || !strings.HasSuffix(s.Base, "/"+m.Folder+"/") {
		return nil, fmt.Errorf("%w: manifest %s describes %s generation %d", ErrPermanent, s.ManifestKey, m.Folder, m.Generation)
	}
	return m, nil
}

// legacyManifest describes a legacy session from its listing: every
// <scan>/<resource>/<file> object (sizes now, digests once downloaded).
func legacyManifest(s Sealed) (*manifest.Manifest, error) {
	folder := strings.TrimSuffix(s.Base[strings.LastIndex(strings.TrimSuffix(s.Base, "/"), "/")+1:], "/")
	id, err := session.ParseFolder(folder)
	if err != nil {
		return nil, fmt.Errorf("%w: legacy session %s: %v", ErrPermanent, s.Base, err)
	}
	m := &manifest.Manifest{Version: manifest.Version, Edge: "legacy", Project: id.Project, Subject: id.Subject, Session: id.Visit,
		Folder: folder, Generation: 1}
	series := map[string]*manifest.Series{}
	for _, o := range s.objects {
		rel := o.Key[len(s.Base):]
		p := strings.Split(rel, "/")
		if len(p) != 3 {
			continue // the original's MANIFEST.json and the like
		}
		m.Files = append(m.Files, manifest.File{Path: rel, Size: o.Size, MD5: objstore.NormalizeETag(o.ETag)})
		se := series[p[0]]
		if se == nil {
			se = &manifest.Series{Scan: p[0], SeriesNumber: strings.SplitN(p[0], ".", 2)[0]}
			if _, d, ok := strings.Cut(p[0], "."); ok {
				se.SeriesDescription = d
			}
			series[p[0]] = se
		}
		se.Files++
		se.Bytes += o.Size
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("%w: legacy session %s holds no <scan>/<resource>/<file> objects", ErrPermanent, folder)
	}
	for _, se := range series {
		m.Series = append(m.Series, *se)
	}
	return m, nil
}

// legacyModalities fills the series' modalities of a legacy session from
// the first file of each (for the XNAT session and scan types).
func legacyModalities(m *manifest.Manifest, dir string) {
	for i, se := range m.Series {
		for _, f := range m.Files {
			if !strings.HasPrefix(f.Path, se.Scan+"/") {
				continue
			}
			if df, err := dicom.Open(filepath.Join(dir, filepath.FromSlash(f.Path)), &dicom.ParseOptions{StopAtPixelData: true}); err == nil {
				m.Series[i].Modality = df.Dataset.String(dicom.NewTag(0x0008, 0x0060))
				df.Close()
			}
			break
		}
		if m.Modality == "" {
			m.Modality = m.Series[i].Modality
		}
	}
}

// fetchLegacy downloads a legacy object and returns its manifest entry.
func (h *Hub) fetchLegacy(ctx context.Context, key, dst string, f manifest.File) (manifest.File, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return f, err
	}
	rc, err := h.cfg.Store.Get(ctx, key)
	if err != nil {
		return f, fmt.Errorf("fetching %s: %w", f.Path, err)
	}
	defer rc.Close()
	out, err := os.Create(dst)
	if err != nil {
		return f, err
	}
	defer out.Close()
	got, err := manifest.Digest(f.Path, io.TeeReader(rc, out))
	if err != nil {
		return f, fmt.Errorf("fetching %s: %w", f.Path, err)
	}
	if got.Size != f.Size || (len(f.MD5) == 32 && got.MD5 != f.MD5) {
		return f, fmt.Errorf("%w: %s does not match its listing (size %d, want %d)", ErrPermanent, f.Path, got.Size, f.Size)
	}
	return got, nil
}

// download fetches one object and checks it against the manifest.
func (h *Hub) download(ctx context.Context, key, dst string, f manifest.File) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	rc, err := h.cfg.Store.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", f.Path, err)
	}
	defer rc.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	got, err := manifest.Digest(f.Path, io.TeeReader(rc, out))
	if cerr := out.Close(); err == nil && cerr != nil {
		return fmt.Errorf("fetching %s: %w", f.Path, cerr)
	}
	if err != nil {
		return fmt.Errorf("fetching %s: %w", f.Path, err)
	}
	if got.Size != f.Size || got.SHA256 != f.SHA256 {
		return fmt.Errorf("%w: %s does not match its manifest (size %d, want %d; SHA-256 differs: %v)",
			ErrPermanent, f.Path, got.Size, f.Size, got.SHA256 != f.SHA256)
	}
	return nil
}

// Paused returns the pause in force, or nil.
func (h *Hub) Paused() *Pause {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	if h.paused == nil {
		return nil
	}
	p := *h.paused
	return &p
}

// pause stops new deliveries until resume succeeds. The reason is the
// error text (no PHI: labels are pseudonyms, credentials never appear in
// errors).
func (h *Hub) pause(err error) {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	if h.paused == nil {
		h.paused = &Pause{Since: h.cfg.Now().UTC(), Reason: err.Error()}
		h.cfg.Log.Error("delivery paused: the destination refuses the credentials", "err", err)
		h.events.Emit("error", "xnat_upload_paused", "", "delivery paused: "+err.Error())
		return
	}
	h.paused.Reason = err.Error()
}

// resume tries to leave a pause: with a Resumer destination it must log in
// again (credentials read anew); otherwise the next delivery is the test.
func (h *Hub) resume(ctx context.Context) error {
	p := h.Paused()
	if p == nil {
		return nil
	}
	if r, ok := h.cfg.Dest.(Resumer); ok {
		if err := r.Resume(ctx); err != nil {
			h.pauseMu.Lock()
			if h.paused != nil {
				h.paused.Attempts++
				h.paused.Reason = err.Error()
			}
			h.pauseMu.Unlock()
			h.cfg.Log.Warn("delivery still paused", "attempts", p.Attempts+1, "err", err)
			return fmt.Errorf("hub: delivery paused since %s: %w", p.Since.Format(time.RFC3339), err)
		}
	}
	h.pauseMu.Lock()
	h.paused = nil
	h.pauseMu.Unlock()
	h.cfg.Log.Info("delivery resumed", "paused_since", p.Since)
	h.events.Emit("info", "xnat_upload_resumed", "", "delivery resumed")
	return nil
}

// fail records a failed generation: permanent failures are dead-lettered;
// refused credentials pause the hub.
func (h *Hub) fail(s Sealed, session string, err error) error {
	if errors.Is(err, ErrCredentials) {
		h.pause(err)
	}
	permanent := IsPermanent(err) || objstore.IsPermanent(err)
	h.metrics.observeFailure(permanent)
	h.events.Emit("error", "xnat_upload_failed", session, err.Error(), "permanent", permanent, "generation", s.Generation)
	h.cfg.Log.Error("delivery failed", "session", session, "generation", s.Generation, "permanent", permanent, "err", err)
	if permanent {
		d, _ := json.Marshal(DeadLetter{Base: s.Base, Generation: s.Generation, Reason: err.Error(), At: h.cfg.Now().UTC()})
		h.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketDead).Put(deliveredKey(s.Base, s.Generation), d) })
	}
	return fmt.Errorf("hub: %s generation %d: %w", session, s.Generation, err)
}

// Status is the hub's value-free state.
type Status struct {
	Destination string       `json:"destination"`
	Pending     []Sealed     `json:"pending"`
	DeadLetters []DeadLetter `json:"deadLetters"`
	// Edges is the delivery record of each edge that had a session
	// delivered, by edge name (the manifest's; "legacy" for sessions of
	// the original system).
	Edges map[string]EdgeDelivery `json:"edges,omitempty"`
	// Paused is set while delivery waits for working credentials.
	Paused *Pause `json:"paused,omitempty"`
}

// EdgeDelivery is what the hub delivered for one edge.
type EdgeDelivery struct {
	// LastDelivery is when the edge's latest generation was delivered.
	LastDelivery time.Time `json:"lastDelivery"`
	// Delivered counts the generations delivered since the hub's state
	// was created.
	Delivered int `json:"delivered"`
}

// recordEdge counts a delivery for edge.
func recordEdge(tx *bolt.Tx, edge string, at time.Time) error {
	if edge == "" {
		edge = "unknown"
	}
	b := tx.Bucket(bucketEdges)
	var d EdgeDelivery
	if v := b.Get([]byte(edge)); v != nil {
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("hub: edge record %s: %w", edge, err)
		}
	}
	d.Delivered++
	if at.After(d.LastDelivery) {
		d.LastDelivery = at
	}
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return b.Put([]byte(edge), v)
}

// EdgeDeliveries returns the delivery record of every edge.
func (h *Hub) EdgeDeliveries() (map[string]EdgeDelivery, error) {
	out := map[string]EdgeDelivery{}
	err := h.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEdges).ForEach(func(k, v []byte) error {
			var d EdgeDelivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("hub: edge record %s: %w", k, err)
			}
			out[string(k)] = d
			return nil
		})
	})
	return out, err
}

// Status lists what waits in the bucket and what is held.
func (h *Hub) Status() (Status, error) {
	st := Status{Destination: h.cfg.Dest.Name(), Paused: h.Paused()}
	// One try, briefly: the status answers while the store is unreachable.
	ctx, cancel := context.WithTimeout(objstore.NoRetry(context.Background()), 5*time.Second)
	defer cancel()
	sealed, err := h.Scan(ctx)
	if err != nil {
		return st, err
	}
	for _, s := range sealed {
		if !h.Delivered(s.Base, s.Generation) {
			st.Pending = append(st.Pending, s)
		}
	}
	if st.DeadLetters, err = h.DeadLetters(); err != nil {
		return st, err
	}
	if st.Edges, err = h.EdgeDeliveries(); len(st.Edges) == 0 {
		st.Edges = nil
	}
	return st, err
}

// Run delivers until ctx ends, every interval and with backoff after
// failures.
func (h *Hub) Run(ctx context.Context, interval time.Duration) error {
	var backoff time.Duration
	for {
		wait := interval
		if err := h.RunOnce(ctx); err != nil {
			backoff = min(max(2*backoff, interval), 5*time.Minute)
			wait = backoff
		} else {
			backoff = 0
		}
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
