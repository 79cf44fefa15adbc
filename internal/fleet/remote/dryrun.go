package remote

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// DryRun is a Runner that prints each command, and the size of the input
// it would send (never the input itself), and runs nothing.
type DryRun struct {
	// Host names the target in the printed lines.
	Host string
	Out  io.Writer
	mu   sync.Mutex
}

var _ Runner = (*DryRun)(nil)

// Run implements Runner: it prints and returns (nil, nil).
func (d *DryRun) Run(_ context.Context, step, cmd string, stdin []byte) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.Out, "dry run: %s: ssh %s %s\n", step, d.Host, cmd)
	if stdin != nil {
		fmt.Fprintf(d.Out, "dry run: %s:   with %d bytes on standard input (not shown)\n", step, len(stdin))
	}
	return nil, nil
}
