package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aisedge/aisedge/internal/api"
)

const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// actionServer returns a server with one quarantine-requeue action that
// records the ids it was called with.
func actionServer(t *testing.T, fail error) (*api.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var calls []string
	srv := api.New(prometheus.NewRegistry(), map[string]api.StatusFunc{"edge": func() (any, error) { return map[string]int{"n": 1}, nil }},
		map[string]api.ActionFunc{"quarantine-requeue": func(_ context.Context, id string) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, id)
			return fail
		}}, quietLog())
	return srv, &calls
}

func do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// The read-only endpoints answer on the TCP port; the actions do not,
// whatever the request carries, unless enabled.
func TestTCPPortReadOnlyByDefault(t *testing.T) {
	srv, calls := actionServer(t, nil)
	srv.SetReady()
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/api/status", "/"} {
		if rec := do(srv, httptest.NewRequest("GET", "http://127.0.0.1:8080"+path, nil)); rec.Code != 200 {
			t.Errorf("GET %s = %d", path, rec.Code)
		}
	}
	for _, r := range []*http.Request{
		httptest.NewRequest("POST", "http://127.0.0.1:8080/api/quarantine-requeue/20261126T004502Z-9f3e11aa", nil),
		withHeaders(httptest.NewRequest("POST", "http://127.0.0.1:8080/api/quarantine-requeue/x", nil), "Authorization", "Bearer "+token),
		withHeaders(httptest.NewRequest("POST", "http://evil.example:8080/api/deadletter-requeue/x", nil), "Origin", "http://evil.example:8080"),
	} {
		rec := do(srv, r)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "local socket only") {
			t.Errorf("POST %s = %d %q", r.URL, rec.Code, rec.Body)
		}
	}
	if len(*calls) != 0 {
		t.Fatalf("action ran over TCP: %v", *calls)
	}
	// Other methods on the read-only paths do nothing.
	if rec := do(srv, httptest.NewRequest("POST", "http://127.0.0.1:8080/api/status", nil)); rec.Code < 300 {
		t.Errorf("POST /api/status = %d", rec.Code)
	}
}

func withHeaders(r *http.Request, kv ...string) *http.Request {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "Host" {
			r.Host = kv[i+1]
			continue
		}
		r.Header.Set(kv[i], kv[i+1])
	}
	return r
}

