// Package fleet describes a deployment of aisedge on Kubernetes: a
// management cluster (SeaweedFS, the hub, cert-manager's CA, one k0smotron
// control plane per site) and one child cluster per edge site. Config is
// read from one strict YAML file (Load) or from the original installer's
// config/ folder (LoadEnvDir, for adopting an existing installation), and
// Validate names every problem at once with the file, the field and the fix.
//
// Subpackages render the manifests (render), apply them (kube) and build
// the OCI image (image). cmd/aisedge's `fleet` command is the only importer.
package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/deidconf"
	"github.com/aisedge/aisedge/internal/route"
)

// Topologies (the original's INSTALL_TOPOLOGY).
const (
	OnPrem = "onprem" // ingress-nginx on the host network, /etc/hosts and hostAliases
	Cloud  = "cloud"  // ingress-nginx behind a LoadBalancer, real DNS
)

// Install modes (the original's INSTALL_MODE).
const (
	Fresh    = "fresh"    // a single-node k0s management cluster made for aisedge
	Existing = "existing" // any conformant cluster that already runs
)

// Issuers of the server certificates (the original's CERT_ISSUER).
const (
	IssuerCA                 = "ais-edge-ca-issuer"
	IssuerLetsEncrypt        = "letsencrypt-prod"
	IssuerLetsEncryptStaging = "letsencrypt-staging"
)

// Config is a whole fleet.
type Config struct {
	Management Management `yaml:"management"`
	Sites      []Site     `yaml:"sites"`
	// Observability is the optional logs, metrics and alerting stack.
	Observability Observability `yaml:"observability,omitempty"`

	// Dir is the folder relative paths (routing, profile, kubeconfig,
	// secret files) are resolved against: the config file's folder.
	Dir string `yaml:"-"`
	// Warnings are non-fatal findings of the loader (e.g. variables of
	// the original's env files that aisedge does not use).
	Warnings []string `yaml:"-"`
	// Legacy keeps the variables of the original's env files that aisedge
	// does not use, by name.
	Legacy map[string]string `yaml:"-"`

	// fromEnvFiles is set by LoadEnvDir: fixes then speak of variables.
	fromEnvFiles bool

	loc locator
}

// Management is the management cluster.
type Management struct {
	Topology string `yaml:"topology"`
	Mode     string `yaml:"mode"`
	// NodeIP is the management node's address (MGMT_NODE_IP): the
	// k0smotron external address, and on-prem the IP SAN of the server
	// certificate and the target of the edges' hostAliases.
	NodeIP string `yaml:"nodeIP"`
	// Domain is INTERNAL_DOMAIN; hostnames default to names under it.
	Domain string `yaml:"domain"`
	// IngressPort is the one TLS port edges dial (INGRESS_PORT).
	IngressPort       int     `yaml:"ingressPort"`
	SeaweedFSHostname string  `yaml:"seaweedfsHostname"`
	Cloud             CloudLB `yaml:"cloud"`
	TLS               TLS     `yaml:"tls"`
	Images            Images  `yaml:"images"`
	S3                S3      `yaml:"s3"`
	XNAT              XNAT    `yaml:"xnat"`
	Hub               Hub     `yaml:"hub"`
	// HMACKey is the per-deployment de-identification secret
	// (AIS_DEID_HMAC_SALT), given to every edge.
	HMACKey Secret `yaml:"hmacKey"`
	K0s     K0s    `yaml:"k0s"`
	// StorageClass of the PersistentVolumeClaims (hub state, k0smotron
	// control planes and their etcd); empty means the cluster's default.
	StorageClass string `yaml:"storageClass"`
}

// CloudLB configures the LoadBalancer of the cloud topology.
type CloudLB struct {
	// Provider: openstack, aws, gcp, azure or none (CLOUD_PROVIDER).
	Provider string `yaml:"provider"`
	// LoadBalancerIP is a pre-allocated address (LB_PUBLIC_IP); empty lets
	// the cloud controller pick one.
	LoadBalancerIP string `yaml:"loadBalancerIP"`
	// ServiceAnnotations go on the ingress-nginx controller Service.
	ServiceAnnotations map[string]string `yaml:"serviceAnnotations"`
}

