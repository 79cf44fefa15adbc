package kubetest

import (
	"bytes"
	"context"
	"strings"
	"sync"
)

// Output collects progress lines that Deploy, Wait and the fleet operations
// write from several goroutines; safe for concurrent use.
type Output struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed (and replaced) on every Write
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.written != nil {
		close(o.written)
		o.written = nil
	}
	return o.b.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Reset forgets everything written so far.
func (o *Output) Reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Reset()
}

// WaitFor blocks until what was written since the last Reset contains
// every one of substrs, and reports whether it does (false: ctx ended
// first). Tests use it to act on progress instead of after a delay.
func (o *Output) WaitFor(ctx context.Context, substrs ...string) bool {
	for {
		o.mu.Lock()
		all := true
		for _, s := range substrs {
			if !strings.Contains(o.b.String(), s) {
				all = false
				break
			}
		}
		if all {
			o.mu.Unlock()
			return true
		}
		if o.written == nil {
			o.written = make(chan struct{})
		}
		written := o.written
		o.mu.Unlock()
		select {
		case <-written:
		case <-ctx.Done():
			return false
		}
	}
}
