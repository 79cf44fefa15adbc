// Package testcert issues the certificates tests stand in for a
// certificate authority with: a self-signed CA, or a server certificate
// signed by one, as PEM. The fake cert-manager controllers of the fleet
// tests (internal/fleet/ops, internal/fleet/render) use it. Tests only; it
// imports nothing of the project.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"time"
)

// Issue returns a certificate and its key (EC, P-256), PEM-encoded: a
// self-signed CA valid ten years when caPEM is nil, else a server
// certificate for dnsNames and ips valid 90 days, signed by the CA whose
// certificate and EC key are caPEM and caKeyPEM.
func Issue(cn string, dnsNames, ips []string, caPEM, caKeyPEM []byte) (crt, key []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	parent, signer := tmpl, any(k)
	if caPEM == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		tmpl.NotAfter = time.Now().Add(3650 * 24 * time.Hour)
	} else {
		cb, _ := pem.Decode(caPEM)
		kb, _ := pem.Decode(caKeyPEM)
		if cb == nil || kb == nil {
			return nil, nil, errors.New("testcert: the CA certificate or key is not PEM")
		}
		ca, err := x509.ParseCertificate(cb.Bytes)
		if err != nil {
			return nil, nil, err
		}
		caKey, err := x509.ParseECPrivateKey(kb.Bytes)
		if err != nil {
			return nil, nil, err
		}
		parent, signer = ca, caKey
		tmpl.DNSNames = dnsNames
		for _, ip := range ips {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
		}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, signer)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), nil
}
