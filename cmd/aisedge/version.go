package main

import (
	"context"
	"fmt"
	"io"

	"github.com/aisedge/aisedge/internal/health"
)

func init() {
	register(command{name: "version", summary: "print the build version", run: runVersion})
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b := health.ReadBuild()
	fmt.Fprintf(stdout, "aisedge %s %s %s\n", b.Version, b.Revision, b.GoVersion)
	return nil
}
