package spool

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/aisedge/aisedge/internal/fsutil"
)

// studyKeyHash derives a file-name-safe identifier from pseudonymous values.
func studyKeyHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// Written describes a file written by WriteTemp.
type Written struct {
	Path   string
	Size   int64
	SHA256 string
	MD5    string
}

// WriteTemp creates a file in the spool's tmp directory, lets write fill
// it, computes its digests on the way, and fsyncs it unless d is
// fsutil.Deferred. On error nothing is left behind.
func (s *Spool) WriteTemp(d fsutil.Durability, write func(w io.Writer) error) (Written, error) {
	f, err := os.CreateTemp(s.TmpDir(), "in-*.dcm")
	if err != nil {
		return Written{}, fmt.Errorf("spool: %w", err)
	}
	fail := func(err error) (Written, error) {
		f.Close()
		os.Remove(f.Name())
		return Written{}, err
	}
	sh, m := sha256.New(), md5.New()
	cw := &countWriter{w: io.MultiWriter(f, sh, m)}
	if err := write(cw); err != nil {
		return fail(err)
	}
	if d == fsutil.Synced {
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("spool: fsync: %w", err))
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return Written{}, fmt.Errorf("spool: %w", err)
	}
	return Written{Path: f.Name(), Size: cw.n, SHA256: hex.EncodeToString(sh.Sum(nil)), MD5: hex.EncodeToString(m.Sum(nil))}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
