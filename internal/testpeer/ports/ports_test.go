package ports

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

func TestReserve(t *testing.T) {
	l, err := Reserve(10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	got := l.Ports()
	lo, hi := candidates()
	seen := map[int]bool{}
	for _, p := range got {
		if seen[p] {
			t.Errorf("port %d twice in %v", p, got)
		}
		seen[p] = true
		if lo != 0 && (p < lo || p > hi) {
			t.Errorf("port %d outside %d-%d", p, lo, hi)
		}
		// Free to bind for the peer.
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("leased port not bindable: %v", err)
		} else {
			ln.Close()
		}
		// Held: no other lease (of this or another process) gets it.
		if f, err := lock(p); err == nil && f != nil {
			release(p, f)
			t.Errorf("the lock of leased port %d could be taken again", p)
		}
	}
	other, err := Reserve(50)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	for _, p := range other.Ports() {
		if seen[p] {
			t.Errorf("port %d leased twice", p)
		}
	}
}

func TestReplaceAndRelease(t *testing.T) {
	l, err := Reserve(3)
	if err != nil {
		t.Fatal(err)
	}
	before := l.Ports()
	after, err := l.Replace(before[1])
	if err != nil {
		t.Fatal(err)
	}
	if after[0] != before[0] || after[2] != before[2] || after[1] == before[1] {
		t.Errorf("Replace(%d): %v -> %v", before[1], before, after)
	}
	if f, err := lock(before[1]); err != nil {
		t.Errorf("a replaced port stays locked: %v", err)
	} else {
		release(before[1], f)
	}
	if _, err := l.Replace(1); err == nil {
		t.Error("Replace of a port not leased succeeded")
	}
	l.Release()
	for _, p := range after {
		if _, err := os.Stat(filepath.Join(lockDir("ports"), strconv.Itoa(p))); !os.IsNotExist(err) {
			t.Errorf("lock file of %d left after Release: %v", p, err)
		}
	}
}

func TestTakenIn(t *testing.T) {
	leased := []int{20001, 20002, 20003}
	for _, tt := range []struct {
		out      string
		taken    []int
		collided bool
	}{
		{"I1109 started\nready\n", nil, false},
		// weed (glog.Fatalf) and kube-apiserver.
		{"F1109 00:20:16.1 20002 volume.go:647] failed to listen on grpc port 20002: listen tcp 127.0.0.1:20002: bind: address already in use\n", []int{20002}, true},
		{"Error: failed to create listener: failed to listen on 127.0.0.1:20003: listen tcp 127.0.0.1:20003: bind: address already in use", []int{20003}, true},
		// etcd's JSON log.
		{`{"level":"fatal","msg":"discovery failed","error":"listen tcp 127.0.0.1:20001: bind: address already in use"}`, []int{20001}, true},
		// A port not named: all are suspect.
		{"listen unix /tmp/x.sock: bind: address already in use", leased, true},
	} {
		taken, collided := TakenIn(tt.out, leased)
		if collided != tt.collided || !reflect.DeepEqual(taken, tt.taken) {
			t.Errorf("TakenIn(%q) = %v, %v; want %v, %v", tt.out, taken, collided, tt.taken, tt.collided)
		}
	}
}
