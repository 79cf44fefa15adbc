package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
)

// cpuProfileEnv names the file a command writes a Go CPU profile to, from
// its start until it returns (a daemon: until SIGTERM). For measuring where
// time goes in a whole process, as the end-to-end benchmark does; read it
// with `go tool pprof`. Unset, nothing is profiled.
const cpuProfileEnv = "AISEDGE_CPUPROFILE"

// startCPUProfile starts the profile cpuProfileEnv asks for and returns the
// function that stops and writes it. A profile that cannot be started is
// reported and the command runs without it.
func startCPUProfile(stderr io.Writer) func() {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err == nil {
		err = pprof.StartCPUProfile(f)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "aisedge: %s: %v (running without a profile)\n", cpuProfileEnv, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// edgeMemoryLimit is the Go heap's soft limit in a process that runs an
// edge (`edge`, `run`) when GOMEMLIMIT does not set one: the edge holds
// received instances in memory until their journal records are applied
// (at most 32 MiB of them), and without a limit the collector lets the
// heap grow to twice what is live (measured: 105-114 MiB of RSS while 4
// associations send 531 kB CT; 95 MiB with this limit, at the same
// throughput). A soft limit only makes the collector run sooner; a heap
// that needs more gets it.
const edgeMemoryLimit = 64 << 20

// limitEdgeMemory sets edgeMemoryLimit unless GOMEMLIMIT is set.
func limitEdgeMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(edgeMemoryLimit)
	}
}
