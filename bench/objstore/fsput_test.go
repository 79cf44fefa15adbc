package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aisedge/aisedge/bench/internal/smoke"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/fs"
)

// BenchmarkFSPut measures the local-directory store (the standalone
// bucket) storing one 2,000-object session of 39 KB objects (CT_small's
// size) with 16 at a time, as `aisedge run` ships: "copy" is Put from a
// reader, "link" is PutFile of staged files on the same file system (what
// the edge does). Every object is durable (fsynced, renamed, directory
// fsynced) before the call returns.
//
//	go test ./bench/objstore -run '^$' -bench FSPut -benchtime 3x
func BenchmarkFSPut(b *testing.B) {
	const size, parallel = 39 << 10, 16
	objects := smoke.Size(2000, 50) // 50 in smoke mode (AISEDGE_BENCH_SMOKE=1)
	data := make([]byte, size)
	rand.Read(data)
	ctx := context.Background()
	for _, mode := range []string{"copy", "link"} {
		b.Run(mode, func(b *testing.B) { fsPut(b, ctx, mode, data, objects, parallel) })
	}
}

func fsPut(b *testing.B, ctx context.Context, mode string, data []byte, objects, parallel int) {
	size := int64(len(data))
	src := b.TempDir()
	for j := range objects {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprint(j)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := fs.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for j := range objects {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				key := fmt.Sprintf("staged/edge/P.S.V/%d/DICOM/%05d.dcm", j%4, j)
				var err error
				if mode == "link" {
					_, err = objstore.PutFile(ctx, st, key, filepath.Join(src, fmt.Sprint(j)), size, objstore.PutOptions{})
				} else {
					_, err = st.Put(ctx, key, bytes.NewReader(data), size, objstore.PutOptions{})
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		st.Close()
	}
	b.ReportMetric(float64(objects*b.N)/b.Elapsed().Seconds(), "objects/s")
}
