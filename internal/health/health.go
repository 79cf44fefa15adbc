// Package health holds the checks that feed the daemons' status and
// metrics beyond their own queues: certificate expiry of configured bundles
// (and, later, more conditions). It imports nothing of the project's own.
package health

import (
	"github.com/prometheus/client_golang/prometheus"

	"crypto/x509"
	"encoding/pem"
	"os"
	"time"
)

// CertDaysLeft returns the days until the earliest NotAfter among the
// certificates in a PEM file; ok is false when the file holds none.
func CertDaysLeft(path string, now time.Time) (days float64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	var earliest time.Time
	for _, c := range ParseCerts(b) {
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	if earliest.IsZero() {
		return 0, false
	}
	return earliest.Sub(now).Hours() / 24, true
}

// ParseCerts returns the certificates of a PEM bundle, in order; other
// blocks and unparseable certificates are skipped.
func ParseCerts(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

var descCert = prometheus.NewDesc("aisedge_certificate_expiry_days",
	"Days until the earliest expiry among the certificates of a configured PEM file.", []string{"file"}, nil)

// CertCollector exports aisedge_certificate_expiry_days for each file (the
// S3 and XNAT CA bundles a role trusts); register one per process.
type CertCollector struct {
	Files []string
	Now   func() time.Time
}

// Describe implements prometheus.Collector.
func (c *CertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descCert }

// Collect implements prometheus.Collector.
func (c *CertCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	for _, f := range c.Files {
		if days, ok := CertDaysLeft(f, now); ok {
			ch <- prometheus.MustNewConstMetric(descCert, prometheus.GaugeValue, days, f)
		}
	}
}
