package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aisedge/aisedge/internal/api"
	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/spool"
)

// The status parts are real edge.Status and hub.Status values (the page
// reads them through their JSON, so a renamed field shows up here).
func fakeParts(now time.Time) map[string]api.StatusFunc {
	sess := func(subj, s string) spool.Session {
		return spool.Session{Project: "AISEDGE", Subject: subj, Visit: s, ProfileHash: "p1"}
	}
	es := edge.Status{
		Edge:   "edge-a",
		Listen: "127.0.0.1:4242",
		Open: []edge.StudyStatus{
			{Session: "AISEDGE.SUBJ_3F9A1C.SESS_7B2E04", Pending: 57, Age: 95, Idle: 12},
			{Session: "AISEDGE.SUBJ_11D0E2.SESS_0C44A9", Pending: 3, Age: 2*3600 + 5*60, Idle: 40},
		},
		Queued: []spool.Shipment{
			{StudyKey: "k1", Generation: 1, Session: sess("SUBJ_5E6F70", "SESS_A1B2C3"), State: spool.Staged, StagedAt: now.Add(-3 * time.Minute)},
			{StudyKey: "k2", Generation: 2, Session: sess("SUBJ_8899AA", "SESS_D4E5F6"), State: spool.Uploaded, StagedAt: now.Add(-9 * time.Minute),
				Attempts: 4, LastError: "seal: PUT MANIFEST.g2.json: 403 AccessDenied", Held: true},
		},
		Quarantine: []edge.QuarantineEntry{{
			ID: "20261126T004502Z-9f3e11aa", ReceivedAt: now.Add(-20 * time.Minute), CalledAET: "AISEDGE", CallingAET: "CT_SCANNER_1",
			SOPHash: "b5d1", Reasons: []string{"unmapped-aet: called AET has no route", "gate:burned-in: BurnedInAnnotation is YES"},
		}},
		LastUpload: now.Add(-40 * time.Second),
		Sessions: []edge.SessionProgress{
			{Session: "AISEDGE.SUBJ_3F9A1C.SESS_7B2E04", Received: 57, FirstReceived: now.Add(-95 * time.Second), LastReceived: now.Add(-12 * time.Second)},
			{Session: "AISEDGE.SUBJ_8899AA.SESS_D4E5F6", Received: 12, Staged: 12, Uploaded: 12, Generations: 2, Held: true,
				FirstReceived: now.Add(-20 * time.Minute), LastReceived: now.Add(-19 * time.Minute)},
		},
		Shipped: []edge.ShippedSession{
			{Session: "AISEDGE.SUBJ_5E6F70.SESS_A1B2C3", Generation: 1, Instances: 64, Bytes: 32 << 20, StagedAt: now.Add(-4 * time.Minute), SealedAt: now.Add(-2 * time.Minute),
				Series: []edge.SeriesShipped{
					{Scan: "5.DWI", Modality: "MR", Instances: 24, Bytes: 12 << 20, FirstReceived: now.Add(-5 * time.Minute), LastReceived: now.Add(-5 * time.Minute)},
					{Scan: "2.AX_T1", Modality: "MR", Instances: 40, Bytes: 20 << 20, FirstReceived: now.Add(-6 * time.Minute), LastReceived: now.Add(-5 * time.Minute)}}},
			{Session: "AISEDGE.SUBJ_2C4D6E.SESS_9A8B7C", Generation: 1, Instances: 253, Bytes: 1536<<10 + 130<<20,
				StagedAt: now.Add(-13*time.Minute - 30*time.Second), SealedAt: now.Add(-12 * time.Minute),
				Series: []edge.SeriesShipped{
					{Scan: "1.SCOUT", Modality: "CT", Instances: 3, Bytes: 1536 << 10, FirstReceived: now.Add(-15 * time.Minute), LastReceived: now.Add(-15 * time.Minute)},
					{Scan: "2.AX_CT_1_25mm", Modality: "CT", Instances: 250, Bytes: 130 << 20, FirstReceived: now.Add(-15*time.Minute + time.Second), LastReceived: now.Add(-14 * time.Minute)}}},
		},
		Received: dimse.MetricsSnapshot{AssociationsAccepted: 12, AssociationsRejected: 1, StoresOK: 1234, StoresFailed: 2, BytesReceived: 3 << 30, Active: 1},
	}
	hs := hub.Status{
		Destination: "XNAT",
		Pending:     []hub.Sealed{{Base: "staged/edge-a/AISEDGE.SUBJ_5E6F70.SESS_A1B2C3/", Generation: 1, ManifestKey: "staged/edge-a/AISEDGE.SUBJ_5E6F70.SESS_A1B2C3/MANIFEST.json"}},
		DeadLetters: []hub.DeadLetter{{Base: "staged/edge-a/AISEDGE.SUBJ_0BADF0.SESS_0D0E0F/", Generation: 3,
			Reason: "XNAT refused the session: project AISEDGE does not exist", At: now.Add(-time.Hour)}},
		Paused: &hub.Pause{Since: now.Add(-10 * time.Minute), Reason: "xnat: login: POST /data/JSESSION: 401 Unauthorized", Attempts: 4},
		Recent: []hub.Delivery{{Base: "staged/edge-a/AISEDGE.SUBJ_2C4D6E.SESS_9A8B7C/", Generation: 1, Edge: "edge-a", Session: "AISEDGE.SUBJ_2C4D6E.SESS_9A8B7C",
			Files: 253, Bytes: 1536<<10 + 130<<20, StagedAt: now.Add(-13*time.Minute - 30*time.Second), StartedAt: now.Add(-11*time.Minute - 50*time.Second), At: now.Add(-11 * time.Minute),
			Series: []hub.DeliveredSeries{{Scan: "2.AX_CT_1_25mm", Modality: "CT", Files: 250, Bytes: 130 << 20}, {Scan: "1.SCOUT", Modality: "CT", Files: 3, Bytes: 1536 << 10}}}},
	}
	return map[string]api.StatusFunc{
		"edge": func() (any, error) { return es, nil },
		"hub":  func() (any, error) { return hs, nil },
	}
}

