// Package ports finds free TCP ports on loopback for test peers that take
// their ports as flags (weed, kube-apiserver, etcd) rather than listening
// on :0 and reporting the address. Tests only.
package ports

import "net"

// Free returns n distinct ports free on 127.0.0.1 right now (held open
// together while chosen, so they differ; another process may take one
// before the caller binds it).
func Free(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
