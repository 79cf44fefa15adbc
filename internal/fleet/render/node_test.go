package render_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/fleet/image"
	"github.com/aisedge/aisedge/internal/testpeer/kubenode"
	"github.com/aisedge/aisedge/internal/testpeer/progress"
)

// lockedBuffer collects a command's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// buildImage builds the aisedge image from this tree.
func buildImage(t *testing.T) (string, image.Result) {
	t.Helper()
	wd, _ := os.Getwd()
	root, err := image.FindModule(wd)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "aisedge.tar")
	img, err := image.Build(context.Background(), archive, image.Options{ModuleDir: root, Tag: "docker.io/aisedge-test/aisedge:test"})
	if err != nil {
		t.Fatal(err)
	}
	return archive, img
}

// waitFor polls ready until it reports true, failing when its answer does
// not change for progress.IdleLimit.
func waitFor(t *testing.T, what string, ready func() (bool, string)) {
	t.Helper()
	watch := progress.Start()
	for {
		ok, now := ready()
		if ok {
			return
		}
		if err := watch.Check(now); err != nil {
			t.Fatalf("%s: %v: %s", what, err, now)
		}
		time.Sleep(time.Second)
	}
}

// nodeTransport is an HTTPS transport that dials inside the node's
// namespace and trusts ca.
func nodeTransport(node *kubenode.Node, ca []byte) *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Transport{DialContext: node.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}}
}
