package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	sdicom "github.com/suyashkumar/dicom"

	"github.com/aisedge/aisedge/bench/internal/smoke"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
)

// Codec benchmarks: parse a file and write it back to a new file, as the
// edge does for every instance (receive → de-identify → spool). Reported
// MB/s is input bytes per second.
//
//   go test ./bench -run '^$' -bench Codec -benchtime 20x
//
// Each case runs our codec and, where it copes with the input,
// github.com/suyashkumar/dicom v1.1.0 (the served Go DICOM library) side by
// side, and dcmtk's dcmconv as a process per file; bench/codec.sh prints
// the ratios.

var (
	fixturesOnce sync.Once
	fixtureDir   string
	largeFile    string
	smallFiles   []string
	fixturesErr  error
)

// fixtures unpacks the 23 MB enhanced MR and makes 2,000 distinct ~10 kB
// MR instances (new SOP Instance UIDs) in a temporary directory; 20 in
// smoke mode (AISEDGE_BENCH_SMOKE=1).
func fixtures(b *testing.B) {
	fixturesOnce.Do(func() {
		src := sampledata.Dir(b)
		fixtureDir, fixturesErr = os.MkdirTemp("", "aisedge-bench-codec-")
		if fixturesErr != nil {
			return
		}
		largeFile = filepath.Join(fixtureDir, "mr_enhanced.dcm")
		fixturesErr = sampledata.Gunzip(filepath.Join(src, "nibabel_philips_mprage.dcm.gz"), largeFile)
		if fixturesErr != nil {
			return
		}
		tmpl, err := dicom.Open(filepath.Join(src, "pydicom_MR_small_implicit.dcm"), nil)
		if err != nil {
			fixturesErr = err
			return
		}
		defer tmpl.Close()
		for i := range smoke.Size(2000, 20) {
			uid := fmt.Sprintf("2.25.1000%d", i)
			tmpl.Dataset.SetString(dicom.TagSOPInstanceUID, dicom.UI, uid)
			tmpl.Meta.SetString(dicom.TagMediaStorageSOPInstanceUID, dicom.UI, uid)
			p := filepath.Join(fixtureDir, fmt.Sprintf("small_%04d.dcm", i))
			f, err := os.Create(p)
			if err != nil {
				fixturesErr = err
				return
			}
			if err := dicom.WriteFile(f, tmpl); err != nil {
				fixturesErr = err
				return
			}
			f.Close()
			smallFiles = append(smallFiles, p)
		}
	})
	if fixturesErr != nil {
		b.Skip(fixturesErr)
	}
}

func totalSize(b *testing.B, files []string) int64 {
	var n int64
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

// ours parses path and writes it to out.
func ours(path, out string) error {
	f, err := dicom.Open(path, nil)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := dicom.WriteFile(w, f); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func suyashkumar(path, out string) error {
	ds, err := sdicom.ParseFile(path, nil)
	if err != nil {
		return err
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := sdicom.Write(w, ds); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// dcmconv runs dcmtk's dcmconv (parse + write, same transfer syntax) as a
// process per file: how the original tooling would do it.
func dcmconv(path, out string) error {
	if o, err := exec.Command("dcmconv", path, out).CombinedOutput(); err != nil {
		return fmt.Errorf("dcmconv: %v: %s", err, o)
	}
	return nil
}

func runCodec(b *testing.B, files []string, fn func(string, string) error) {
	out := filepath.Join(b.TempDir(), "out.dcm")
	b.SetBytes(totalSize(b, files))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, p := range files {
			if err := fn(p, out); err != nil {
				b.Skipf("%s: %v", filepath.Base(p), err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(files))/b.Elapsed().Seconds(), "files/s")
}

func BenchmarkCodec(b *testing.B) {
	fixtures(b)
	impls := []struct {
		name string
		fn   func(string, string) error
	}{{"aisedge", ours}, {"suyashkumar", suyashkumar}}
	if _, err := exec.LookPath("dcmconv"); err == nil {
		impls = append(impls, struct {
			name string
			fn   func(string, string) error
		}{"dcmconv", dcmconv})
	}
	for _, set := range []struct {
		name  string
		files []string
	}{{"EnhancedMR23MB", []string{largeFile}}, {smallSet(), smallFiles}} {
		for _, impl := range impls {
			b.Run(set.name+"/"+impl.name, func(b *testing.B) { runCodec(b, set.files, impl.fn) })
		}
	}
}

// smallSet names the set of small MR instances after its size: Small2000,
// or Small20 in smoke mode.
func smallSet() string { return fmt.Sprintf("Small%d", len(smallFiles)) }
