package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/health"
	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/xnat"
)

// The hub's destinations, built from hub.destinations and hub.xnat
// (config.Hub.AllDestinations). Credentials are read here, on the hub
// only, with config.Secret (key files 0600 and the daemon's).

// hubDestinations are the built destinations of a hub.
type hubDestinations struct {
	targets []hub.Target
	// probes check each destination's reachability (XNAT's pre-flight, a
	// C-ECHO, a QIDO-RS query).
	probes health.ProbeCollector
	// caFiles are the CA bundles whose certificates' expiry is exported.
	caFiles []string
	closers []func()
}

func (d *hubDestinations) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// openDestinations builds every destination of c; an XNAT must pass its
// pre-flight. On an error the destinations built so far are closed.
func openDestinations(ctx context.Context, c *config.Hub, log *slog.Logger) (*hubDestinations, error) {
	ds := &hubDestinations{}
	for _, p := range c.AllDestinations() {
		var err error
		switch p.Type {
		case "xnat":
			err = ds.addXNAT(ctx, c, p, log)
		case "archive":
			ds.targets = append(ds.targets, hub.Target{Dest: &hub.ArchiveDir{ID: p.Name, Dir: p.Archive.Dir}, Projects: p.Projects})
		case "dicom":
			d := &hub.DICOM{ID: p.Name, Addr: p.DICOM.Address, CalledAET: p.DICOM.CalledAET, CallingAET: p.DICOM.CallingAET,
				Parallel: p.DICOM.Parallel, Timeout: time.Duration(p.DICOM.Timeout),
				StateDir: filepath.Join(c.DataDir, "destinations", p.Name), Log: log.With("component", "hub")}
			ds.targets = append(ds.targets, hub.Target{Dest: d, Projects: p.Projects})
			ds.probes = append(ds.probes, &health.Probe{Peer: "dicom-" + p.Name, Log: log.With("component", "hub"), Check: d.Resume})
		case "dicomweb":
			err = ds.addDICOMweb(c, p, log)
		default:
			err = fmt.Errorf("unknown type %q", p.Type) // config.Parse refuses it
		}
		if err != nil {
			ds.close()
			return nil, fmt.Errorf("%s: %w", p.At, err)
		}
	}
	return ds, nil
}

func (ds *hubDestinations) addXNAT(ctx context.Context, c *config.Hub, p config.PlacedDestination, log *slog.Logger) error {
	x := p.XNAT
	user, err := config.Secret(x.UsernameFile, "XNAT_USER")
	if err != nil {
		return fmt.Errorf("XNAT user: %w", err)
	}
	pass, err := config.Secret(x.PasswordFile, "XNAT_PASS")
	if err != nil {
		return fmt.Errorf("XNAT password: %w", err)
	}
	xcfg := xnat.Config{URL: x.URL, Username: user, Password: pass, CAFile: x.CAFile,
		AllowInsecureRedirect: x.AllowInsecureRedirect, AliasToken: x.AliasToken,
		Logger: log.With("component", "xnat", "destination", p.Name), TempDir: c.DataDir}
	// The secret files as last read (updated when a pause re-reads them).
	var filesMu sync.Mutex
	files := [2]string{user, pass}
	readCredentials := func() (string, string, error) {
		u, err := config.Secret(x.UsernameFile, "XNAT_USER")
		if err != nil {
			return "", "", err
		}
		p, err := config.Secret(x.PasswordFile, "XNAT_PASS")
		if err == nil {
			filesMu.Lock()
			files = [2]string{u, p}
			filesMu.Unlock()
		}
		return u, p, err
	}
	if x.AliasToken {
		// A renewed token outlives the one in the secret files; keep it
		// for restarts (only while the files hold the token it descends
		// from). hub.xnat keeps the file name it always had.
		name := "xnat-alias-token.json"
		if p.At != "hub.xnat" {
			name = "xnat-alias-token-" + p.Name + ".json"
		}
		tokens := hub.TokenStore{Path: filepath.Join(c.DataDir, name)}
		if a, s, ok := tokens.Load(user, pass, time.Now()); ok {
			xcfg.Username, xcfg.Password = a, s
		}
		xcfg.OnTokenRenewed = func(alias, secret string, expires time.Time) {
			filesMu.Lock()
			f := files
			filesMu.Unlock()
			if err := tokens.Save(f[0], f[1], alias, secret, expires); err != nil {
				log.Warn("keeping the renewed XNAT alias token failed; a restart after the files' token expired will need a new one",
					"destination", p.Name, "err", err)
			}
		}
	}
	client, err := xnat.New(xcfg)
	if err != nil {
		return err
	}
	ds.closers = append(ds.closers, func() { client.Close(context.Background()) })
	if err := client.Preflight(ctx); err != nil {
		return fmt.Errorf("XNAT pre-flight: %w", err)
	}
	mode := xnat.Archive
	if x.UploadMode == "per-file" {
		mode = xnat.PerFile
	}
	// While the hub is paused on refused credentials it reads the secrets
	// again before each try, so a rotated file is picked up without a
	// restart.
	dest := &hub.XNAT{ID: p.Name, Client: client, Opts: xnat.DeliverOptions{Mode: mode}, Credentials: readCredentials}
	dest.NoteCredentials(user, pass)
	ds.targets = append(ds.targets, hub.Target{Dest: dest, Projects: p.Projects})
	// The probe of hub.xnat keeps its name (dashboards and alerts read
	// aisedge_peer_reachable{peer="xnat"}).
	peer := "xnat"
	if p.At != "hub.xnat" {
		peer = "xnat-" + p.Name
	}
	ds.probes = append(ds.probes, &health.Probe{Peer: peer, Log: log.With("component", "hub"), Check: client.Preflight})
	if x.CAFile != "" {
		ds.caFiles = append(ds.caFiles, x.CAFile)
	}
	return nil
}

