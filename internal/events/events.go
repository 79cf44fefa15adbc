// Package events writes the pipeline's events (docs/compat.md, "Event
// lines") in the daemons' one log schema (internal/logging): "time",
// "level", "msg", then "component", "edge" (when set), "event",
// "session" and the extras in the order given. The fields are those of
// the original system's event lines, whose dashboards count them. Sessions
// are pseudonymous folder names and messages never carry PHI. The edge and
// the hub import it.
package events

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/aisedge/aisedge/internal/logging"
)

// Writer writes the events of one component. A nil *Writer writes
// nothing.
type Writer struct {
	h         slog.Handler
	component string
	edge      string
	now       func() time.Time
}

// New returns an event writer for one component (of one edge, or "" for
// the hub) on w, stamped by now (nil: time.Now). When w is a
// logging.Sink its level applies; on any other writer every event is
// written.
func New(w io.Writer, component, edge string, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{h: logging.New(w, slog.LevelDebug).Handler(), component: component, edge: edge, now: now}
}

// Emit writes one event. level is "debug", "info", "warn" or "error";
// extras are key, value pairs, written in order.
func (e *Writer) Emit(level, event, session, message string, extras ...any) {
	if e == nil {
		return
	}
	lvl := slog.LevelInfo
	switch level {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	ctx := context.Background()
	if !e.h.Enabled(ctx, lvl) {
		return
	}
	r := slog.NewRecord(e.now(), lvl, message, 0)
	r.AddAttrs(slog.String("component", e.component))
	if e.edge != "" {
		r.AddAttrs(slog.String("edge", e.edge))
	}
	r.AddAttrs(slog.String("event", event), slog.String("session", session))
	r.Add(extras...)
	_ = e.h.Handle(ctx, r)
}
