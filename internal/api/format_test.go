package api

import (
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtDur(-time.Second), "0s"},
		{fmtDur(1499 * time.Millisecond), "1s"},
		{fmtDur(59 * time.Second), "59s"},
		{fmtDur(95 * time.Second), "1m35s"},
		{fmtDur(2*time.Hour + 5*time.Minute + 59*time.Second), "2h05m"},
		{fmtDur(50 * time.Hour), "2d02h"},
		{fmtBytes(512), "512 B"},
		{fmtBytes(1536), "1.5 KiB"},
		{fmtBytes(3 << 30), "3.0 GiB"},
		{fmtBytes(5 << 50), "5120.0 TiB"},
		{unit("aisedge_upload_bytes_total", 2048), "2.0 KiB"},
		{unit("aisedge_oldest_queued_seconds", 0.25), "250 ms"},
		{unit("aisedge_oldest_queued_seconds", 3700), "1h01m"},
		{unit("aisedge_certificate_expiry_days", 29.94), "29.9 days"},
		{unit("aisedge_instances_received_total", 1234), "1234"},
		{unit("aisedge_ratio", 0.125), "0.125"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
