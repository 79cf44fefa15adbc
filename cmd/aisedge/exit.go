package main

import (
	"errors"

	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/fsperm"
)

// Exit statuses (docs/reference.md, "Exit statuses"; exitTable).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitConfig      = 3
	exitConnection  = 4
	exitPartial     = 5
	exitInterrupted = 130
)

const exitTable = `exit statuses:
  0    success
  1    failure (anything not below)
  2    usage: unknown command, flag or argument
  3    configuration: a problem in the configuration file, a key file or a folder
  4    connection: the daemon, the DICOM peer, S3 or XNAT did not answer
  5    partial failure: some items (files, entries) failed, others succeeded
  130  interrupted (Ctrl-C, SIGTERM) before the command finished
`

// usageError marks a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// connectionError marks an error reaching the daemon or a peer: 4.
type connectionError struct{ err error }

func (e connectionError) Error() string { return e.err.Error() }
func (e connectionError) Unwrap() error { return e.err }

// partialError marks a command that did part of its work: 5.
type partialError struct{ msg string }

func (e partialError) Error() string { return e.msg }

// interrupted marks a command stopped by a signal before it finished:
// 130; msg says how far it got.
type interrupted struct{ msg string }

func (e interrupted) Error() string { return e.msg }

// exitCode maps a command's error to the exit status; signalled says
// whether a signal asked the command to stop.
func exitCode(err error, signalled bool) int {
	var (
		ue usageError
		ce *config.Error
		fp *fsperm.Problem
		cn connectionError
		pe partialError
		ie interrupted
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ie):
		return exitInterrupted
	case errors.As(err, &pe):
		return exitPartial
	case errors.As(err, &ce), errors.As(err, &fp):
		return exitConfig
	case errors.As(err, &cn):
		return exitConnection
	case signalled:
		return exitInterrupted
	}
	return exitFailure
}
