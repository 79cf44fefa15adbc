package fleet

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/aisedge/aisedge/internal/config"
)

// Observability is the optional stack of the original installer (its step
// 02d and 07b): Loki, Prometheus, Alertmanager and Grafana on the
// management cluster, and on every site a log shipper (Vector) and a
// metrics agent (Prometheus in agent mode) that push through the ingress
// on the one TLS port. Disabled unless enabled; LoadEnvDir enables it
// when ALERT_EMAIL_TO is set, as the original's installer did.
type Observability struct {
	Enabled bool `yaml:"enabled"`
	// GrafanaHostname and LokiHostname are the two extra SNI names on the
	// ingress (GRAFANA_HOSTNAME, LOKI_HOSTNAME). Edges push logs and
	// metrics to the Loki name; people open the Grafana name.
	GrafanaHostname string `yaml:"grafanaHostname"`
	LokiHostname    string `yaml:"lokiHostname"`
	// LogsBucket is the SeaweedFS bucket of Loki's chunks (LOGS_BUCKET).
	LogsBucket string `yaml:"logsBucket"`
	// Retention of logs and metrics, a Prometheus duration such as 30d
	// (OBSERVABILITY_RETENTION_DAYS).
	Retention string `yaml:"retention"`
	// StorageSize of the Prometheus, Loki and Grafana volumes.
	StorageSize string `yaml:"storageSize"`
	// GrafanaAdminUser and GrafanaAdminPassword log in to Grafana.
	GrafanaAdminUser     string `yaml:"grafanaAdminUser"`
	GrafanaAdminPassword Secret `yaml:"grafanaAdminPassword"`
	// SiteTokenKey derives every site's push credentials
	// (HMAC-SHA256(key, site name)). Empty: derived from
	// management.s3.adminSecretKey, which no edge holds.
	SiteTokenKey Secret              `yaml:"siteTokenKey"`
	Alerts       Alerts              `yaml:"alerts"`
	Images       ObservabilityImages `yaml:"images"`
}

// Alerts is Alertmanager's delivery: e-mail always, Slack optionally.
type Alerts struct {
	// EmailTo are the recipients (ALERT_EMAIL_TO, comma-separated there).
	EmailTo []string `yaml:"emailTo"`
	// EmailFrom is the sender (ALERT_EMAIL_FROM); default
	// alertmanager@<domain>.
	EmailFrom string `yaml:"emailFrom"`
	// SMTPSmarthost is the relay, host:port (SMTP_SMARTHOST).
	SMTPSmarthost string `yaml:"smtpSmarthost"`
	// SMTPUsername and SMTPPassword authenticate to it (SMTP_USERNAME,
	// SMTP_PASSWORD); both empty: no authentication.
	SMTPUsername string `yaml:"smtpUsername"`
	SMTPPassword Secret `yaml:"smtpPassword"`
	// SMTPRequireTLS: STARTTLS is required (default true; SMTP_REQUIRE_TLS=0
	// turns it off for a relay on a closed network).
	SMTPRequireTLS *bool `yaml:"smtpRequireTLS"`
	// SlackWebhookURL, when set, also sends critical and info alerts to
	// Slack (SLACK_WEBHOOK_URL).
	SlackWebhookURL Secret `yaml:"slackWebhookURL"`
}

// ObservabilityImages are the stack's images, pinned by digest by
// default (docs/observability.md says where each digest comes from).
type ObservabilityImages struct {
	Loki         string `yaml:"loki"`
	Prometheus   string `yaml:"prometheus"`
	Alertmanager string `yaml:"alertmanager"`
	Grafana      string `yaml:"grafana"`
	Vector       string `yaml:"vector"`
}