// TLS configures cert-manager.
type TLS struct {
	// Issuer signs the server certificates: ais-edge-ca-issuer (the
	// private CA, default), letsencrypt-prod or letsencrypt-staging.
	Issuer string `yaml:"issuer"`
	// ACMEEmail and DNSProvider are needed for Let's Encrypt (DNS-01).
	ACMEEmail   string `yaml:"acmeEmail"`
	DNSProvider string `yaml:"dnsProvider"` // cloudflare | route53
	// CloudflareAPIToken (dnsProvider cloudflare).
	CloudflareAPIToken Secret `yaml:"cloudflareAPIToken"`
	// Route53HostedZoneID and Route53Region (dnsProvider route53; the
	// credentials come from the cert-manager pod's ambient AWS identity).
	Route53HostedZoneID string `yaml:"route53HostedZoneID"`
	Route53Region       string `yaml:"route53Region"`
	// CABundleFile is the PEM bundle the edges trust for the S3 endpoint
	// (the original's ais-edge-ca.crt). Empty: apply reads the CA from the
	// management cluster once cert-manager has issued it.
	CABundleFile string `yaml:"caBundleFile"`
}

// Images are the container images the fleet runs.
type Images struct {
	// AISEdge is the aisedge image (`aisedge fleet image`), ideally by
	// digest.
	AISEdge   string `yaml:"aisedge"`
	SeaweedFS string `yaml:"seaweedfs"`
	// Etcd is the image of each site's k0smotron etcd.
	Etcd string `yaml:"etcd"`
}

// S3 is the management side's SeaweedFS.
type S3 struct {
	Bucket string `yaml:"bucket"`
	// DataDir is the host folder of SeaweedFS's volumes (/data/seaweedfs).
	DataDir        string `yaml:"dataDir"`
	AdminAccessKey Secret `yaml:"adminAccessKey"`
	AdminSecretKey Secret `yaml:"adminSecretKey"`
}

// XNAT is the archive the hub delivers to.
type XNAT struct {
	URL                   string `yaml:"url"`
	AllowInsecureRedirect bool   `yaml:"allowInsecureRedirect"`
	Username              Secret `yaml:"username"`
	Password              Secret `yaml:"password"`
}

// Hub configures the hub's delivery.
type Hub struct {
	// Interval is the pause between the hub's delivery rounds (a Go
	// duration, at least 1s; default 60s): a sealed session waits up to
	// this long before the hub picks it up. It is also a failing
	// destination's first backoff.
	Interval string `yaml:"interval"`
}

// K0s configures the sites' k0smotron control planes.
type K0s struct {
	Version string `yaml:"version"`
	// StorageSize of each control plane's and each etcd's volume.
	StorageSize string `yaml:"storageSize"`
}

// Site is one edge site: a child cluster whose workers are at the facility.
type Site struct {
	Name string `yaml:"name"`
	// NodeIP is the edge worker's address (SSH target).
	NodeIP string `yaml:"nodeIP"`
	// Project is the XNAT project when no routing file maps AE titles
	// (the original's PROJECT_ID).
	Project string `yaml:"project"`
	SSH     SSH    `yaml:"ssh"`
	// APIHost and KonnectivityHost are the SNI names of the site's
	// control plane; APIPort and KonnectivityPort its NodePorts. Each site
	// needs its own (the original gave every site the same ones).
	APIHost          string `yaml:"apiHost"`
	KonnectivityHost string `yaml:"konnectivityHost"`
	APIPort          int    `yaml:"apiPort"`
	KonnectivityPort int    `yaml:"konnectivityPort"`
	// S3AccessKey/S3SecretKey are the edge's put-only key.
	S3AccessKey Secret `yaml:"s3AccessKey"`
	S3SecretKey Secret `yaml:"s3SecretKey"`
	// Routing is a routing file (the original's routing.json or the
	// native form); Profile a profile file or a built-in name.
	Routing string `yaml:"routing"`
	Profile string `yaml:"profile"`
	// AETitle the receiver answers to (AISEDGE).
	AETitle string `yaml:"aeTitle"`
	// QuietPeriod: a study is complete (and uploaded) this long after its
	// last instance arrived (a Go duration from 1s to 2h; default 30s, the
	// original's StableAge). Shorter stages sooner; a modality that pauses
	// longer between the series of one study then makes two sessions.
	QuietPeriod string `yaml:"quietPeriod"`
	// DataDir and FacilityBackupDir are host folders on the edge worker.
	DataDir           string `yaml:"dataDir"`
	FacilityBackupDir string `yaml:"facilityBackupDir"`
	// Kubeconfig of the child cluster; default kubeconfig-<name> next to
	// the config (the original's file name).
	Kubeconfig string `yaml:"kubeconfig"`
}

