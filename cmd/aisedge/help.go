package main

import (
	"flag"
	"fmt"

	"github.com/aisedge/aisedge/internal/config"
)

// helpText is a command's synopsis and examples, printed by -h and
// `aisedge help COMMAND` with its flags between them (and in
// docs/reference.md).
type helpText struct {
	synopsis string
	examples []string
}

var helps = map[string]helpText{
	"run": {"aisedge run [flags]", []string{
		"aisedge run                                   # everything under ./aisedge-data, DICOM on :4242, status on 127.0.0.1:8080",
		"aisedge run --log-level debug --quiet-period 10s",
		"aisedge run --s3-url https://s3.example.org --s3-ca ca.pem --xnat-url https://xnat.example.org",
	}},
	"edge": {"aisedge edge --config FILE [--log-level LEVEL]", []string{
		"aisedge edge --config /etc/aisedge/aisedge.yaml",
		"aisedge config validate --role edge /etc/aisedge/aisedge.yaml   # check first",
	}},
	"hub": {"aisedge hub --config FILE [--once] [--log-level LEVEL]", []string{
		"aisedge hub --config /etc/aisedge/aisedge.yaml",
		"aisedge hub --config /etc/aisedge/aisedge.yaml --once   # deliver what is sealed now, then exit",
	}},
	"status": {"aisedge status [--socket FILE] [--json]", []string{
		"aisedge status",
		"aisedge status --socket /var/lib/aisedge/edge/aisedge.sock --json",
	}},
	"send": {"aisedge send HOST:PORT FILE|DIR... [flags]", []string{
		"aisedge send localhost:4242 samples/",
		"aisedge send --parallel 4 -r pacs.example.org:104 /data/export/",
	}},
	"echo": {"aisedge echo HOST:PORT [flags]", []string{
		"aisedge echo localhost:4242",
		"aisedge echo --called-aet PACS pacs.example.org:104",
	}},
	"receive": {"aisedge receive --dir DIR [flags]", []string{
		"aisedge receive --dir /tmp/received --listen :11112",
	}},
	"version": {"aisedge version", []string{"aisedge version"}},
	"quarantine": {"aisedge quarantine ls|show|requeue|release|discard [flags] [ID...]", []string{
		"aisedge quarantine ls",
		"aisedge quarantine requeue 20261206T031500Z-1a2b3c4d",
		`aisedge quarantine release --reason "screen capture checked: no text" 20261206T031500Z-1a2b3c4d`,
		"aisedge quarantine discard --code pixel-risk --older-than 168h --yes",
	}},
	"config": {"aisedge config validate [--role edge|hub] FILE", []string{
		"aisedge config validate /etc/aisedge/aisedge.yaml",
		"aisedge config validate --role edge /etc/aisedge/aisedge.yaml",
	}},
	"deid": {"aisedge deid --profile P IN... --out DIR | --explain FILE | --lint PROFILE", []string{
		"aisedge deid --profile research-default --out /tmp/deid samples/",
		"aisedge deid --explain samples/ct_small.dcm",
	}},
	"fleet": {"aisedge fleet SUBCOMMAND [flags]", []string{
		"aisedge fleet config validate --config fleet.yaml",
		"aisedge fleet render --config fleet.yaml --out rendered/",
	}},
	"completion": {"aisedge completion bash|zsh|fish", []string{
		"aisedge completion bash > /etc/bash_completion.d/aisedge",
		"source <(aisedge completion zsh)",
	}},
	"man": {"aisedge man", []string{"aisedge man | man -l -"}},
}

// printHelp prints a command's synopsis, summary, flags and examples.
func printHelp(fs *flag.FlagSet, name string) {
	w := fs.Output()
	h, ok := helps[name]
	if !ok {
		h.synopsis = "aisedge " + name + " [flags]"
	}
	fmt.Fprintf(w, "usage: %s\n", h.synopsis)
	if c, ok := commands[name]; ok {
		fmt.Fprintf(w, "\n%s\n", c.summary)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
	if len(h.examples) > 0 {
		fmt.Fprintln(w, "\nexamples:")
		for _, e := range h.examples {
			fmt.Fprintln(w, "  "+e)
		}
	}
}

// suggest returns "name" nearest to s among names, for "did you mean".
func suggest(s string, names []string) string {
	if c := config.Closest(s, names); c != "" {
		return fmt.Sprintf("%q", c)
	}
	return ""
}
