// Package events writes the pipeline's JSON event lines in the schema the
// original system's dashboards and alert rules parse (docs/compat.md,
// "Event lines" and "Observability"):
// one object per line, "ts" (date -Iseconds) first, then "component",
// "edge" (when set), "event", "session", "message", "level" and the extras
// in the order given. Sessions are pseudonymous folder names and messages
// never carry PHI. The edge and the hub import it.
package events

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Writer writes the events of one component. A nil *Writer writes
// nothing.
type Writer struct {
	mu        sync.Mutex
	w         io.Writer
	component string
	edge      string
	now       func() time.Time
}

// New returns an event writer for one component (of one edge, or "" for
// the hub).
func New(w io.Writer, component, edge string, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{w: w, component: component, edge: edge, now: now}
}

// Emit writes one event. level is "info", "warn" or "error"; extras are
// key, value pairs, written in order.
func (e *Writer) Emit(level, event, session, message string, extras ...any) {
	if e == nil {
		return
	}
	var b bytes.Buffer
	field := func(k string, v any, first bool) {
		if !first {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			vb = []byte(`""`)
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('{')
	field("ts", e.now().Format("2006-01-02T15:04:05-07:00"), true)
	field("component", e.component, false)
	if e.edge != "" {
		field("edge", e.edge, false)
	}
	field("event", event, false)
	field("session", session, false)
	field("message", message, false)
	field("level", level, false)
	for i := 0; i+1 < len(extras); i += 2 {
		k, _ := extras[i].(string)
		field(k, extras[i+1], false)
	}
	b.WriteString("}\n")
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Write(b.Bytes())
}
