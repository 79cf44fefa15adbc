package health

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCertDaysLeft(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	var bundle []byte
	for i, days := range []int{90, 30} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "ca"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Duration(days) * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	p := filepath.Join(t.TempDir(), "bundle.pem")
	os.WriteFile(p, bundle, 0o600)
	days, ok := CertDaysLeft(p, now)
	if !ok || days != 30 {
		t.Fatalf("got %v %v, want the earliest (30 days)", days, ok)
	}
	if _, ok := CertDaysLeft(filepath.Join(t.TempDir(), "missing"), now); ok {
		t.Fatal("missing file reported")
	}
}
