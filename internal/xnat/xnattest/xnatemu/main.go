// Command xnatemu serves the XNAT emulator (package xnattest) on a TCP
// address, for tests that need XNAT as a process of its own: the
// one-node Kubernetes test runs it as a pod that the hub pod delivers to
// through a Service. Tests only; never part of the aisedge binary or
// image.
//
//	XNAT_USER=u XNAT_PASS=p xnatemu -listen :8080 -projects P1,P2
//
// The account from XNAT_USER and XNAT_PASS (the hub's variables) owns
// every project of -projects. What was delivered is read through the
// emulator's REST API, as from XNAT (GET
// /data/projects/P/experiments?format=json and so on).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(os.Args[1:], os.Getenv, log); err != nil {
		log.Error("xnatemu stopped", "err", err.Error())
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, log *slog.Logger) error {
	x, listen, err := setup(args, getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: x, ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("xnatemu serving", "addr", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// setup reads the flags and the account and returns the emulator and the
// address to serve it on.
func setup(args []string, getenv func(string) string) (*xnattest.Server, string, error) {
	fs := flag.NewFlagSet("xnatemu", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "TCP address to serve on")
	projects := fs.String("projects", "", "comma-separated project IDs, owned by $XNAT_USER")
	// Every Basic-auth request is a login of its own, and a test that
	// polls the archive makes many: the cap is XNAT's concern, not the
	// tests that use this command.
	maxLogins := fs.Int("max-logins", 1_000_000, "concurrent logins per user")
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	user, pass := getenv("XNAT_USER"), getenv("XNAT_PASS")
	if user == "" || pass == "" {
		return nil, "", errors.New("XNAT_USER and XNAT_PASS must name the account")
	}
	var ids []string
	for _, p := range strings.Split(*projects, ",") {
		if p = strings.TrimSpace(p); p != "" {
			ids = append(ids, p)
		}
	}
	if len(ids) == 0 {
		return nil, "", errors.New("-projects names no project")
	}
	x := xnattest.NewHandler(xnattest.Options{MaxLoginsPerUser: *maxLogins})
	x.AddUser(user, pass)
	for _, p := range ids {
		x.AddProject(p, map[string]xnattest.Role{user: xnattest.Owner})
	}
	return x, *listen, nil
}
