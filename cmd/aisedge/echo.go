package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/fault/netfault"
)

func init() {
	register(command{name: "echo", summary: "check a DICOM peer with C-ECHO (HOST:PORT)", run: runEcho})
}

// dimseFlags are the association flags shared by echo and send.
type dimseFlags struct {
	aet, calledAET string
	timeout        time.Duration
}

func (d *dimseFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&d.aet, "aet", "AISEDGE", "calling AE `title` (this side)")
	fs.StringVar(&d.calledAET, "called-aet", "ANY-SCP", "called AE `title` (the peer)")
	fs.DurationVar(&d.timeout, "timeout", 30*time.Second, "connect, negotiation and response timeout")
}

func (d *dimseFlags) dialConfig() dimse.DialConfig {
	return dimse.DialConfig{CallingAET: d.aet, CalledAET: d.calledAET, Timeout: d.timeout}
}

// checkPeer validates a HOST:PORT argument.
func checkPeer(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return usageError{fmt.Sprintf("peer %q: want HOST:PORT", addr)}
	}
	return nil
}

func checkAET(name, v string) error {
	if v == "" || len(v) > 16 {
		return usageError{fmt.Sprintf("--%s %q: an AE title has 1 to 16 characters", name, v)}
	}
	return nil
}

func runEcho(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("echo", stderr)
	var df dimseFlags
	df.add(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: aisedge echo HOST:PORT [--aet AET] [--called-aet AET] [--timeout D]"}
	}
	if err := checkPeer(pos[0]); err != nil {
		return err
	}
	if err := checkAET("aet", df.aet); err != nil {
		return err
	}
	if err := checkAET("called-aet", df.calledAET); err != nil {
		return err
	}
	start := time.Now()
	c, err := dimse.Dial(ctx, pos[0], df.dialConfig())
	if err != nil {
		err = fmt.Errorf("association with %s: %w", pos[0], err)
		if netfault.IsConnection(err) {
			return connectionError{err}
		}
		return err
	}
	if err := c.Echo(ctx); err != nil {
		c.Abort()
		return fmt.Errorf("C-ECHO: %w", err)
	}
	if err := c.Release(); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	fmt.Fprintf(stdout, "C-ECHO %s (%s as %s): success in %s\n", pos[0], df.calledAET, df.aet, time.Since(start).Round(time.Millisecond))
	return nil
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, which it returns in order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
