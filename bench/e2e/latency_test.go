// Package e2ebench measures the end-to-end latency of `aisedge run` (issue
// 7): seconds from the last C-STORE response of a 2,000-instance study to
// "verified in XNAT" (the hub's xnat_upload_completed event, emitted once
// every file's MD5 is verified in XNAT), with the production quiet period
// of 30 s and with 2 s, next to the original design's timer chain
// (StableAge 30 s + 60 s sort loop + 30 s upload loop + 60 s hub loop).
//
// The real binary runs as a subprocess (built here, without the race
// detector) against the in-process XNAT emulator over TLS; the study
// (CT_small copies, one study in four series) is sent with `aisedge send`.
// It is a benchmark only: nothing runs without -bench.
//
//	go test ./bench/e2e -run '^$' -bench . -benchtime 1x -timeout 30m
//
// In smoke mode (AISEDGE_BENCH_SMOKE=1, run by TestSmokeBenchmarks) the
// study has 20 instances and one run uses a 1 s quiet period, with the
// comparison metrics reported against it: a check that the pipeline and
// the reporting work, not a figure.
//
// Metrics per run: s-to-verified (last C-STORE response → verified),
// s-beyond-quiet (the same minus the quiet period), x-vs-orig-mean and
// x-vs-orig-worst (the original's mean 105 s and worst 180 s at a 30 s
// StableAge, divided by s-to-verified), send-inst/s; the log line gives the
// session's timeline (staged, sealed, picked up by the hub, verified).
package e2ebench

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aisedge/aisedge/bench/internal/smoke"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

const (
	project = "BENCH"
	salt    = "4b5a69788796a5b4c3d2e1f00f1e2d3c8f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

// instances is the size of the study; quietPeriods are the runs' quiet
// periods, the first being the production one the original's timer chain
// is compared with.
var (
	instances    = smoke.Size(2000, 20)
	quietPeriods = smoke.Size([]time.Duration{30 * time.Second, 2 * time.Second}, []time.Duration{time.Second})
)

// The original design's timer chain (seconds): the study is complete
// StableAge after its last instance, then waits for the next run of the
// sort loop, of the upload loop and of the hub loop. Mean waits are half
// a period each.
const (
	origStableAge = 30.0
	origWorst     = origStableAge + 60 + 30 + 60
	origMean      = origStableAge + 60/2.0 + 30/2.0 + 60/2.0
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	studyOnce sync.Once
	studyDir  string
	studyErr  error
)

func moduleRoot() (string, error) {
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("go.mod not found above %s", wd)
}

// aisedge builds the binary once per test process (into a folder removed
// by TestMain).
func aisedge(b *testing.B) string {
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		binPath = filepath.Join(workDir, "aisedge")
		cmd := exec.Command(goBin, "build", "-o", binPath, "./cmd/aisedge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}

var workDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "aisedge-e2e-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// testdata is the repository's curated DICOM set (testdata/dicom).
func testdata() string {
	d, _ := sampledata.Locate()
	return d
}

// study writes the instances once: CT_small copies of one patient and one
// study, in four series (of 500 each for the 2,000 instances).
func study(b *testing.B) string {
	studyOnce.Do(func() {
		studyDir = filepath.Join(workDir, "study")
		if studyErr = os.MkdirAll(studyDir, 0o755); studyErr != nil {
			return
		}
		f, err := dicom.Open(filepath.Join(testdata(), "pydicom_CT_small.dcm"), nil)
		if err != nil {
			studyErr = err
			return
		}
		defer f.Close()
		root := "1.2.826.0.1.3680043.8.1055.2000"
		ds := f.Dataset
		ds.SetString(dicom.NewTag(0x0010, 0x0010), dicom.PN, "Benchmark^Latency")
		ds.SetString(dicom.NewTag(0x0010, 0x0020), dicom.LO, "BENCH2000")
		ds.SetString(dicom.NewTag(0x0008, 0x0050), dicom.SH, "BENCHACC2000")
		ds.SetString(dicom.TagStudyInstanceUID, dicom.UI, root+".1")
		for i := range instances {
			ser := i/(instances/4) + 1
			ds.SetString(dicom.TagSeriesInstanceUID, dicom.UI, fmt.Sprintf("%s.1.%d", root, ser))
			ds.SetString(dicom.NewTag(0x0020, 0x0011), dicom.IS, fmt.Sprint(ser))
			ds.SetString(dicom.NewTag(0x0020, 0x0013), dicom.IS, fmt.Sprint(i+1))
			uid := fmt.Sprintf("%s.1.%d.%d", root, ser, i+1)
			ds.SetString(dicom.TagSOPInstanceUID, dicom.UI, uid)
			f.Meta.SetString(dicom.TagMediaStorageSOPInstanceUID, dicom.UI, uid)
			out, err := os.Create(filepath.Join(studyDir, fmt.Sprintf("%05d.dcm", i)))
			if err != nil {
				studyErr = err
				return
			}
			if err := dicom.WriteFile(out, f); err != nil {
				out.Close()
				studyErr = err
				return
			}
			if studyErr = out.Close(); studyErr != nil {
				return
			}
		}
	})
	if studyErr != nil {
		b.Fatal(studyErr)
	}
	return studyDir
}

// line is one line of the subprocess with its arrival time.
type line struct {
	at time.Time
	m  map[string]any
}

func (l line) str(k string) string { s, _ := l.m[k].(string); return s }

// proc is one `aisedge run`.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []line
	tail   []string
	exited chan struct{}
}

func start(b *testing.B, args, env []string) *proc {
	p := &proc{exited: make(chan struct{})}
	p.cmd = exec.Command(aisedge(b), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, _ := p.cmd.StdoutPipe()
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				l := line{at: time.Now()}
				json.Unmarshal(sc.Bytes(), &l.m)
				p.mu.Lock()
				p.lines = append(p.lines, l)
				p.tail = append(p.tail, sc.Text())
				if len(p.tail) > 30 {
					p.tail = p.tail[1:]
				}
				p.mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); p.cmd.Wait(); close(p.exited) }()
	b.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *proc) snapshot() []line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines[:len(p.lines):len(p.lines)]
}

