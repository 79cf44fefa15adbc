// Package orthanc runs a private Orthanc for tests: its own storage in a
// temporary folder, its DICOM and HTTP ports reserved by
// internal/testpeer/ports (started again on new ones when one was taken in
// between, internal/testpeer/proc), optionally its DICOMweb plugin (Debian
// orthanc-dicomweb) on /dicom-web/, HTTP basic authentication, a list of
// the calling AE titles it accepts and the modalities it knows. The hub's
// DICOM and DICOMweb destinations and the DIMSE client are tested against
// it. Tests only; of the project it imports only the test peer packages.
//
//	o := orthanc.Start(t, orthanc.Options{DICOMweb: true, Users: map[string]string{"hub": "secret"}})
//	// o.DICOMAddr, o.AET: C-STORE; o.DICOMweb: STOW-RS, QIDO-RS, WADO-RS
//	o.Do(t, "GET", "/instances", nil, &ids)
//
// Start skips the test when Orthanc (or, when asked for, its DICOMweb
// plugin) is not installed (./scripts/test installs orthanc and
// orthanc-dicomweb).
package orthanc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/testpeer/ports"
	"github.com/aisedge/aisedge/internal/testpeer/proc"
)

// Plugin is where Debian's orthanc-dicomweb puts the DICOMweb plugin.
const Plugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

// AET is the server's own AE title.
const AET = "ORTHANC"

// Options configure a server.
type Options struct {
	// Users turns on HTTP basic authentication for these users
	// (name → password); none: no authentication.
	Users map[string]string
	// CallingAETs, when set, are the only calling AE titles whose
	// associations Orthanc accepts (others are rejected: calling AE title
	// not recognised); none: any.
	CallingAETs []string
	// Modalities are the DICOM peers Orthanc knows, name → [AET, host,
	// port] (it stores to them on POST /modalities/{name}/store).
	Modalities map[string][]any
	// DICOMweb loads the DICOMweb plugin (Debian orthanc-dicomweb; the
	// test is skipped without it).
	DICOMweb bool
}

// Server is a running Orthanc.
type Server struct {
	// HTTP is the REST API's base URL, DICOMweb the DICOMweb root
	// (HTTP + "/dicom-web").
	HTTP, DICOMweb string
	// DICOMAddr is the DICOM listener, 127.0.0.1:<port>.
	DICOMAddr string
	// User and Password are the first of Options.Users ("" without).
	User, Password string
}

// Start runs an Orthanc until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.DICOMweb {
		if _, err := os.Stat(Plugin); err != nil {
			t.Skipf("the DICOMweb plugin is not installed (./scripts/test installs orthanc-dicomweb): %v", err)
		}
	}
	dir := t.TempDir()
	// The name /system reports tells this Orthanc from any other server
	// that took its HTTP port.
	name := fmt.Sprintf("aisedge-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	s := &Server{}
	for u, p := range opts.Users {
		s.User, s.Password = u, p
		break
	}
	p := proc.Start(t, proc.Spec{Name: "Orthanc", LogName: "orthanc.log", Ports: 2,
		Args: func(p []int, attempt int) []string {
			cfgPath := filepath.Join(dir, fmt.Sprintf("orthanc%d.json", attempt))
			if err := writeConfig(cfgPath, filepath.Join(dir, fmt.Sprint("db", attempt)), name, p, opts); err != nil {
				t.Fatal(err)
			}
			return []string{cfgPath}
		},
		Ready: func(p []int, timeout time.Duration) error { return s.at(p).ready(name, timeout) },
	})
	*s = *s.at(p.Ports)
	return s
}

// at returns the server's addresses for the ports p (DICOM, HTTP).
func (s *Server) at(p []int) *Server {
	c := *s
	c.HTTP = fmt.Sprintf("http://127.0.0.1:%d", p[1])
	c.DICOMweb = c.HTTP + "/dicom-web"
	c.DICOMAddr = fmt.Sprintf("127.0.0.1:%d", p[0])
	return &c
}

