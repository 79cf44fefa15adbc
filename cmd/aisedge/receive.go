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
	"strings"
	"sync"
	"time"

	"github.com/aisedge/aisedge/internal/dimse"
	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/logging"
	"github.com/aisedge/aisedge/internal/route"
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
	idle := fs.Duration("idle-timeout", 30*time.Second, "idle association timeout")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	routing := fs.String("routing", "", "routing table `file` (original routing.json or native form); instances go to DIR/<project>/, unknown called AETs to DIR/__unmapped_aet__/<AET>/")
	unknown := fs.String("unknown-aet", "", "override the policy for unknown called AETs: quarantine or reject")
	var allowCalling, allowSource listFlag
	fs.Var(&allowCalling, "allow-calling", "accept only this calling AE `title` (repeatable)")
	fs.Var(&allowSource, "allow-source", "accept only this source `address/CIDR` (repeatable)")
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
	log := logging.New(stderr, lvl)
	tmp := filepath.Join(*dir, ".tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return err
	}
	var tab *route.Table
	if *routing != "" || *unknown != "" || len(allowCalling) > 0 || len(allowSource) > 0 {
		var err error
		if *routing != "" {
			if tab, err = route.Load(*routing); err != nil {
				return err
			}
			for _, w := range tab.Warnings {
				log.Warn("routing table", "warning", w)
			}
		} else {
			tab, _ = route.Parse([]byte(`{"routes":[]}`))
		}
		switch route.UnknownPolicy(*unknown) {
		case "":
		case route.Quarantine, route.Reject:
			tab.Unknown = route.UnknownPolicy(*unknown)
		default:
			return usageError{fmt.Sprintf("--unknown-aet %q: want quarantine or reject", *unknown)}
		}
		tab.AllowCallingAETs = append(tab.AllowCallingAETs, allowCalling...)
		for _, s := range allowSource {
			p, err := route.ParseSource(s)
			if err != nil {
				return usageError{err.Error()}
			}
			tab.AllowSources = append(tab.AllowSources, p)
		}
	}
	store := &routedStore{tab: tab, root: *dir, log: log.With("component", "receiver"), stores: map[string]*dimse.DirStore{}}
	minFreeBytes := *minFree << 20
	if *minFree < 0 {
		minFreeBytes = -1
	}
	cfg := dimse.ServerConfig{
		Handler: store, TempDir: tmp, MaxAssociations: *maxAssoc, MaxPDULength: uint32(*maxPDU),
		MinFreeBytes: minFreeBytes, IdleTimeout: *idle, Logger: log.With("component", "dimse"),
	}
	// Without a routing table or an allow list the receiver admits every
	// association, whatever AE titles it names (edge.Admitter needs a
	// table).
	if tab != nil {
		cfg.Admit = edge.Admitter(tab)
	}
	srv, err := dimse.NewServer(cfg)
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

// routedStore files instances by project: DIR/<project>/, or without a
// routing table DIR/ itself; unknown called AETs (quarantine policy) go to
// DIR/__unmapped_aet__/<AET>/, the original system's quarantine layout.
type routedStore struct {
	tab    *route.Table
	root   string
	log    *slog.Logger
	mu     sync.Mutex
	stores map[string]*dimse.DirStore
}

func (r *routedStore) Store(ctx context.Context, in *dimse.Instance) error {
	sub := ""
	if r.tab != nil {
		if rt, ok := r.tab.Lookup(in.CalledAET); ok {
			sub = route.SafeName(rt.Project)
		} else {
			sub = filepath.Join("__unmapped_aet__", route.SafeName(in.CalledAET))
			r.log.Warn(fmt.Sprintf("REJECT: no project mapped for CalledAET %s — quarantined to %s", in.CalledAET, filepath.Join(r.root, sub)),
				"sop_instance", receiveUIDHash.Hash(in.SOPInstanceUID), "assoc", in.Assoc)
		}
	}
	r.mu.Lock()
	ds := r.stores[sub]
	if ds == nil {
		var err error
		if ds, err = dimse.NewDirStore(filepath.Join(r.root, sub), r.log); err != nil {
			r.mu.Unlock()
			return dimse.NewStatusError(dimse.StatusOutOfResources, "cannot create storage directory", err)
		}
		r.stores[sub] = ds
	}
	r.mu.Unlock()
	return ds.Store(ctx, in)
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// receiveUIDHash keys the SOP Instance UID hashes of the bare receiver's
// logs (it has no de-identification key; the hashes correlate one run).
var receiveUIDHash = dimse.RandomUIDHasher()
