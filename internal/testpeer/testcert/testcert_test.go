package testcert

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// TestIssue: a server certificate issued by a CA verifies against it for
// its DNS name and IP address, and not for another name.
func TestIssue(t *testing.T) {
	caPEM, caKey, err := Issue("test CA", nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	crtPEM, _, err := Issue("server", []string{"s3.example"}, []string{"10.0.0.7"}, caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA PEM not accepted")
	}
	b, _ := pem.Decode(crtPEM)
	crt, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"s3.example", "10.0.0.7"} {
		if _, err := crt.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := crt.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example"}); err == nil {
		t.Error("verified for a name it was not issued for")
	}
	if _, _, err := Issue("x", nil, nil, []byte("not pem"), nil); err == nil {
		t.Error("a CA that is not PEM was accepted")
	}
}
