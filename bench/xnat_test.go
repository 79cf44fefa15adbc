package bench

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aisedge/aisedge/bench/internal/smoke"
	"github.com/aisedge/aisedge/internal/xnat"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

// XNAT delivery benchmarks: one session of 100 or 2,000 small synthetic
// files (16 KiB each, incompressible like compressed pixel data) delivered
// by xnat.Client.Deliver to the in-process emulator, from the first request
// (login included) to every file verified by MD5; tar.gz mode and per-file
// mode; with no added latency and with 2 ms per request (a nearby XNAT).
//
//	go test ./bench -run '^$' -bench XNATDeliver -benchtime 3x
//
// In smoke mode (AISEDGE_BENCH_SMOKE=1) only the 100-file session runs.
//
// Metrics: s/session (start → verified), requests/session, and
// rerun-requests (a second Deliver of the same session, which must upload
// nothing).

type benchShape struct {
	files, scans int
}

func benchSession(shape benchShape, size int) xnat.Session {
	rng := rand.New(rand.NewPCG(1, uint64(shape.files)))
	s := xnat.Session{Project: "BENCH", Subject: "BENCH-SUBJ", Label: fmt.Sprintf("BENCH_%d", shape.files),
		XSIType: xnat.SessionXSIType("MR")}
	per := shape.files / shape.scans
	for sc := 1; sc <= shape.scans; sc++ {
		r := xnat.Resource{Label: xnat.DICOMResourceLabel, Format: "DICOM"}
		for i := 0; i < per; i++ {
			data := make([]byte, size)
			for j := 0; j+8 <= size; j += 8 {
				v := rng.Uint64()
				for k := 0; k < 8; k++ {
					data[j+k] = byte(v >> (8 * k))
				}
			}
			sum := md5.Sum(data)
			r.Files = append(r.Files, xnat.File{
				Path: fmt.Sprintf("1.2.826.0.1.3680043.%d.%d.dcm", sc, i), Size: int64(size), MD5: hex.EncodeToString(sum[:]),
				Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			})
		}
		s.Scans = append(s.Scans, xnat.Scan{
			ScanSpec:  xnat.ScanSpec{ID: fmt.Sprint(sc), XSIType: "xnat:mrScanData", Type: "T1w", SeriesDescription: fmt.Sprintf("series_%d", sc)},
			Resources: []xnat.Resource{r},
		})
	}
	return s
}

func BenchmarkXNATDeliver(b *testing.B) {
	ctx := context.Background()
	for _, shape := range smoke.Size([]benchShape{{100, 4}, {2000, 10}}, []benchShape{{100, 4}}) {
		s := benchSession(shape, 16<<10)
		for _, mode := range []xnat.UploadMode{xnat.Archive, xnat.PerFile} {
			for _, lat := range []time.Duration{0, 2 * time.Millisecond} {
				name := fmt.Sprintf("files=%d/mode=%s/latency=%s", shape.files, mode, lat)
				b.Run(name, func(b *testing.B) {
					var reqs, rerun int64
					var elapsed time.Duration
					b.SetBytes(int64(shape.files) * 16 << 10)
					b.StopTimer()
					for i := 0; i < b.N; i++ {
						srv := xnattest.New(xnattest.Options{})
						srv.AddUser("bench", "bench-pw")
						srv.AddProject("BENCH", map[string]xnattest.Role{"bench": xnattest.Owner})
						srv.SetLatency(lat)
						c, err := xnat.New(xnat.Config{URL: srv.URL, Username: "bench", Password: "bench-pw"})
						if err != nil {
							b.Fatal(err)
						}
						start := time.Now()
						b.StartTimer()
						rep, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode})
						b.StopTimer()
						elapsed += time.Since(start)
						if err != nil {
							b.Fatal(err)
						}
						if rep.Files != shape.files || rep.Check != xnat.CheckMD5 {
							b.Fatalf("report %+v", rep)
						}
						reqs += rep.Requests
						rep2, err := c.Deliver(ctx, s, xnat.DeliverOptions{Mode: mode})
						if err != nil || rep2.Uploaded != 0 {
							b.Fatalf("rerun: %v %+v", err, rep2)
						}
						rerun += rep2.Requests
						c.Close(ctx)
						srv.Close()
					}
					b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/session")
					b.ReportMetric(float64(reqs)/float64(b.N), "requests/session")
					b.ReportMetric(float64(rerun)/float64(b.N), "rerun-requests")
				})
			}
		}
	}
}