func (ds *hubDestinations) addDICOMweb(c *config.Hub, p config.PlacedDestination, log *slog.Logger) error {
	w := p.DICOMweb
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if w.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(w.CAFile)
		if err != nil {
			return fmt.Errorf("CA bundle: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return errors.New("CA bundle holds no PEM certificate")
		}
		tlsConf.RootCAs = pool
		ds.caFiles = append(ds.caFiles, w.CAFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	// A service that takes a batch and never answers must not hold the
	// hub for ever (the hub's context lasts as long as the daemon).
	tr.ResponseHeaderTimeout = 10 * time.Minute
	auth := dicomwebAuth(w)
	if _, err := auth(); err != nil { // refuse to start on unreadable secrets, as for XNAT
		return err
	}
	d := &hub.DICOMweb{ID: p.Name, URL: w.URL, Client: &http.Client{Transport: tr}, Auth: auth, BatchBytes: int64(w.BatchBytes),
		Log: log.With("component", "hub")}
	ds.targets = append(ds.targets, hub.Target{Dest: d, Projects: p.Projects})
	ds.probes = append(ds.probes, &health.Probe{Peer: "dicomweb-" + p.Name, Log: log.With("component", "hub"), Check: d.Resume})
	return nil
}

// dicomwebAuth reads a DICOMweb destination's credentials from its files,
// anew on each call (a rotated file is picked up without a restart).
func dicomwebAuth(w *config.DICOMwebDestination) func() (hub.DICOMwebAuth, error) {
	return func() (hub.DICOMwebAuth, error) {
		var a hub.DICOMwebAuth
		var err error
		switch {
		case w.TokenFile != "":
			a.Token, err = config.Secret(w.TokenFile, "")
		case w.UsernameFile != "":
			if a.Username, err = config.Secret(w.UsernameFile, ""); err == nil {
				a.Password, err = config.Secret(w.PasswordFile, "")
			}
		}
		return a, err
	}
}

// destinations checks what the destinations need from the machine: the
// secrets (read as at start), the CA bundles, the archive folders.
func (c *checker) destinations(h *config.Hub) {
	for _, p := range h.AllDestinations() {
		at := p.Section()
		switch {
		case p.XNAT != nil && p.Type == "xnat":
			if (p.XNAT.UsernameFile == "") == (p.XNAT.PasswordFile == "") {
				c.secret(at, "usernameFile", p.XNAT.UsernameFile, "XNAT_USER", "the XNAT user name")
				c.secret(at, "passwordFile", p.XNAT.PasswordFile, "XNAT_PASS", "the XNAT password")
			}
			c.caFile(at+".caFile", p.XNAT.CAFile)
		case p.DICOMweb != nil && p.Type == "dicomweb":
			w := p.DICOMweb
			for _, f := range []struct{ field, file, what string }{
				{"tokenFile", w.TokenFile, "the bearer token"}, {"usernameFile", w.UsernameFile, "the user name"}, {"passwordFile", w.PasswordFile, "the password"}} {
				if f.file != "" {
					c.secret(at, f.field, f.file, "", f.what)
				}
			}
			c.caFile(at+".caFile", w.CAFile)
		case p.Archive != nil && p.Type == "archive":
			c.folder(folder{at + ".dir", "archive folder", p.Archive.Dir, 0o750})
		}
	}
}
