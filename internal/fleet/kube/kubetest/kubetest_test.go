package kubetest

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aisedge/aisedge/internal/fleet/kube"
)

// Ports taken between their choice and the bind: the start is tried again
// with them replaced, the others kept. etcd's client port is taken before
// the first attempt, the apiserver's port before the second.
func TestStartPortTaken(t *testing.T) {
	var first, taken []int
	occupy := func(port int) {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("occupying %d: %v", port, err)
		}
		t.Cleanup(func() { ln.Close() })
		taken = append(taken, port)
	}
	srv := start(t, func(s *Server, p []int, attempt int) {
		switch attempt {
		case 1:
			first = p
			occupy(p[0])
		case 2:
			occupy(p[2])
		}
	})
	if srv.attempts != 3 {
		t.Errorf("started after %d attempts, want 3", srv.attempts)
	}
	got := srv.lease.Ports()
	if slices.Contains(taken, got[0]) || slices.Contains(taken, got[2]) || got[1] != first[1] {
		t.Errorf("ports %v, first %v, taken %v", got, first, taken)
	}
	if srv.URL != "https://127.0.0.1:"+strconv.Itoa(got[2]) {
		t.Errorf("URL %s, ports %v", srv.URL, got)
	}
	c, err := kube.New("test", srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := c.Get(context.Background(), schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "", "default")
	if err != nil || ns == nil {
		t.Errorf("the server does not answer: %v", err)
	}
}

func TestOutputWaitFor(t *testing.T) {
	var o Output
	done := make(chan bool)
	go func() { done <- o.WaitFor(context.Background(), "b: ready", "a: ready") }()
	o.Write([]byte("a: ready\n"))
	select {
	case <-done:
		t.Fatal("WaitFor returned before every string was written")
	case <-time.After(50 * time.Millisecond):
	}
	o.Write([]byte("b: ready\n"))
	if !<-done {
		t.Error("WaitFor = false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if o.WaitFor(ctx, "never") {
		t.Error("WaitFor of a string never written = true")
	}
}