// Default images of the stack: upstream releases pinned by the digest of
// their multi-platform index (docs/observability.md, "Images").
const (
	DefaultLokiImage         = "docker.io/grafana/loki:3.5.0@sha256:4c431d2e6b9b38718694b31c5d56be7c80dc69c513215fde1aeb5b02cd4e2665"
	DefaultPrometheusImage   = "docker.io/prom/prometheus:v3.5.0@sha256:63805ebb8d2b3920190daf1cb14a60871b16fd38bed42b857a3182bc621f4996"
	DefaultAlertmanagerImage = "docker.io/prom/alertmanager:v0.28.1@sha256:27c475db5fb156cab31d5c18a4251ac7ed567746a2483ff264516437a39b15ba"
	DefaultGrafanaImage      = "docker.io/grafana/grafana:12.0.2@sha256:b5b59bfc7561634c2d7b136c4543d702ebcc94a3da477f21ff26f89ffd4214fa"
	DefaultVectorImage       = "docker.io/timberio/vector:0.46.1-debian@sha256:ccf9c8ffcd1ffbe59e4d62bf44926664908ea1cb6b492b91634d1afd01e3376f"

	DefaultLogsBucket         = "logs-bucket"
	DefaultRetention          = "30d"
	DefaultObservabilitySize  = "10Gi"
	DefaultGrafanaAdminUser   = "admin"
	minRetention              = 24 * time.Hour
	defaultSMTPPortSuggestion = "smtp.example.org:587"
)

// RequireTLS reports whether the SMTP relay must offer STARTTLS.
func (a *Alerts) RequireTLS() bool { return a.SMTPRequireTLS == nil || *a.SMTPRequireTLS }

// RetentionDuration is the parsed retention (valid configurations only).
func (o *Observability) RetentionDuration() time.Duration {
	d, _ := model.ParseDuration(o.Retention)
	return time.Duration(d)
}

func (c *Config) observabilityDefaults() {
	o := &c.Observability
	d := c.Management.Domain
	config.SetDefault(&o.GrafanaHostname, "grafana."+d)
	config.SetDefault(&o.LokiHostname, "loki."+d)
	config.SetDefault(&o.LogsBucket, DefaultLogsBucket)
	config.SetDefault(&o.Retention, DefaultRetention)
	config.SetDefault(&o.StorageSize, DefaultObservabilitySize)
	config.SetDefault(&o.GrafanaAdminUser, DefaultGrafanaAdminUser)
	config.SetDefault(&o.Alerts.EmailFrom, "alertmanager@"+d)
	config.SetDefault(&o.Images.Loki, DefaultLokiImage)
	config.SetDefault(&o.Images.Prometheus, DefaultPrometheusImage)
	config.SetDefault(&o.Images.Alertmanager, DefaultAlertmanagerImage)
	config.SetDefault(&o.Images.Grafana, DefaultGrafanaImage)
	config.SetDefault(&o.Images.Vector, DefaultVectorImage)
}

