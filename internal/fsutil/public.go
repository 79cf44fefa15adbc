package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strings"
)

var absPathRE = regexp.MustCompile(`(^|[\s"'(=\[,])(/[^\s"'(),\]]*)`)

// PublicError is err's text with every file path replaced by "[path]":
// the paths of the errors it wraps (fs.PathError, os.LinkError) and
// anything else that looks like an absolute path. Folder names of the
// facility backup hold patient IDs: errors that may name them go to logs,
// status and answers through here.
func PublicError(err error) string {
	msg := err.Error()
	var paths []string
	var walk func(e error)
	walk = func(e error) {
		for e != nil {
			switch x := e.(type) {
			case *fs.PathError:
				paths = append(paths, x.Path)
			case *os.LinkError:
				paths = append(paths, x.Old, x.New)
			}
			if j, ok := e.(interface{ Unwrap() []error }); ok {
				for _, c := range j.Unwrap() {
					walk(c)
				}
				return
			}
			e = errors.Unwrap(e)
		}
	}
	walk(err)
	for _, p := range paths {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "[path]")
		}
	}
	return absPathRE.ReplaceAllString(msg, "$1[path]")
}
