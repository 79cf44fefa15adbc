package xnat_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/xnat"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

var ctx = context.Background()

func TestDeliverHappyPath(t *testing.T) {
	for _, mode := range []xnat.UploadMode{xnat.Archive, xnat.PerFile} {
		t.Run(mode.String(), func(t *testing.T) {
			e := setup(t, xnattest.Options{})
			c := e.client(nil)
			s := session("SESS1", 3, 7, 2000)
			rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			e.checkStored(s)
			if !rep.ExperimentCreated || rep.ScansCreated != 3 || rep.Files != 21 || rep.Uploaded != 21 || rep.Check != xnat.CheckMD5 {
				t.Fatalf("report %+v", rep)
			}
			for _, rr := range rep.Resources {
				if !rr.Created || rr.Verification.Verified != 7 || !rr.Verification.OK() || rr.Verification.Refreshed {
					t.Fatalf("resource report %+v", rr)
				}
			}
			if n := e.srv.LoginsCreated(); n != 1 {
				t.Fatalf("%d server sessions, want one reused", n)
			}
			uploads := e.srv.Count("PUT", "/files/")
			want := 21
			if mode == xnat.Archive {
				want = 3
			}
			if uploads != want {
				t.Fatalf("%d upload requests, want %d", uploads, want)
			}
			if int(rep.Requests) != len(e.srv.Requests()) {
				t.Fatalf("report counts %d requests, server saw %d", rep.Requests, len(e.srv.Requests()))
			}
			for _, r := range e.srv.Requests() {
				if r.UserAgent != xnat.DefaultUserAgent || strings.Contains(r.UserAgent, "Mozilla") {
					t.Fatalf("User-Agent %q", r.UserAgent)
				}
			}
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if e.srv.Logouts() != 1 || e.srv.ActiveLogins() != 0 {
				t.Fatalf("logouts %d, active %d", e.srv.Logouts(), e.srv.ActiveLogins())
			}
			if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); !errors.Is(err, xnat.ErrClosed) {
				t.Fatalf("after Close: %v", err)
			}
		})
	}
}

func TestDeliverTwiceChangesNothing(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	s := session("SESS2", 2, 5, 500)
	if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	for _, mode := range []xnat.UploadMode{xnat.Archive, xnat.PerFile} {
		rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		if rep.ExperimentCreated || rep.ScansCreated != 0 || rep.Uploaded != 0 || rep.Files != 10 {
			t.Fatalf("second run report %+v", rep)
		}
		for _, rr := range rep.Resources {
			if rr.Created || rr.AlreadyPresent != 5 || rr.Duplicates != 0 {
				t.Fatalf("second run resource %+v", rr)
			}
		}
	}
	if n := e.srv.Count("PUT", "") + e.srv.Count("POST", "") + e.srv.Count("DELETE", ""); n != 0 {
		t.Fatalf("second run sent %d writes: %v", n, e.srv.Requests())
	}
	e.checkStored(s)
}

func TestAppendLateSeries(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	full := session("SESS3", 3, 4, 300)
	first := full
	first.Scans = full.Scans[:2]
	if _, err := c.Deliver(ctx, first, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Deliver(ctx, full, xnat.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExperimentCreated || rep.ScansCreated != 1 || rep.Uploaded != 4 || rep.Files != 12 {
		t.Fatalf("append report %+v", rep)
	}
	if n := len(e.srv.Experiments("P1")); n != 1 {
		t.Fatalf("%d experiments after append", n)
	}
	e.checkStored(full)
}

func TestRetryAfterCrashFillsGaps(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(func(c *xnat.Config) { c.Retry = xnat.NoRetry })
	s := session("SESS4", 2, 10, 400)
	// The connection drops on the second per-file upload: the delivery
	// stops with a transient error, one file written (one scan at a time,
	// so that no other scan's uploads are under way when it drops).
	h := e.srv.Inject(xnattest.Fault{Method: "PUT", Path: "/files/", Nth: 2, HangUp: true})
	_, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: xnat.PerFile, Parallel: 1})
	if err == nil || !xnat.IsTransient(err) || xnat.IsPermanent(err) || h.Fired() != 1 {
		t.Fatalf("interrupted delivery: err %v (transient %v), fired %d", err, xnat.IsTransient(err), h.Fired())
	}
	// Files lost by XNAT itself are gaps too.
	rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: xnat.PerFile})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploaded != 19 {
		t.Fatalf("retry uploaded %d, want the 19 missing", rep.Uploaded)
	}
	e.srv.RemoveFile("P1", "SESS4", "2", "DICOM", s.Scans[1].Resources[0].Files[3].Path)
	e.srv.RemoveFile("P1", "SESS4", "1", "DICOM", s.Scans[0].Resources[0].Files[0].Path)
	rep, err = c.Deliver(ctx, s, xnat.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploaded != 2 {
		t.Fatalf("gap fill uploaded %d, want 2", rep.Uploaded)
	}
	e.checkStored(s)
}

