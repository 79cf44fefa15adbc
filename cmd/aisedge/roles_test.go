package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/objstore/s3"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

// TestMain runs the tests, or, when the test binary is started by
// startAisedge (AISEDGE_TEST_AS_MAIN=1), is the aisedge command itself: the
// CLI tests run it as a real process (exit status, signals, no terminal)
// without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(seaweed.Main(m))
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEdgeAndHubCommands runs `aisedge edge` and `aisedge hub --once` from
// one configuration file against a real SeaweedFS (TLS, put-only edge key
// from the environment, admin key from files) and the XNAT emulator (TLS,
// credentials from files): an instance sent with storescu ends in XNAT.
func TestEdgeAndHubCommands(t *testing.T) {
	if _, err := exec.LookPath("storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	sw := seaweed.Start(t)
	x := xnattest.NewTLS(xnattest.Options{})
	defer x.Close()
	x.AddUser("hub", "hub-secret")
	x.AddProject("PROJ", map[string]xnattest.Role{"hub": xnattest.Owner})
	dir := t.TempDir()
	xnatCA := writeFile(t, dir, "xnat-ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.HTTP.Certificate().Raw})))
	edgeKey := sw.Edge("edge-b")
	t.Setenv("AISEDGE_S3_ACCESS_KEY", edgeKey.AccessKey)
	t.Setenv("AISEDGE_S3_SECRET_KEY", edgeKey.SecretKey)
	t.Setenv("AIS_DEID_HMAC_SALT", strings.Repeat("ab", 32))
	t.Setenv("XNAT_USER", "")
	t.Setenv("XNAT_PASS", "")
	cfg := fmt.Sprintf(`
edge:
  name: edge-b
  dataDir: %[1]s/edge
  project: PROJ
  dicom:
    listen: 127.0.0.1:0
    minFreeBytes: -1
  facilityBackup:
    dir: %[1]s/backup
  study:
    quietPeriod: 1s
  s3:
    endpoint: %[2]s
    caFile: %[3]s
  http: 127.0.0.1:0
hub:
  dataDir: %[1]s/hub
  prefix: staged/edge-b/
  s3:
    endpoint: %[2]s
    caFile: %[3]s
    accessKeyFile: %[4]s
    secretKeyFile: %[5]s
  xnat:
    url: %[6]s
    caFile: %[7]s
    usernameFile: %[8]s
    passwordFile: %[9]s
  http: 127.0.0.1:0
`, dir, sw.Endpoint, sw.CAFile, writeFile(t, dir, "ak", sw.Admin.AccessKey), writeFile(t, dir, "sk", sw.Admin.SecretKey),
		x.URL, xnatCA, writeFile(t, dir, "xu", "hub\n"), writeFile(t, dir, "xp", "hub-secret\n"))
	cfgPath := writeFile(t, dir, "aisedge.yaml", cfg)

	var out strings.Builder
	if code := run([]string{"config", "validate", cfgPath}, &out, &out); code != 0 {
		t.Fatalf("config validate: %s", out.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runEdge(ctx, []string{"--config", cfgPath}, io.Discard, io.Discard) }()
	// The edge listens on a free port; ask its local API where.
	sock := filepath.Join(dir, "edge", "aisedge.sock")
	var listen string
	deadline := time.Now().Add(10 * time.Second)
	for listen == "" && time.Now().Before(deadline) {
		if doc, err := fetchStatus(ctx, sock); err == nil {
			var e struct {
				Listen string `json:"listen"`
			}
			json.Unmarshal(doc["edge"], &e)
			listen = e.Listen
		}
		time.Sleep(100 * time.Millisecond)
	}
	if listen == "" {
		t.Fatal("edge did not come up")
	}
	host, port, _ := strings.Cut(listen, ":")
	cmd := exec.Command("storescu", "-aec", "AISEDGE", host, port, filepath.Join(sharedTestData(t), "pydicom_CT_small.dcm"))
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v\n%s", err, o)
	}
	admin, _ := s3.New(sw.Config(sw.Admin))
	sealed := func() bool {
		for info, err := range admin.List(ctx, "staged/edge-b/") {
			if err == nil && strings.HasSuffix(info.Key, "/MANIFEST.json") {
				return true
			}
		}
		return false
	}
	deadline = time.Now().Add(30 * time.Second)
	for !sealed() {
		if time.Now().After(deadline) {
			t.Fatal("no sealed session")
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("edge: %v", err)
	}
	// The hub's logs (stderr) and events (stdout) come from several
	// goroutines: one buffer for both must take each write whole.
	var hubOut syncBuffer
	if err := runHub(context.Background(), []string{"--config", cfgPath, "--once"}, &hubOut, &hubOut); err != nil {
		t.Fatalf("hub: %v\n%s", err, hubOut.String())
	}
	exps := x.Experiments("PROJ")
	if len(exps) != 1 {
		t.Fatalf("XNAT sessions: %+v", exps)
	}
	if !strings.Contains(hubOut.String(), `"event":"xnat_upload_completed"`) {
		t.Errorf("no completion event: %s", hubOut.String())
	}
}
