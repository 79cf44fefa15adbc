package spool

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// commitRecords runs a group of record updates in one transaction (see
// Spool.commits: writers that arrive during a commit share the next; bolt's
// own Batch made a lone writer wait MaxBatchDelay, 10 ms, for company). As
// with bolt's Batch, a function may run more than once: when one function
// of a group fails, the transaction is rolled back, that function gets its
// error, and the others run again without it.
func commitRecords(db *bolt.DB) func(fns []func(*bolt.Tx) error, errs []error) {
	return func(fns []func(*bolt.Tx) error, errs []error) {
		idx := make([]int, len(fns)) // positions still to commit
		for i := range idx {
			idx[i] = i
		}
		for len(idx) > 0 {
			err := db.Update(func(tx *bolt.Tx) error {
				for k, i := range idx {
					if err := fns[i](tx); err != nil {
						return &errFnFailed{k, err}
					}
				}
				return nil
			})
			var failed *errFnFailed
			if errors.As(err, &failed) {
				errs[idx[failed.k]] = failed.err
				idx = append(idx[:failed.k:failed.k], idx[failed.k+1:]...)
				continue
			}
			for _, i := range idx {
				errs[i] = err
			}
			return
		}
	}
}

// errFnFailed marks the function of a group that failed.
type errFnFailed struct {
	k   int
	err error
}

func (e *errFnFailed) Error() string { return e.err.Error() }
