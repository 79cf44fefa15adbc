package dimse

import (
	"context"
	"sync"
	"sync/atomic"
)

// SendOptions configures SendFiles.
type SendOptions struct {
	Dial DialConfig // Contexts are filled in per association
	// PerAssociation is how many files go through one association
	// (0: split the files evenly over the parallel associations).
	PerAssociation int
	// Parallel is the number of concurrent associations (default 1).
	Parallel int
	// OnResult, if set, is called after each file (from several
	// goroutines when Parallel > 1).
	OnResult func(SendResult)
}

// SendResult is the outcome of one file.
type SendResult struct {
	File   *FileInstance
	Status uint16 // DIMSE status when the peer answered
	Err    error  // nil on success or warning
	Bytes  int64  // data set bytes sent
}

// SendSummary counts the outcomes of SendFiles.
type SendSummary struct {
	Sent, Warnings, Failed int
	Bytes                  int64
	Failures               []SendResult
}

// SendFiles sends files to addr with C-STORE over one or more
// associations. Files of one association get presentation contexts built by
// ProposeFor; batches needing more than 128 contexts are split. When an
// association fails, the file in flight is reported failed and the rest of
// its batch goes over a new association.
func SendFiles(ctx context.Context, addr string, files []*FileInstance, opts SendOptions) SendSummary {
	par := opts.Parallel
	if par < 1 {
		par = 1
	}
	per := opts.PerAssociation
	if per <= 0 {
		per = (len(files) + par - 1) / par
		if per == 0 {
			per = 1
		}
	}
	var batches [][]*FileInstance
	for i := 0; i < len(files); i += per {
		batches = append(batches, splitForContexts(files[i:min(i+per, len(files))])...)
	}
	var (
		mu  sync.Mutex
		sum SendSummary
	)
	report := func(r SendResult) {
		mu.Lock()
		switch {
		case r.Err != nil:
			sum.Failed++
			sum.Failures = append(sum.Failures, r)
		case r.Status != StatusSuccess:
			sum.Warnings++
			sum.Sent++
			sum.Bytes += r.Bytes
		default:
			sum.Sent++
			sum.Bytes += r.Bytes
		}
		mu.Unlock()
		if opts.OnResult != nil {
			opts.OnResult(r)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(par, len(batches)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(batches) {
					return
				}
				sendBatch(ctx, addr, batches[i], opts.Dial, report)
			}
		}()
	}
	wg.Wait()
	return sum
}

// splitForContexts halves a batch until each part needs at most 128
// presentation contexts.
func splitForContexts(files []*FileInstance) [][]*FileInstance {
	if _, ok := ProposeFor(files); ok || len(files) < 2 {
		return [][]*FileInstance{files}
	}
	h := len(files) / 2
	return append(splitForContexts(files[:h]), splitForContexts(files[h:])...)
}

func sendBatch(ctx context.Context, addr string, files []*FileInstance, dc DialConfig, report func(SendResult)) {
	for len(files) > 0 {
		if ctx.Err() != nil {
			for _, fi := range files {
				report(SendResult{File: fi, Err: ctx.Err()})
			}
			return
		}
		dc.Contexts, _ = ProposeFor(files)
		c, err := Dial(ctx, addr, dc)
		if err != nil {
			for _, fi := range files {
				report(SendResult{File: fi, Err: err})
			}
			return
		}
		broken := false
		for len(files) > 0 && !broken {
			fi := files[0]
			files = files[1:]
			st, err := c.StoreFile(ctx, fi)
			r := SendResult{File: fi, Status: st, Err: err}
			if err == nil {
				r.Bytes = fi.Size - max(fi.DataOffset, 0)
			}
			// When the association is gone, the rest goes on a new one.
			broken = !c.Usable()
			report(r)
		}
		if !broken {
			_ = c.Release()
		}
	}
}
