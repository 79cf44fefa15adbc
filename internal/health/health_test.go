package health

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	probe := &Probe{Peer: "s3", Check: func(context.Context) error { return nil }}
	probe.CheckNow(t.Context())
	reg.MustRegister(&CertCollector{Files: []string{p, filepath.Join(t.TempDir(), "missing.pem")}}, BuildInfoCollector(), ProbeCollector{probe})
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

// TestProbe: the first failure is logged at once (error), later ones are
// not repeated at info, a recovery is logged; Err and the metrics follow.
func TestProbe(t *testing.T) {
	var logs bytes.Buffer
	fail := errors.New("dial tcp 127.0.0.1:9: connect: connection refused")
	var next error = fail
	clock := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	p := &Probe{Peer: "s3", Check: func(context.Context) error { return next },
		Log: slog.New(slog.NewJSONHandler(&logs, nil)), Now: func() time.Time { return clock }}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "not checked yet") {
		t.Errorf("Err before a check: %v", err)
	}
	var results []string
	p.OnResult = func(n int, err error) { results = append(results, fmt.Sprint(n, err != nil)) }
	p.CheckNow(t.Context())
	if n := strings.Count(logs.String(), `"msg":"s3 unreachable; retrying"`); n != 1 || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("after the first failure: %d error lines:\n%s", n, logs.String())
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "never reached since start") {
		t.Errorf("Err after a failure: %v", err)
	}
	p.CheckNow(t.Context())
	if n := strings.Count(logs.String(), "unreachable"); n != 1 {
		t.Errorf("a repeated failure logged again at info or above:\n%s", logs.String())
	}
	next = nil
	clock = clock.Add(time.Minute)
	p.CheckNow(t.Context())
	if !strings.Contains(logs.String(), `"msg":"s3 reachable again"`) || p.Err() != nil {
		t.Errorf("recovery: %v\n%s", p.Err(), logs.String())
	}
	next = fail
	p.CheckNow(t.Context())
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "last reached 2026-12-06T03:01:00Z") {
		t.Errorf("Err after a loss: %v", err)
	}
	if got := strings.Join(results, ","); got != "1 true,2 true,3 false,4 true" {
		t.Errorf("OnResult calls %s", got)
	}
	st := p.State()
	if st.Reachable || !st.LastSuccess.Equal(clock) || !st.Since.Equal(clock) {
		t.Errorf("state %+v", st)
	}
}
