package api_test

import (
	"bytes"
	"context"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/api"
)

// TestStatusPageActions: with the actions on the TCP port, the page links
// each quarantine entry and dead letter to a confirmation form; the form
// needs the token, sends the operator and reason (recorded in the audit
// log) and answers with a result page; another site's page is refused.
// Without TCP actions the page shows the CLI command and there is no form.
func TestStatusPageActions(t *testing.T) {
	var got []string
	var actor api.Actor
	act := func(name string) api.ActionFunc {
		return func(ctx context.Context, id string) error {
			got = append(got, name+" "+id)
			actor = api.ActorFrom(ctx)
			return nil
		}
	}
	actions := map[string]api.ActionFunc{"quarantine-requeue": act("requeue"), "quarantine-release": act("release"),
		"quarantine-discard": act("discard"), "deadletter-requeue": act("dl")}
	const id = "20261126T004502Z-9f3e11aa"

	// Read-only: no forms.
	ro := api.New(fakeRegistry(t), fakeParts(time.Now()), actions, quietLog())
	ro.SetReady()
	page, h := getPage(t, ro)
	if strings.Contains(page, "/confirm/") || !strings.Contains(text(page), "aisedge quarantine requeue|release|discard "+id) {
		t.Errorf("read-only page offers forms or lacks the CLI hint")
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "form-action 'self'") {
		t.Errorf("CSP %q", h.Get("Content-Security-Policy"))
	}
	rec := httptest.NewRecorder()
	ro.ServeHTTP(rec, httptest.NewRequest("GET", "/confirm/quarantine-release/"+id, nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("confirmation without TCP actions: %d", rec.Code)
	}

	srv := api.New(fakeRegistry(t), fakeParts(time.Now()), actions, quietLog())
	srv.SetReady()
	if err := srv.EnableTCPActions(api.TCPActions{Token: token}); err != nil {
		t.Fatal(err)
	}
	audit, err := api.OpenAudit(filepath.Join(t.TempDir(), "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAudit(audit)
	page, _ = getPage(t, srv)
	for _, link := range []string{"/confirm/quarantine-requeue/" + id, "/confirm/quarantine-release/" + id, "/confirm/quarantine-discard/" + id,
		"/confirm/deadletter-requeue/staged/edge-a/AISEDGE.SUBJ_0BADF0.SESS_0D0E0F/%233"} {
		if !strings.Contains(page, `href="`+link+`"`) {
			t.Errorf("page lacks the link %s", link)
		}
	}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		req.Host = "127.0.0.1:8080"
		srv.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	code, form := get("/confirm/quarantine-release/" + id)
	if code != 200 || !strings.Contains(form, `action="/api/quarantine-release/`+id+`"`) || !strings.Contains(form, `name="reason" rows="3" maxlength="500" required`) ||
		!strings.Contains(form, `type="password"`) {
		t.Errorf("release confirmation (%d):\n%s", code, form)
	}
	if _, form = get("/confirm/deadletter-requeue/staged/edge-a/AISEDGE.SUBJ_0BADF0.SESS_0D0E0F/%233"); !strings.Contains(form, `action="/api/deadletter-requeue/staged/edge-a/AISEDGE.SUBJ_0BADF0.SESS_0D0E0F/%233"`) {
		t.Errorf("dead-letter confirmation:\n%s", form)
	}
	post := func(path string, v url.Values, site string) (int, string) {
		req := httptest.NewRequest("POST", path, strings.NewReader(v.Encode()))
		req.Host = "127.0.0.1:8080"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	v := url.Values{"operator": {"alice"}, "reason": {"checked the pixels:\r\nno text"}}
	if code, _ := post("/api/quarantine-release/"+id, v, "same-origin"); code != http.StatusUnauthorized || len(got) != 0 {
		t.Errorf("form without the token: %d (ran %v)", code, got)
	}
	v.Set("token", token)
	if code, _ := post("/api/quarantine-release/"+id, v, "cross-site"); code != http.StatusForbidden || len(got) != 0 {
		t.Errorf("form from another site: %d (ran %v)", code, got)
	}
	code, res := post("/api/quarantine-release/"+id, v, "same-origin")
	if code != 200 || !strings.Contains(res, `id="result" class="ok"`) || len(got) != 1 || got[0] != "release "+id {
		t.Errorf("form with the token: %d %v\n%s", code, got, res)
	}
	if actor.Operator != "alice" || actor.Reason != "checked the pixels: no text" || actor.Via != "http" {
		t.Errorf("actor %+v", actor)
	}
	if code, _ := post("/api/deadletter-requeue/staged/edge-a/AISEDGE.SUBJ_0BADF0.SESS_0D0E0F/%233", v, "same-origin"); code != 200 ||
		got[len(got)-1] != "dl staged/edge-a/AISEDGE.SUBJ_0BADF0.SESS_0D0E0F/#3" {
		t.Errorf("dead-letter requeue by form: %d %v", code, got)
	}
}

// TestStatusPageActionsChromium: a screenshot of the confirmation form in
// headless Chromium (kept, its path logged), and its DOM.
func TestStatusPageActionsChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := findChromium(t)
	srv := api.New(fakeRegistry(t), fakeParts(time.Now()), map[string]api.ActionFunc{
		"quarantine-release": func(context.Context, string) error { return nil }}, quietLog())
	srv.SetReady()
	if err := srv.EnableTCPActions(api.TCPActions{Token: token}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	u := "http://" + ln.Addr().String() + "/confirm/quarantine-release/20261126T004502Z-9f3e11aa"
	tmp := t.TempDir()
	shot := filepath.Join(tmp, "confirm.png")
	var dom bytes.Buffer
	for i, extra := range [][]string{{"--screenshot=" + shot}, {"--dump-dom"}} {
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + filepath.Join(tmp, "profile"+string(rune('a'+i))), "--window-size=1000,700"}, extra...)
		cmd := exec.Command(bin, append(args, u)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if i == 1 {
			cmd.Stdout = &dom
		}
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium: %v\n%s", err, lastLines(stderr.Bytes(), 20))
		}
	}
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || colours(img) < 8 {
		t.Fatalf("screenshot: %v, %d colours", err, colours(img))
	}
	keep := filepath.Join(os.TempDir(), "aisedge-confirm-release.png")
	if os.WriteFile(keep, b, 0o644) == nil {
		shot = keep
	}
	t.Logf("confirmation screenshot: %s", shot)
	wantAll(t, text(dom.String()), "Release 20261126T004502Z-9f3e11aa", "Reason (required)", "Action token", "Confirm: Release", "Do not write patient data here.")
}
