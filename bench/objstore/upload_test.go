// Package objstore_test benchmarks edge → S3 upload throughput: our
// objstore/s3 uploader against `mc mirror` (the original's uploader), in the
// same run, on the same files, against the same real SeaweedFS over TLS with
// the same put-only edge key. Run it with bench/objstore/upload.sh, which
// builds mc (AGPL: a benchmark peer only, never a dependency) and sets
// AISEDGE_BENCH=1 and MC.
//
// Both uploaders run as child processes so their peak RSS can be compared
// (getrusage ru_maxrss). Ours uploads 8 files at a time through
// objstore.WithRetry with each file's MD5 and SHA-256 (taken from a manifest
// written with the files, as the edge's staging step does), and verifies
// every object by one listing of the prefix, all inside the timed region.
//
// In smoke mode (AISEDGE_BENCH_SMOKE=1; upload.sh with SMOKE=1) the data
// sets are 20 x 64 KiB and 1 x 11 MiB, the latter in 5 MiB parts so the
// multipart path runs too. There mc is used when it is built; when it is
// not and BENCH_SELF_COMPETITOR=1, our uploader runs a second time in mc's
// place, labelled "self", so that the comparison and its ratio line are
// still exercised: a format check, never a figure (refused outside smoke
// mode).
package objstore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aisedge/aisedge/bench/internal/smoke"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/s3"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
)