// With TCP actions enabled, a request needs the token, an allowed Host
// and no cross-site origin: forged Host (DNS rebinding) and Origin
// (cross-site request from a browser) are refused with and without the
// token.
func TestTCPActionRules(t *testing.T) {
	srv, calls := actionServer(t, nil)
	if err := srv.EnableTCPActions(api.TCPActions{Token: token, Hosts: []string{"edge-a.example.org", "edge-b.example.org:8443"}}); err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer " + token
	for _, tc := range []struct {
		name    string
		headers []string
		want    int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong token", []string{"Authorization", "Bearer " + strings.Repeat("0", 64)}, http.StatusUnauthorized},
		{"token without Bearer", []string{"Authorization", token}, http.StatusUnauthorized},
		{"basic auth", []string{"Authorization", "Basic YWRtaW46YWRtaW4="}, http.StatusUnauthorized},
		{"token", []string{"Authorization", bearer}, http.StatusOK},
		{"token, IPv6 host", []string{"Host", "[::1]:8080", "Authorization", bearer}, http.StatusOK},
		{"token, localhost", []string{"Host", "localhost:8080", "Authorization", bearer}, http.StatusOK},
		{"token, allowed name", []string{"Host", "EDGE-A.example.org.:8080", "Authorization", bearer}, http.StatusOK},
		{"token, allowed name and port", []string{"Host", "edge-b.example.org:8443", "Authorization", bearer}, http.StatusOK},
		{"token, allowed name, other port", []string{"Host", "edge-b.example.org:8080", "Authorization", bearer}, http.StatusMisdirectedRequest},
		{"token, same-origin browser", []string{"Authorization", bearer, "Sec-Fetch-Site", "same-origin", "Origin", "http://127.0.0.1:8080"}, http.StatusOK},
		{"token, curl-like Origin matching Host", []string{"Authorization", bearer, "Origin", "http://127.0.0.1:8080"}, http.StatusOK},
		// DNS rebinding: the attacker's name resolves to this address.
		{"forged Host, no token", []string{"Host", "rebind.attacker.example:8080"}, http.StatusMisdirectedRequest},
		{"forged Host, token", []string{"Host", "rebind.attacker.example:8080", "Authorization", bearer}, http.StatusMisdirectedRequest},
		{"forged Host and same-origin", []string{"Host", "rebind.attacker.example:8080", "Origin", "http://rebind.attacker.example:8080",
			"Sec-Fetch-Site", "same-origin", "Authorization", bearer}, http.StatusMisdirectedRequest},
		{"empty Host", []string{"Host", "", "Authorization", bearer}, http.StatusMisdirectedRequest},
		// Cross-site requests from a browser.
		{"cross-site, no token", []string{"Origin", "https://attacker.example", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"cross-site, token", []string{"Origin", "https://attacker.example", "Sec-Fetch-Site", "cross-site", "Authorization", bearer}, http.StatusForbidden},
		{"same-site, token", []string{"Sec-Fetch-Site", "same-site", "Authorization", bearer}, http.StatusForbidden},
		{"forged Origin (old browser), token", []string{"Origin", "https://attacker.example", "Authorization", bearer}, http.StatusForbidden},
		{"null Origin, token", []string{"Origin", "null", "Authorization", bearer}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(*calls)
			r := withHeaders(httptest.NewRequest("POST", "http://127.0.0.1:8080/api/quarantine-requeue/q1", nil), tc.headers...)
			rec := do(srv, r)
			if rec.Code != tc.want {
				t.Fatalf("= %d %q, want %d", rec.Code, rec.Body, tc.want)
			}
			if ran := len(*calls) > before; ran != (tc.want == http.StatusOK) {
				t.Errorf("action ran: %v", ran)
			}
			if tc.want == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
		})
	}
	// GET stays open to everyone (read-only, value-free).
	r := withHeaders(httptest.NewRequest("GET", "http://127.0.0.1:8080/api/status", nil), "Host", "rebind.attacker.example", "Origin", "https://attacker.example")
	if rec := do(srv, r); rec.Code != 200 {
		t.Errorf("GET /api/status = %d", rec.Code)
	}
}

// The same rules over a real TCP connection.
func TestTCPActionsOverTCP(t *testing.T) {
	srv, calls := actionServer(t, nil)
	if err := srv.EnableTCPActions(api.TCPActions{Token: token}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	post := func(host, auth string) int {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/api/quarantine-requeue/q1", nil)
		req.Host = host
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post("evil.example", "Bearer "+token); c != http.StatusMisdirectedRequest {
		t.Errorf("forged Host: %d", c)
	}
	if c := post(ln.Addr().String(), ""); c != http.StatusUnauthorized {
		t.Errorf("no token: %d", c)
	}
	if c := post(ln.Addr().String(), "Bearer "+token); c != http.StatusOK {
		t.Errorf("token: %d", c)
	}
	if len(*calls) != 1 {
		t.Errorf("calls %v", *calls)
	}
}

func TestEnableTCPActionsRefusesWeakTokens(t *testing.T) {
	srv, _ := actionServer(t, nil)
	for _, tok := range []string{"", "short", strings.Repeat("a", 31), strings.Repeat("a", 20) + " " + strings.Repeat("b", 20)} {
		if err := srv.EnableTCPActions(api.TCPActions{Token: tok}); err == nil {
			t.Errorf("token %q accepted", tok)
		}
	}
	if err := srv.EnableTCPActions(api.TCPActions{Token: token, Hosts: []string{"a b"}}); err == nil {
		t.Error("bad host accepted")
	}
}

// The local socket serves the CLI: status and actions without a token;
// mode 0600; a stale socket is replaced, a live one or a file is not.
func TestLocalSocket(t *testing.T) {
	srv, calls := actionServer(t, nil)
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "aisedge.sock")
	ln, err := srv.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeLocal(ln) }()
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v", fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "run", ".s*")); len(left) != 0 {
		t.Errorf("temporary folder left: %v", left)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := client.Post("http://aisedge/api/quarantine-requeue/q7", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(*calls) != 1 || (*calls)[0] != "q7" {
		t.Fatalf("requeue over the socket: %d %q %v", resp.StatusCode, b, *calls)
	}
	if resp, err := client.Get("http://aisedge/api/status"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status over the socket: %v %v", resp, err)
	}
	// A second daemon on the same socket is refused.
	if _, err := api.New(nil, nil, nil, nil).ListenUnix(sock); err == nil || !strings.Contains(err.Error(), "another daemon answers") {
		t.Errorf("live socket replaced: %v", err)
	}
	srv.Shutdown(context.Background())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after shutdown: %v", err)
	}
	// A stale socket (a daemon killed with -9) is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ln2, err := api.New(nil, nil, nil, nil).ListenUnix(sock)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln2.Close()
	// Something that is not a socket is left alone.
	os.WriteFile(sock, []byte("precious"), 0o600)
	if _, err := api.New(nil, nil, nil, nil).ListenUnix(sock); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("file at the socket path: %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "precious" {
		t.Error("file replaced")
	}
	long := filepath.Join(dir, strings.Repeat("d", 120), "aisedge.sock")
	if err := api.CheckSocketPath(long); err == nil {
		t.Error("over-long socket path accepted")
	}
}

