package proc

import (
	"slices"
	"testing"
)

func TestTakenPorts(t *testing.T) {
	for _, c := range []struct {
		log   string
		p     []int
		taken []int
	}{
		{"E: cannot create network: 0006:031c TCP Initialization Error: Address already in use\n", []int{20000}, []int{20000}},
		{"E1206 OrthancException.cpp:58] The TCP port of the HTTP server is privileged or already in use:  (port = 20001)\n", []int{20000, 20001}, []int{20001}},
		{"listen tcp 127.0.0.1:20000: bind: address already in use", []int{20000, 20001}, []int{20000}},
		{"W1206 main.cpp:1314] DICOM server listening with AET ORTHANC on port: 20000\n", []int{20000, 20001}, nil},
	} {
		taken, collided := TakenPorts(c.log, c.p)
		if !slices.Equal(taken, c.taken) || collided != (c.taken != nil) {
			t.Errorf("TakenPorts(%q) = %v, %v; want %v", c.log, taken, collided, c.taken)
		}
	}
}
