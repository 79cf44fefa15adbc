package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/fs"
)

// BenchmarkFSPut measures the local-directory store (the standalone
// bucket) putting one 2,000-object session of 39 KB objects (CT_small's
// size) with 16 Puts at a time, as `aisedge run` ships; every Put is
// durable (data fsynced, renamed, directory fsynced) before it returns.
//
//	go test ./bench/objstore -run '^$' -bench FSPut -benchtime 3x
func BenchmarkFSPut(b *testing.B) {
	const objects, size, parallel = 2000, 39 << 10, 16
	data := make([]byte, size)
	rand.Read(data)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
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
				if _, err := st.Put(ctx, key, bytes.NewReader(data), size, objstore.PutOptions{}); err != nil {
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
