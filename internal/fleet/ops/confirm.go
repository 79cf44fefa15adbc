package ops

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Confirmer asks the operator to confirm a deletion of data.
type Confirmer interface {
	// Confirm returns nil only if the operator typed phrase exactly (or
	// gave it beforehand); otherwise an error saying how to confirm.
	// what describes what will be deleted, shown before asking.
	Confirm(what, phrase string) error
}

// ErrNotConfirmed is wrapped by every refusal of a Confirmer.
var ErrNotConfirmed = errors.New("not confirmed")

// Typed is the Confirmer of the CLI: the phrase given beforehand
// (--yes-delete-data=PHRASE) must match exactly; otherwise, on a terminal,
// the operator types it; without a terminal it refuses.
type Typed struct {
	// Given is the phrase passed beforehand ("" if none).
	Given string
	// Terminal reports whether In is an interactive terminal.
	Terminal bool
	In       io.Reader
	Out      io.Writer
}

// Confirm implements Confirmer.
func (t *Typed) Confirm(what, phrase string) error {
	if t.Given != "" {
		if t.Given != phrase {
			return fmt.Errorf("%w: --yes-delete-data=%q does not match; it must be exactly %q", ErrNotConfirmed, t.Given, phrase)
		}
		return nil
	}
	if !t.Terminal || t.In == nil {
		return fmt.Errorf("%w: this deletes %s; standard input is not a terminal, so confirm with --yes-delete-data=%q", ErrNotConfirmed, what, phrase)
	}
	fmt.Fprintf(t.Out, "This deletes %s.\nType %q to go on: ", what, phrase)
	line, err := bufio.NewReader(t.In).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("%w: no answer: %v", ErrNotConfirmed, err)
	}
	if strings.TrimRight(line, "\r\n") != phrase {
		return fmt.Errorf("%w: the answer was not %q; nothing was deleted", ErrNotConfirmed, phrase)
	}
	return nil
}
