package e2e

// s3Proxy is an HTTPS reverse proxy in front of the real SeaweedFS whose
// availability the test controls: it forwards, resets connections after
// reading the request, or answers 503 ServiceUnavailable. It can go down by
// itself after a given number of successful object PUTs, to cut an upload
// in the middle. It serves a certificate from a CA it generates (the edge is
// configured to trust that CA), keeps the Host header so SigV4 signatures
// stay valid, and counts the successful PUTs per key.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type proxyMode int

const (
	proxyUp proxyMode = iota
	proxyReset
	proxyUnavailable
)

type s3Proxy struct {
	URL    string
	CAFile string
	srv    *http.Server

	mu    sync.Mutex
	mode  proxyMode
	conns map[net.Conn]bool
	puts  map[string]int // successful PUTs per object key (path)
	// cut: after cutAfter more successful PUTs of keys ending in cutSuffix,
	// switch to cutMode.
	cutAfter  int
	cutSuffix string
	cutMode   proxyMode
}

func startS3Proxy(t *testing.T, upstream, upstreamCAFile string) *s3Proxy {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(upstreamCAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p := &s3Proxy{conns: map[net.Conn]bool{}, puts: map[string]int{}}
	tlsCfg, caFile := proxyTLS(t)
	p.CAFile = caFile
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // SigV4 signs the Host the client used
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16},
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method == http.MethodPut && resp.StatusCode == http.StatusOK && !strings.Contains(resp.Request.URL.RawQuery, "uploadId") {
				p.putDone(resp.Request.URL.Path)
			}
			return nil
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch p.currentMode() {
			case proxyUp:
				rp.ServeHTTP(w, r)
			case proxyUnavailable:
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>Service is unable to handle request.</Message></Error>`))
			default:
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						resetConn(c)
						return
					}
				}
				panic(http.ErrAbortHandler)
			}
		}),
		ConnState: func(c net.Conn, st http.ConnState) {
			p.mu.Lock()
			defer p.mu.Unlock()
			switch st {
			case http.StateNew:
				p.conns[c] = true
			case http.StateClosed, http.StateHijacked:
				delete(p.conns, c)
			}
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.URL = "https://" + ln.Addr().String()
	go p.srv.Serve(tls.NewListener(ln, tlsCfg))
	t.Cleanup(func() { p.srv.Close() })
	return p
}

// resetConn closes c with a TCP RST.
func resetConn(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (p *s3Proxy) currentMode() proxyMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// setMode switches the proxy's behaviour; going down also resets the
// connections the client keeps alive, which would carry on regardless.
func (p *s3Proxy) setMode(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setModeLocked(m)
}

func (p *s3Proxy) setModeLocked(m proxyMode) {
	p.mode = m
	if m != proxyUp {
		for c := range p.conns {
			resetConn(c)
			delete(p.conns, c)
		}
	}
}

// cutAfterPuts makes the proxy switch to mode after n more successful PUTs
// of keys ending in suffix.
func (p *s3Proxy) cutAfterPuts(n int, suffix string, mode proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutAfter, p.cutSuffix, p.cutMode = n, suffix, mode
}

func (p *s3Proxy) putDone(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.puts[path]++
	if p.cutAfter > 0 && strings.HasSuffix(path, p.cutSuffix) {
		p.cutAfter--
		if p.cutAfter == 0 {
			p.setModeLocked(p.cutMode)
		}
	}
}

// putsUnder returns the successful PUTs per key of the keys containing s.
func (p *s3Proxy) putsUnder(s string) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, n := range p.puts {
		if strings.Contains(k, s) {
			out[k] = n
		}
	}
	return out
}

// proxyTLS generates a CA and a certificate for 127.0.0.1 signed by it, and
// writes the CA's PEM to a file for the client's configuration.
func proxyTLS(t *testing.T) (*tls.Config, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aisedge fault-test proxy CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "fault-test proxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "proxy-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, caFile
}
