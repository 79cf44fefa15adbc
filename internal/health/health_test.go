package health

import (
	"github.com/prometheus/client_golang/prometheus"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
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

func TestCollectors(t *testing.T) {
	notAfter := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: notAfter.Add(-time.Hour), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)

	reg := prometheus.NewRegistry()
	reg.MustRegister(&CertCollector{Files: []string{p, filepath.Join(t.TempDir(), "missing.pem")}}, BuildInfoCollector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range fams {
		seen[f.GetName()] = true
		switch f.GetName() {
		case CertMetric:
			if len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge().GetValue() != float64(notAfter.Unix()) {
				t.Errorf("%s = %v, want one series at %d", CertMetric, f.GetMetric(), notAfter.Unix())
			}
		case BuildInfoMetric:
			m := f.GetMetric()[0]
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if m.GetGauge().GetValue() != 1 || labels["goversion"] != runtime.Version() || labels["version"] == "" || labels["revision"] == "" {
				t.Errorf("%s = %v %v", BuildInfoMetric, labels, m.GetGauge().GetValue())
			}
		}
	}
	for _, n := range MetricNames {
		if !seen[n] {
			t.Errorf("%s not gathered", n)
		}
	}
}