// SSH is how `fleet join` reaches the edge worker.
type SSH struct {
	User string `yaml:"user"`
	Key  string `yaml:"key"`
}

// Defaults of the original installer (docs/compat.md, "Installer
// configuration").
const (
	DefaultDomain         = "aisedge.local"
	DefaultBucket         = "ingest-bucket"
	DefaultSeaweedFSImage = "chrislusf/seaweedfs:3.99"
	DefaultEtcdImage      = "quay.io/k0sproject/etcd:v3.5.13"
	DefaultK0sVersion     = "v1.35.2+k0s.0"
	DefaultStorageSize    = "1Gi"
	DefaultAPIPort        = 30443
	DefaultKonnPort       = 30132
	DefaultEdgeDataDir    = "/data/xnat-ingest"
	DefaultBackupDir      = "/data/facility-backup"
	DefaultSeaweedDataDir = "/data/seaweedfs"
	DefaultAETitle        = "AISEDGE"
	DefaultProfile        = "research-default"
	DefaultQuietPeriod    = "30s"
	DefaultHubInterval    = "60s"
)

// Bounds of the durations. The edge stages a study that keeps receiving
// after its force timeout (2h, which the fleet does not change), so the
// quiet period cannot be longer.
const (
	minQuietPeriod = time.Second
	maxQuietPeriod = 2 * time.Hour
	minHubInterval = time.Second
)

// QuietPeriodDuration is the site's parsed quiet period (valid
// configurations only).
func (s *Site) QuietPeriodDuration() time.Duration {
	d, _ := time.ParseDuration(s.QuietPeriod)
	return d
}

// IntervalDuration is the hub's parsed round interval (valid
// configurations only).
func (h *Hub) IntervalDuration() time.Duration {
	d, _ := time.ParseDuration(h.Interval)
	return d
}

// Load reads a native fleet file: strict YAML (unknown fields are errors),
// defaults applied, validated. On validation problems the config is
// returned with a *config.Error listing all of them.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading fleet configuration: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes b (named name in messages; relative paths are resolved
// against name's folder).
func Parse(name string, b []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, &config.Error{Problems: config.YAMLProblems(name, err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	var decodeProbs []config.Problem
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &config.Error{Problems: config.YAMLProblems(name, err)}
		}
		// Unknown fields and wrong types: the rest was decoded, so the
		// validation below still names every other problem.
		decodeProbs = config.YAMLProblems(name, err)
	}
	c.Dir = filepath.Dir(name)
	lines := config.FieldLines(&root)
	for i, p := range decodeProbs {
		// Name unknown fields by their full path.
		for path, l := range lines {
			if l == p.Line && (path == p.Field || strings.HasSuffix(path, "."+p.Field)) {
				decodeProbs[i].Field = path
			}
		}
	}
	c.loc = func(field string) (string, int, string) { return name, config.LineOf(lines, field), field }
	c.defaults()
	for _, s := range c.secrets() {
		s.resolve(c.Path, os.LookupEnv)
	}
	err := c.Validate()
	if len(decodeProbs) > 0 {
		var ce *config.Error
		if errors.As(err, &ce) {
			decodeProbs = append(decodeProbs, ce.Problems...)
		}
		sort.SliceStable(decodeProbs, func(i, j int) bool { return decodeProbs[i].Line < decodeProbs[j].Line })
		return &c, &config.Error{Problems: decodeProbs}
	}
	if err != nil {
		return &c, err
	}
	return &c, nil
}

