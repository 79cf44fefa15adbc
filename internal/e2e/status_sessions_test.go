package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
)

// sessionsStatus is the part of /api/status the session tables read.
type sessionsStatus struct {
	Edge struct {
		Sessions []struct {
			Session                            string
			Received, Staged, Uploaded, Sealed int
			FirstReceived, LastReceived        time.Time
		} `json:"sessions"`
		Shipped []struct {
			Session            string
			Generation         int
			Instances          int
			StagedAt, SealedAt time.Time
			Series             []struct {
				Scan                        string
				Instances                   int
				FirstReceived, LastReceived time.Time
			}
		} `json:"shipped"`
	} `json:"edge"`
	Hub struct {
		Recent []struct {
			Session, Edge string
			Generation    int
			Files         int
			StartedAt, At time.Time
			Series        []struct {
				Scan  string
				Files int
			}
		} `json:"recentDeliveries"`
	} `json:"hub"`
}

func getHTTP(t *testing.T, addr, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return string(b)
}

func pageText(html string) string {
	s := regexp.MustCompile(`(?s)<style.*?</style>|<[^>]*>`).ReplaceAllString(html, " ")
	return strings.Join(strings.Fields(s), " ")
}

// TestStatusSessions sends a study of two series (4 and 2 instances) to
// `aisedge run` with a quiet period of an hour: the status shows the
// session in progress (6 received, none staged). After a restart with a
// quiet period of a second the session is delivered, and the status shows
// it with its per-scan counts (edge and hub agreeing), receive, seal and
// delivery times in order, no session in progress; no original value
// (patient ID, accession number, study, series or instance UIDs, the
// patient's name) appears in the status document or the page.
func TestStatusSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildBinary(t, false)
	dataDir := filepath.Join(t.TempDir(), "data")
	start := func(run int, quiet string) *proc {
		return startProc(t, bin, []string{"run", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
			"--quiet-period", quiet, "--min-free-bytes", "-1", "--profile", "research-default"},
			[]string{deid.SaltEnv + "=" + salt}, filepath.Join(filepath.Dir(dataDir), "run-"+string(rune('0'+run))+".log"))
	}
	const study, ser1, ser2 = "2.25.7001", "2.25.7001.3", "2.25.7001.7"
	originals := []string{"PSTAT991", "ACCPSTAT991", study, ser1, ser2, ser1 + ".1", ser2 + ".2", "CompressedSamples"}

	p := start(1, "1h")
	storescu(t, p.dicomAddr, series(t, "PSTAT991", study, ser1, 3, 4))
	storescu(t, p.dicomAddr, series(t, "PSTAT991", study, ser2, 7, 2))
	var st sessionsStatus
	waitFor(t, 30*time.Second, "6 instances in the spool", func() bool {
		st = sessionsStatus{}
		json.Unmarshal([]byte(getHTTP(t, p.httpAddr, "/api/status")), &st)
		return len(st.Edge.Sessions) == 1 && st.Edge.Sessions[0].Received == 6
	})
	s := st.Edge.Sessions[0]
	if s.Staged != 0 || s.Uploaded != 0 || s.FirstReceived.IsZero() || s.LastReceived.Before(s.FirstReceived) || !strings.HasPrefix(s.Session, "AISEDGE.") {
		t.Errorf("session in progress: %+v", s)
	}
	page := pageText(getHTTP(t, p.httpAddr, "/"))
	if !strings.Contains(page, "Sessions in progress (1)") || !strings.Contains(page, s.Session+" 6 0 0 0 receiving") {
		t.Errorf("page does not show the session in progress:\n%s", page)
	}
	checkNoOriginals(t, "in progress", originals, page, getHTTP(t, p.httpAddr, "/api/status"))
	if code := p.stop(); code != 0 {
		t.Fatalf("run 1 exited with %d\n%s", code, p.tail(40))
	}

	p = start(2, "1s")
	defer p.stop()
	waitFor(t, 60*time.Second, "the session delivered", func() bool {
		st = sessionsStatus{}
		json.Unmarshal([]byte(getHTTP(t, p.httpAddr, "/api/status")), &st)
		return len(st.Hub.Recent) == 1
	})
	d := st.Hub.Recent[0]
	if d.Session != s.Session || d.Edge != "standalone" || d.Generation != 1 || d.Files != 6 || d.At.Before(d.StartedAt) {
		t.Errorf("delivery %+v", d)
	}
	scans := func(get func(i int) (string, int), n int) []string {
		var out []string
		for i := range n {
			scan, c := get(i)
			out = append(out, scan+"="+string(rune('0'+c)))
		}
		slices.Sort(out)
		return out
	}
	hubScans := scans(func(i int) (string, int) { return d.Series[i].Scan, d.Series[i].Files }, len(d.Series))
	if len(st.Edge.Shipped) != 1 {
		t.Fatalf("edge shipped %+v", st.Edge.Shipped)
	}
	sh := st.Edge.Shipped[0]
	edgeScans := scans(func(i int) (string, int) { return sh.Series[i].Scan, sh.Series[i].Instances }, len(sh.Series))
	if len(hubScans) != 2 || !strings.HasPrefix(hubScans[0], "3.") || !strings.HasSuffix(hubScans[0], "=4") ||
		!strings.HasPrefix(hubScans[1], "7.") || !strings.HasSuffix(hubScans[1], "=2") || !slices.Equal(hubScans, edgeScans) {
		t.Errorf("per-scan counts: hub %v, edge %v; want 3.*=4 and 7.*=2 on both", hubScans, edgeScans)
	}
	for _, se := range sh.Series {
		if se.FirstReceived.IsZero() || se.LastReceived.Before(se.FirstReceived) || sh.StagedAt.Before(se.LastReceived) {
			t.Errorf("series %s receive times %v .. %v, staged %v", se.Scan, se.FirstReceived, se.LastReceived, sh.StagedAt)
		}
	}
	if sh.SealedAt.Before(sh.StagedAt) || d.At.Before(sh.SealedAt) {
		t.Errorf("timings out of order: staged %v, sealed %v, delivered %v", sh.StagedAt, sh.SealedAt, d.At)
	}
	if len(st.Edge.Sessions) != 0 {
		t.Errorf("sessions still in progress after delivery: %+v", st.Edge.Sessions)
	}
	page = pageText(getHTTP(t, p.httpAddr, "/"))
	for _, want := range []string{"Sessions in progress (0)", "No session in progress.", "Delivered sessions (1)", s.Session + " 1 6 ",
		strings.TrimSuffix(hubScans[0], "=4") + " CT 4 ", strings.TrimSuffix(hubScans[1], "=2") + " CT 2 "} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	checkNoOriginals(t, "delivered", originals, page, getHTTP(t, p.httpAddr, "/api/status"))
}

func checkNoOriginals(t *testing.T, when string, originals []string, docs ...string) {
	t.Helper()
	for _, doc := range docs {
		for _, o := range originals {
			if strings.Contains(doc, o) {
				t.Errorf("%s: the status shows the original's %q", when, o)
			}
		}
	}
}
