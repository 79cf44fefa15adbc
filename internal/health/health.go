// Package health holds the checks that feed the daemons' status and
// metrics beyond their own queues: certificate expiry of configured
// bundles, the build's identity and the reachability of the peers a role
// depends on (probe.go). It imports nothing of the project's own.
package health

import (
	"github.com/prometheus/client_golang/prometheus"

	"crypto/x509"
	"encoding/pem"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// MetricNames lists the families this package's collectors export.
var MetricNames = []string{CertMetric, BuildInfoMetric, ReachableMetric, LastSuccessMetric}

// Metric names.
const (
	CertMetric      = "aisedge_certificate_expiry_timestamp_seconds"
	BuildInfoMetric = "aisedge_build_info"
)

// CertExpiry returns the earliest NotAfter among the certificates in a
// PEM file; ok is false when the file holds none.
func CertExpiry(path string) (notAfter time.Time, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, false
	}
	var earliest time.Time
	for _, c := range ParseCerts(b) {
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	return earliest, !earliest.IsZero()
}

// CertDaysLeft returns the days until the earliest NotAfter among the
// certificates in a PEM file; ok is false when the file holds none.
func CertDaysLeft(path string, now time.Time) (days float64, ok bool) {
	t, ok := CertExpiry(path)
	if !ok {
		return 0, false
	}
	return t.Sub(now).Hours() / 24, true
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

var descCert = prometheus.NewDesc(CertMetric,
	"Earliest expiry (NotAfter, Unix time in seconds) among the certificates of a configured PEM file; alert on it minus time().", []string{"file"}, nil)

// CertCollector exports aisedge_certificate_expiry_timestamp_seconds for
// each file (the S3 and XNAT CA bundles a role trusts); register one per
// process.
type CertCollector struct {
	Files []string
	// Now is kept for callers that set it; the metric is a timestamp and
	// does not depend on the clock.
	Now func() time.Time
}

// Describe implements prometheus.Collector.
func (c *CertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descCert }

// Collect implements prometheus.Collector.
func (c *CertCollector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.Files {
		if t, ok := CertExpiry(f); ok {
			ch <- prometheus.MustNewConstMetric(descCert, prometheus.GaugeValue, float64(t.Unix()), f)
		}
	}
}

// Build is the identity of the running binary.
type Build struct {
	Version, Revision, GoVersion string
}

// Version and Revision may be set at link time
// (-ldflags "-X github.com/aisedge/aisedge/internal/health.Version=v1.2.3");
// otherwise they come from the module and VCS information Go embeds.
var Version, Revision string

// ReadBuild returns the running binary's version, VCS revision and Go
// version ("(devel)" and "unknown" when Go recorded none).
func ReadBuild() Build {
	b := Build{Version: Version, Revision: Revision, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && b.Revision == "" {
				b.Revision = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// BuildInfoCollector returns the constant aisedge_build_info{version,
// revision, goversion} 1 (join it on instance to label other series).
func BuildInfoCollector() prometheus.Collector {
	b := ReadBuild()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: BuildInfoMetric, Help: "Always 1; the labels name the running build (version, VCS revision, Go version).",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	}, func() float64 { return 1 })
}
