package fs

import (
	"os"

	"golang.org/x/sys/unix"
)

// metaXattr is the extended attribute holding an object's metadata record
// on file systems that support user attributes (ext4, xfs, btrfs, tmpfs
// since Linux 6.6): one attribute on the file instead of a second file,
// whose creation was the most expensive step of a Put.
const metaXattr = "user.aisedge.objstore"

// setMetaXattr stores b on f; false when the file system cannot.
func setMetaXattr(f *os.File, b []byte) bool {
	return unix.Fsetxattr(int(f.Fd()), metaXattr, b, 0) == nil
}

// getMetaXattr reads the record stored on f, nil if none.
func getMetaXattr(f *os.File) []byte {
	buf := make([]byte, 512)
	n, err := unix.Fgetxattr(int(f.Fd()), metaXattr, buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}
