// Package orthanc runs a private Orthanc for tests: its own storage in a
// temporary folder, its DICOM and HTTP ports reserved by
// internal/testpeer/ports (started again on new ones when one was taken in
// between), its DICOMweb plugin (Debian orthanc-dicomweb) on /dicom-web/,
// and optionally HTTP basic authentication and a list of the calling AE
// titles it accepts. The hub's DICOM and DICOMweb destinations are tested
// against it. Tests only.
//
//	o := orthanc.Start(t, orthanc.Options{Users: map[string]string{"hub": "secret"}})
//	// o.DICOMAddr, o.AET: C-STORE; o.DICOMweb: STOW-RS, QIDO-RS, WADO-RS
//	o.Do(t, "GET", "/instances", nil, &ids)
//
// Start skips the test when Orthanc is not installed (./scripts/test
// installs orthanc and orthanc-dicomweb).
package orthanc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/testpeer/ports"
	"github.com/aisedge/aisedge/internal/testpeer/progress"
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

// attempts bounds the starts of a server whose port was taken.
const attempts = 5

// Start runs an Orthanc until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("Orthanc"); err != nil {
		t.Skipf("Orthanc not installed (./scripts/test installs orthanc and orthanc-dicomweb): %v", err)
	}
	if _, err := os.Stat(Plugin); err != nil {
		t.Skipf("the DICOMweb plugin is not installed (./scripts/test installs orthanc-dicomweb): %v", err)
	}
	lease, err := ports.Reserve(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lease.Release) // after the server is stopped (cleanups run last first)
	dir := t.TempDir()
	// The name /system reports tells this Orthanc from any other server
	// that took its HTTP port.
	name := fmt.Sprintf("aisedge-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	s := &Server{}
	for u, p := range opts.Users {
		s.User, s.Password = u, p
		break
	}
	for attempt := 1; ; attempt++ {
		p := lease.Ports()
		s.HTTP = fmt.Sprintf("http://127.0.0.1:%d", p[1])
		s.DICOMweb = s.HTTP + "/dicom-web"
		s.DICOMAddr = fmt.Sprintf("127.0.0.1:%d", p[0])
		cfgPath := filepath.Join(dir, fmt.Sprintf("orthanc%d.json", attempt))
		if err := writeConfig(cfgPath, filepath.Join(dir, fmt.Sprint("db", attempt)), name, p, opts); err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(dir, fmt.Sprintf("orthanc.log.%d", attempt))
		stop, err := s.run(t, cfgPath, logPath, name)
		if err == nil {
			return s
		}
		stop()
		b, _ := os.ReadFile(logPath)
		taken, collided := takenPorts(string(b), p)
		if !collided || attempt == attempts {
			t.Fatalf("Orthanc: %v\n--- log ---\n%s", err, tail(string(b), 30))
		}
		t.Logf("Orthanc: port(s) %v taken (attempt %d): starting it again on new ones", taken, attempt)
		if _, err := lease.Replace(taken...); err != nil {
			t.Fatal(err)
		}
	}
}

func writeConfig(path, db, name string, p []int, opts Options) error {
	cfg := map[string]any{
		"Name": name, "StorageDirectory": db, "IndexDirectory": db,
		"HttpPort": p[1], "DicomPort": p[0], "DicomAet": AET,
		"RemoteAccessAllowed": false, "HttpServerEnabled": true,
		"AuthenticationEnabled": len(opts.Users) > 0,
		"Plugins":               []string{Plugin}, "LuaScripts": []string{},
		"DicomWeb":            map[string]any{"Enable": true, "Root": "/dicom-web/", "EnableWado": false, "Host": "127.0.0.1", "Ssl": false},
		"DicomCheckCalledAet": false, "UnknownSopClassAccepted": true, "StorageCompression": false,
		"DicomScpTimeout": 30, "SyncStorageArea": false, "OverwriteInstances": false,
	}
	if len(opts.Users) > 0 {
		cfg["RegisteredUsers"] = opts.Users
	}
	if len(opts.CallingAETs) > 0 {
		mods := map[string]any{}
		for _, aet := range opts.CallingAETs {
			mods[strings.ToLower(aet)] = []any{aet, "127.0.0.1", 104}
		}
		cfg["DicomModalities"] = mods
		cfg["DicomAlwaysAllowEcho"] = false
		cfg["DicomAlwaysAllowStore"] = false
		cfg["DicomAlwaysAllowFind"] = false
		cfg["DicomAlwaysAllowGet"] = false
		cfg["DicomAlwaysAllowMove"] = false
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// run starts one attempt and waits until it serves REST (this server, by
// name) and DICOM. stop kills it (also done when the test ends).
func (s *Server) run(t testing.TB, cfgPath, logPath, name string) (stop func(), err error) {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Orthanc", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Kill()
		<-exited
		logf.Close()
	}
	t.Cleanup(func() {
		running := !stopped
		stop()
		if running && t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("Orthanc log:\n%s", tail(string(b), 30))
		}
	})
	watch := progress.Start()
	for {
		select {
		case <-exited:
			return stop, fmt.Errorf("exited during start-up: %v", cmd.ProcessState)
		default:
		}
		if b, _ := os.ReadFile(logPath); bytes.Contains(bytes.ToLower(b), []byte("already in use")) {
			return stop, errors.New("could not bind a port")
		}
		rerr := s.ready(name)
		if rerr == nil {
			return stop, nil
		}
		var size int64
		if fi, err := logf.Stat(); err == nil {
			size = fi.Size()
		}
		if err := watch.Check(size, progress.CPUTime(cmd.Process.Pid), rerr.Error()); err != nil {
			return stop, fmt.Errorf("%v: %v", err, rerr)
		}
		select {
		case <-exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) ready(name string) error {
	req, _ := http.NewRequest("GET", s.HTTP+"/system", nil)
	if s.User != "" {
		req.SetBasicAuth(s.User, s.Password)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var sys struct{ Name string }
	if err := json.NewDecoder(resp.Body).Decode(&sys); err != nil || resp.StatusCode != 200 || sys.Name != name {
		return fmt.Errorf("GET /system: %s, name %q (%v)", resp.Status, sys.Name, err)
	}
	// The DICOM port is open once Orthanc listens; an association proves
	// it is Orthanc's (any answer to it does: it may be a rejection).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c2, err := dimse.Dial(ctx, s.DICOMAddr, dimse.DialConfig{CalledAET: AET, Timeout: 10 * time.Second})
	var rej *dimse.Rejection
	switch {
	case errors.As(err, &rej):
		return nil
	case err != nil:
		return err
	}
	defer c2.Release()
	return nil
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

// portInMessage finds the port in Orthanc's "The TCP port of the DICOM
// server is privileged or already in use:  (port = 4242)".
var portInMessage = regexp.MustCompile(`\(port = (\d+)\)`)

// takenPorts reads Orthanc's log for ports it could not bind.
func takenPorts(log string, p []int) (taken []int, collided bool) {
	if !strings.Contains(strings.ToLower(log), "already in use") {
		return nil, false
	}
	for _, m := range portInMessage.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		if slices.Contains(p, n) && !slices.Contains(taken, n) {
			taken = append(taken, n)
		}
	}
	if len(taken) == 0 {
		taken = append(taken, p...)
	}
	return taken, true
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
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
