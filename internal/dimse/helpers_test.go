package dimse

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/testpeer/sampledata"

	"github.com/aisedge/aisedge/internal/dicom"
)

// testdataDir is the repository's curated DICOM set (testdata/dicom).
var testdataDir, _ = sampledata.Locate()

// recorder wraps a DirStore and records what it was handed.
type recorder struct {
	*DirStore
	mu    sync.Mutex
	got   []*received
	delay time.Duration
}

type received struct {
	Instance
	FinalPath string
	InMemory  bool // handed over as Instance.Data
}

func (r *recorder) Store(ctx context.Context, in *Instance) error {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	inMemory := in.Data != nil
	final, err := r.DirStore.Put(in)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.got = append(r.got, &received{Instance: *in, FinalPath: final, InMemory: inMemory})
	r.mu.Unlock()
	return nil
}

func (r *recorder) all() []*received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*received(nil), r.got...)
}

type testServer struct {
	*Server
	Addr  string
	Port  string
	Store *recorder
	Dir   string
	done  chan error
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer runs a server on a free loopback port until the test ends.
func startServer(t testing.TB, mod func(*ServerConfig)) *testServer {
	t.Helper()
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	ds, err := NewDirStore(storeDir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{DirStore: ds}
	cfg := ServerConfig{Handler: rec, TempDir: tmp, Logger: testLogger(t), MinFreeBytes: -1}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, Addr: ln.Addr().String(), Store: rec, Dir: dir, done: make(chan error, 1)}
	_, ts.Port, _ = net.SplitHostPort(ts.Addr)
	go func() { ts.done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-ts.done
		// No temporary file may survive.
		left, _ := filepath.Glob(filepath.Join(tmp, "*"))
		if len(left) > 0 {
			t.Errorf("temporary files left behind: %v", left)
		}
	})
	return ts
}

// needBinary skips the test when a peer program is not installed.
func needBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (install dcmtk/orthanc; ./scripts/test does): %v", name, err)
	}
	return p
}

// runTool runs a dcmtk tool with TCP_NODELAY=1 and returns its combined
// output.
func runTool(t testing.TB, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	needBinary(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sourceFile is one sendable test file.
type sourceFile struct {
	Path        string
	SOPClass    string
	SOPInstance string
	TS          string
	// Data is the data set as stored in the file (after the meta).
	Data []byte
}

var (
	corpusOnce sync.Once
	corpusDir  string
	corpusErr  error
)

// testCorpus returns a directory holding every sendable file of the shared
// test set (the Philips file gunzipped, the dicomdirtests tree untarred),
// and the parsed list of them. Non-sendable files are left out.
func testCorpus(t testing.TB) (string, []*sourceFile) {
	t.Helper()
	if _, err := os.Stat(testdataDir); err != nil {
		t.Fatalf("shared DICOM test data missing (set AISEDGE_DICOM_TESTDATA): %v", err)
	}
	dir := t.TempDir()
	entries, err := os.ReadDir(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	notSendable := map[string]bool{
		"pydicom_chrSQEncoding1.dcm": true, "pydicom_nested_priv_SQ.dcm": true,
		"pydicom_UN_sequence.dcm": true, "pydicom_MR_truncated.dcm": true,
	}
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, ".dcm") && !notSendable[n]:
			if err := os.Symlink(filepath.Join(testdataDir, n), filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(n, ".dcm.gz"):
			out, err := exec.Command("gunzip", "-c", filepath.Join(testdataDir, n)).Output()
			if err != nil {
				t.Fatalf("gunzip %s: %v", n, err)
			}
			if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(n, ".gz")), out, 0o644); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(n, ".tar.gz"):
			if out, err := exec.Command("tar", "-xzf", filepath.Join(testdataDir, n), "-C", dir).CombinedOutput(); err != nil {
				t.Fatalf("untar %s: %v\n%s", n, err, out)
			}
		}
	}
	var files []*sourceFile
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		sf, ok := loadSource(p)
		if ok {
			files = append(files, sf)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return dir, files
}

// loadSource parses a candidate file; DICOMDIRs, non-DICOM files and files
// without SOP UIDs are not sendable.
func loadSource(p string) (*sourceFile, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	f, err := dicom.ReadFileBytes(b, nil)
	if err != nil {
		return nil, false
	}
	sf := &sourceFile{Path: p, TS: f.TransferSyntax.UID,
		SOPClass: f.Dataset.String(dicom.TagSOPClassUID), SOPInstance: f.Dataset.String(dicom.TagSOPInstanceUID)}
	if sf.SOPClass == "" || sf.SOPInstance == "" || !(dicom.IsStorageSOPClass(sf.SOPClass)) {
		return nil, false
	}
	off := int64(0)
	if bytes.HasPrefix(b[min(128, len(b)):], []byte("DICM")) {
		off, err = Part10DataOffset(bytes.NewReader(b))
		if err != nil {
			// A meta without group length: fall back to the parser's view.
			return nil, false
		}
	}
	sf.Data = b[off:]
	return sf, true
}

// storedData returns the data set bytes of a stored instance.
func storedData(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off, err := Part10DataOffset(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
