package dimse

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// tempPrefix names the receiver's temporary files in TempDir.
const tempPrefix = ".incoming-"

// tempPool keeps a few empty temporary files created ahead of need:
// creating a file costs a few hundred microseconds on some file systems
// (inode allocation), which would otherwise add to the latency of every
// C-STORE of the association waiting for it.
type tempPool struct {
	dir  string
	ch   chan *os.File
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newTempPool(dir string, size int) *tempPool {
	p := &tempPool{dir: dir, ch: make(chan *os.File, size), stop: make(chan struct{})}
	p.wg.Add(1)
	go p.fill()
	return p
}

func (p *tempPool) create() (*os.File, error) {
	return os.CreateTemp(p.dir, tempPrefix+"*.dcm")
}

func (p *tempPool) fill() {
	defer p.wg.Done()
	for {
		f, err := p.create()
		if err != nil {
			// Out of space or inodes, or the directory went away: callers
			// create their own file and get the error themselves.
			select {
			case <-p.stop:
				return
			case <-time.After(time.Second):
			}
			continue
		}
		select {
		case p.ch <- f:
		case <-p.stop:
			f.Close()
			os.Remove(f.Name())
			return
		}
	}
}

// get returns an empty temporary file, from the pool when one is ready.
func (p *tempPool) get() (*os.File, error) {
	select {
	case f := <-p.ch:
		return f, nil
	default:
		return p.create()
	}
}

// close stops the filler and removes the files not handed out.
func (p *tempPool) close() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		for {
			select {
			case f := <-p.ch:
				f.Close()
				os.Remove(f.Name())
			default:
				return
			}
		}
	})
}

// removeStaleTemps deletes temporary files left in dir by a receiver that
// crashed: partial instances that were never acknowledged.
func removeStaleTemps(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), tempPrefix) {
			if os.Remove(filepath.Join(dir, e.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}
