//go:build !linux

package fs

import "os"

// Elsewhere the metadata record is always a file under .objstore/meta.
func setMetaXattr(*os.File, []byte) bool { return false }

func getMetaXattr(*os.File) []byte { return nil }