func writeConfig(path, db, name string, p []int, opts Options) error {
	mods := map[string]any{}
	for k, v := range opts.Modalities {
		mods[k] = v
	}
	cfg := map[string]any{
		"Name": name, "StorageDirectory": db, "IndexDirectory": db,
		"HttpPort": p[1], "DicomPort": p[0], "DicomAet": AET,
		"RemoteAccessAllowed": false, "HttpServerEnabled": true,
		"AuthenticationEnabled": len(opts.Users) > 0,
		"Plugins":               []string{}, "LuaScripts": []string{},
		"DicomCheckCalledAet": false, "UnknownSopClassAccepted": true, "StorageCompression": false,
		"DicomScpTimeout": 30, "SyncStorageArea": false, "OverwriteInstances": false,
	}
	if opts.DICOMweb {
		cfg["Plugins"] = []string{Plugin}
		cfg["DicomWeb"] = map[string]any{"Enable": true, "Root": "/dicom-web/", "EnableWado": false, "Host": "127.0.0.1", "Ssl": false}
	}
	if len(opts.Users) > 0 {
		cfg["RegisteredUsers"] = opts.Users
	}
	if len(opts.CallingAETs) > 0 {
		for _, aet := range opts.CallingAETs {
			mods["aet-"+strings.ToLower(aet)] = []any{aet, "127.0.0.1", 104}
		}
		for _, k := range []string{"DicomAlwaysAllowEcho", "DicomAlwaysAllowStore", "DicomAlwaysAllowFind", "DicomAlwaysAllowGet", "DicomAlwaysAllowMove"} {
			cfg[k] = false
		}
	}
	cfg["DicomModalities"] = mods
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// ready checks that this Orthanc (by name) serves REST, and that its
// DICOM port takes connections (Orthanc opens it before the HTTP server;
// one it could not bind makes it exit, "already in use").
func (s *Server) ready(name string, timeout time.Duration) error {
	req, _ := http.NewRequest("GET", s.HTTP+"/system", nil)
	if s.User != "" {
		req.SetBasicAuth(s.User, s.Password)
	}
	c := &http.Client{Timeout: timeout}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var sys struct{ Name string }
	if err := json.NewDecoder(resp.Body).Decode(&sys); err != nil || resp.StatusCode != 200 || sys.Name != name {
		return fmt.Errorf("GET /system: %s, name %q (%v)", resp.Status, sys.Name, err)
	}
	conn, err := net.DialTimeout("tcp", s.DICOMAddr, timeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Do calls the REST API (with the server's credentials) and decodes a JSON
// answer into out (a *[]byte takes the raw body); a non-2xx answer fails
// the test.
func (s *Server) Do(t testing.TB, method, path string, body io.Reader, out any) {
	t.Helper()
	req, err := http.NewRequest(method, s.HTTP+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if s.User != "" {
		req.SetBasicAuth(s.User, s.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s\n%s", method, path, resp.Status, b)
	}
	if out == nil {
		return
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// PatientFiles returns the stored file of every instance of the patient
// with PatientID id (none: the patient is unknown), one per instance
// Orthanc holds.
func (s *Server) PatientFiles(t testing.TB, id string) [][]byte {
	t.Helper()
	var found []string
	q, _ := json.Marshal(map[string]any{"Level": "Instance", "Query": map[string]string{"PatientID": id}})
	s.Do(t, "POST", "/tools/find", bytes.NewReader(q), &found)
	var out [][]byte
	for _, inst := range found {
		var b []byte
		s.Do(t, "GET", "/instances/"+inst+"/file", nil, &b)
		out = append(out, b)
	}
	return out
}

// Unused returns a loopback address where nothing listens: a port
// reserved for the test and never bound.
func Unused(t testing.TB) string {
	t.Helper()
	l, err := ports.Reserve(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Ports()[0]))
}