func TestSessionExpiryMidUpload(t *testing.T) {
	for _, mode := range []xnat.UploadMode{xnat.PerFile, xnat.Archive} {
		t.Run(mode.String(), func(t *testing.T) {
			e := setup(t, xnattest.Options{})
			c := e.client(nil)
			s := session("SESS5", 3, 5, 800)
			// Every session ends just before the third upload is served.
			e.srv.Inject(xnattest.Fault{Method: "PUT", Path: "/files/", Nth: 3, ExpireLogins: true})
			if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode}); err != nil {
				t.Fatal(err)
			}
			e.checkStored(s)
			if n := e.srv.LoginsCreated(); n != 2 {
				t.Fatalf("%d sessions, want 2 (one re-login)", n)
			}
			if st := c.Stats(); st.Logins != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestBadGatewayStorm(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil) // 5 attempts
	s := session("SESS6", 2, 6, 300)
	e.srv.Inject(xnattest.Fault{Method: "PUT", Path: "/files/", Nth: 1, Times: 3, Status: 502})
	e.srv.Inject(xnattest.Fault{Method: "GET", Path: "/files$", Nth: 1, Times: 2, Status: 504})
	e.srv.Inject(xnattest.Fault{Method: "GET", Path: "/experiments/", Nth: 1, Status: 503, Header: http.Header{"Retry-After": {"0"}}})
	if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	e.checkStored(s)
	if st := c.Stats(); st.Retries != 6 {
		t.Fatalf("retries %d, want 6", st.Retries)
	}

	// A storm longer than the policy: transient, and a later run completes.
	s2 := session("SESS7", 2, 6, 300)
	e.srv.Inject(xnattest.Fault{Method: "PUT", Path: "SESS7|/files/", Status: 502, Times: 100})
	_, err := c.Deliver(ctx, s2, xnat.DeliverOptions{})
	var xe *xnat.Error
	if !xnat.IsTransient(err) || xnat.IsPermanent(err) || !errors.As(err, &xe) || xe.Status != 502 {
		t.Fatalf("storm: %v", err)
	}
	e.srv.ClearFaults()
	err = xnat.RetryPolicy{Attempts: 3, Initial: time.Millisecond}.Do(ctx, func(ctx context.Context) error {
		_, err := c.Deliver(ctx, s2, xnat.DeliverOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.checkStored(s2)
}

func TestChecksumsOff(t *testing.T) {
	t.Run("refresh helps", func(t *testing.T) {
		e := setup(t, xnattest.Options{ChecksumsDisabled: true})
		c := e.client(nil)
		s := session("SESS8", 2, 4, 300)
		rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Check != xnat.CheckMD5 || rep.Files != 8 {
			t.Fatalf("report %+v", rep)
		}
		for _, rr := range rep.Resources {
			if !rr.Verification.Refreshed || rr.Verification.Downloaded != 0 {
				t.Fatalf("resource %+v", rr.Verification)
			}
		}
		if n := e.srv.Count("POST", "/data/services/refresh/catalog"); n != 2 {
			t.Fatalf("%d refresh calls, want 2", n)
		}
		e.checkStored(s)
	})
	t.Run("refresh does not help", func(t *testing.T) {
		e := setup(t, xnattest.Options{ChecksumsDisabled: true, RefreshLeavesDigestsEmpty: true})
		c := e.client(nil)
		s := session("SESS9", 2, 4, 300)
		rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Never verified by assumption: the files are downloaded and
		// hashed.
		if rep.Check != xnat.CheckDownload || rep.Files != 8 {
			t.Fatalf("report %+v", rep)
		}
		for _, rr := range rep.Resources {
			if rr.Verification.Check != xnat.CheckDownload || rr.Verification.Downloaded != 4 {
				t.Fatalf("resource %+v", rr.Verification)
			}
		}
		if n := e.srv.Count("GET", "/resources/DICOM/files/."); n != 8 {
			t.Fatalf("%d downloads, want 8", n)
		}
		// A damaged file of another size is still caught.
		e.srv.CorruptFile("P1", "SESS9", "1", "DICOM", s.Scans[0].Resources[0].Files[0].Path, []byte("short"))
		_, err = c.Deliver(ctx, s, xnat.DeliverOptions{})
		if !errors.Is(err, xnat.ErrConflict) || !xnat.IsPermanent(err) {
			t.Fatalf("size mismatch: %v", err)
		}
	})
}

func TestProjectMissing(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	for _, p := range []string{"NOPE", "HIDDEN"} {
		s := session("SESS10", 1, 1, 10)
		s.Project = p
		_, err := c.Deliver(ctx, s, xnat.DeliverOptions{})
		if !errors.Is(err, xnat.ErrProjectNotFound) || !xnat.IsPermanent(err) || xnat.IsTransient(err) {
			t.Fatalf("project %s: %v", p, err)
		}
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error does not name the project: %v", err)
		}
	}
	if n := e.srv.Count("PUT", ""); n != 0 {
		t.Fatalf("%d PUTs for a missing project", n)
	}
	if err := c.EnsureProject(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
}

func TestUnauthorizedReloginOnce(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	if err := c.Login(ctx); err != nil {
		t.Fatal(err)
	}
	// A single 401: one fresh login, then success.
	e.srv.Inject(xnattest.Fault{Method: "GET", Path: "^/data/projects/P1$", Nth: 1, Status: 401,
		Header: http.Header{"Www-Authenticate": {`Basic realm="XNAT Protected Area"`}}})
	if err := c.EnsureProject(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Logins != 2 || e.srv.LoginsCreated() != 2 {
		t.Fatalf("logins %d, sessions %d; want 2", st.Logins, e.srv.LoginsCreated())
	}
	// 401 for good: exactly one more login, then ErrAuth (transient: the
	// credentials get fixed, the data is fine; never retried by the client).
	e.srv.Inject(xnattest.Fault{Method: "GET", Path: "^/data/projects/P1$", Status: 401})
	err := c.EnsureProject(ctx, "P1")
	if !errors.Is(err, xnat.ErrAuth) || xnat.IsPermanent(err) || !xnat.IsTransient(err) {
		t.Fatalf("persistent 401: %v", err)
	}
	if st := c.Stats(); st.Logins != 3 {
		t.Fatalf("logins %d, want 3 (one re-login per call)", st.Logins)
	}
}

func TestHTMLLoginPageOn2xx(t *testing.T) {
	e := setup(t, xnattest.Options{HTMLOnExpired: true})
	c := e.client(nil)
	if err := c.EnsureProject(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	e.srv.ExpireLogins()
	s := session("SESS11", 1, 3, 100)
	if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	if c.Stats().Logins != 2 {
		t.Fatalf("logins %d, want 2", c.Stats().Logins)
	}
	e.checkStored(s)
	// A 2xx HTML page on an upload is never taken for success either.
	e.srv.Inject(xnattest.Fault{Method: "PUT", Path: "/files/", Nth: 1, Status: 200,
		Body: "<!DOCTYPE html>\n<html><body>login</body></html>"})
	s2 := session("SESS12", 1, 3, 100)
	if _, err := c.Deliver(ctx, s2, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	e.checkStored(s2)
	if c.Stats().Logins != 3 {
		t.Fatalf("logins %d, want 3", c.Stats().Logins)
	}
}

func TestWrongPasswordAndSecrecy(t *testing.T) {
	e := setup(t, xnattest.Options{})
	var logs bytes.Buffer
	c := e.client(func(c *xnat.Config) {
		c.Password = "wrong-" + password
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	err := c.EnsureProject(ctx, "P1")
	if !errors.Is(err, xnat.ErrAuth) || xnat.IsPermanent(err) {
		t.Fatalf("wrong password: %v", err)
	}
	if c.Stats().Logins != 1 {
		t.Fatalf("logins %d, want 1 (no loop)", c.Stats().Logins)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), user) {
		t.Fatalf("error leaks credentials: %v", err)
	}
	// A successful run's logs, and every rendering of the config.
	good := e.client(func(c *xnat.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	if _, err := good.Deliver(ctx, session("SESS13", 1, 2, 50), xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	good.Close(ctx)
	cfg := e.config()
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("client", "c", good)
	out := logs.String() + fmt.Sprintf("%v %+v %#v %s %v %+v %#v", cfg, cfg, cfg, cfg, good, good, good)
	if strings.Contains(out, password) || strings.Contains(out, user) {
		t.Fatalf("credentials leaked: %s", out)
	}
	if !strings.Contains(logs.String(), "/data/JSESSION") {
		t.Fatalf("debug log lacks requests: %s", logs.String())
	}
}

// recordingTransport remembers which requests carried credentials.
type recordingTransport struct {
	mu    sync.Mutex
	basic []string
	rt    http.RoundTripper
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" {
		r.mu.Lock()
		r.basic = append(r.basic, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
	}
	return r.rt.RoundTrip(req)
}

func TestCredentialsOnlyOnLogin(t *testing.T) {
	e := setup(t, xnattest.Options{})
	rt := &recordingTransport{rt: http.DefaultTransport}
	c := e.client(func(c *xnat.Config) { c.Transport = rt })
	if _, err := c.Deliver(ctx, session("SESS14", 2, 3, 100), xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(rt.basic) != 1 || rt.basic[0] != "POST /data/JSESSION" {
		t.Fatalf("credentials sent on %v", rt.basic)
	}
}

func TestHTTPSToHTTPRedirectRefused(t *testing.T) {
	plain := xnattest.New(xnattest.Options{})
	defer plain.Close()
	populate(t, plain)
	tlsSrv := xnattest.NewTLS(xnattest.Options{})
	defer tlsSrv.Close()
	populate(t, tlsSrv)
	ca := pemOf(tlsSrv)
	// 302 (Go would turn the login POST into a GET) and 307 (kept as a
	// POST, with the credentials): both refused before anything is sent.
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		tlsSrv.ClearFaults()
		tlsSrv.Inject(xnattest.Fault{Status: code, Header: http.Header{"Location": {plain.URL + "/data/JSESSION"}}})
		c, err := xnat.New(xnat.Config{URL: tlsSrv.URL, Username: user, Password: password, CAPEM: ca, Retry: fastRetry})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		err = c.EnsureProject(ctx, "P1")
		if !errors.Is(err, xnat.ErrInsecureRedirect) || !xnat.IsPermanent(err) {
			t.Fatalf("https→http %d: %v", code, err)
		}
		if err := c.Preflight(ctx); !errors.Is(err, xnat.ErrInsecureRedirect) {
			t.Fatalf("preflight: %v", err)
		}
		if n := len(plain.Requests()); n != 0 {
			t.Fatalf("the http server received %d requests (credentials could have leaked)", n)
		}
		if c.Stats().Logins != 1 {
			t.Fatalf("logins %d: a refused redirect must not be retried", c.Stats().Logins)
		}
	}

	// Explicitly allowed (the original's XNAT_ALLOW_INSECURE_REDIRECT=1).
	c2, err := xnat.New(xnat.Config{URL: tlsSrv.URL, Username: user, Password: password, CAPEM: ca, Retry: fastRetry,
		AllowInsecureRedirect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	if err := c2.Preflight(ctx); err != nil {
		t.Fatalf("preflight allowed: %v", err)
	}
	c2.Login(ctx)
	if n := plain.Count("", "/data/JSESSION"); n == 0 {
		t.Fatalf("allowed redirect not followed")
	}
}

func pemOf(s *xnattest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.HTTP.Certificate().Raw})
}

func TestTLSCustomCA(t *testing.T) {
	srv := xnattest.NewTLS(xnattest.Options{})
	defer srv.Close()
	e := populate(t, srv)
	ca := pemOf(srv)

	// Without the CA: a certificate error, permanent, no retry storm.
	c := e.client(nil)
	err := c.EnsureProject(ctx, "P1")
	if err == nil || !xnat.IsPermanent(err) || len(srv.Requests()) != 0 {
		t.Fatalf("untrusted certificate: %v (permanent %v, %d requests)", err, xnat.IsPermanent(err), len(srv.Requests()))
	}
	// With the CA, as PEM bytes and as a file.
	file := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(file, ca, 0o600)
	for _, mod := range []func(*xnat.Config){
		func(c *xnat.Config) { c.CAPEM = ca },
		func(c *xnat.Config) { c.CAFile = file },
	} {
		c := e.client(mod)
		s := session(fmt.Sprintf("SESSTLS%d", len(srv.Experiments("P1"))), 1, 3, 100)
		if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
			t.Fatal(err)
		}
		e.checkStored(s)
	}
	if _, err := xnat.New(xnat.Config{URL: srv.URL, Username: user, Password: password, CAPEM: []byte("not pem")}); !errors.Is(err, xnat.ErrInvalid) {
		t.Fatalf("bad CA bundle: %v", err)
	}
}

// The client idles for twice the server's idle timeout, on a clock the
// test moves (the server's and the client's): time passes only in steps
// shorter than the timeout, each once the heartbeat due after the last one
// was sent, so the outcome does not depend on when the machine runs the
// heartbeat's timer.
func TestHeartbeatKeepsSessionAlive(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1700000000, 0)}
	e := setup(t, xnattest.Options{LoginTimeout: 1500 * time.Millisecond, Now: clk.Now})
	c := e.client(func(c *xnat.Config) { c.Now = clk.Now })
	if err := c.EnsureProject(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	heartbeats := func() int { return e.srv.Count("GET", "^/data/JSESSION$") }
	// The heartbeat interval is a quarter of the timeout (375 ms).
	for range 8 {
		n := heartbeats()
		clk.Add(400 * time.Millisecond)
		// A ceiling, not a budget: the heartbeat's timer fires every
		// 375 ms of real time and sends once the clock says it is due.
		deadline := time.Now().Add(2 * time.Minute)
		for heartbeats() == n {
			if time.Now().After(deadline) {
				t.Fatalf("no heartbeat within 2 minutes after %d", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := c.EnsureProject(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.LoginsCreated(); n != 1 {
		t.Fatalf("%d sessions: the heartbeat did not keep the first alive", n)
	}
	if n := heartbeats(); n < 8 {
		t.Fatalf("%d heartbeats", n)
	}
}

func TestStaleSessionReplacedWithoutHeartbeat(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1700000000, 0)}
	e := setup(t, xnattest.Options{LoginTimeout: 15 * time.Minute, Now: clk.Now})
	c := e.client(func(c *xnat.Config) { c.KeepAlive = -1; c.Now = clk.Now })
	if err := c.EnsureProject(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	clk.Add(20 * time.Minute)
	e.srv.ResetRequests()
	if err := c.EnsureProject(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	// The client knew the session had idled out: it logged in first instead
	// of collecting a 401.
	if rs := e.srv.Requests(); len(rs) != 2 || rs[0].Path != "/data/JSESSION" || rs[1].Status != 200 {
		t.Fatalf("requests %+v", rs)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestConflictNeverOverwritten(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	s := session("SESS15", 1, 3, 100)
	if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	p := s.Scans[0].Resources[0].Files[1].Path
	e.srv.CorruptFile("P1", "SESS15", "1", "DICOM", p, []byte("something else entirely"))
	_, err := c.Deliver(ctx, s, xnat.DeliverOptions{})
	if !errors.Is(err, xnat.ErrConflict) || !xnat.IsPermanent(err) || !strings.Contains(err.Error(), p) {
		t.Fatalf("conflict: %v", err)
	}
	if got := string(e.srv.FileData("P1", "SESS15", "1", "DICOM", p)); got != "something else entirely" {
		t.Fatalf("overwritten: %q", got)
	}
	// An operator's explicit requeue may replace it.
	rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{ReplaceMismatched: true})
	if err != nil || rep.Resources[0].Replaced != 1 {
		t.Fatalf("replace: %v %+v", err, rep)
	}
}

func TestDuplicatesAnswer(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	s := session("SESS16", 1, 4, 100)
	if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	// The listing comes back empty once (stale), so everything is sent
	// again: XNAT answers duplicates, writes nothing, and verification
	// shows the files are ours.
	e.srv.Inject(xnattest.Fault{Method: "GET", Path: "/files$", Nth: 1, Status: 200,
		Body: `{"ResultSet":{"Result":[],"totalRecords":"0"}}`})
	rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resources[0].Duplicates != 4 || rep.Resources[0].Verification.Verified != 4 {
		t.Fatalf("report %+v", rep.Resources[0])
	}
	e.checkStored(s) // still one version each

	// Same, but XNAT's copy differs: a conflict, nothing overwritten.
	p := s.Scans[0].Resources[0].Files[0].Path
	e.srv.CorruptFile("P1", "SESS16", "1", "DICOM", p, []byte("other"))
	e.srv.Inject(xnattest.Fault{Method: "GET", Path: "/files$", Nth: 1, Status: 200,
		Body: `{"ResultSet":{"Result":[],"totalRecords":"0"}}`})
	if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: xnat.PerFile}); !errors.Is(err, xnat.ErrConflict) {
		t.Fatalf("differing duplicate: %v", err)
	}
	if got := string(e.srv.FileData("P1", "SESS16", "1", "DICOM", p)); got != "other" {
		t.Fatalf("overwritten: %q", got)
	}
}

func TestNoConcurrentUploadsIntoOneResource(t *testing.T) {
	e := setup(t, xnattest.Options{})
	e.srv.Inject(xnattest.Fault{Method: "PUT", Path: "/files/", Delay: 5 * time.Millisecond})
	c := e.client(nil)
	s := session("SESS17", 3, 6, 200)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			mode := xnat.PerFile
			if i%2 == 0 {
				mode = xnat.Archive
			}
			_, errs[i] = c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode, Parallel: 3})
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.srv.ConcurrentUploads(); n != 0 {
		t.Fatalf("%d overlapping uploads into one resource", n)
	}
	e.checkStored(s)
}

func TestAcceptedButNotStored(t *testing.T) {
	e := setup(t, xnattest.Options{})
	owner := e.client(nil)
	s := session("SESS18", 1, 4, 100)
	part := s
	part.Scans = []xnat.Scan{s.Scans[0]}
	part.Scans[0].Resources = []xnat.Resource{s.Scans[0].Resources[0]}
	part.Scans[0].Resources[0].Files = s.Scans[0].Resources[0].Files[:2]
	if _, err := owner.Deliver(ctx, part, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	// A collaborator's uploads are answered 2xx and not written.
	viewer := e.client(func(c *xnat.Config) { c.Username, c.Password = "viewer", "viewer-pw" })
	_, err := viewer.Deliver(ctx, s, xnat.DeliverOptions{})
	if !errors.Is(err, xnat.ErrNotStored) || !xnat.IsPermanent(err) {
		t.Fatalf("not stored: %v", err)
	}
}

func TestArchiveBatchesAndTempFile(t *testing.T) {
	e := setup(t, xnattest.Options{})
	dir := t.TempDir()
	c := e.client(func(c *xnat.Config) {
		c.ArchiveBatchBytes = 10_000
		c.ArchiveMemoryBytes = 1024
		c.TempDir = dir
	})
	s := session("SESS19", 1, 12, 2500) // 30 kB → 3 archives (4 files each), built on disk
	if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Count("PUT", `/files/upload(-\d+)?\.tar\.gz$`); n != 3 {
		t.Fatalf("%d archive uploads, want 3", n)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("temporary archives left behind: %v", left)
	}
	e.checkStored(s)
}

func TestSourceMismatchNotDelivered(t *testing.T) {
	for _, mode := range []xnat.UploadMode{xnat.Archive, xnat.PerFile} {
		t.Run(mode.String(), func(t *testing.T) {
			e := setup(t, xnattest.Options{})
			c := e.client(nil)
			s := session("SESS20", 1, 3, 100)
			f := &s.Scans[0].Resources[0].Files[2]
			f.Open = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(strings.Repeat("x", 100))), nil }
			_, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode})
			if !errors.Is(err, xnat.ErrSourceMismatch) && !errors.Is(err, xnat.ErrConflict) {
				t.Fatalf("bad source: %v", err)
			}
			if !xnat.IsPermanent(err) {
				t.Fatalf("bad source not permanent: %v", err)
			}
		})
	}
}

func TestInvalidInputSendsNothing(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	bad := []func(*xnat.Session){
		func(s *xnat.Session) { s.Subject = "has space" },
		func(s *xnat.Session) { s.Label = "a/b" },
		func(s *xnat.Session) { s.XSIType = "mrSessionData" },
		func(s *xnat.Session) { s.Scans[0].XSIType = "xnat:imageScanData" },
		func(s *xnat.Session) { s.Scans[0].Resources[0].Files[0].Path = "../etc/passwd" },
		func(s *xnat.Session) { s.Scans[0].Resources[0].Files[0].MD5 = "nothex" },
		func(s *xnat.Session) { s.Scans[0].Resources[0].Files[1].Path = s.Scans[0].Resources[0].Files[0].Path },
	}
	for i, mod := range bad {
		s := session("SESS21", 1, 2, 10)
		mod(&s)
		if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); !errors.Is(err, xnat.ErrInvalid) || !xnat.IsPermanent(err) {
			t.Fatalf("case %d: %v", i, err)
		}
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Fatalf("invalid input sent %d requests", n)
	}
	for _, u := range []string{"ftp://x", "https://u:p@host", "host-only"} {
		if _, err := xnat.New(xnat.Config{URL: u, Username: "a", Password: "b"}); !errors.Is(err, xnat.ErrInvalid) || strings.Contains(err.Error(), "u:p") {
			t.Fatalf("URL %q: %v", u, err)
		}
	}
}

func TestLowLevelOperations(t *testing.T) {
	e := setup(t, xnattest.Options{})
	c := e.client(nil)
	id, err := c.EnsureSubject(ctx, "P1", "SUBJX")
	if err != nil || id != "XNAT_S00001" {
		t.Fatalf("subject %q %v", id, err)
	}
	exp, err := c.EnsureExperiment(ctx, xnat.ExperimentSpec{Project: "P1", Subject: "SUBJX", Label: "EXPX",
		XSIType: "xnat:petSessionData", Date: "2024-02-29"})
	if err != nil || !exp.Created || exp.ID == "" {
		t.Fatalf("experiment %+v %v", exp, err)
	}
	if got := e.srv.Experiments("P1")[0]; got.Date != "2024-02-29" || got.XSIType != "xnat:petSessionData" {
		t.Fatalf("stored %+v", got)
	}
	again, err := c.EnsureExperiment(ctx, xnat.ExperimentSpec{Project: "P1", Subject: "SUBJX", Label: "EXPX", XSIType: "xnat:petSessionData"})
	if err != nil || again.Created || again.ID != exp.ID {
		t.Fatalf("again %+v %v", again, err)
	}
	// Same label, other subject or type: conflict.
	if _, err := c.EnsureExperiment(ctx, xnat.ExperimentSpec{Project: "P1", Subject: "OTHER", Label: "EXPX", XSIType: "xnat:petSessionData"}); !errors.Is(err, xnat.ErrConflict) {
		t.Fatalf("other subject: %v", err)
	}
	// Another computed type (a later generation with other modalities):
	// the session keeps its type.
	if got, err := c.EnsureExperiment(ctx, xnat.ExperimentSpec{Project: "P1", Subject: "SUBJX", Label: "EXPX", XSIType: "xnat:mrSessionData"}); err != nil || got.XSIType != "xnat:petSessionData" {
		t.Fatalf("other type: %+v %v", got, err)
	}
	created, err := c.EnsureScan(ctx, exp.ID, xnat.ScanSpec{ID: "7", XSIType: "xnat:petScanData", Type: "PET", SeriesDescription: "PET AC"})
	if err != nil || !created {
		t.Fatalf("scan %v %v", created, err)
	}
	if created, err := c.EnsureScan(ctx, exp.ID, xnat.ScanSpec{ID: "7", XSIType: "xnat:petScanData", Type: "PET", SeriesDescription: "PET AC"}); err != nil || created {
		t.Fatalf("scan again %v %v", created, err)
	}
	ref := xnat.ResourceRef{ExperimentID: exp.ID, ScanID: "7", Label: "DICOM"}
	if created, err := c.EnsureResource(ctx, ref, "DICOM", ""); err != nil || !created {
		t.Fatalf("resource %v %v", created, err)
	}
	if created, err := c.EnsureResource(ctx, ref, "DICOM", ""); err != nil || created {
		t.Fatalf("resource again (409) %v %v", created, err)
	}
	files := []xnat.File{fileOf("a/b.dcm", []byte("hello")), fileOf("c.dcm", []byte("world"))}
	res, err := c.Upload(ctx, ref, files, xnat.Archive)
	if err != nil || res.Sent != 2 || len(res.Duplicates) != 0 {
		t.Fatalf("upload %+v %v", res, err)
	}
	res, err = c.Upload(ctx, ref, files[:1], xnat.PerFile)
	if err != nil || len(res.Duplicates) != 1 || res.Duplicates[0] != "a/b.dcm" {
		t.Fatalf("duplicate upload %+v %v", res, err)
	}
	list, err := c.ListResourceFiles(ctx, ref)
	if err != nil || len(list) != 2 || list[0].Path != "a/b.dcm" || list[0].Name != "b.dcm" || list[0].Size != 5 || list[0].Digest != md5hex([]byte("hello")) {
		t.Fatalf("listing %+v %v", list, err)
	}
	v, err := c.Verify(ctx, ref, append(files, fileOf("missing.dcm", []byte("x"))))
	var ve *xnat.VerifyError
	if !errors.As(err, &ve) || len(v.Missing) != 1 || v.Verified != 2 || !xnat.IsTransient(err) {
		t.Fatalf("verify with a missing file: %+v %v", v, err)
	}
	scans, err := c.ListScans(ctx, exp.ID)
	if err != nil || len(scans) != 1 || scans[0].SeriesDescription != "PET AC" {
		t.Fatalf("scans %+v %v", scans, err)
	}
	rs, err := c.ListResources(ctx, exp.ID, "7")
	if err != nil || len(rs) != 1 || rs[0].Format != "DICOM" {
		t.Fatalf("resources %+v %v", rs, err)
	}
}

func TestGuestSiteExpiredSession(t *testing.T) {
	// On a site with guest access an expired cookie becomes a guest
	// session: the project then looks missing (404). The client must see the
	// new JSESSIONID, log in again and carry on.
	e := setup(t, xnattest.Options{AllowGuest: true})
	c := e.client(nil)
	if err := c.EnsureProject(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	e.srv.ExpireLogins()
	s := session("SESS22", 1, 2, 100)
	if _, err := c.Deliver(ctx, s, xnat.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	if c.Stats().Logins != 2 {
		t.Fatalf("logins %d, want 2", c.Stats().Logins)
	}
	e.checkStored(s)
}
