package events

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/logging"
)

// Events are lines of the one log schema: time, level, msg, then the
// original's event fields (component, edge, event, session) and the
// extras, integers as integers.
func TestSchema(t *testing.T) {
	var b bytes.Buffer
	now := func() time.Time { return time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC) }
	New(&b, "s3-uploader", "edge-a", now).Emit("info", "upload_completed", "P.S.V", "", "bytes", 10, "files", 2, "dicoms", 1, "duration_s", 3)
	New(&b, "upload", "", now).Emit("error", "xnat_upload_failed", "P.S.V", "boom", "permanent", true)
	want := `{"time":"2026-11-26T01:02:03Z","level":"info","msg":"","component":"s3-uploader","edge":"edge-a","event":"upload_completed","session":"P.S.V","bytes":10,"files":2,"dicoms":1,"duration_s":3}
{"time":"2026-11-26T01:02:03Z","level":"error","msg":"boom","component":"upload","event":"xnat_upload_failed","session":"P.S.V","permanent":true}
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	var nilWriter *Writer
	nilWriter.Emit("info", "x", "", "") // must not panic
}

// On a sink, events and log lines share the schema and the level.
func TestSinkSharesSchemaAndLevel(t *testing.T) {
	var b bytes.Buffer
	sink := logging.NewSink(&b, slog.LevelInfo)
	log := sink.Logger()
	ev := New(sink, "receiver", "edge-a", nil)
	log.Info("association released", "instances", 3)
	ev.Emit("debug", "instance_deidentified", "P.S.V", "") // below the level
	ev.Emit("info", "upload_started", "P.S.V", "uploading generation 1", "files", 2)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines (the debug event dropped), got %d:\n%s", len(lines), b.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line lacks %q: %s", k, l)
			}
		}
		for _, k := range []string{"ts", "message"} {
			if _, ok := m[k]; ok {
				t.Errorf("line has the second schema's %q: %s", k, l)
			}
		}
		if m["level"] != "info" {
			t.Errorf("level %v, want info: %s", m["level"], l)
		}
	}
}
