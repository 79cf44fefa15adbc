package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/aisedge/aisedge/internal/dimse"
)

func init() {
	register(command{name: "receive", summary: "run a standalone C-STORE receiver into a directory (testing, benchmarks)", run: runReceive})
}

func runReceive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("receive", stderr)
	listen := fs.String("listen", ":4242", "TCP `address` to listen on")
	dir := fs.String("dir", "", "`directory` to store instances in (required); temporary files go to DIR/.tmp")
	maxAssoc := fs.Int("max-assoc", 32, "concurrent associations limit")
	maxPDU := fs.Uint("max-pdu", dimse.DefaultMaxPDULength, "max PDU length to receive")
	minFree := fs.Int64("min-free-mb", 1024, "free-space watermark in MiB (negative disables)")
	idle := fs.Duration("idle-timeout", 2*time.Minute, "idle association timeout")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() != 0 {
		return usageError{"usage: aisedge receive --dir DIR [--listen ADDR] [flags]"}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{err.Error()}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	tmp := filepath.Join(*dir, ".tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return err
	}
	store, err := dimse.NewDirStore(*dir, log.With("component", "dirstore"))
	if err != nil {
		return err
	}
	minFreeBytes := *minFree << 20
	if *minFree < 0 {
		minFreeBytes = -1
	}
	srv, err := dimse.NewServer(dimse.ServerConfig{
		Handler: store, TempDir: tmp, MaxAssociations: *maxAssoc, MaxPDULength: uint32(*maxPDU),
		MinFreeBytes: minFreeBytes, IdleTimeout: *idle, Logger: log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s, storing into %s\n", ln.Addr(), *dir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, dimse.ErrServerClosed) && serr != nil {
		return serr
	}
	m := srv.Metrics.Snapshot()
	fmt.Fprintf(stdout, "stored %d, failed %d, %d bytes\n", m.StoresOK, m.StoresFailed, m.BytesReceived)
	return err
}
