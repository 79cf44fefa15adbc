package kubetest

import (
	"context"
	"testing"
	"time"
)

// Loop runs step every interval in the background, as a stand-in for a
// controller the test cluster lacks, until step returns true or the test
// ends; the test's cleanup stops it and waits for it. step receives a
// context that ends with the test.
func Loop(t testing.TB, interval time.Duration, step func(ctx context.Context) (done bool)) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	t.Cleanup(func() { cancel(); <-stopped })
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			time.Sleep(interval)
			if step(ctx) {
				return
			}
		}
	}()
}
