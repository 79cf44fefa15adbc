package main

import (
	"encoding/pem"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

// TestRolesShareTheAssembly runs `aisedge edge`, `aisedge hub` and
// `aisedge run` as processes and reads the order in which their components
// started and stopped from the lifecycle's log lines: `run` is made of the
// very components the daemons are (named by the code that assembles them:
// addEdge, addHub), every process stops in the reverse order of its start,
// and the API, which reads the spool and the hub's records, stops before
// they close.
func TestRolesShareTheAssembly(t *testing.T) {
	x := xnattest.NewTLS(xnattest.Options{})
	defer x.Close()
	x.AddUser("hub", "hub-secret")
	dir := t.TempDir()
	xnatCA := writeFile(t, dir, "xnat-ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.HTTP.Certificate().Raw})))
	// S3 does not answer: the roles start all the same (it is probed, and
	// delivery retries), which is all this test needs of it.
	s3 := "https://" + closedPort(t)
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
  http: 127.0.0.1:0
hub:
  dataDir: %[1]s/hub
  s3:
    endpoint: %[2]s
  xnat:
    url: %[3]s
    caFile: %[4]s
  http: 127.0.0.1:0
`, dir, s3, x.URL, xnatCA))
	env := []string{"AIS_DEID_HMAC_SALT=" + strings.Repeat("ab", 32), "AISEDGE_S3_ACCESS_KEY=edge", "AISEDGE_S3_SECRET_KEY=edge-secret",
		"XNAT_USER=hub", "XNAT_PASS=hub-secret"}

	lifecycle := func(last string, args ...string) (started, stopped []string) {
		t.Helper()
		p := startAisedge(t, env, args...)
		p.wait(last+" started", func(l procLine) bool { return l.str("msg") == "component started" && l.str("component") == last })
		if code := p.stop(); code != 0 {
			t.Fatalf("aisedge %s: exit status %d after Ctrl-C\n%s", args[0], code, p.text())
		}
		for _, l := range p.snapshot() {
			switch l.str("msg") {
			case "component started":
				started = append(started, l.str("component"))
			case "component stopped":
				stopped = append(stopped, l.str("component"))
			}
		}
		return started, stopped
	}
	edgeParts, edgeStopped := lifecycle("receiver", "edge", "--config", cfg)
	hubParts, hubStopped := lifecycle("delivery", "hub", "--config", cfg)
	runParts, runStopped := lifecycle("receiver", "run", "--data-dir", filepath.Join(dir, "run"), "--listen", "127.0.0.1:0",
		"--http", "127.0.0.1:0", "--min-free-bytes", "-1")

	for _, tc := range []struct {
		role             string
		started, stopped []string
		want             []string
	}{
		{"edge", edgeParts, edgeStopped, []string{"edge spool", "api", "receiver"}},
		{"hub", hubParts, hubStopped, []string{"destinations", "hub records", "api", "hub probes", "delivery"}},
		// The hub first (the edge wakes it when it seals), delivering to
		// the archive folder: no XNAT, and the bucket is probed by the
		// edge.
		{"run", runParts, runStopped, []string{"hub records", "edge spool", "api", "delivery", "receiver"}},
	} {
		if !slices.Equal(tc.started, tc.want) {
			t.Errorf("%s started %q, want %q", tc.role, tc.started, tc.want)
		}
		reversed := slices.Clone(tc.started)
		slices.Reverse(reversed)
		if !slices.Equal(tc.stopped, reversed) {
			t.Errorf("%s stopped %q, want the reverse of its start %q", tc.role, tc.stopped, reversed)
		}
	}
	for _, c := range runParts {
		if !slices.Contains(edgeParts, c) && !slices.Contains(hubParts, c) {
			t.Errorf("run's component %q is neither the edge's nor the hub's", c)
		}
	}
}
