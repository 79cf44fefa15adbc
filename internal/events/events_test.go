package events

import (
	"bytes"
	"testing"
	"time"
)

// The original s3-uploader's lines, byte for byte apart from our "level".
func TestSchemaOrder(t *testing.T) {
	var b bytes.Buffer
	now := func() time.Time { return time.Date(2026, 11, 26, 1, 2, 3, 0, time.FixedZone("", 0)) }
	New(&b, "s3-uploader", "edge-a", now).Emit("info", "upload_completed", "P.S.V", "", "bytes", 10, "files", 2, "dicoms", 1, "duration_s", 3)
	New(&b, "upload", "", now).Emit("error", "xnat_upload_failed", "P.S.V", "boom", "permanent", true)
	want := `{"ts":"2026-11-26T01:02:03+00:00","component":"s3-uploader","edge":"edge-a","event":"upload_completed","session":"P.S.V","message":"","level":"info","bytes":10,"files":2,"dicoms":1,"duration_s":3}
{"ts":"2026-11-26T01:02:03+00:00","component":"upload","event":"xnat_upload_failed","session":"P.S.V","message":"boom","level":"error","permanent":true}
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	var nilWriter *Writer
	nilWriter.Emit("info", "x", "", "") // must not panic
}
