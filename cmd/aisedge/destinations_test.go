package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/hub/hubtest"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/s3"
	"github.com/aisedge/aisedge/internal/testpeer/orthanc"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
)

// TestHubDestinationsFromConfig runs `aisedge hub --once` with
// hub.destinations naming a PACS (DICOM C-STORE to an Orthanc that knows
// only the hub's AE title), a DICOMweb service (another Orthanc, HTTP basic
// credentials from 0600 files) and an archive folder: a generation sealed
// in a real SeaweedFS arrives in all three, byte for byte, and is cleared
// from the bucket; each delivery has its delivery_completed event.
func TestHubDestinationsFromConfig(t *testing.T) {
	sw := seaweed.Start(t)
	pacs := orthanc.Start(t, orthanc.Options{CallingAETs: []string{"AISEDGE-HUB"}})
	web := orthanc.Start(t, orthanc.Options{DICOMweb: true, Users: map[string]string{"hub": "web-secret"}})
	dir := t.TempDir()
	prefix := sw.Prefix(t, "edge-a")
	t.Setenv("XNAT_USER", "")
	t.Setenv("XNAT_PASS", "")
	cfg := writeFile(t, dir, "aisedge.yaml", fmt.Sprintf(`
hub:
  dataDir: %[1]s/hub
  prefix: %[2]s
  s3:
    endpoint: %[3]s
    caFile: %[4]s
    accessKeyFile: %[5]s
    secretKeyFile: %[6]s
  http: 127.0.0.1:0
  destinations:
    - name: pacs
      type: dicom
      projects: [PROJ]
      dicom: {address: %[7]q, calledAET: ORTHANC, callingAET: AISEDGE-HUB}
    - name: web
      type: dicomweb
      dicomweb: {url: %[8]q, allowHTTP: true, usernameFile: %[9]s, passwordFile: %[10]s, batchBytes: 4KiB}
    - type: archive
      archive: {dir: %[1]s/archive}
`, dir, prefix, sw.Endpoint, sw.CAFile, writeFile(t, dir, "ak", sw.Admin.AccessKey), writeFile(t, dir, "sk", sw.Admin.SecretKey),
		pacs.DICOMAddr, web.DICOMweb, writeFile(t, dir, "wu", "hub\n"), writeFile(t, dir, "wp", "web-secret\n")))
	var out strings.Builder
	if code := run([]string{"config", "validate", "--role", "hub", cfg}, &out, &out); code != 0 {
		t.Fatalf("config validate: %s", out.String())
	}

	// An edge's sealed generation: files, then the manifest.
	s := hubtest.NewSession(t, 2, 3)
	admin, err := s3.New(sw.Config(sw.Admin))
	if err != nil {
		t.Fatal(err)
	}
	base := prefix + s.M.Folder + "/"
	for _, f := range s.M.Files {
		b := s.Data[f.Path]
		if _, err := admin.Put(t.Context(), base+f.Path, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mb, _ := s.M.Marshal()
	if _, err := admin.Put(t.Context(), base+manifest.NameFor(1), bytes.NewReader(mb), int64(len(mb)), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	var events, logs bytes.Buffer
	if err := runHub(context.Background(), []string{"--config", cfg, "--once"}, &events, &logs); err != nil {
		t.Fatalf("hub: %v\n%s", err, logs.String())
	}
	// Each destination holds every file once, as sealed.
	for name, peer := range map[string]struct {
		held    [][]byte
		compare hubtest.Compare
	}{"pacs": {pacs.PatientFiles(t, s.M.Subject), hubtest.SameDataset}, "web": {web.PatientFiles(t, s.M.Subject), hubtest.SameFile}} {
		held := peer.held
		if len(held) != len(s.M.Files) {
			t.Errorf("%s holds %d instances, want %d", name, len(held), len(s.M.Files))
		}
		for _, h := range held {
			found := false
			for _, want := range s.Data {
				// The PACS writes its own file meta; STOW-RS keeps the file.
				found = found || hubtest.Equal(peer.compare, h, want)
			}
			if !found {
				t.Errorf("%s holds an instance that is none of the files sealed", name)
			}
		}
	}
	for _, f := range s.M.Files {
		p := filepath.Join(dir, "archive", s.M.Project, s.M.Subject, s.M.Visit, "scans", strings.SplitN(f.Path, "/", 3)[0], "resources", "DICOM", "files",
			strings.SplitN(f.Path, "/", 3)[2])
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, s.Data[f.Path]) {
			t.Errorf("archive: %s: %v", f.Path, err)
		}
	}
	for info, err := range admin.List(t.Context(), prefix) {
		if err == nil {
			t.Errorf("left in the bucket: %s", info.Key)
		}
	}
	completed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(events.String()), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil && e["event"] == "delivery_completed" {
			completed[fmt.Sprint(e["destination"])] = true
		}
	}
	if len(completed) != 3 || !completed["pacs"] || !completed["web"] || !completed["archive"] {
		t.Errorf("delivery_completed for %v, want pacs, web and archive\n%s", completed, events.String())
	}
	// The secret stays out of the logs and events.
	if strings.Contains(logs.String()+events.String(), "web-secret") {
		t.Error("the DICOMweb password appears in the output")
	}
}
