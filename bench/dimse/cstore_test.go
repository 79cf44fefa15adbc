// Package dimsebench holds Go benchmarks of the DICOM network layer: one
// in-process receiver (DirStore, fsync on) fed by the in-process sender
// over loopback, per instance size. Run:
//
//	go test -run '^$' -bench . ./bench/dimse
//
// cstore_bench.sh next to this file compares the real binaries with dcmtk
// and Orthanc.
package dimsebench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/aisedge/aisedge/internal/testpeer/sampledata"

	"github.com/aisedge/aisedge/internal/dimse"
)

// testdata is the repository's curated DICOM set (testdata/dicom).
var testdata, _ = sampledata.Locate()

var noValidate = flag.Bool("novalidate", false, "skip the receiver's parse check")

func startReceiver(b *testing.B, noValidate bool) string {
	b.Helper()
	dir := b.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		b.Fatal(err)
	}
	store, err := dimse.NewDirStore(filepath.Join(dir, "store"), nil)
	if err != nil {
		b.Fatal(err)
	}
	// Each copy is filed under its own name, as distinct instances would be.
	var n atomic.Int64
	unique := dimse.StoreFunc(func(ctx context.Context, in *dimse.Instance) error {
		c := *in
		c.SOPInstanceUID = fmt.Sprint(in.SOPInstanceUID, ".", n.Add(1))
		return store.Store(ctx, &c)
	})
	cfg := dimse.ServerConfig{Handler: unique, TempDir: tmp, Logger: slog.New(slog.DiscardHandler)}
	if noValidate {
		cfg.Validate = func(*dimse.Instance, io.ReaderAt) error { return nil }
	}
	srv, err := dimse.NewServer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// BenchmarkCStore sends the same file repeatedly over one association; the
// receiver files every copy under its own name (network path, validation,
// fdatasync of each file, link and directory fsync).
func BenchmarkCStore(b *testing.B) {
	for _, name := range []string{"pydicom_MR_small_implicit.dcm", "pydicom_CT_small.dcm", "suyashkumar_5_CT_multiframe.dcm"} {
		b.Run(name, func(b *testing.B) {
			fi, err := dimse.ReadFileInstance(filepath.Join(testdata, name))
			if err != nil {
				b.Skip(err)
			}
			addr := startReceiver(b, *noValidate)
			ctxs, _ := dimse.ProposeFor([]*dimse.FileInstance{fi})
			c, err := dimse.Dial(context.Background(), addr, dimse.DialConfig{Contexts: ctxs})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Release()
			b.SetBytes(fi.Size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if st, err := c.StoreFile(context.Background(), fi); err != nil || st != 0 {
					b.Fatal(fmt.Errorf("status %04X: %v", st, err))
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inst/s")
		})
	}
}
