// Package session names an imaging session as the pipeline carries it from
// de-identification to the archive: the project, the pseudonymous subject
// and the pseudonymous visit. The three travel together as an ID, never as
// a string to split again; the one place a name is read back from text is
// ParseFolder, for sessions the original system staged (their folder name
// is all there is).
//
// In this project "session" has this one meaning: the imaging session,
// the unit the edge stages and the hub delivers (an XNAT experiment).
// Its parts and neighbours have names of their own: the visit pseudonym
// is Visit (MANIFEST.json and the spool's records keep their JSON name
// "session"), PROJECT.SUBJECT.VISIT is the session's folder name, the
// XNAT experiment label is Label, the spool groups instances in studies
// (the edge keys a study by its session folder), and XNAT's server
// session (JSESSIONID) is a login.
//
// Any package may import it; it imports nothing of the project.
package session

import (
	"errors"
	"fmt"
	"strings"
)

// ID identifies a session: XNAT's project, subject and experiment come
// from it.
type ID struct {
	Project string
	Subject string // the subject's pseudonym
	Visit   string // the visit's pseudonym
}

// Folder is the session's folder and object-key name:
// PROJECT.SUBJECT.VISIT.
func (id ID) Folder() string { return id.Project + "." + id.Subject + "." + id.Visit }

// String is Folder.
func (id ID) String() string { return id.Folder() }

// Valid reports a part that is empty or that would make the folder name
// ambiguous or unsafe as a path: a '.', a '/', a '\' or a control
// character. The error names the part, never its value.
func (id ID) Valid() error {
	for _, p := range []struct{ name, v string }{{"project", id.Project}, {"subject", id.Subject}, {"visit", id.Visit}} {
		if p.v == "" {
			return fmt.Errorf("session: empty %s", p.name)
		}
		if strings.ContainsAny(p.v, "./\\") || strings.IndexFunc(p.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return fmt.Errorf("session: the %s holds a character a folder name cannot", p.name)
		}
	}
	return nil
}

// ErrFolder: a folder name that is not PROJECT.SUBJECT.VISIT.
var ErrFolder = errors.New("session: folder name is not PROJECT.SUBJECT.VISIT")

// ParseFolder reads a folder name made by Folder (or by the original
// system, which used the same form).
func ParseFolder(name string) (ID, error) {
	parts := strings.Split(name, ".")
	if len(parts) != 3 {
		return ID{}, ErrFolder
	}
	id := ID{Project: parts[0], Subject: parts[1], Visit: parts[2]}
	if err := id.Valid(); err != nil {
		return ID{}, fmt.Errorf("%w: %v", ErrFolder, err)
	}
	return id, nil
}
