package api_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aisedge/aisedge/internal/api"
)

// TestReadyChecks: a failing check makes /readyz 503 with its reason (no
// paths), the status document not ready with the check's error, and the
// page's banner name the peer; once it passes all are ready again.
func TestReadyChecks(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	srv := api.New(nil, nil, nil, quietLog())
	srv.AddCheck("s3", func() error {
		if down.Load() {
			return errors.New("s3 unreachable (never reached since start): dial tcp 127.0.0.1:9: connect: connection refused; see /etc/aisedge/aisedge.yaml")
		}
		return nil
	})
	srv.SetReady()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/readyz")
	if code != 503 || !strings.Contains(body, "s3 unreachable") || strings.Contains(body, "/etc/aisedge") {
		t.Errorf("/readyz with s3 down = %d %q", code, body)
	}
	_, body = get("/api/status")
	var doc struct {
		Ready, Started bool
		Checks         map[string]api.CheckResult
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Ready || !doc.Started || doc.Checks["s3"].OK || !strings.Contains(doc.Checks["s3"].Error, "connection refused") {
		t.Errorf("status with s3 down: %+v", doc)
	}
	page, _ := getPage(t, srv)
	wantAll(t, text(page), "Not ready: s3 unreachable", "s3: unreachable", "connection refused")

	down.Store(false)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz with s3 up = %d", code)
	}
	page, _ = getPage(t, srv)
	wantAll(t, text(page), "Ready: all clear", "s3: reachable")
}
