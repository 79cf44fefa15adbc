package main

import (
	"encoding/pem"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

// TestRolesLogSchema runs `aisedge edge` and `aisedge hub` as processes
// against a real SeaweedFS and the XNAT emulator, sends an instance and
// waits for its delivery: every line either writes (standard output and
// error) is of the one log schema that `aisedge run` writes
// (checkLogSchema); the edge's events carry the original's component
// names as fields (orthanc-deid, s3-uploader) and the hub's "upload", so
// that the original's dashboards keep counting them.
func TestRolesLogSchema(t *testing.T) {
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
	key := sw.Edge("edge-a")
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
  study:
    quietPeriod: 1s
  s3:
    endpoint: %[2]s
    caFile: %[3]s
  http: 127.0.0.1:0
hub:
  dataDir: %[1]s/hub
  prefix: staged/edge-a/
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
		x.URL, xnatCA, writeFile(t, dir, "xu", "hub\n"), writeFile(t, dir, "xp", "hub-secret\n")))
	edgeP := startAisedge(t, []string{"AIS_DEID_HMAC_SALT=" + strings.Repeat("ab", 32),
		"AISEDGE_S3_ACCESS_KEY=" + key.AccessKey, "AISEDGE_S3_SECRET_KEY=" + key.SecretKey}, "edge", "--config", cfg)
	hubP := startAisedge(t, []string{"XNAT_USER=", "XNAT_PASS="}, "hub", "--config", cfg)
	l := edgeP.wait("the receiver", msgIs("receiver listening"))
	storescu(t, l.str("addr"), filepath.Join(sharedTestData(t), "pydicom_CT_small.dcm"))
	sealed := edgeP.wait("the seal", eventIs("upload_completed"))
	hubP.wait("the delivery", func(l procLine) bool {
		return l.str("event") == "xnat_upload_completed" && l.str("session") == sealed.str("session")
	})
	for _, p := range []*aisedgeProc{edgeP, hubP} {
		if code := p.stop(); code != 0 {
			t.Errorf("exit status %d after Ctrl-C", code)
		}
	}
	for _, tc := range []struct {
		name  string
		p     *aisedgeProc
		comps map[string]string // event → the component it must name
	}{
		{"edge", edgeP, map[string]string{"startup": "s3-uploader", "upload_started": "s3-uploader", "upload_completed": "s3-uploader"}},
		{"hub", hubP, map[string]string{"xnat_upload_started": "upload", "xnat_upload_completed": "upload"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := tc.p.snapshot()
			checkLogSchema(t, lines, "info")
			seen := map[string]bool{}
			for _, l := range lines {
				if want, ok := tc.comps[l.str("event")]; ok {
					seen[l.str("event")] = true
					if l.str("component") != want {
						t.Errorf("%s event with component %q, want %q: %s", l.str("event"), l.str("component"), want, l.raw)
					}
				}
			}
			for ev := range tc.comps {
				if !seen[ev] {
					t.Errorf("no %s event", ev)
				}
			}
		})
	}
}
