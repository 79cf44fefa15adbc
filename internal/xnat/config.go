package xnat

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultUserAgent is sent when Config.UserAgent is empty. It is not
// browser-like on purpose: XNAT then never asks for a CSRF token and
// answers an expired session with 401 instead of a login page.
const DefaultUserAgent = "aisedge-xnat/1"

// Config configures a Client. Only URL, Username and Password are
// required.
//
// Username and Password are the only secrets; they are sent once per login
// (POST /data/JSESSION with Basic auth) and never logged or put in errors.
// Config's String and LogValue methods redact them, so printing a Config is
// safe.
type Config struct {
	// URL is the XNAT base URL, https://host[/context]. It must not carry
	// credentials.
	URL string
	// Username and Password of the XNAT account (or an alias token and its
	// secret).
	Username string
	Password string
	// AliasToken says Username and Password are an alias token and its
	// secret (GET /data/services/tokens/issue; valid 48 hours by default).
	// The client then replaces the token with a fresh one after its first
	// login and again TokenRenewBefore before the token it holds expires,
	// and tells OnTokenRenewed.
	AliasToken bool
	// TokenRenewBefore is how long before expiry a token is renewed
	// (default 12h).
	TokenRenewBefore time.Duration
	// OnTokenRenewed, if set, receives each new token (e.g. to keep it
	// across restarts). It must not block.
	OnTokenRenewed func(alias, secret string, expires time.Time)

	// CAFile and CAPEM add PEM certificates to the system roots for
	// verifying XNAT's certificate (e.g. a site CA). Verification is never
	// turned off.
	CAFile string
	CAPEM  []byte
	// AllowInsecureRedirect permits following a redirect from https:// to
	// http:// (the original's XNAT_ALLOW_INSECURE_REDIRECT=1).
	AllowInsecureRedirect bool
	// UserAgent overrides DefaultUserAgent; it must not look like a browser.
	UserAgent string

	// Timeout bounds each call that sends no file data (default 2m).
	Timeout time.Duration
	// UploadTimeout bounds each upload request (default 1h).
	UploadTimeout time.Duration
	// Retry is applied to every call (zero value = DefaultRetry).
	Retry RetryPolicy
	// KeepAlive overrides the interval of the session heartbeat
	// (GET /data/JSESSION); 0 derives it from the server's announced idle
	// timeout, a negative value turns the heartbeat off.
	KeepAlive time.Duration

	// ArchiveBatchBytes caps the uncompressed bytes of one .tar.gz upload
	// (default 256 MiB); bigger resources go in several archives.
	ArchiveBatchBytes int64
	// ArchiveMemoryBytes is the largest archive built in memory (default
	// 32 MiB); bigger ones are built in a temporary file in TempDir.
	ArchiveMemoryBytes int64
	// TempDir for archive files ("" = os.TempDir()).
	TempDir string

	// Logger receives debug lines per request (method, path, status,
	// duration) and warnings; nil discards.
	Logger *slog.Logger
	// Transport replaces the HTTP transport (tests); TLS settings above are
	// then not applied.
	Transport http.RoundTripper
	// Now is the client's clock (default time.Now).
	Now func() time.Time
}

// String describes the configuration without credentials (neither the
// password nor the account name).
func (c Config) String() string {
	return fmt.Sprintf("xnat.Config{URL:%q Username:%s Password:%s CAFile:%q AllowInsecureRedirect:%v}",
		c.URL, redacted(c.Username), redacted(c.Password), c.CAFile, c.AllowInsecureRedirect)
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return c.String() }

// LogValue makes slog print the redacted form.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", c.URL), slog.Bool("username_set", c.Username != ""),
		slog.Bool("password_set", c.Password != ""), slog.String("ca_file", c.CAFile),
		slog.Bool("allow_insecure_redirect", c.AllowInsecureRedirect))
}

func (c *Config) setDefaults() {
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.UploadTimeout <= 0 {
		c.UploadTimeout = time.Hour
	}
	if c.ArchiveBatchBytes <= 0 {
		c.ArchiveBatchBytes = 256 << 20
	}
	if c.ArchiveMemoryBytes <= 0 {
		c.ArchiveMemoryBytes = 32 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TokenRenewBefore <= 0 {
		c.TokenRenewBefore = 12 * time.Hour
	}
	c.Retry = c.Retry.withDefaults()
}

// parseBase checks and normalises the base URL.
func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Parse errors echo the input, which may hold a password.
		return nil, fmt.Errorf("xnat: URL is not a valid URL: %w", ErrInvalid)
	}
	if u.User != nil {
		return nil, fmt.Errorf("xnat: URL must not contain credentials (use Username/Password): %w", ErrInvalid)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("xnat: URL %q must be http(s)://host[/context]: %w", u.Redacted(), ErrInvalid)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("xnat: URL %q must not have a query or fragment: %w", u.Redacted(), ErrInvalid)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// transport builds the HTTP transport: verified TLS (system roots plus the
// configured CA bundle), connection reuse, dial and handshake timeouts.
func (c *Config) transport() (http.RoundTripper, error) {
	if c.Transport != nil {
		return c.Transport, nil
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" || len(c.CAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem := append([]byte(nil), c.CAPEM...)
		if c.CAFile != "" {
			b, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("xnat: read CA bundle: %w", err)
			}
			pem = append(append(pem, '\n'), b...)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("xnat: CA bundle holds no PEM certificate: %w", ErrInvalid)
		}
		tlsConf.RootCAs = pool
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   30 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}, nil
}
