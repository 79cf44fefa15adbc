package join

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"sort"
	"time"
)

// The haproxy certificate of k0smotron's ingress mode (the original's
// step 06): clients on the worker reach the API through it as
// kubernetes.default (10.96.0.1) and localhost.
const (
	haproxyCN       = "k0smotron-haproxy"
	haproxyValidity = 3650 * 24 * time.Hour
	// renewBefore: a certificate with less left is replaced.
	renewBefore = 30 * 24 * time.Hour
)

type sanSet struct {
	dns []string
	ips []string
}

func haproxySANs(nodeIP string) sanSet {
	s := sanSet{
		dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		ips: []string{"127.0.0.1", "10.96.0.1"},
	}
	if nodeIP != "" && !slices.Contains(s.ips, nodeIP) {
		s.ips = append(s.ips, nodeIP)
	}
	return s
}

// childCA is the site's cluster CA that k0smotron keeps in <site>-ca.
type childCA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

func (j *joiner) childCA(ctx context.Context) (*childCA, error) {
	ns, name := j.s.Name, j.s.Name+"-ca"
	sec, err := j.mcs.CoreV1().Secrets(ns).Get(ctx, name, getOpts)
	if isNotFound(err) {
		return nil, fmt.Errorf("k0smotron has not created the child cluster's CA (Secret %s/%s) yet: is the site's control plane running (aisedge fleet apply)?", ns, name)
	}
	if err != nil {
		return nil, fmt.Errorf("management cluster: Secret %s/%s: %w", ns, name, err)
	}
	ca, err := parseCA(sec.Data["tls.crt"], sec.Data["tls.key"])
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s: %w", ns, name, err)
	}
	return ca, nil
}

func parseCA(certPEM, keyPEM []byte) (*childCA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("tls.crt holds no certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tls.crt: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("tls.key holds no key")
	}
	var key any
	switch kb.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("tls.key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("tls.key: unsupported key type %T", key)
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, errors.New("tls.key does not belong to tls.crt")
	}
	return &childCA{cert: cert, certPEM: pem.EncodeToMemory(cb), key: signer}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	if e, ok := a.(eq); ok {
		return e.Equal(b)
	}
	return false
}

// keepCert says why the certificate on the edge must be replaced ("" to
// keep it): missing, another CA, not signed by it, expiring within 30
// days, or other names.
func keepCert(ca *childCA, curCA, curCert []byte, want sanSet, now time.Time) string {
	cb, _ := pem.Decode(curCA)
	if cb == nil {
		return "none yet"
	}
	if c, err := x509.ParseCertificate(cb.Bytes); err != nil || !c.Equal(ca.cert) {
		return "ca.crt is not the current CA"
	}
	sb, _ := pem.Decode(curCert)
	if sb == nil {
		return "no certificate in server.pem"
	}
	c, err := x509.ParseCertificate(sb.Bytes)
	if err != nil {
		return "server.pem: " + err.Error()
	}
	if err := c.CheckSignatureFrom(ca.cert); err != nil {
		return "not signed by the current CA"
	}
	if c.NotAfter.Sub(now) < renewBefore {
		return "expires " + c.NotAfter.UTC().Format("2006-01-02")
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if c.Subject.CommonName != haproxyCN || !sameSet(c.DNSNames, want.dns) || !sameSet(ips, want.ips) {
		return "other names"
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// issueHAProxyCert signs a new server certificate (RSA 2048, as the
// original's openssl made) with the CA; it ends with the CA at the latest.
func issueHAProxyCert(ca *childCA, sans sanSet, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(haproxyValidity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: haproxyCN},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     sans.dns,
	}
	for _, ip := range sans.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the haproxy certificate: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return certPEM, keyPEM, nil
}
