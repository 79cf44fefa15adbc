package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/api"
)

// TestAuditLog: an action over the token-guarded TCP port is recorded
// before and after it runs, with the operator, reason and transport it
// came with; a body that is not one line of text is refused; an audit log
// that cannot be written refuses the action.
func TestAuditLog(t *testing.T) {
	var got api.Actor
	ran := 0
	srv := api.New(nil, nil, map[string]api.ActionFunc{
		"quarantine-release": func(ctx context.Context, id string) error {
			ran++
			got = api.ActorFrom(ctx)
			if id == "bad" {
				return errors.New("open /var/lib/aisedge/quarantine/bad/entry.json: no such file")
			}
			return nil
		},
	}, quietLog())
	if err := srv.EnableTCPActions(api.TCPActions{Token: token}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	audit, err := api.OpenAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAudit(audit)
	post := func(id, body string) int {
		req := httptest.NewRequest("POST", "/api/quarantine-release/"+id, strings.NewReader(body))
		req.Host = "127.0.0.1:8080"
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := post("a", `{"operator":"alice","reason":"checked the pixels"}`); c != http.StatusOK {
		t.Fatalf("release: %d", c)
	}
	if got.Operator != "alice" || got.Reason != "checked the pixels" || got.Via != "http" {
		t.Errorf("actor %+v", got)
	}
	if c := post("bad", `{"reason":"x"}`); c != http.StatusConflict {
		t.Errorf("failing release: %d", c)
	}
	if c := post("a", "{\"reason\":\"two\\nlines\"}"); c != http.StatusBadRequest || ran != 2 {
		t.Errorf("a reason with a newline: %d (ran %d)", c, ran)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d audit lines, want 4:\n%s", len(lines), b)
	}
	for i, want := range []string{`"phase":"requested"`, `"result":"ok"`, `"phase":"requested"`, `"result":"failed"`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d lacks %s: %s", i+1, want, lines[i])
		}
	}
	if !strings.Contains(lines[1], `"operator":"alice"`) || !strings.Contains(lines[1], `"via":"http"`) || strings.Contains(string(b), "/var/lib") {
		t.Errorf("audit lines: %s", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v", fi.Mode().Perm())
	}
	// An audit log that cannot be written: no action.
	audit.Close()
	if c := post("a", ""); c != http.StatusInternalServerError || ran != 2 {
		t.Errorf("with a closed audit log: %d, ran %d", c, ran)
	}
}
