// Package api serves the daemons' local HTTP endpoints: Prometheus
// /metrics, /healthz (the process runs), /readyz (the receiver listens),
// /api/status (JSON for `aisedge status` and tests) and the HTML status
// page at / (page.go). Everything it shows is value-free: pseudonymous
// session names, counts, ages and reasons. The commands import it; it
// imports neither internal/edge nor internal/hub (their status parts are
// read through their JSON).
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// StatusFunc returns one part of the status document.
type StatusFunc func() (any, error)

// ActionFunc performs an operator action on one item (e.g. requeue a
// quarantined instance); served as POST /api/{action}/{id}.
type ActionFunc func(ctx context.Context, id string) error

// Server is the HTTP server of one daemon.
type Server struct {
	srv   *http.Server
	ready atomic.Bool
	reg   *prometheus.Registry
	parts map[string]StatusFunc
	log   *slog.Logger
}

// New returns a server exposing reg, the named status parts and actions.
func New(reg *prometheus.Registry, parts map[string]StatusFunc, actions map[string]ActionFunc, log *slog.Logger) *Server {
	s := &Server{reg: reg, parts: parts, log: log}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/status", s.status)
	mux.HandleFunc("POST /api/{action}/{id...}", func(w http.ResponseWriter, r *http.Request) {
		act, ok := actions[r.PathValue("action")]
		if !ok {
			http.Error(w, "no such action", http.StatusNotFound)
			return
		}
		if err := act(r.Context(), r.PathValue("id")); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", s.page)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// ServeHTTP serves one request with the server's handlers (for tests and
// for embedding in another server).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.srv.Handler.ServeHTTP(w, r) }

// SetReady marks the daemon ready (/readyz answers 200).
func (s *Server) SetReady() { s.ready.Store(true) }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// ListenUnix serves the same handlers on a unix socket (mode 0600) at
// path, replacing a stale socket file; the local API of the CLI.
func (s *Server) ListenUnix(path string) (net.Listener, error) {
	os.Remove(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Status collects the status document.
func (s *Server) Status() map[string]any {
	doc := map[string]any{"time": time.Now().UTC(), "ready": s.ready.Load()}
	for name, f := range s.parts {
		v, err := f()
		if err != nil {
			doc[name] = map[string]string{"error": err.Error()}
			continue
		}
		doc[name] = v
	}
	return doc
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.Status()); err != nil {
		s.log.Error("writing status", "err", err)
	}
}
