package deid

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
	"github.com/aisedge/aisedge/internal/testpeer/samples"

	"github.com/aisedge/aisedge/internal/dicom"
)

// testSalt is a fixed test key (64 hex digits = 32 bytes).
const testSalt = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func testKeys(t testing.TB) *Keys {
	t.Helper()
	k, err := NewKeys(testSalt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testEngine(t testing.TB, p *Profile) *Engine {
	t.Helper()
	e, err := New(Config{Profile: p, Keys: testKeys(t), Site: "SITE1", ProjectCode: "PRJ"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sharedDir(t testing.TB) string { return samples.Dir(t) }

var (
	mprageOnce sync.Once
	mpragePath string
	mprageErr  error
)

// mprage returns the path of the unzipped 23 MB enhanced MR (shared by
// the tests of one run).
func mprage(t testing.TB) string {
	t.Helper()
	src := filepath.Join(sharedDir(t), "nibabel_philips_mprage.dcm.gz")
	mprageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deid-mprage-")
		if err != nil {
			mprageErr = err
			return
		}
		mpragePath = filepath.Join(dir, "mprage.dcm")
		mprageErr = sampledata.Gunzip(src, mpragePath)
	})
	if mprageErr != nil {
		t.Fatal(mprageErr)
	}
	return mpragePath
}

// run de-identifies a file in memory, serialises and gates it.
func run(t testing.TB, e *Engine, path string) (*Result, []byte) {
	t.Helper()
	f, err := dicom.Open(path, nil)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	return runFile(t, e, f)
}

func runFile(t testing.TB, e *Engine, f *dicom.File) (*Result, []byte) {
	t.Helper()
	res, err := e.Deidentify(f, Options{})
	if err != nil {
		t.Fatalf("deidentify: %v", err)
	}
	if res.Quarantined() {
		return res, nil
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, res.File); err != nil {
		t.Fatalf("write: %v", err)
	}
	out := buf.Bytes()
	if _, err := e.Verify(res, bytes.NewReader(out), int64(len(out))); err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res, out
}