// validateObservability checks the section when it is enabled; hosts are
// the SNI names already taken (by field).
func (c *Config) validateObservability(add config.AddFunc, hosts map[string]string, derivedBad func(string) bool) {
	m := &c.Management
	o := &c.Observability
	if !o.Enabled {
		return
	}
	const at = "observability"
	for _, h := range []struct{ f, v string }{{at + ".grafanaHostname", o.GrafanaHostname}, {at + ".lokiHostname", o.LokiHostname}} {
		if derivedBad(h.v) || !checkDNS(add, h.f, h.v) {
			continue
		}
		if other, dup := hosts[h.v]; dup {
			add(h.f, fmt.Sprintf("%s is also %s", h.v, other), "give Grafana and Loki names of their own (default grafana.<domain>, loki.<domain>)")
		} else {
			hosts[h.v] = h.f
		}
	}
	if !dnsNameRE.MatchString(o.LogsBucket) || len(o.LogsBucket) < 3 || len(o.LogsBucket) > 63 {
		add(at+".logsBucket", fmt.Sprintf("%q is not an S3 bucket name", o.LogsBucket), "3-63 lower-case letters, digits, '-' and '.', e.g. logs-bucket")
	} else if o.LogsBucket == m.S3.Bucket {
		add(at+".logsBucket", "is the ingest bucket", "keep logs apart from images, e.g. logs-bucket")
	}
	if d, err := model.ParseDuration(o.Retention); err != nil || time.Duration(d) < minRetention {
		add(at+".retention", fmt.Sprintf("%q is not a duration of a day or more", o.Retention), "e.g. 30d, 12w or 720h")
	}
	if !quantityRE.MatchString(o.StorageSize) {
		add(at+".storageSize", fmt.Sprintf("%q is not a quantity", o.StorageSize), "e.g. 10Gi")
	}
	if strings.TrimSpace(o.GrafanaAdminUser) == "" || strings.ContainsAny(o.GrafanaAdminUser, " \t:") {
		add(at+".grafanaAdminUser", fmt.Sprintf("%q is not a user name", o.GrafanaAdminUser), "e.g. admin")
	}
	if c.checkSecret(add, at+".grafanaAdminPassword", o.GrafanaAdminPassword, true) && len(o.GrafanaAdminPassword.value) < 12 {
		add(at+".grafanaAdminPassword", "shorter than 12 characters", "use a long random value (openssl rand -hex 16)")
	}
	if c.checkSecret(add, at+".siteTokenKey", o.SiteTokenKey, false) && len(o.SiteTokenKey.value) < 32 {
		add(at+".siteTokenKey", "shorter than 32 characters", "openssl rand -hex 32, or leave it out to derive from the S3 admin key")
	}
	a := &o.Alerts
	if len(a.EmailTo) == 0 {
		add(at+".alerts.emailTo", "missing", "the addresses alerts are mailed to, e.g. [imaging-ops@example.org]")
	}
	for i, e := range a.EmailTo {
		if _, err := mail.ParseAddress(e); err != nil || !strings.Contains(e, "@") {
			add(fmt.Sprintf("%s.alerts.emailTo[%d]", at, i), fmt.Sprintf("%q is not an e-mail address", e), "e.g. imaging-ops@example.org")
		}
	}
	if _, err := mail.ParseAddress(a.EmailFrom); err != nil {
		add(at+".alerts.emailFrom", fmt.Sprintf("%q is not an e-mail address", a.EmailFrom), "e.g. alertmanager@example.org")
	}
	host, port, err := net.SplitHostPort(a.SMTPSmarthost)
	switch {
	case a.SMTPSmarthost == "":
		add(at+".alerts.smtpSmarthost", "missing", "the mail relay as host:port, e.g. "+defaultSMTPPortSuggestion)
	case err != nil || host == "" || !validPort(port):
		add(at+".alerts.smtpSmarthost", fmt.Sprintf("%q is not host:port", a.SMTPSmarthost), "e.g. "+defaultSMTPPortSuggestion)
	}
	pw := c.checkSecret(add, at+".alerts.smtpPassword", a.SMTPPassword, false)
	if pw && a.SMTPUsername == "" {
		add(at+".alerts.smtpUsername", "missing while smtpPassword is set", "the relay's user name, or remove smtpPassword")
	}
	if a.SMTPUsername != "" && !pw && a.SMTPPassword.err == nil {
		add(at+".alerts.smtpPassword", "missing while smtpUsername is set", "{file: PATH} holding the relay's password, or remove smtpUsername")
	}
	if c.checkSecret(add, at+".alerts.slackWebhookURL", a.SlackWebhookURL, false) {
		if u, err := url.Parse(a.SlackWebhookURL.value); err != nil || u.Scheme != "https" || u.Host == "" {
			add(at+".alerts.slackWebhookURL", "is not an https URL", "the Slack incoming-webhook URL, https://hooks.slack.com/services/…")
		}
	}
	for _, im := range []struct{ f, v string }{
		{at + ".images.loki", o.Images.Loki}, {at + ".images.prometheus", o.Images.Prometheus},
		{at + ".images.alertmanager", o.Images.Alertmanager}, {at + ".images.grafana", o.Images.Grafana},
		{at + ".images.vector", o.Images.Vector},
	} {
		if !imageRE.MatchString(im.v) {
			add(im.f, fmt.Sprintf("%q is not an image reference", im.v), "registry/name:tag@sha256:… (leave it out for the pinned default)")
		} else if zeroDigest(im.v) {
			add(im.f, zeroDigestMsg, "the image's digest in its registry (leave it out for the pinned default)")
		}
	}
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536
}
