package fs

import "testing"

// NoXattrs makes the store keep its metadata records as files, as on a file
// system without user attributes, until t ends.
func NoXattrs(t *testing.T) {
	xattrs = false
	t.Cleanup(func() { xattrs = true })
}
