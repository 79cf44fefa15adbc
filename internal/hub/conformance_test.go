package hub_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/hub/hubtest"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/testpeer/ports"
	"github.com/aisedge/aisedge/internal/xnat"
	"github.com/aisedge/aisedge/internal/xnat/xnattest"
)

// The Destination contract, checked against the archive folder.
func TestArchiveConformance(t *testing.T) {
	hubtest.Run(t, func(t *testing.T) hubtest.Peer {
		a := &hub.ArchiveDir{Dir: t.TempDir()}
		return hubtest.Peer{Dest: a, Held: func(t *testing.T, m *manifest.Manifest) [][]byte {
			files, err := filepath.Glob(filepath.Join(a.SessionDir(m), "scans", "*", "resources", "*", "files", "*"))
			if err != nil {
				t.Fatal(err)
			}
			var out [][]byte
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, b)
			}
			return out
		}}
	}, hubtest.Options{})
}

// unusedAddr is a loopback address where nothing listens (a reserved
// port, held until the test ends).
func unusedAddr(t *testing.T) string {
	t.Helper()
	l, err := ports.Reserve(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	return "127.0.0.1:" + itoa(l.Ports()[0])
}

func itoa(n int) string { return strconv.Itoa(n) }

func xnatClient(t *testing.T, url, user, pass string, srv *xnattest.Server) *xnat.Client {
	t.Helper()
	cfg := xnat.Config{URL: url, Username: user, Password: pass,
		Retry: xnat.RetryPolicy{Attempts: 2, Initial: time.Millisecond, Max: 5 * time.Millisecond}}
	if srv != nil {
		cfg.Transport = srv.HTTP.Client().Transport
	}
	c, err := xnat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// The Destination contract, checked against the XNAT emulator.
func TestXNATConformance(t *testing.T) {
	newSrv := func(t *testing.T) *xnattest.Server {
		srv := xnattest.NewTLS(xnattest.Options{})
		t.Cleanup(srv.Close)
		srv.AddUser("hub", "hub-secret")
		srv.AddProject("PROJ", map[string]xnattest.Role{"hub": xnattest.Owner})
		return srv
	}
	hubtest.Run(t, func(t *testing.T) hubtest.Peer {
		srv := newSrv(t)
		d := &hub.XNAT{Client: xnatClient(t, srv.URL, "hub", "hub-secret", srv)}
		return hubtest.Peer{Dest: d, Held: func(t *testing.T, m *manifest.Manifest) [][]byte {
			var out [][]byte
			for _, e := range srv.Experiments(m.Project) {
				if e.Label != m.ExperimentLabel() || e.SubjectLabel != m.Subject {
					continue
				}
				for _, sc := range srv.Scans(m.Project, e.Label) {
					for _, r := range srv.Resources(m.Project, e.Label, sc.ID) {
						for _, f := range srv.Files(m.Project, e.Label, sc.ID, r.Label) {
							out = append(out, srv.FileData(m.Project, e.Label, sc.ID, r.Label, f.Path))
						}
					}
				}
			}
			return out
		}}
	}, hubtest.Options{
		Unreachable: func(t *testing.T) hub.Destination {
			return &hub.XNAT{Client: xnatClient(t, "https://"+unusedAddr(t), "hub", "hub-secret", nil)}
		},
		WrongCredentials: func(t *testing.T) hub.Destination {
			srv := newSrv(t)
			return &hub.XNAT{Client: xnatClient(t, srv.URL, "hub", hubtest.Secret, srv)}
		},
	})
}