// locator maps a field path to the file, line and name the user knows it
// by (a YAML path, or an env variable of the original's files).
type locator func(field string) (file string, line int, name string)

func (c *Config) defaults() {
	m := &c.Management
	config.SetDefault(&m.Topology, OnPrem)
	config.SetDefault(&m.Mode, Fresh)
	config.SetDefault(&m.Domain, DefaultDomain)
	if m.IngressPort == 0 {
		m.IngressPort = 443
	}
	config.SetDefault(&m.SeaweedFSHostname, "seaweedfs."+m.Domain)
	config.SetDefault(&m.TLS.Issuer, IssuerCA)
	config.SetDefault(&m.Images.SeaweedFS, DefaultSeaweedFSImage)
	config.SetDefault(&m.Images.Etcd, DefaultEtcdImage)
	config.SetDefault(&m.S3.Bucket, DefaultBucket)
	config.SetDefault(&m.S3.DataDir, DefaultSeaweedDataDir)
	config.SetDefault(&m.K0s.Version, DefaultK0sVersion)
	config.SetDefault(&m.K0s.StorageSize, DefaultStorageSize)
	config.SetDefault(&m.Hub.Interval, DefaultHubInterval)
	if m.Topology == Cloud {
		config.SetDefault(&m.Cloud.Provider, "none")
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		config.SetDefault(&s.APIHost, "k0s-"+s.Name+"."+m.Domain)
		config.SetDefault(&s.KonnectivityHost, "konnect-"+s.Name+"."+m.Domain)
		if len(c.Sites) == 1 {
			if s.APIPort == 0 {
				s.APIPort = DefaultAPIPort
			}
			if s.KonnectivityPort == 0 {
				s.KonnectivityPort = DefaultKonnPort
			}
		}
		config.SetDefault(&s.Profile, DefaultProfile)
		config.SetDefault(&s.AETitle, DefaultAETitle)
		config.SetDefault(&s.DataDir, DefaultEdgeDataDir)
		config.SetDefault(&s.FacilityBackupDir, DefaultBackupDir)
		config.SetDefault(&s.QuietPeriod, DefaultQuietPeriod)
		config.SetDefault(&s.Kubeconfig, "kubeconfig-"+s.Name)
	}
	if c.Observability.Enabled {
		c.observabilityDefaults()
	}
}

// Path resolves a path of the config against its folder.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return filepath.Join(c.Dir, p)
}

// Site returns the site named name.
func (c *Config) Site(name string) (*Site, bool) {
	for i := range c.Sites {
		if c.Sites[i].Name == name {
			return &c.Sites[i], true
		}
	}
	return nil, false
}

var (
	// A site name is a namespace and a k0smotron Cluster name.
	siteNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	dnsNameRE  = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	projectRE  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	aetRE      = regexp.MustCompile(`^[\x20-\x5B\x5D-\x7E]{1,16}$`)
	quantityRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$`)
	imageRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(@sha256:[0-9a-f]{64})?$`)
)

// zeroDigest reports an image pinned to the all-zero digest: a
// placeholder left in a template, which no registry serves and which
// would otherwise only fail as ErrImagePull on the cluster.
func zeroDigest(ref string) bool {
	return strings.HasSuffix(ref, "@sha256:"+strings.Repeat("0", 64))
}

const zeroDigestMsg = "is pinned to the all-zero digest (a placeholder, not an image)"

