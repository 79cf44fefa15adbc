package seaweed

import (
	"bytes"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/minio/minio-go/v7"
)

// occupy listens on port as another process would that took it after it
// was chosen.
func occupy(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("occupying %d: %v", port, err)
	}
	t.Cleanup(func() { ln.Close() })
}

// A port taken between its choice and weed's bind: the start is tried
// again with that port replaced, the others kept. The master's gRPC port
// is taken before the first attempt (the collision seen in the wild), the
// S3 HTTPS port before the second.
func TestStartPortTaken(t *testing.T) {
	bin, ok := BinaryPath()
	if !ok {
		t.Skip("SeaweedFS " + Version + " is not built: run scripts/seaweedfs.sh")
	}
	var first, taken []int
	unlock, err := lockStartup()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := launch(bin, func(s *Server, attempt int) {
		switch attempt {
		case 1:
			first = s.Ports()
			taken = append(taken, s.ports[1])
			occupy(t, s.ports[1])
		case 2:
			taken = append(taken, s.ports[9])
			occupy(t, s.ports[9])
		}
	})
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	if srv.attempts != 3 {
		t.Errorf("started after %d attempts, want 3", srv.attempts)
	}
	got := srv.Ports()
	for i := range got {
		switch {
		case slices.Contains(taken, got[i]):
			t.Errorf("weed runs on port %d, which was taken", got[i])
		case i != 1 && i != 9 && got[i] != first[i]:
			t.Errorf("port %d changed from %d to %d without a collision", i, first[i], got[i])
		}
	}
	if srv.Endpoint != "https://127.0.0.1:"+strconv.Itoa(got[9]) {
		t.Errorf("Endpoint %s, ports %v", srv.Endpoint, got)
	}
	c, err := srv.Client(srv.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(t.Context(), srv.Bucket, "staged/edge-a/x", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Errorf("PUT to the restarted server: %v", err)
	}
}

// Ports taken during an outage: up starts weed again with them replaced
// and the data kept. The master's port (weed keeps the master's raft state
// in a folder named after it: the master starts afresh), the volume
// server's gRPC port and the S3 HTTP port are taken, so HTTPEndpoint moves
// and Endpoint stays.
func TestRestartPortTaken(t *testing.T) {
	srv := Start(t)
	c, err := srv.Client(srv.Admin)
	if err != nil {
		t.Fatal(err)
	}
	key := srv.Prefix(t, "edge-b") + "kept"
	if _, err := c.PutObject(t.Context(), srv.Bucket, key, bytes.NewReader([]byte("kept")), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	before, endpoint := srv.Ports(), srv.Endpoint
	up := srv.Down(t)
	occupy(t, before[0])
	occupy(t, before[3])
	occupy(t, before[8])
	up()
	got := srv.Ports()
	if srv.attempts < 2 || got[0] == before[0] || got[3] == before[3] || got[8] == before[8] {
		t.Errorf("restarted after %d attempts on %v (before %v)", srv.attempts, got, before)
	}
	if srv.Endpoint != endpoint {
		t.Errorf("Endpoint moved from %s to %s, its port was free", endpoint, srv.Endpoint)
	}
	if srv.HTTPEndpoint != "http://127.0.0.1:"+strconv.Itoa(got[8]) {
		t.Errorf("HTTPEndpoint %s, ports %v", srv.HTTPEndpoint, got)
	}
	if _, err := c.StatObject(t.Context(), srv.Bucket, key, minio.StatObjectOptions{}); err != nil {
		t.Errorf("after a restart on other ports the object is gone: %v", err)
	}
	resp, err := http.Get(srv.HTTPEndpoint + "/" + srv.Bucket + "/" + key)
	if err != nil {
		t.Errorf("the new HTTP endpoint: %v", err)
	} else {
		resp.Body.Close()
	}
}
