// Package remote runs commands on an edge worker over SSH for `aisedge
// fleet join`: key authentication with the site's key file, the host key
// pinned through a known_hosts file (an unknown host is refused unless the
// caller accepts new keys, as OpenSSH's StrictHostKeyChecking=accept-new; a
// changed key is always refused), a timeout on connecting and on every
// command. DryRun prints the commands instead of running them.
//
// Commands are shell command lines built with Quote, Command or Script, so
// that no value from the configuration is interpreted by the remote shell.
// Secrets travel on standard input only: never on a command line, never in
// an error or a progress line.
//
// Only internal/fleet/join and cmd/aisedge import it.
package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Runner runs commands on one remote host.
type Runner interface {
	// Run runs cmd, a POSIX shell command line (build it with Command or
	// Script), on the remote host, feeding it stdin (nil: no input; secrets
	// go here, never into cmd). step names the caller's step in errors.
	//
	// It returns the command's standard output. A command that exits with
	// a non-zero status returns *ExitError (step, status and the remote
	// standard error); a connection failure or a timeout returns *Error
	// with the step. Either way the error never contains stdin.
	//
	// A dry-run Runner prints cmd and returns (nil, nil) without running
	// anything: callers treat empty output as "nothing there yet".
	Run(ctx context.Context, step, cmd string, stdin []byte) (stdout []byte, err error)
}

// ExitError is a remote command that ran and failed.
type ExitError struct {
	Host string
	Step string
	// Status is the exit status (-1 when the command died of a signal).
	Status int
	Signal string
	// Stderr is the command's standard error, trimmed.
	Stderr string
}

func (e *ExitError) Error() string {
	how := fmt.Sprintf("exit status %d", e.Status)
	if e.Signal != "" {
		how = "killed by signal " + e.Signal
	}
	msg := fmt.Sprintf("%s on %s: remote command failed (%s)", e.Step, e.Host, how)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Error is a failure to run a command at all (connection lost, timeout).
type Error struct {
	Host string
	Step string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s on %s: %v", e.Step, e.Host, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// ErrTimeout is wrapped by the *Error of a command that ran out of time.
var ErrTimeout = errors.New("timed out")

// Quote returns s as one word for a POSIX shell: in single quotes, each
// embedded single quote closed, escaped with a backslash and reopened.
// Plain words (letters, digits, -_./=:@,+%) are left bare for readable
// dry-run output.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !plain(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func plain(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("-_./=:@,+%", r)
}

// Command returns a command line running argv, every word quoted.
func Command(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

// Script returns a command line that runs the fixed shell script with
// args as its positional parameters ($1, $2, ...): `sh -c SCRIPT sh
// ARGS...`. Values reach the script only as parameters, never as script
// text. With sudo, the script runs through `sudo -n` (for a non-root SSH
// user; -n: fail instead of asking for a password).
func Script(sudo bool, script string, args ...string) string {
	argv := append([]string{"sh", "-c", script, "sh"}, args...)
	if sudo {
		argv = append([]string{"sudo", "-n", "--"}, argv...)
	}
	return Command(argv...)
}
