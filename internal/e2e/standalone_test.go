package e2e

// A harness for the fault tests: the real aisedge binary, started as
// `aisedge run` in a subprocess on one data folder, killed with SIGKILL and
// restarted; its JSON log (stderr) and event (stdout) lines are collected so
// that tests can wait for pipeline steps and kill right after them.

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/dimse"
)

// standalone is one run of `aisedge run` on a data folder.
type standalone struct {
	*proc
	t       *testing.T
	run     int
	dataDir string
	logPath string
}

// startStandalone starts `aisedge run` on dataDir and waits until it
// listens. run numbers the runs in logs.
func startStandalone(t *testing.T, bin, dataDir string, run int) *standalone {
	t.Helper()
	s := &standalone{t: t, run: run, dataDir: dataDir,
		logPath: filepath.Join(filepath.Dir(dataDir), fmt.Sprintf("run-%02d.log", run))}
	s.proc = startProc(t, bin, []string{"run", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--quiet-period", "1s", "--min-free-bytes", "-1", "--profile", "research-default"},
		[]string{deid.SaltEnv + "=" + salt}, s.logPath)
	return s
}

// stop sends SIGTERM and expects a clean exit within 40 s.
func (s *standalone) stop() {
	s.t.Helper()
	if code := s.proc.stop(); code != 0 {
		s.t.Errorf("run %d: aisedge exited with status %d after SIGTERM (-1: did not stop within 40 s)\n%s", s.run, code, s.tail(40))
	}
}

// checkRaces fails the test if the (race-enabled) binary reported a race.
func (s *standalone) checkRaces() {
	s.t.Helper()
	for _, l := range s.snapshot() {
		if strings.Contains(l.raw, "WARNING: DATA RACE") || strings.HasPrefix(l.raw, "panic:") || strings.HasPrefix(l.raw, "fatal error:") {
			s.t.Errorf("run %d: the aisedge process reported %q; log: %s\n%s", s.run, l.raw, s.logPath, s.tail(80))
			return
		}
	}
}

// status fetches /api/status.
func (s *standalone) status(ctx context.Context) (map[string]json.RawMessage, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.httpAddr+"/api/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// instance is one test instance: its file, what the sender needs, and the
// SOP Instance UID de-identification gives it.
type instance struct {
	fi     *dimse.FileInstance
	remap  string
	series string
}

// makeInstances writes n CT instances of one series (see series) and
// de-identifies each in-process with the standalone's configuration (key,
// profile, site "standalone", project "AISEDGE") to know the SOP Instance
// UID it must have in the archive. It fails if any would be quarantined.
func makeInstances(t *testing.T, eng *deid.Engine, patient, study, ser string, number, n int) []instance {
	t.Helper()
	dir := series(t, patient, study, ser, number, n)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []instance
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := dimse.ReadFileInstance(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := dicom.Open(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := eng.Deidentify(f, deid.Options{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.Quarantined() {
			t.Fatalf("test instance %s would be quarantined: %v", fi.SOPInstanceUID, res.Reasons)
		}
		out = append(out, instance{fi: fi, remap: res.SOPInstanceUID, series: ser})
	}
	return out
}

func standaloneEngine(t *testing.T) *deid.Engine {
	t.Helper()
	keys, err := deid.NewKeys(salt)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := deid.New(deid.Config{Profile: deid.MustBuiltin("research-default"), Keys: keys, Site: "standalone", ProjectCode: "AISEDGE"})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// sendInstances sends with C-STORE (two associations of at most 25
// instances at a time) and returns the SOP Instance UIDs (original) that
// were acknowledged with status 0000. afterAck, if set, runs after each
// acknowledgement with the running count (from the sender's goroutines).
func sendInstances(addr string, ins []instance, afterAck func(n int)) map[string]bool {
	files := make([]*dimse.FileInstance, len(ins))
	for i, in := range ins {
		files[i] = in.fi
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	dimse.SendFiles(context.Background(), addr, files, dimse.SendOptions{
		Dial: dimse.DialConfig{CallingAET: "FAULTSCU", CalledAET: "AISEDGE", Timeout: 20 * time.Second}, PerAssociation: 25, Parallel: 2,
		OnResult: func(r dimse.SendResult) {
			if r.Err != nil || r.Status != dimse.StatusSuccess {
				return
			}
			mu.Lock()
			acked[r.File.SOPInstanceUID] = true
			n := len(acked)
			mu.Unlock()
			if afterAck != nil {
				afterAck(n)
			}
		},
	})
	return acked
}

// dataCounts is what lies where in a standalone data folder.
type dataCounts struct {
	spool, staging, bucket, archive, quarantine int
}

func (c dataCounts) String() string {
	return fmt.Sprintf("spool objects %d, staging files %d, bucket objects %d, archive files %d, quarantine %d",
		c.spool, c.staging, c.bucket, c.archive, c.quarantine)
}

func countData(dataDir string) dataCounts {
	return dataCounts{
		spool:      countFiles(filepath.Join(dataDir, "edge", "spool", "objects"), nil),
		staging:    countFiles(filepath.Join(dataDir, "edge", "staging"), nil),
		bucket:     countFiles(filepath.Join(dataDir, "bucket"), func(rel string) bool { return !strings.HasPrefix(rel, ".objstore/") }),
		archive:    countFiles(filepath.Join(dataDir, "archive"), func(rel string) bool { return strings.HasSuffix(rel, ".dcm") }),
		quarantine: len(readDirNames(filepath.Join(dataDir, "edge", "quarantine"))),
	}
}

// countFiles counts regular files under dir whose slash-separated path
// relative to dir keep accepts (nil: all).
func countFiles(dir string, keep func(rel string) bool) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if keep == nil || keep(filepath.ToSlash(rel)) {
			n++
		}
		return nil
	})
	return n
}

// listFiles returns the regular files under dir, relative, slash-separated.
func listFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	return out
}

func readDirNames(dir string) []string {
	es, _ := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
