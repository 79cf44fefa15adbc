package dicom

import "io/fs"

// statter is satisfied by *os.File without importing os here.
type statter interface {
	Stat() (fs.FileInfo, error)
}