func (p *proc) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// waitFor polls the lines until cond returns true, for at most d.
func (p *proc) waitFor(d time.Duration, cond func([]line) bool) bool {
	deadline := time.Now().Add(d)
	for !cond(p.snapshot()) {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-p.exited:
			return cond(p.snapshot())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

// last returns the arrival time of the last line with the event.
func last(lines []line, event string) time.Time {
	var at time.Time
	for _, l := range lines {
		if l.str("event") == event {
			at = l.at
		}
	}
	return at
}

func BenchmarkLastCStoreToVerified(b *testing.B) {
	for qi, quiet := range quietPeriods {
		b.Run(fmt.Sprintf("instances=%d/quiet=%s", instances, quiet), func(b *testing.B) {
			dir := study(b)
			var total, beyond, sendRate float64
			b.ReportMetric(0, "ns/op")
			for i := 0; i < b.N; i++ {
				r := runOnce(b, dir, quiet)
				total += r.latency.Seconds()
				beyond += (r.latency - quiet).Seconds()
				sendRate += float64(instances) / r.send.Seconds()
			}
			n := float64(b.N)
			b.ReportMetric(total/n, "s-to-verified")
			b.ReportMetric(beyond/n, "s-beyond-quiet")
			b.ReportMetric(sendRate/n, "send-inst/s")
			if qi == 0 {
				b.ReportMetric(origMean/(total/n), "x-vs-orig-mean")
				b.ReportMetric(origWorst/(total/n), "x-vs-orig-worst")
			}
			b.Logf("aisedge run, quiet period %v: %.2f s from the last C-STORE response to verified in XNAT (%.2f s beyond the quiet period); "+
				"original design at StableAge 30 s: %.0f s best, %.0f s mean, %.0f s worst (+ processing); goal: quiet period + under 5 s",
				quiet, total/n, beyond/n, origStableAge, origMean, origWorst)
		})
	}
}

// profileEnv asks the run for a CPU profile when AISEDGE_BENCH_CPUPROFILE
// names a folder: run-<quiet period>.prof there.
func profileEnv(quiet time.Duration) []string {
	dir := os.Getenv("AISEDGE_BENCH_CPUPROFILE")
	if dir == "" {
		return nil
	}
	return []string{"AISEDGE_CPUPROFILE=" + filepath.Join(dir, "run-"+quiet.String()+".prof")}
}

type result struct {
	latency, send time.Duration
}

// runOnce starts a fresh `aisedge run` against a fresh XNAT emulator,
// sends the study and waits until it is verified in XNAT.
func runOnce(b *testing.B, dir string, quiet time.Duration) result {
	b.StopTimer()
	base, err := os.MkdirTemp(workDir, "run-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(base)
	x := xnattest.NewTLS(xnattest.Options{})
	defer x.Close()
	x.AddUser("bench", "bench-pw")
	x.AddProject(project, map[string]xnattest.Role{"bench": xnattest.Owner})
	ca := filepath.Join(base, "xnat-ca.pem")
	cert := x.HTTP.Certificate()
	if _, err := x509.ParseCertificate(cert.Raw); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		b.Fatal(err)
	}
	p := start(b, []string{"run", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", filepath.Join(base, "data"),
		"--project", project, "--quiet-period", quiet.String(), "--min-free-bytes", "-1", "--xnat-url", x.URL, "--xnat-ca", ca},
		append([]string{"AIS_DEID_HMAC_SALT=" + salt, "XNAT_USER=bench", "XNAT_PASS=bench-pw"}, profileEnv(quiet)...))
	var addr string
	if !p.waitFor(30*time.Second, func(ls []line) bool {
		for _, l := range ls {
			if l.str("msg") == "receiver listening" {
				addr = l.str("addr")
				return true
			}
		}
		return false
	}) {
		b.Fatalf("aisedge run did not start\n%s", p.lastLines())
	}

	b.StartTimer()
	sendStart := time.Now()
	send := exec.Command(aisedge(b), "send", addr, dir, "-r", "--parallel", "4", "--aet", "BENCHSCU", "--called-aet", "AISEDGE", "--quiet")
	out, err := send.CombinedOutput()
	lastStore := time.Now()
	if err != nil {
		b.Fatalf("aisedge send: %v\n%s", err, out)
	}
	files := func(ls []line) int {
		n := 0
		for _, l := range ls {
			if l.str("event") == "xnat_upload_completed" {
				f, _ := l.m["files"].(float64)
				n += int(f)
			}
		}
		return n
	}
	if !p.waitFor(quiet+3*time.Minute, func(ls []line) bool { return files(ls) >= instances }) {
		b.Fatalf("the study was not verified in XNAT within the quiet period + 3 min (%d of %d files)\n%s", files(p.snapshot()), instances, p.lastLines())
	}
	b.StopTimer()
	ls := p.snapshot()
	done := last(ls, "xnat_upload_completed")
	r := result{latency: done.Sub(lastStore), send: lastStore.Sub(sendStart)}
	at := func(ev string) string { return fmt.Sprintf("%+.2f s", last(ls, ev).Sub(lastStore).Seconds()) }
	b.Logf("sent %d instances in %.2f s (%s); after the last C-STORE response: staged %s, sealed %s, hub picked it up %s, verified in XNAT %s",
		instances, r.send.Seconds(), strings.TrimSpace(string(out)), at("study_staged"), at("upload_completed"), at("xnat_upload_started"), at("xnat_upload_completed"))

	if os.Getenv("AISEDGE_BENCH_TRACE") != "" {
		var tr strings.Builder
		for _, l := range ls {
			if ev := l.str("event"); ev != "" && ev != "instance_deidentified" {
				fmt.Fprintf(&tr, "\n  %+8.3f s %-22s %s %v", l.at.Sub(lastStore).Seconds(), ev, l.str("session"), l.m["generation"])
			}
		}
		b.Logf("events after the last C-STORE response:%s", tr.String())
		tr.Reset()
		for _, r := range x.Requests() {
			fmt.Fprintf(&tr, "\n  %+8.3f s %6.3f s %s %s %s %d", r.Time.Sub(lastStore).Seconds(), r.Duration.Seconds(), r.Method, r.Path, r.Query, r.Status)
		}
		b.Logf("XNAT requests (arrival after the last C-STORE response, duration):%s", tr.String())
	}

	// XNAT holds the study: every file, with its catalog digest equal to
	// the MD5 of its bytes.
	n := 0
	for _, e := range x.Experiments(project) {
		for _, sc := range x.Scans(project, e.Label) {
			for _, f := range x.Files(project, e.Label, sc.ID, "DICOM") {
				if f.Digest != f.MD5 {
					b.Fatalf("%s/%s/%s: catalog digest %q, MD5 of the bytes %s", e.Label, sc.ID, f.Path, f.Digest, f.MD5)
				}
				n++
			}
		}
	}
	if n != instances {
		b.Fatalf("XNAT holds %d files, want %d", n, instances)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		b.Fatalf("aisedge run did not stop within 40 s of SIGTERM")
	}
	return r
}
