// Package logging builds the daemons' one log schema: slog JSON lines with
// "time" (RFC 3339), "level" (debug, info, warn, error: lower case, as the
// original system's event lines and the Loki pipeline that labels by it
// have it), "msg" and the record's fields. The pipeline events
// (internal/events) are written in the same schema, with their fields
// (component, edge, event, session and the extras) as fields.
//
// A Sink is one output stream with its level; the log and the events of a
// process share it, so --log-level applies to both and their lines never
// interleave mid-line.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// Levels lists the names ParseLevel accepts.
var Levels = []string{"debug", "info", "warn", "error"}

// ParseLevel parses a --log-level value.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q: want one of %s", s, strings.Join(Levels, ", "))
}

// Sink is an output stream with a level. It is an io.Writer that writes
// each call whole under a lock.
type Sink struct {
	mu    sync.Mutex
	w     io.Writer
	level slog.Leveler
}

// NewSink returns a sink writing to w at level (nil: info).
func NewSink(w io.Writer, level slog.Leveler) *Sink {
	if level == nil {
		level = slog.LevelInfo
	}
	return &Sink{w: w, level: level}
}

// Write implements io.Writer.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Level is the sink's level.
func (s *Sink) Level() slog.Leveler { return s.level }

// Logger returns a logger writing the schema to the sink.
func (s *Sink) Logger() *slog.Logger { return slog.New(NewHandler(s, s.level)) }

// New returns a logger writing the schema to w at level: the sink when w
// is one (its level then wins), a new sink otherwise.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	if s, ok := w.(*Sink); ok {
		return s.Logger()
	}
	return NewSink(w, level).Logger()
}

// NewHandler is the schema's handler on w.
func NewHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: replace})
}

func replace(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.LevelKey {
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(slog.LevelKey, levelName(l))
		}
	}
	return a
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// Enabled reports whether a logger on w would write level (true for a
// plain writer).
func Enabled(w io.Writer, level slog.Level) bool {
	if s, ok := w.(*Sink); ok {
		return s.level.Level() <= level
	}
	return true
}