// Error answers name no file path: not the paths of wrapped file errors,
// not absolute paths in messages; the id and the reasons stay.
func TestErrorsCarryNoPaths(t *testing.T) {
	for _, fail := range []error{
		fmt.Errorf("requeue q1: %w", &fs.PathError{Op: "open", Path: "/var/lib/aisedge/quarantine/q1/instance.dcm", Err: syscall.ENOENT}),
		&os.LinkError{Op: "link", Old: "data/quarantine/q1.dcm", New: "data/spool/tmp/requeue-q1.dcm", Err: syscall.EXDEV},
		errors.Join(errors.New("first"), fmt.Errorf("spool: opening state store /srv/edge/spool/state.db: %w", errors.New("timeout"))),
		errors.New(`stat "/srv/edge/quarantine": permission denied (path=/srv/edge)`),
	} {
		srv, _ := actionServer(t, fail)
		rec := do(srv.LocalHandler(), httptest.NewRequest("POST", "http://aisedge/api/quarantine-requeue/q1", nil))
		body := rec.Body.String()
		if rec.Code != http.StatusConflict || strings.Contains(body, "/srv") || strings.Contains(body, "/var") || strings.Contains(body, "data/") {
			t.Errorf("%d %q", rec.Code, body)
		}
		if !strings.Contains(body, "[path]") {
			t.Errorf("%q: paths not marked", body)
		}
	}
	srv, _ := actionServer(t, errors.New("requeue q1: quarantined again: pixel-risk: burned-in annotation"))
	rec := do(srv.LocalHandler(), httptest.NewRequest("POST", "http://aisedge/api/quarantine-requeue/q1", nil))
	if !strings.Contains(rec.Body.String(), "requeue q1: quarantined again: pixel-risk: burned-in annotation") {
		t.Errorf("reason lost: %q", rec.Body)
	}
	// Status parts that fail show their error without paths too.
	srv = api.New(prometheus.NewRegistry(), map[string]api.StatusFunc{"hub": func() (any, error) {
		return nil, &fs.PathError{Op: "open", Path: "/var/lib/aisedge-hub/hub.db", Err: syscall.EACCES}
	}}, nil, quietLog())
	rec = do(srv, httptest.NewRequest("GET", "/api/status", nil))
	if strings.Contains(rec.Body.String(), "/var/lib") || !strings.Contains(rec.Body.String(), "open [path]: permission denied") {
		t.Errorf("status: %s", rec.Body)
	}
}

func TestActionIDs(t *testing.T) {
	srv, calls := actionServer(t, nil)
	for _, id := range []string{"..", "../../etc/passwd", "a/../b", "a%5Cb", "a%00b", "%2Fetc"} {
		rec := do(srv.LocalHandler(), httptest.NewRequest("POST", "http://aisedge/api/quarantine-requeue/"+id, nil))
		if rec.Code == 200 {
			t.Errorf("id %q accepted", id)
		}
	}
	// Hub dead letters are named by their session prefix and generation.
	if rec := do(srv.LocalHandler(), httptest.NewRequest("POST", "http://aisedge/api/quarantine-requeue/staged/edge-a/P.S.E/%233", nil)); rec.Code != 200 {
		t.Errorf("dead-letter id: %d %s", rec.Code, rec.Body)
	}
	if len(*calls) != 1 || (*calls)[0] != "staged/edge-a/P.S.E/#3" {
		t.Errorf("calls %q", *calls)
	}
}
