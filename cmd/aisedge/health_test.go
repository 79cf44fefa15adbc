package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

// localGet GETs path from a daemon's local API socket.
func localGet(t *testing.T, sock, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://aisedge"+path, nil)
	resp, err := apiClient(sock).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readyz is the daemon's /readyz answer once every component has started:
// a probe can log its first result before the last component's start
// returns, and until then /readyz says "starting" (polled for up to two
// minutes: a ceiling for a loaded machine, not a budget).
func readyz(t *testing.T, sock string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, body := localGet(t, sock, "/readyz")
		if !strings.Contains(body, "not ready: starting") || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestEdgeS3Health runs `aisedge edge` against the real SeaweedFS and
// against a closed port. Reachable: ready, aisedge_peer_reachable 1.
// Unreachable: the first failed probe is logged at once (before any study),
// /readyz is 503 naming S3, the metric is 0, and `aisedge status` says not
// ready with the reason and no last upload (none succeeded).
func TestEdgeS3Health(t *testing.T) {
	sw := seaweed.Start(t)
	key := sw.Edge("edge-a")
	for _, tc := range []struct {
		name, endpoint string
		up             bool
	}{
		{"seaweedfs", sw.Endpoint, true},
		{"closed port", "https://" + closedPort(t), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeFile(t, dir, "aisedge.yaml", fmt.Sprintf(`
edge:
  name: edge-a
  dataDir: %[1]s/edge
  project: PROJ
  dicom:
    listen: 127.0.0.1:0
    minFreeBytes: -1
  facilityBackup:
    dir: %[1]s/backup
  s3:
    endpoint: %[2]s
    caFile: %[3]s
  http: 127.0.0.1:0
`, dir, tc.endpoint, sw.CAFile))
			p := startAisedge(t, []string{"AIS_DEID_HMAC_SALT=" + strings.Repeat("ab", 32),
				"AISEDGE_S3_ACCESS_KEY=" + key.AccessKey, "AISEDGE_S3_SECRET_KEY=" + key.SecretKey}, "edge", "--config", cfg)
			sock := filepath.Join(dir, "edge", "aisedge.sock")
			if tc.up {
				p.wait("the reachable probe", msgIs("s3 reachable"))
			} else {
				l := p.wait("the unreachable probe's log line", msgIs("s3 unreachable; retrying"))
				if l.str("level") != "error" || !strings.Contains(l.str("err"), "connection refused") {
					t.Errorf("unreachable line: %s", l.raw)
				}
				first := p.wait("the first alias_retrying event", eventIs("alias_retrying"))
				if n, _ := first.m["attempt"].(float64); n != 1 {
					t.Errorf("first alias_retrying has attempt %v: the failure was not reported on the first probe", first.m["attempt"])
				}
			}
			p.wait("the receiver", msgIs("receiver listening"))
			code, body := readyz(t, sock)
			if tc.up && code != 200 || !tc.up && (code != 503 || !strings.Contains(body, "s3 unreachable")) {
				t.Errorf("/readyz = %d %q", code, body)
			}
			_, metrics := localGet(t, sock, "/metrics")
			want := `aisedge_peer_reachable{peer="s3"} 0`
			if tc.up {
				want = `aisedge_peer_reachable{peer="s3"} 1`
			}
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
			_, raw := localGet(t, sock, "/api/status")
			var doc struct {
				Ready bool
				Edge  struct {
					LastUpload  string `json:"lastUpload"`
					ObjectStore struct {
						Reachable bool   `json:"reachable"`
						Error     string `json:"error"`
					} `json:"objectStore"`
				}
			}
			json.Unmarshal([]byte(raw), &doc)
			if doc.Ready != tc.up || doc.Edge.ObjectStore.Reachable != tc.up || doc.Edge.LastUpload != "" {
				t.Errorf("status: %+v", doc)
			}
			var out strings.Builder
			run([]string{"status", "--socket", sock}, &out, &out)
			wantStatus := []string{"ready: true", "s3: reachable", "last successful upload: none since start"}
			if !tc.up {
				wantStatus = []string{"ready: false", "s3: s3 unreachable (never reached since start)", "last successful upload: none since start"}
			}
			for _, w := range wantStatus {
				if !strings.Contains(out.String(), w) {
					t.Errorf("aisedge status lacks %q:\n%s", w, out.String())
				}
			}
			if code := p.stop(); code != 0 {
				t.Errorf("exit status %d after Ctrl-C", code)
			}
		})
	}
}

// TestHubHealth runs `aisedge hub` with XNAT (the emulator) and S3 (the
// real SeaweedFS, then a closed port): both probed from start, /readyz and
// aisedge_peer_reachable follow each.
func TestHubHealth(t *testing.T) {
	sw := seaweed.Start(t)
	x := xnattest.NewTLS(xnattest.Options{})
	defer x.Close()
	x.AddUser("hub", "hub-secret")
	for _, tc := range []struct {
		name, endpoint string
		s3up           bool
	}{
		{"seaweedfs", sw.Endpoint, true},
		{"s3 on a closed port", "https://" + closedPort(t), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			xnatCA := writeFile(t, dir, "xnat-ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.HTTP.Certificate().Raw})))
			cfg := writeFile(t, dir, "aisedge.yaml", fmt.Sprintf(`
hub:
  dataDir: %[1]s/hub
  prefix: %[8]s
  s3:
    endpoint: %[2]s
    caFile: %[3]s
    accessKeyFile: %[4]s
    secretKeyFile: %[5]s
  xnat:
    url: %[6]s
    caFile: %[7]s
    usernameFile: %[9]s
    passwordFile: %[10]s
  http: 127.0.0.1:0
`, dir, tc.endpoint, sw.CAFile, writeFile(t, dir, "ak", sw.Admin.AccessKey), writeFile(t, dir, "sk", sw.Admin.SecretKey),
				x.URL, xnatCA, sw.Prefix(t, "edge-b"), writeFile(t, dir, "xu", "hub\n"), writeFile(t, dir, "xp", "hub-secret\n")))
			p := startAisedge(t, []string{"XNAT_USER=", "XNAT_PASS="}, "hub", "--config", cfg)
			p.wait("the XNAT probe", msgIs("xnat reachable"))
			if tc.s3up {
				p.wait("the S3 probe", msgIs("s3 reachable"))
			} else {
				p.wait("the S3 probe", msgIs("s3 unreachable; retrying"))
			}
			sock := filepath.Join(dir, "hub", "aisedge.sock")
			code, body := readyz(t, sock)
			if tc.s3up && code != 200 || !tc.s3up && (code != 503 || !strings.Contains(body, "s3 unreachable")) {
				t.Errorf("/readyz = %d %q", code, body)
			}
			_, metrics := localGet(t, sock, "/metrics")
			want := []string{`aisedge_peer_reachable{peer="xnat"} 1`, `aisedge_peer_reachable{peer="s3"} 0`}
			if tc.s3up {
				want[1] = `aisedge_peer_reachable{peer="s3"} 1`
			}
			for _, w := range want {
				if !strings.Contains(metrics, w) {
					t.Errorf("metrics lack %s", w)
				}
			}
			if code := p.stop(); code != 0 {
				t.Errorf("exit status %d after Ctrl-C", code)
			}
		})
	}
}