func fakeRegistry(t *testing.T) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	edge.NewMetrics(reg)
	cert := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aisedge_certificate_expiry_timestamp_seconds", Help: "test"}, []string{"file"})
	cert.WithLabelValues("/etc/aisedge/s3-ca.pem").Set(float64(time.Now().Add(9*24*time.Hour + 13*time.Hour).Unix()))
	delivered := prometheus.NewCounter(prometheus.CounterOpts{Name: "aisedge_hub_sessions_delivered_total", Help: "test"})
	delivered.Add(41)
	reg.MustRegister(cert, delivered)
	return reg
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func getPage(t *testing.T, srv *api.Server) (string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 {
		t.Fatalf("GET / = %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String(), rec.Header()
}

// text strips tags and collapses white space, for assertions on what a
// reader sees.
func text(html string) string {
	s := regexp.MustCompile(`(?s)<style.*?</style>|<[^>]*>`).ReplaceAllString(html, " ")
	s = strings.NewReplacer("&#43;", "+", "&#39;", "'", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#34;", `"`).Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

func wantAll(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

// wantPipeline lists what the fake status must show, as text.
var wantPipeline = []string{
	"Ready, needs attention",
	"1 shipment held after a permanent failure",
	"1 instance in quarantine",
	"1 dead letter at the hub",
	"certificate /etc/aisedge/s3-ca.pem expires in 9.5 days",
	// edge
	"Edge edge-a", "DICOM on 127.0.0.1:4242",
	"Open studies (2, 60 instances pending)",
	"AISEDGE.SUBJ_3F9A1C.SESS_7B2E04 57 1m35s 12s",
	"AISEDGE.SUBJ_11D0E2.SESS_0C44A9 3 2h05m 40s",
	"Shipment queue (2)", "staged: 1", "uploaded: 1", "held: 1",
	"AISEDGE.SUBJ_8899AA.SESS_D4E5F6 2 uploaded HELD",
	"seal: PUT MANIFEST.g2.json: 403 AccessDenied",
	"AISEDGE.SUBJ_5E6F70.SESS_A1B2C3 1 staged",
	"Quarantine (1)", "20261126T004502Z-9f3e11aa", "CT_SCANNER_1",
	"unmapped-aet: called AET has no route", "gate:burned-in: BurnedInAnnotation is YES",
	"associations 12 accepted, 1 rejected, 0 aborted", "3.0 GiB received",
	// hub
	"Hub · delivering to XNAT",
	"Pending delivery (1)", "staged/edge-a/AISEDGE.SUBJ_5E6F70.SESS_A1B2C3/ 1",
	"Dead letters (1)", "staged/edge-a/AISEDGE.SUBJ_0BADF0.SESS_0D0E0F/ 3",
	"XNAT refused the session: project AISEDGE does not exist",
	"Delivery paused since", "(4 tries to resume): xnat: login: POST /data/JSESSION: 401 Unauthorized",
	"hub delivery paused: the destination refuses the credentials",
	// sessions: in progress (the edge's, and one sealed and pending at
	// the hub), delivered (the hub's delivery joined with the edge's
	// receive times)
	"Sessions in progress (3)",
	"AISEDGE.SUBJ_3F9A1C.SESS_7B2E04 57 0 0 0 receiving (waiting for the quiet period)",
	"AISEDGE.SUBJ_8899AA.SESS_D4E5F6 12 12 12 0 held (operator action needed)",
	"AISEDGE.SUBJ_5E6F70.SESS_A1B2C3 64 64 64 0 waiting for delivery",
	"Delivered sessions (1)",
	"AISEDGE.SUBJ_2C4D6E.SESS_9A8B7C 1 253 131.5 MiB",
	"1m00s 30s 1m30s 50s 4m00s",
	"1.SCOUT CT 3 1.5 MiB", "2.AX_CT_1_25mm CT 250 130.0 MiB",
	// cards and counters
	"2 open studies", "1 held shipments", "1234 instances stored", "1 hub pending", "1 dead letters",
	"hub_sessions_delivered_total 41", "instances_received_total status=0000 0",
	"upload_failures_total kind=permanent 0",
}

func TestStatusPage(t *testing.T) {
	srv := api.New(fakeRegistry(t), fakeParts(time.Now()), nil, quietLog())
	srv.SetReady()
	html, hdr := getPage(t, srv)
	if ct := hdr.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	wantAll(t, html, `<meta http-equiv="refresh" content="5">`, `class="banner warn"`, `<tr class="held">`)
	wantAll(t, text(html), wantPipeline...)
	// Self-contained: no scripts, nothing loaded from elsewhere.
	for _, bad := range []string{"<script", "src=", "<link", "@import", "url(", `href="http`} {
		if strings.Contains(html, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestStatusPageStates(t *testing.T) {
	now := time.Now()
	many := edge.Status{Edge: "edge-b"}
	for i := range 150 {
		many.Open = append(many.Open, edge.StudyStatus{Session: fmt.Sprintf("P.S%03d.V", i), Pending: 1, Age: int64(i)})
	}
	for _, tc := range []struct {
		name  string
		ready bool
		parts map[string]api.StatusFunc
		want  []string
		not   []string
	}{
		{"not ready", false, fakeParts(now),
			[]string{"Not ready: the DICOM receiver is not listening yet"}, []string{"all clear"}},
		{"all clear", true, map[string]api.StatusFunc{
			"edge": func() (any, error) { return edge.Status{Edge: "edge-c"}, nil },
			"hub":  func() (any, error) { return hub.Status{Destination: "archive directory"}, nil },
		}, []string{"Ready: all clear", "No study waiting for completion.", "Nothing queued for upload.",
			"Quarantine is empty.", "Nothing waiting in the bucket.", "No dead letters.", "Last successful upload: none yet"},
			[]string{"needs attention"}},
		{"part fails", true, map[string]api.StatusFunc{
			"edge": func() (any, error) { return nil, errors.New("spool: database locked") },
		}, []string{"Ready, but part of the status is unavailable", `status of "edge" unavailable: spool: database locked`}, nil},
		{"unknown part", true, map[string]api.StatusFunc{
			"janitor": func() (any, error) { return map[string]int{"removed": 7}, nil },
		}, []string{"janitor", `"removed": 7`, "Ready: all clear"}, nil},
		{"long lists are cut", true, map[string]api.StatusFunc{"edge": func() (any, error) { return many, nil }},
			[]string{"Open studies (150, 150 instances pending)", "P.S149.V", "P.S050.V", "and 50 more"},
			[]string{"P.S049.V"}},
		{"hub alone: delivered sessions without receive times", true, map[string]api.StatusFunc{"hub": func() (any, error) {
			return hub.Status{Destination: "XNAT", Recent: []hub.Delivery{{Base: "staged/edge-a/P.S.V/", Generation: 2, Edge: "edge-a", Session: "P.S.V",
				Files: 7, Bytes: 5 << 20, StagedAt: now.Add(-3 * time.Minute), StartedAt: now.Add(-2 * time.Minute), At: now.Add(-time.Minute),
				Series: []hub.DeliveredSeries{{Scan: "1.A", Modality: "MR", Files: 7, Bytes: 5 << 20}}}}}, nil
		}}, []string{"Delivered sessions (1)", "P.S.V 2 7 5.0 MiB – – – – 1m00s – ", "1.A MR 7 5.0 MiB", "Receive times are known to the edge."},
			[]string{"Sessions in progress", "Sealed in the bucket"}},
		{"edge alone: sealed sessions, delivery unknown", true, map[string]api.StatusFunc{"edge": func() (any, error) {
			return edge.Status{Edge: "edge-d",
				Sessions: []edge.SessionProgress{{Session: "P.S1.V", Received: 5, Staged: 5, Uploaded: 5, FirstReceived: now.Add(-time.Minute), LastReceived: now.Add(-time.Minute)}},
				Shipped: []edge.ShippedSession{{Session: "P.S2.V", Generation: 1, Instances: 3, Bytes: 3 << 10, StagedAt: now.Add(-50 * time.Second), SealedAt: now.Add(-20 * time.Second),
					Series: []edge.SeriesShipped{{Scan: "4.B", Modality: "CT", Instances: 3, Bytes: 3 << 10, FirstReceived: now.Add(-90 * time.Second), LastReceived: now.Add(-80 * time.Second)}}}}}, nil
		}}, []string{"Sessions in progress (1)", "P.S1.V 5 5 5 – sealing", "Delivery is reported by the hub.",
			"Sealed in the bucket (1)", "P.S2.V 1 3 3.0 KiB", "10s 30s 30s – 1m10s", "4.B CT 3 3.0 KiB"},
			[]string{"Delivered sessions", "Receive times are known"}},
		{"nothing yet", true, map[string]api.StatusFunc{
			"edge": func() (any, error) { return edge.Status{Edge: "edge-e"}, nil },
			"hub":  func() (any, error) { return hub.Status{Destination: "XNAT"}, nil },
		}, []string{"Sessions in progress (0)", "No session in progress.", "Delivered sessions (0)", "No session delivered yet."}, nil},
		{"no edge and no hub", true, map[string]api.StatusFunc{"janitor": func() (any, error) { return map[string]int{"removed": 7}, nil }},
			nil, []string{"Sessions in progress", "Delivered sessions", "Sealed in the bucket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := api.New(prometheus.NewRegistry(), tc.parts, nil, quietLog())
			if tc.ready {
				srv.SetReady()
			}
			html, _ := getPage(t, srv)
			got := text(html)
			wantAll(t, got, tc.want...)
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("page shows %q", n)
				}
			}
		})
	}
}

// findChromium returns the Debian chromium, installing it with apt-get
// (as root) when missing.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("apt-get"); err == nil {
			t.Log("chromium missing: apt-get install -y chromium")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium")
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Logf("apt-get install chromium: %v\n%s", err, lastLines(out, 10))
			}
			if p, err := exec.LookPath("chromium"); err == nil {
				return p
			}
		}
	}
	t.Skip("chromium is not installed and cannot be installed here (Debian package chromium)")
	return ""
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestStatusPageChromium renders the page in headless Chromium: a
// screenshot (kept, its path logged) and the DOM as the browser built it.
func TestStatusPageChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := findChromium(t)
	srv := api.New(fakeRegistry(t), fakeParts(time.Now()), nil, quietLog())
	srv.SetReady()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	url := "http://" + ln.Addr().String() + "/"

	tmp := t.TempDir()
	chromium := func(name string, extra ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + filepath.Join(tmp, "profile-"+name), "--window-size=1280,1400"}, extra...)
		cmd := exec.CommandContext(ctx, bin, append(args, url)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %s: %v\n%s", name, err, lastLines(stderr.Bytes(), 20))
		}
		return stdout.Bytes()
	}

	shot := filepath.Join(tmp, "status.png")
	chromium("screenshot", "--screenshot="+shot)
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if sz := img.Bounds().Size(); sz.X < 800 || sz.Y < 1000 {
		t.Errorf("screenshot is %v, want about 1280×1400", sz)
	}
	if n := colours(img); n < 8 {
		t.Errorf("screenshot has %d colours: blank page?", n)
	}
	// The session tables are drawn in the first screen: the delivered
	// session's 2 px separator (#c9ced6, tr.sess) across the table, and
	// the held session's row (#fde2e1) in the sessions in progress above
	// the shipment queue's.
	if n := pixels(img, color.RGBA{0xc9, 0xce, 0xd6, 0xff}); n < 1500 {
		t.Errorf("screenshot has %d pixels of the delivered sessions' separator, want a 2 px line across the table", n)
	}
	if y := firstRow(img, color.RGBA{0xfd, 0xe2, 0xe1, 0xff}); y < 0 || y > firstRow(img, color.RGBA{0xc9, 0xce, 0xd6, 0xff}) {
		t.Errorf("held session row at y=%d, want above the delivered sessions", y)
	}
	// Keep the screenshot past the test's temporary directory.
	keep := filepath.Join(os.TempDir(), "aisedge-status-page.png")
	if err := os.WriteFile(keep+".tmp", b, 0o644); err == nil && os.Rename(keep+".tmp", keep) == nil {
		shot = keep
	}
	t.Logf("status page screenshot (%d bytes, %v): %s", len(b), img.Bounds().Size(), shot)

	dom := string(chromium("dump-dom", "--dump-dom"))
	if !strings.Contains(dom, `id="health"`) {
		t.Fatalf("dumped DOM is not the status page:\n%.500s", dom)
	}
	wantAll(t, text(dom), wantPipeline...)
}

// pixels counts the pixels of colour c.
func pixels(img image.Image, c color.RGBA) int {
	n := 0
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				n++
			}
		}
	}
	return n
}

// firstRow is the first y with at least 200 pixels of colour c (-1: none).
func firstRow(img image.Image, c color.RGBA) int {
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		n := 0
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				n++
			}
		}
		if n >= 200 {
			return y
		}
	}
	return -1
}

// colours counts distinct colours, up to a small limit.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 3 {
		for x := r.Min.X; x < r.Max.X; x += 3 {
			c0, c1, c2, c3 := img.At(x, y).RGBA()
			seen[[4]uint32{c0, c1, c2, c3}] = true
			if len(seen) >= 64 {
				return len(seen)
			}
		}
	}
	return len(seen)
}