// Validate checks the whole configuration and returns a *config.Error
// naming every problem, or nil.
func (c *Config) Validate() error {
	var probs []config.Problem
	add := func(field, msg, fix string) {
		p := config.Problem{Field: field, Msg: msg, Fix: fix}
		if c.loc != nil {
			p.File, p.Line, p.Field = c.loc(field)
		}
		probs = append(probs, p)
	}
	c.validate(add)
	if len(probs) == 0 {
		return nil
	}
	seen := map[config.Problem]bool{}
	uniq := probs[:0]
	for _, p := range probs {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	probs = uniq
	sort.SliceStable(probs, func(i, j int) bool {
		if probs[i].File != probs[j].File {
			return probs[i].File < probs[j].File
		}
		return probs[i].Line < probs[j].Line
	})
	return &config.Error{Problems: probs}
}

func (c *Config) validate(add config.AddFunc) {
	m := &c.Management
	switch m.Topology {
	case OnPrem, Cloud:
	default:
		add("management.topology", fmt.Sprintf("%q", m.Topology), "onprem or cloud")
	}
	switch m.Mode {
	case Fresh, Existing:
	default:
		add("management.mode", fmt.Sprintf("%q", m.Mode), "fresh (a k0s cluster for aisedge) or existing (any conformant cluster)")
	}
	ip, err := netip.ParseAddr(m.NodeIP)
	switch {
	case m.NodeIP == "" && m.Topology == OnPrem:
		add("management.nodeIP", "missing", "the management node's IP address, which edges reach on port 443")
	case m.NodeIP != "" && (err != nil || !ip.IsValid()):
		add("management.nodeIP", fmt.Sprintf("%q is not an IP address", m.NodeIP), "e.g. 203.0.113.10")
	}
	domainOK := checkDNS(add, "management.domain", m.Domain)
	if m.IngressPort < 1 || m.IngressPort > 65535 {
		add("management.ingressPort", fmt.Sprintf("%d is not a port", m.IngressPort), "443")
	}
	// Names derived from a bad domain or site name are not reported again.
	derivedBad := func(host string) bool { return !domainOK && strings.HasSuffix(host, "."+m.Domain) }
	if !derivedBad(m.SeaweedFSHostname) {
		checkDNS(add, "management.seaweedfsHostname", m.SeaweedFSHostname)
	}
	if m.Topology == Cloud {
		switch m.Cloud.Provider {
		case "openstack", "aws", "gcp", "azure", "none":
		default:
			add("management.cloud.provider", fmt.Sprintf("%q", m.Cloud.Provider), "openstack, aws, gcp, azure or none")
		}
		if m.Cloud.LoadBalancerIP != "" {
			if _, err := netip.ParseAddr(m.Cloud.LoadBalancerIP); err != nil {
				add("management.cloud.loadBalancerIP", fmt.Sprintf("%q is not an IP address", m.Cloud.LoadBalancerIP), "leave it empty to let the cloud pick one")
			}
		}
	}
	switch m.TLS.Issuer {
	case IssuerCA:
	case IssuerLetsEncrypt, IssuerLetsEncryptStaging:
		if !strings.Contains(m.TLS.ACMEEmail, "@") {
			add("management.tls.acmeEmail", "missing", "Let's Encrypt needs a contact address")
		}
		switch m.TLS.DNSProvider {
		case "cloudflare":
			c.checkSecret(add, "management.tls.cloudflareAPIToken", m.TLS.CloudflareAPIToken, true)
		case "route53":
			if m.TLS.Route53HostedZoneID == "" {
				add("management.tls.route53HostedZoneID", "missing", "the Route 53 hosted zone of the domain")
			}
		default:
			add("management.tls.dnsProvider", fmt.Sprintf("%q", m.TLS.DNSProvider), "cloudflare or route53 (Let's Encrypt is used with DNS-01 only)")
		}
		if strings.HasSuffix(m.Domain, ".local") {
			add("management.tls.issuer", fmt.Sprintf("Let's Encrypt cannot issue for %s", m.Domain), "use ais-edge-ca-issuer, or a real domain")
		}
	default:
		add("management.tls.issuer", fmt.Sprintf("%q", m.TLS.Issuer), "ais-edge-ca-issuer, letsencrypt-prod or letsencrypt-staging")
	}
	c.checkFile(add, "management.tls.caBundleFile", m.TLS.CABundleFile)
	switch {
	case m.Images.AISEdge == "":
		add("management.images.aisedge", "missing", "the image `aisedge fleet image` built, pushed to a registry the clusters can pull from (by digest: registry/aisedge@sha256:…)")
	case !imageRE.MatchString(m.Images.AISEdge):
		add("management.images.aisedge", fmt.Sprintf("%q is not an image reference", m.Images.AISEdge), "registry/name:tag or registry/name@sha256:…")
	case zeroDigest(m.Images.AISEdge):
		add("management.images.aisedge", zeroDigestMsg, "the digest `aisedge fleet image` printed: registry/aisedge@sha256:…")
	}
	for f, v := range map[string]string{"management.images.seaweedfs": m.Images.SeaweedFS, "management.images.etcd": m.Images.Etcd} {
		if !imageRE.MatchString(v) {
			add(f, fmt.Sprintf("%q is not an image reference", v), "registry/name:tag")
		} else if zeroDigest(v) {
			add(f, zeroDigestMsg, "the image's digest in its registry, or leave it out for the default")
		}
	}
	if !dnsNameRE.MatchString(m.S3.Bucket) || len(m.S3.Bucket) < 3 || len(m.S3.Bucket) > 63 {
		add("management.s3.bucket", fmt.Sprintf("%q is not an S3 bucket name", m.S3.Bucket), "3-63 lower-case letters, digits, '-' and '.', e.g. ingest-bucket")
	}
	checkAbs(add, "management.s3.dataDir", m.S3.DataDir)
	c.checkSecret(add, "management.s3.adminAccessKey", m.S3.AdminAccessKey, true)
	c.checkSecret(add, "management.s3.adminSecretKey", m.S3.AdminSecretKey, true)
	if v := m.S3.AdminSecretKey.value; v != "" && len(v) < 8 {
		add("management.s3.adminSecretKey", "shorter than 8 characters", "use a long random value (openssl rand -hex 20)")
	}
	u, err := url.Parse(m.XNAT.URL)
	switch {
	case m.XNAT.URL == "":
		add("management.xnat.url", "missing", "the XNAT base URL, https://xnat.example.org")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		add("management.xnat.url", fmt.Sprintf("%q is not a URL", m.XNAT.URL), "https://xnat.example.org")
	case u.User != nil:
		add("management.xnat.url", "carries credentials", "remove them; set management.xnat.username/password")
	case u.Scheme != "https" && !m.XNAT.AllowInsecureRedirect:
		add("management.xnat.url", "is not https", "use https (or allowInsecureRedirect: true on a closed network, as XNAT_ALLOW_INSECURE_REDIRECT=1 did)")
	}
	if d, err := time.ParseDuration(m.Hub.Interval); err != nil || d < minHubInterval {
		add("management.hub.interval", fmt.Sprintf("%q is not a duration of 1s or more", m.Hub.Interval), "a Go duration such as 60s (the default) or 5m")
	}
	c.checkSecret(add, "management.xnat.username", m.XNAT.Username, true)
	c.checkSecret(add, "management.xnat.password", m.XNAT.Password, true)
	if c.checkSecret(add, "management.hmacKey", m.HMACKey, true) {
		if _, err := deidconf.DecodeKey(m.HMACKey.value, "management.hmacKey"); err != nil {
			add("management.hmacKey", "not a usable key: at least 32 bytes as hex", "generate one with: openssl rand -hex 32")
		}
	}
	if !strings.HasPrefix(m.K0s.Version, "v") || !strings.Contains(m.K0s.Version, "+k0s.") {
		add("management.k0s.version", fmt.Sprintf("%q is not a k0s version", m.K0s.Version), "e.g. "+DefaultK0sVersion)
	}
	if !quantityRE.MatchString(m.K0s.StorageSize) {
		add("management.k0s.storageSize", fmt.Sprintf("%q is not a quantity", m.K0s.StorageSize), "e.g. 1Gi")
	}
	if m.StorageClass != "" && !dnsNameRE.MatchString(m.StorageClass) {
		add("management.storageClass", fmt.Sprintf("%q is not a StorageClass name", m.StorageClass), "the name of a StorageClass, or empty for the default")
	}
	c.validateSites(add, derivedBad)
}

func (c *Config) validateSites(add config.AddFunc, derivedBad func(string) bool) {
	m := &c.Management
	if len(c.Sites) == 0 {
		add("sites", "no sites", "add at least one edge site")
	}
	names := map[string]int{}
	hosts := map[string]string{m.SeaweedFSHostname: "management.seaweedfsHostname"}
	ports := map[int]string{}
	nextPort := func() (int, int) {
		a, k := DefaultAPIPort, DefaultKonnPort
		for ports[a] != "" {
			a++
		}
		for ports[k] != "" || k == a {
			k++
		}
		return a, k
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		at := fmt.Sprintf("sites[%d]", i)
		nameOK := siteNameRE.MatchString(s.Name)
		if !nameOK {
			add(at+".name", fmt.Sprintf("%q is not a valid site name", s.Name), "lower-case letters, digits and '-' (it names a namespace and a cluster), e.g. edge-uqcai")
		} else if j, dup := names[s.Name]; dup {
			add(at+".name", fmt.Sprintf("%q is also sites[%d]", s.Name, j), "give every site its own name")
		} else {
			names[s.Name] = i
		}
		if s.NodeIP != "" {
			if _, err := netip.ParseAddr(s.NodeIP); err != nil {
				add(at+".nodeIP", fmt.Sprintf("%q is not an IP address", s.NodeIP), "the edge worker's address, e.g. 10.0.1.50")
			}
		}
		for _, h := range []struct{ f, v, dflt string }{
			{at + ".apiHost", s.APIHost, "k0s-" + s.Name + "." + m.Domain},
			{at + ".konnectivityHost", s.KonnectivityHost, "konnect-" + s.Name + "." + m.Domain},
		} {
			if derivedBad(h.v) || (!nameOK && h.v == h.dflt) {
				continue
			}
			if !checkDNS(add, h.f, h.v) {
				continue
			}
			if other, dup := hosts[h.v]; dup {
				add(h.f, fmt.Sprintf("%s is also %s", h.v, other), "every site needs its own API and konnectivity hostnames (e.g. k0s-<site>.<domain>)")
			} else {
				hosts[h.v] = h.f
			}
		}
		for _, p := range []struct {
			f string
			v int
		}{{at + ".apiPort", s.APIPort}, {at + ".konnectivityPort", s.KonnectivityPort}} {
			switch {
			case p.v == 0:
				a, k := nextPort()
				add(p.f, "missing", fmt.Sprintf("with more than one site every site sets its NodePorts; free: apiPort %d, konnectivityPort %d", a, k))
			case p.v < 30000 || p.v > 32767:
				add(p.f, fmt.Sprintf("%d is outside the NodePort range", p.v), "30000-32767")
			case ports[p.v] != "":
				a, k := nextPort()
				add(p.f, fmt.Sprintf("%d is also %s", p.v, ports[p.v]), fmt.Sprintf("every site needs its own ports; free: apiPort %d, konnectivityPort %d", a, k))
			default:
				ports[p.v] = p.f
			}
		}
		c.checkSecret(add, at+".s3AccessKey", s.S3AccessKey, true)
		c.checkSecret(add, at+".s3SecretKey", s.S3SecretKey, true)
		if s.S3AccessKey.value != "" && s.S3AccessKey.value == m.S3.AdminAccessKey.value {
			add(at+".s3AccessKey", "is the admin key", "give every edge its own put-only key")
		}
		if !aetRE.MatchString(s.AETitle) || strings.TrimSpace(s.AETitle) == "" {
			add(at+".aeTitle", fmt.Sprintf("%q is not an AE title", s.AETitle), "1-16 printable characters, no backslash")
		}
		if s.Routing == "" && s.Project == "" {
			add(at+".project", "missing (and no routing file)", "the XNAT project ID, or a routing file mapping called AE titles to projects")
		}
		if s.Project != "" && !projectRE.MatchString(s.Project) {
			add(at+".project", fmt.Sprintf("%q is not an XNAT project ID", s.Project), "letters, digits, '_' and '-'")
		}
		if s.Routing != "" {
			c.checkRouting(add, at+".routing", s.Routing)
		}
		c.checkProfile(add, at+".profile", s.Profile)
		if d, err := time.ParseDuration(s.QuietPeriod); err != nil || d < minQuietPeriod || d > maxQuietPeriod {
			add(at+".quietPeriod", fmt.Sprintf("%q is not a duration from 1s to 2h", s.QuietPeriod), "a Go duration such as 30s (the default, the original's StableAge) or 2m")
		}
		checkAbs(add, at+".dataDir", s.DataDir)
		checkAbs(add, at+".facilityBackupDir", s.FacilityBackupDir)
		if s.DataDir != "" && s.DataDir == s.FacilityBackupDir {
			add(at+".facilityBackupDir", "is the data folder", "keep originals apart, e.g. /data/facility-backup")
		}
	}
	c.validateObservability(add, hosts, derivedBad)
}

func checkDNS(add config.AddFunc, field, v string) bool {
	if !dnsNameRE.MatchString(v) || len(v) > 253 {
		add(field, fmt.Sprintf("%q is not a DNS name", v), "lower-case letters, digits, '-' and '.', e.g. aisedge.example.org")
		return false
	}
	return true
}

func checkAbs(add config.AddFunc, field, v string) {
	if !filepath.IsAbs(v) || filepath.Clean(v) != v {
		add(field, fmt.Sprintf("%q is not a clean absolute path", v), "an absolute folder on the node, e.g. /data/xnat-ingest")
	}
}

func (c *Config) checkFile(add config.AddFunc, field, p string) {
	if p == "" {
		return
	}
	if _, err := os.Stat(c.Path(p)); err != nil {
		add(field, fmt.Sprintf("%s cannot be read: %v", p, errors.Unwrap(err)), "point it at an existing file")
	}
}

// checkRouting loads the routing file and reports route-level profiles the
// fleet cannot ship.
func (c *Config) checkRouting(add config.AddFunc, field, p string) {
	t, err := route.Load(c.Path(p))
	if err != nil {
		add(field, err.Error(), "fix the routing file (aisedge edge reads the same file)")
		return
	}
	builtin := map[string]bool{}
	for _, b := range deidconf.BuiltinProfiles() {
		builtin[b] = true
	}
	for _, r := range t.Routes() {
		if r.Profile != "" && !builtin[r.Profile] && r.Profile != t.Defaults.DeidentificationProfileFile {
			add(field, fmt.Sprintf("the route for %q names profile %q, which is not shipped to the edge", r.CalledAET, r.Profile),
				"name a built-in profile ("+strings.Join(deidconf.BuiltinProfiles(), ", ")+") or use the site's profile")
		}
	}
}

// CheckProfile, when set, checks a site's profile (its JSON) as
// de-identification would load it. The command sets it to the
// de-identification package's parser, which deployment does not import;
// unset, a profile is only checked to be a built-in name or a readable
// file.
var CheckProfile func(profile []byte) error

func (c *Config) checkProfile(add config.AddFunc, field, p string) {
	b, err := deidconf.BuiltinProfile(p)
	if err != nil {
		if b, err = os.ReadFile(c.Path(p)); err != nil {
			add(field, fmt.Sprintf("%q is neither a built-in profile nor a readable file", p), "one of "+strings.Join(deidconf.BuiltinProfiles(), ", ")+", or a profile file")
			return
		}
	}
	if CheckProfile == nil {
		return
	}
	if err := CheckProfile(b); err != nil {
		add(field, fmt.Sprintf("profile %s is rejected: %v", p, err), "fix the profile (aisedge deid --lint FILE shows every finding); a site adopted from the original can use the built-in ais-legacy-migration")
	}
}
