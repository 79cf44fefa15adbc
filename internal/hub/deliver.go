package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
)

// Events of a delivery (docs/compat.md, "Event lines"), one set per
// destination: delivery_started, delivery_completed, delivery_failed (with
// the destination's name), and delivery_paused, delivery_resumed when a
// destination refuses the hub's credentials and when they work again. For
// an XNAT destination the hub also writes the original's
// xnat_upload_started, xnat_upload_completed and xnat_upload_failed lines
// with the original's fields, which its dashboards count.

// deliver handles one sealed generation. With backoff, destinations
// backing off wait like paused ones.
func (h *Hub) deliver(ctx context.Context, s Sealed, backoff bool) error {
	start := h.cfg.Now()
	lay := s.layout()
	if h.Delivered(s.Base, s.Generation) {
		// Delivered before a crash or while retaining: finish the clean-up.
		return h.clear(ctx, lay, s, nil)
	}
	m, err := lay.describe(ctx, h, s)
	if err != nil {
		return h.fail(s, strings.TrimSuffix(s.Base[len(h.cfg.Prefix):], "/"), h.cfg.Destinations, err)
	}
	var targets, pending []Target
	var waiting []string // paused or backing-off destinations that lack the generation
	for _, t := range h.cfg.Destinations {
		if !t.takes(m.Project) {
			continue
		}
		targets = append(targets, t)
		switch {
		case h.DeliveredTo(s.Base, s.Generation, t.Dest.Name()):
		case h.isPaused(t.Dest.Name()) || backoff && h.backingOff(t.Dest.Name()):
			waiting = append(waiting, t.Dest.Name())
		default:
			pending = append(pending, t)
		}
	}
	if len(targets) == 0 {
		return h.fail(s, m.Folder, h.cfg.Destinations, fmt.Errorf("%w: no destination takes project %s", ErrPermanent, m.Project))
	}
	if len(pending) > 0 {
		for _, t := range pending {
			h.emitStarted(t, m)
		}
		dir, cleanup, err := lay.fetch(ctx, h, s, m)
		if err != nil {
			return h.fail(s, m.Folder, pending, err)
		}
		defer cleanup()
		// The destinations at once: a slow or failing one holds up no
		// other.
		errs := make([]error, len(pending))
		var wg sync.WaitGroup
		for i, t := range pending {
			wg.Go(func() { errs[i] = h.deliverTo(ctx, t, s, m, dir, start) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return h.fail(s, m.Folder, nil, err)
		}
	}
	if len(waiting) > 0 {
		// Not a failure of the generation: it waits, in the bucket, until
		// the paused destinations resume and the failing ones work.
		return &destinationError{dest: strings.Join(waiting, ", "), err: fmt.Errorf("hub: %s generation %d waits for paused or backing-off destination(s) %s",
			m.Folder, s.Generation, strings.Join(waiting, ", "))}
	}
	var names []string
	for _, t := range targets {
		names = append(names, t.Dest.Name())
	}
	if err := h.recordDelivered(s, m, len(m.Files), names, newDelivery(s, m, start, h.cfg.Now())); err != nil {
		return h.fail(s, m.Folder, targets, err)
	}
	h.metrics.observeDelivered(h.cfg.Now().Sub(start), m.TotalBytes())
	return h.clear(ctx, lay, s, m)
}

// deliverTo delivers a fetched generation to one destination and records
// it. A failure is reported (event, pause, backoff) here and returned
// marked with the destination's name; a failure of the destination itself
// is a destinationError.
func (h *Hub) deliverTo(ctx context.Context, t Target, s Sealed, m *manifest.Manifest, dir string, start time.Time) error {
	name := t.Dest.Name()
	var err error
	if derr := t.Dest.Deliver(ctx, m, dir); derr != nil {
		err = &destinationError{dest: name, err: fmt.Errorf("%s: %w", name, derr)}
		if errors.Is(err, ErrCredentials) {
			h.pause(name, err)
		}
		if !isPermanent(err) {
			h.destFailed(name, err)
		}
	} else {
		h.destWorks(name)
		if rerr := h.recordDestination(s, name, len(m.Files)); rerr != nil {
			err = fmt.Errorf("%s: %w", name, rerr)
		}
	}
	if err != nil {
		h.metrics.observeFailure(name, isPermanent(err))
		h.emitFailed(t, m.Folder, s.Generation, err)
		return err
	}
	h.emitCompleted(t, m, h.cfg.Now().Sub(start))
	return nil
}

// The event calls below name every event and field literally: the
// deployment's tests read them from here to check the dashboards' queries.

func isXNAT(t Target) bool { _, ok := t.Dest.(*XNAT); return ok }

func (h *Hub) emitStarted(t Target, m *manifest.Manifest) {
	msg := fmt.Sprintf("delivering generation %d to %s", m.Generation, t.Dest.Name())
	h.events.Emit("info", "delivery_started", m.Folder, msg, "destination", t.Dest.Name(), "files", len(m.Files), "bytes", m.TotalBytes())
	if isXNAT(t) {
		h.events.Emit("info", "xnat_upload_started", m.Folder, msg, "files", len(m.Files), "bytes", m.TotalBytes())
	}
}

func (h *Hub) emitCompleted(t Target, m *manifest.Manifest, d time.Duration) {
	msg := fmt.Sprintf("generation %d delivered and verified", m.Generation)
	h.events.Emit("info", "delivery_completed", m.Folder, msg, "destination", t.Dest.Name(), "files", len(m.Files), "bytes", m.TotalBytes(),
		"duration_s", int(d.Seconds()))
	if isXNAT(t) {
		h.events.Emit("info", "xnat_upload_completed", m.Folder, msg, "files", len(m.Files), "bytes", m.TotalBytes(), "duration_s", int(d.Seconds()))
	}
}

func (h *Hub) emitFailed(t Target, session string, gen int, err error) {
	permanent := isPermanent(err)
	h.events.Emit("error", "delivery_failed", session, err.Error(), "destination", t.Dest.Name(), "permanent", permanent, "generation", gen)
	if isXNAT(t) {
		h.events.Emit("error", "xnat_upload_failed", session, err.Error(), "permanent", permanent, "generation", gen)
	}
}

func (h *Hub) clear(ctx context.Context, lay layout, s Sealed, m *manifest.Manifest) error {
	if h.cfg.Retain {
		return nil
	}
	return lay.clear(ctx, h, s, m)
}

func isPermanent(err error) bool { return IsPermanent(err) || objstore.IsPermanent(err) }

// fail records a failed generation: permanent failures are dead-lettered.
// A failure that is not a destination's (the manifest, the download, the
// record) is reported here, to the targets given (delivery_failed per
// target) and counted without a destination; report is nil for the
// failures of destinations, which deliverTo reported and counted.
func (h *Hub) fail(s Sealed, session string, report []Target, err error) error {
	permanent := isPermanent(err)
	if report != nil {
		h.metrics.observeFailure("", permanent)
	}
	for _, t := range report {
		h.emitFailed(t, session, s.Generation, err)
	}
	h.cfg.Log.Error("delivery failed", "session", session, "generation", s.Generation, "permanent", permanent, "err", err)
	if permanent {
		h.deadLetter(s, err.Error())
	}
	return fmt.Errorf("hub: %s generation %d: %w", session, s.Generation, err)
}

// Paused returns the oldest pause in force, or nil.
func (h *Hub) Paused() *Pause {
	ps := h.Pauses()
	if len(ps) == 0 {
		return nil
	}
	return &ps[0]
}

// Pauses returns every pause in force, oldest first.
func (h *Hub) Pauses() []Pause {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	var out []Pause
	for _, p := range h.paused {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Pause) int {
		return cmp.Or(a.Since.Compare(b.Since), strings.Compare(a.Destination, b.Destination))
	})
	return out
}

func (h *Hub) isPaused(dest string) bool {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	return h.paused[dest] != nil
}

// pause stops deliveries to a destination until resume succeeds; the
// others go on. The reason is the error text (no PHI: labels are
// pseudonyms, credentials never appear in errors).
func (h *Hub) pause(dest string, err error) {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	if p := h.paused[dest]; p != nil {
		p.Reason = err.Error()
		return
	}
	h.paused[dest] = &Pause{Since: h.cfg.Now().UTC(), Reason: err.Error(), Destination: dest}
	h.cfg.Log.Error("delivery paused: the destination refuses the credentials", "destination", dest, "err", err)
	h.events.Emit("error", "delivery_paused", "", "delivery paused: "+err.Error(), "destination", dest)
}

// resume tries to leave each pause, with backoff only those whose
// destination's backoff has passed (refused credentials tried again at
// once could lock the account): a Resumer destination must log in again
// (credentials read anew); for any other the next delivery is the test.
// It returns the errors of the destinations still paused.
func (h *Hub) resume(ctx context.Context, backoff bool) error {
	var errs []error
	for _, t := range h.cfg.Destinations {
		name := t.Dest.Name()
		if !h.isPaused(name) {
			continue
		}
		if backoff && h.backingOff(name) {
			h.pauseMu.Lock()
			since := h.paused[name].Since
			h.pauseMu.Unlock()
			errs = append(errs, &destinationError{dest: name, err: fmt.Errorf("hub: delivery to %s paused since %s, backing off: %w",
				name, since.Format(time.RFC3339), ErrCredentials)})
			continue
		}
		if r, ok := t.Dest.(Resumer); ok {
			if err := r.Resume(ctx); err != nil {
				h.pauseMu.Lock()
				p := h.paused[name]
				p.Attempts++
				p.Reason = err.Error()
				since, attempts := p.Since, p.Attempts
				h.pauseMu.Unlock()
				h.cfg.Log.Warn("delivery still paused", "destination", name, "attempts", attempts, "err", err)
				h.destFailed(name, err)
				errs = append(errs, &destinationError{dest: name, err: fmt.Errorf("hub: delivery to %s paused since %s: %w",
					name, since.Format(time.RFC3339), err)})
				continue
			}
			h.destWorks(name)
		}
		h.pauseMu.Lock()
		since := h.paused[name].Since
		delete(h.paused, name)
		h.pauseMu.Unlock()
		h.cfg.Log.Info("delivery resumed", "destination", name, "paused_since", since)
		h.events.Emit("info", "delivery_resumed", "", "delivery resumed", "destination", name)
	}
	return errors.Join(errs...)
}