func TestMain(m *testing.M) {
	if os.Getenv("AISEDGE_BENCH_CHILD") == "upload" {
		if err := childUpload(); err != nil {
			fmt.Fprintln(os.Stderr, "upload:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(seaweed.Main(m))
}

type dataset struct {
	name  string
	files int
	size  int64
}

var datasets = smoke.Size([]dataset{
	{"2000x200KiB", 2000, 200 << 10},
	{"4x250MiB", 4, 250 << 20},
}, []dataset{
	{"smoke-20x64KiB", 20, 64 << 10},
	{"smoke-1x11MiB", 1, 11 << 20},
})

// smokeChildEnv makes the smoke run's 11 MiB file a multipart upload.
var smokeChildEnv = []string{"BENCH_PART_SIZE_MIB=5", "BENCH_MULTIPART_THRESHOLD_MIB=5"}

type result struct {
	tool    string
	seconds float64
	bytes   int64
	rssMiB  float64
	cpu     float64 // user+sys seconds of the uploader process
	server  float64 // user+sys seconds of the SeaweedFS process meanwhile
}

// procCPU returns the user+sys CPU seconds of process pid so far.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the line, in clock ticks (100 per second).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

func (r result) mbps() float64 { return float64(r.bytes) / 1e6 / r.seconds }

func TestUploadThroughput(t *testing.T) {
	if os.Getenv("AISEDGE_BENCH") != "1" {
		t.Skip("set AISEDGE_BENCH=1 (bench/objstore/upload.sh does)")
	}
	mc := os.Getenv("MC")
	self := mc == "" && os.Getenv("BENCH_SELF_COMPETITOR") == "1"
	if self && !smoke.Enabled() {
		t.Fatal("BENCH_SELF_COMPETITOR=1 is a format check for smoke mode only: a benchmark compares with mc")
	}
	srv := seaweed.Start(t)
	rounds := 1
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	work, err := os.MkdirTemp("", "aisedge-bench-objstore-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	mcConfig := filepath.Join(work, "mc")
	if err := os.MkdirAll(filepath.Join(mcConfig, "certs", "CAs"), 0o700); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(srv.CAFile)
	os.WriteFile(filepath.Join(mcConfig, "certs", "CAs", "ca.crt"), ca, 0o600)

	edge := srv.Edge("edge-a")
	var report []string
	for _, ds := range datasets {
		if sets := os.Getenv("BENCH_SETS"); sets != "" && !strings.Contains(sets, ds.name) {
			continue
		}
		dir := filepath.Join(work, ds.name)
		total := makeFiles(t, dir, ds)
		for round := range rounds {
			var rs []result
			prefix := fmt.Sprintf("staged/edge-a/bench-%d-%s-r%d", time.Now().UnixNano(), ds.name, round)
			before := procCPU(srv.PID())
			rs = append(rs, runOurs(t, srv, edge, dir, prefix+"-aisedge/", total))
			rs[0].server = procCPU(srv.PID()) - before
			if mc != "" {
				before = procCPU(srv.PID())
				rs = append(rs, runMC(t, srv, edge, mc, mcConfig, dir, prefix+"-mc/", total))
				rs[1].server = procCPU(srv.PID()) - before
			} else if self {
				before = procCPU(srv.PID())
				r := runOurs(t, srv, edge, dir, prefix+"-self/", total)
				r.tool, r.server = "self", procCPU(srv.PID())-before
				rs = append(rs, r)
			}
			for _, r := range rs {
				line := fmt.Sprintf("%-12s %-8s %7.2f s %7.1f MB/s  max RSS %6.1f MiB  CPU %5.2f s  server CPU %5.2f s",
					ds.name, r.tool, r.seconds, r.mbps(), r.rssMiB, r.cpu, r.server)
				report = append(report, line)
				fmt.Println(line)
			}
			if len(rs) == 2 {
				line := fmt.Sprintf("%-12s ratio aisedge/%s = %.2fx", ds.name, rs[1].tool, rs[0].mbps()/rs[1].mbps())
				if self {
					line += " (format check: our uploader against itself, mc not built)"
				}
				report = append(report, line)
				fmt.Println(line)
			}
			cleanup(t, srv, prefix)
		}
		os.RemoveAll(dir)
	}
	if mc == "" {
		t.Log("MC not set: mc mirror was not run")
	}
	t.Log("\n" + strings.Join(report, "\n"))
}

// digest is a manifest entry: the digests staging records for each file.
type digest struct {
	MD5, SHA256 []byte
}

// makeFiles writes ds's files of random content under dir and their
// digests to dir+".manifest.json".
func makeFiles(t *testing.T, dir string, ds dataset) int64 {
	t.Helper()
	buf := make([]byte, 1<<20)
	var total int64
	manifest := map[string]digest{}
	for i := range ds.files {
		sub := filepath.Join(dir, fmt.Sprintf("PROJ.SUBJ%02d.VISIT/%d.SERIES/DICOM", i%10, i%7))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(sub, fmt.Sprintf("%06d.dcm", i))
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		m, s := md5.New(), sha256.New()
		w := io.MultiWriter(f, m, s)
		for left := ds.size; left > 0; {
			n := min(left, int64(len(buf)))
			rand.Read(buf[:n])
			w.Write(buf[:n])
			left -= n
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		manifest[name] = digest{MD5: m.Sum(nil), SHA256: s.Sum(nil)}
		total += ds.size
	}
	b, _ := json.Marshal(manifest)
	if err := os.WriteFile(dir+".manifest.json", b, 0o600); err != nil {
		t.Fatal(err)
	}
	return total
}

func cpu(ps *os.ProcessState) float64 { return (ps.UserTime() + ps.SystemTime()).Seconds() }

func rss(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024
	}
	return 0
}

func runOurs(t *testing.T, srv *seaweed.Server, c seaweed.Credentials, dir, prefix string, total int64) result {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		"AISEDGE_BENCH_CHILD=upload", "BENCH_CPUPROFILE="+os.Getenv("BENCH_CPUPROFILE"),
		"BENCH_ENDPOINT="+srv.Endpoint, "BENCH_BUCKET="+srv.Bucket, "BENCH_CA="+srv.CAFile,
		"BENCH_AK="+c.AccessKey, "BENCH_SK="+c.SecretKey, "BENCH_DIR="+dir, "BENCH_PREFIX="+prefix)
	if smoke.Enabled() {
		cmd.Env = append(cmd.Env, smokeChildEnv...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("aisedge upload: %v\n%s", err, out.String())
	}
	return result{tool: "aisedge", seconds: time.Since(start).Seconds(), bytes: total, rssMiB: rss(cmd.ProcessState), cpu: cpu(cmd.ProcessState)}
}

func runMC(t *testing.T, srv *seaweed.Server, c seaweed.Credentials, mc, config, dir, prefix string, total int64) result {
	t.Helper()
	cmd := exec.Command(mc, "--config-dir", config, "--json", "--quiet", "mirror", "--overwrite", dir, "edge/"+srv.Bucket+"/"+prefix)
	cmd.Env = append(os.Environ(), "MC_HOST_edge="+strings.Replace(srv.Endpoint, "https://", "https://"+c.AccessKey+":"+c.SecretKey+"@", 1))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("mc mirror: %v\n%s", err, tail(out.String(), 20))
	}
	secs := time.Since(start).Seconds()
	// Check mc's work the same way (sizes through a listing).
	admin, _ := s3.New(srv.Config(srv.Admin))
	var n int
	var bytes int64
	for info, err := range admin.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		bytes += info.Size
	}
	if bytes != total {
		t.Fatalf("mc mirror stored %d objects, %d bytes; want %d bytes", n, bytes, total)
	}
	return result{tool: "mc", seconds: secs, bytes: total, rssMiB: rss(cmd.ProcessState), cpu: cpu(cmd.ProcessState)}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func cleanup(t *testing.T, srv *seaweed.Server, prefix string) {
	admin, err := s3.New(srv.Config(srv.Admin))
	if err != nil {
		t.Fatal(err)
	}
	for info, err := range admin.List(context.Background(), prefix) {
		if err != nil {
			break
		}
		admin.Delete(context.Background(), info.Key)
	}
}

// childUpload is the uploader the benchmark times: what the edge shipper
// does per session, minus the bookkeeping.
func childUpload() error {
	cfg := s3.Config{
		Endpoint: os.Getenv("BENCH_ENDPOINT"), Bucket: os.Getenv("BENCH_BUCKET"), CAFile: os.Getenv("BENCH_CA"),
		AccessKey: os.Getenv("BENCH_AK"), SecretKey: os.Getenv("BENCH_SK"), WriteOnly: true,
		PartSize: envInt("BENCH_PART_SIZE_MIB", int64(0)) << 20, PartConcurrency: envInt("BENCH_PART_CONCURRENCY", 0),
		MultipartThreshold: envInt("BENCH_MULTIPART_THRESHOLD_MIB", int64(0)) << 20,
	}
	fileConcurrency := envInt("BENCH_FILE_CONCURRENCY", 8)
	noDigests := os.Getenv("BENCH_NO_DIGESTS") == "1"
	dir, prefix := os.Getenv("BENCH_DIR"), os.Getenv("BENCH_PREFIX")
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	var manifest map[string]digest
	b, err := os.ReadFile(dir + ".manifest.json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		return err
	}
	base, err := s3.New(cfg)
	if err != nil {
		return err
	}
	store := objstore.WithRetry(base, objstore.RetryPolicy{})
	var paths []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	ctx := context.Background()
	etags := map[string]objstore.Info{}
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range fileConcurrency {
		wg.Go(func() {
			for p := range jobs {
				d := manifest[p]
				if noDigests {
					d = digest{}
				}
				info, err := putFile(ctx, store, p, prefix+strings.TrimPrefix(p, dir+"/"), d)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				etags[info.Key] = info
				mu.Unlock()
			}
		})
	}
	for _, p := range paths {
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	verified := 0
	for info, err := range store.List(ctx, prefix) {
		if err != nil {
			return err
		}
		want, ok := etags[info.Key]
		if !ok || want.Size != info.Size || want.ETag != info.ETag {
			return fmt.Errorf("%s: listed %d %s, uploaded %d %s", info.Key, info.Size, info.ETag, want.Size, want.ETag)
		}
		verified++
	}
	if verified != len(paths) {
		return fmt.Errorf("verified %d objects of %d", verified, len(paths))
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]int{"files": verified})
}

// envInt reads a tuning knob of the child uploader.
func envInt[T int | int64](name string, def T) T {
	if n, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && n > 0 {
		return T(n)
	}
	return def
}

func putFile(ctx context.Context, store objstore.Store, path, key string, d digest) (objstore.Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return objstore.Info{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return objstore.Info{}, err
	}
	return store.Put(ctx, key, f, fi.Size(), objstore.PutOptions{ContentMD5: d.MD5, SHA256: d.SHA256, ContentType: "application/dicom"})
}
