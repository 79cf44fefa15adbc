// Command aisedge is the one binary of the AIS-Edge system: the edge, hub and
// standalone roles and the operator tools are its subcommands. main stays
// thin: each subcommand lives in its own file and registers itself here;
// help.go holds each command's synopsis and examples, exit.go the exit
// statuses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/aisedge/aisedge/internal/config"
)

// command is one subcommand: its flags are parsed by run itself.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("aisedge: duplicate command " + c.name)
	}
	commands[c.name] = c
}

func commandNames() []string {
	names := make([]string, 0, len(commands)+1)
	for n := range commands {
		names = append(names, n)
	}
	names = append(names, "help")
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: aisedge <command> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, n := range commandNames() {
		if n == "help" {
			fmt.Fprintf(w, "  %-10s %s\n", n, "show a command's flags and examples: aisedge help COMMAND")
			continue
		}
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'aisedge help <command>' (or 'aisedge <command> -h') for a command's flags and examples.")
	fmt.Fprintln(w)
	fmt.Fprint(w, exitTable)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// unknownCommand reports a command name that is not one, with the nearest.
func unknownCommand(name string, stderr io.Writer) int {
	msg := fmt.Sprintf("aisedge: unknown command %q", name)
	if s := config.Closest(name, commandNames()); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	fmt.Fprintln(stderr, msg)
	fmt.Fprintln(stderr, "Run 'aisedge help' for the list of commands.")
	return exitUsage
}

// run executes one command line and returns the process exit status
// (exit.go).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || (args[0] == "help" && len(args) == 1) {
		usage(stdout)
		return 0
	}
	if args[0] == "help" {
		c, ok := commands[args[1]]
		if !ok {
			return unknownCommand(args[1], stderr)
		}
		// The command's own -h, on standard output.
		if err := c.run(context.Background(), append(helpArgs(c.name, args[2:]), "-h"), stdout, stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "aisedge %s: %v\n", c.name, err)
			return exitCode(err, false)
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		return unknownCommand(args[0], stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile := startCPUProfile(stderr)
	err := c.run(ctx, args[1:], stdout, stderr)
	stopProfile()
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(stderr, "aisedge %s: %s\n", c.name, msg)
	}
	return exitCode(err, ctx.Err() != nil)
}

// helpArgs keeps the sub-command words of `aisedge help fleet join`.
func helpArgs(name string, rest []string) []string {
	if name == "fleet" || name == "config" {
		return rest
	}
	return nil
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints the command's synopsis, flags and examples on -h (help.go).
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("aisedge "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printHelp(fs, name) }
	captureFlagSet(name, fs)
	return fs
}

// parseFlags parses args, turning flag errors into usage errors (with the
// nearest flag when one was misspelt).
func parseFlags(fs *flag.FlagSet, args []string) error {
	// The flag package prints the whole usage on any error; only -h gets
	// it here, a mistake gets one line.
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return err
		}
		msg := err.Error()
		if bad, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			var names []string
			fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			if s := config.Closest(strings.TrimLeft(bad, "-"), names); s != "" {
				msg += fmt.Sprintf("; did you mean --%s?", s)
			}
		}
		return usageError{msg + " (aisedge help " + strings.TrimPrefix(fs.Name(), "aisedge ") + ")"}
	}
	return nil
}
