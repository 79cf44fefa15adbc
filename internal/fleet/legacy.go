package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/fleet/envfile"
)

// The original installer's files inside its config/ folder.
const (
	ManagementEnv = "management.env"
	EdgeNodesEnv  = "edge-nodes.env"
	RoutingJSON   = "orthanc/routing.json"
	ProfileJSON   = "orthanc/deidentification-profile.json"
	// CABundle is the CA the original exported next to config/.
	CABundle = "ais-edge-ca.crt"
)

// management.env variables and the native fields they fill.
var mgmtVars = []struct{ env, field string }{
	{"MGMT_NODE_IP", "management.nodeIP"},
	{"INSTALL_TOPOLOGY", "management.topology"},
	{"INSTALL_MODE", "management.mode"},
	{"INTERNAL_DOMAIN", "management.domain"},
	{"INGRESS_PORT", "management.ingressPort"},
	{"SEAWEEDFS_HOSTNAME", "management.seaweedfsHostname"},
	{"CLOUD_PROVIDER", "management.cloud.provider"},
	{"LB_PUBLIC_IP", "management.cloud.loadBalancerIP"},
	{"CERT_ISSUER", "management.tls.issuer"},
	{"ACME_EMAIL", "management.tls.acmeEmail"},
	{"DNS_PROVIDER", "management.tls.dnsProvider"},
	{"CLOUDFLARE_API_TOKEN", "management.tls.cloudflareAPIToken"},
	{"AWS_ROUTE53_HOSTED_ZONE_ID", "management.tls.route53HostedZoneID"},
	{"S3_BUCKET", "management.s3.bucket"},
	{"S3_ADMIN_ACCESS_KEY", "management.s3.adminAccessKey"},
	{"S3_ADMIN_SECRET_KEY", "management.s3.adminSecretKey"},
	{"XNAT_URL", "management.xnat.url"},
	{"XNAT_USER", "management.xnat.username"},
	{"XNAT_PASS", "management.xnat.password"},
	{"XNAT_ALLOW_INSECURE_REDIRECT", "management.xnat.allowInsecureRedirect"},
	{"AIS_DEID_HMAC_SALT", "management.hmacKey"},
	// Added by aisedge: the original had no image of its own.
	{"AISEDGE_IMAGE", "management.images.aisedge"},
	{"AISEDGE_STORAGE_CLASS", "management.storageClass"},
	// The optional observability stack (the original's step 02d), which
	// is installed when ALERT_EMAIL_TO is set.
	{"ALERT_EMAIL_TO", "observability.alerts.emailTo"},
	{"ALERT_EMAIL_FROM", "observability.alerts.emailFrom"},
	{"SMTP_SMARTHOST", "observability.alerts.smtpSmarthost"},
	{"SMTP_USERNAME", "observability.alerts.smtpUsername"},
	{"SMTP_PASSWORD", "observability.alerts.smtpPassword"},
	{"SMTP_REQUIRE_TLS", "observability.alerts.smtpRequireTLS"},
	{"SLACK_WEBHOOK_URL", "observability.alerts.slackWebhookURL"},
	{"GRAFANA_HOSTNAME", "observability.grafanaHostname"},
	{"LOKI_HOSTNAME", "observability.lokiHostname"},
	{"GRAFANA_ADMIN_USER", "observability.grafanaAdminUser"},
	{"GRAFANA_ADMIN_PASSWORD", "observability.grafanaAdminPassword"},
	{"OBSERVABILITY_RETENTION_DAYS", "observability.retention"},
	{"LOGS_BUCKET", "observability.logsBucket"},
	// Per-site in aisedge; the original's values become the first site's.
	{"K0S_API_HOSTNAME", "sites[0].apiHost"},
	{"KONNECTIVITY_HOSTNAME", "sites[0].konnectivityHost"},
}

// Variables the original read that aisedge does not, and why.
var ignoredVars = map[string]string{
	"S3_NODEPORT": "legacy NodePorts, unused by the original too", "MASTER_NODEPORT": "legacy NodePorts, unused by the original too",
	"FILER_NODEPORT":    "legacy NodePorts, unused by the original too",
	"XNAT_INGEST_IMAGE": "aisedge replaces xnat-ingest, mc and Orthanc", "ORTHANC_IMAGE": "aisedge replaces xnat-ingest, mc and Orthanc",
	"CLOUD_CREDENTIALS_FILE": "the cloud controller is not installed by aisedge fleet (steps 00a/01b)",
	"LB_SUBNET_ID":           "", "LB_FLOATING_NETWORK_ID": "", "LB_AVAILABILITY_ZONE": "", // become Service annotations
	"PRECREATE_LB": "the cloud controller is not installed by aisedge fleet (steps 00a/01b)", "OCCM_CLUSTER_NAME": "the cloud controller is not installed by aisedge fleet (steps 00a/01b)",
	"INGEST_LOOP_SECONDS": "aisedge uploads each session as it completes", "INGEST_WAIT_PERIOD": "aisedge uploads each session as it completes",
}

// Other observability variables of the original, not used by fleet.
var observabilityPrefixes = []string{"GRAFANA_", "LOKI_", "LOGS_BUCKET", "ALERT_", "OBSERVABILITY_"}

// Fork-only variables of edge-nodes.env (stebo85/ais-edge).
var forkPrefixes = []string{"EDGE_ORTHANC_", "EDGE_JOIN_MODE", "AIS_EDGE_NO_SSH", "EDGE_AUTO_IMPORT_", "S3_UPLOAD_"}

// LoadEnvDir reads an existing installation's config/ folder:
// management.env, edge-nodes.env and, when present, orthanc/routing.json
// and orthanc/deidentification-profile.json (and ../ais-edge-ca.crt). The
// env files are parsed, never run; $(…) and backticks are refused. env
// resolves variables the files read but do not set (bash would take them
// from the environment); nil means none. Unknown variables are kept in
// Config.Legacy with a warning. Problems are reported against the env
// files' lines and variable names.
func LoadEnvDir(dir string, env envfile.Lookup) (*Config, error) {
	l := &envLoad{dir: dir, env: env, mpath: filepath.Join(dir, ManagementEnv), epath: filepath.Join(dir, EdgeNodesEnv),
		bad: map[int]bool{}, fieldVar: map[string]string{}}
	if err := l.read(); err != nil {
		return nil, err
	}
	l.c = &Config{Dir: filepath.Dir(filepath.Clean(dir)), Legacy: map[string]string{}, fromEnvFiles: true}
	for _, f := range []*envfile.File{l.mf, l.ef} {
		for _, w := range f.Warnings {
			l.c.Warnings = append(l.c.Warnings, w.String())
		}
	}
	for _, mv := range mgmtVars {
		l.fieldVar[mv.field] = mv.env
	}
	l.management()
	l.edgeNodes()
	l.keepOthers()
	l.c.loc = l.locate
	l.c.defaults()
	return l.c, l.problems()
}

// envLoad is LoadEnvDir's work in stages: read the two files, take
// management.env's variables, the sites of EDGE_NODES, keep the other
// variables with a warning, then report every problem against the line of
// the env file it comes from.
type envLoad struct {
	dir, mpath, epath string
	env               envfile.Lookup
	mf, ef            *envfile.File
	c                 *Config
	fieldVar          map[string]string // fleet field → management.env variable
	sites             []siteLoc         // EDGE_NODES entry of each site
	bad               map[int]bool      // malformed entries, reported once
	probs             []config.Problem  // found while reading
	badPort           bool
	badObs            []string
}

// siteLoc is where a site's EDGE_NODES entry is, and how many fields it has.
type siteLoc struct {
	line   int
	fields int
}

// read parses management.env and then edge-nodes.env (which, as in
// install.sh, sees management.env's variables).
func (l *envLoad) read() error {
	var parseErrs []config.Problem
	read := func(p string) *envfile.File {
		f, err := envfile.ReadFile(p, l.env)
		var pe *envfile.Error
		switch {
		case errors.As(err, &pe):
			for _, is := range pe.Issues {
				parseErrs = append(parseErrs, config.Problem{File: is.File, Line: is.Line, Field: "(syntax)", Msg: is.Msg,
					Fix: "write plain NAME=\"value\" assignments; the file is read, never run"})
			}
		case err != nil:
			parseErrs = append(parseErrs, config.Problem{File: p, Field: "(file)", Msg: err.Error(), Fix: "copy it from its .template and fill it in"})
		}
		return f
	}
	l.mf, l.ef = read(l.mpath), read(l.epath)
	if len(parseErrs) > 0 {
		return &config.Error{Problems: parseErrs}
	}
	// install.sh sources management.env first, so edge-nodes.env sees its
	// variables.
	if ef2, err := envfile.ReadFile(l.epath, func(n string) (string, bool) {
		if v, ok := l.mf.Get(n); ok {
			return v, true
		}
		if l.env != nil {
			return l.env(n)
		}
		return "", false
	}); err == nil {
		l.ef = ef2
	}
	return nil
}

// get is a management.env variable ("" when unset).
func (l *envLoad) get(n string) string { v, _ := l.mf.Get(n); return v }

// management takes the management cluster's settings from management.env.
func (l *envLoad) management() {
	c, get := l.c, l.get
	m := &c.Management
	secret := func(n string) Secret {
		if v := get(n); v != "" {
			return Literal(v, ManagementEnv+" "+n)
		}
		return Secret{}
	}
	m.NodeIP = get("MGMT_NODE_IP")
	m.Topology = get("INSTALL_TOPOLOGY")
	m.Mode = get("INSTALL_MODE")
	m.Domain = get("INTERNAL_DOMAIN")
	m.SeaweedFSHostname = get("SEAWEEDFS_HOSTNAME")
	if v := get("INGRESS_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		m.IngressPort, l.badPort = p, err != nil
	}
	m.Cloud.Provider = get("CLOUD_PROVIDER")
	m.Cloud.LoadBalancerIP = get("LB_PUBLIC_IP")
	for v, ann := range map[string]string{
		"LB_SUBNET_ID":           "loadbalancer.openstack.org/subnet-id",
		"LB_FLOATING_NETWORK_ID": "loadbalancer.openstack.org/floating-network-id",
		"LB_AVAILABILITY_ZONE":   "loadbalancer.openstack.org/availability-zone",
	} {
		if val := get(v); val != "" {
			if m.Cloud.ServiceAnnotations == nil {
				m.Cloud.ServiceAnnotations = map[string]string{}
			}
			m.Cloud.ServiceAnnotations[ann] = val
		}
	}
	m.TLS.Issuer = get("CERT_ISSUER")
	m.TLS.ACMEEmail = get("ACME_EMAIL")
	m.TLS.DNSProvider = get("DNS_PROVIDER")
	m.TLS.CloudflareAPIToken = secret("CLOUDFLARE_API_TOKEN")
	m.TLS.Route53HostedZoneID = get("AWS_ROUTE53_HOSTED_ZONE_ID")
	if _, err := os.Stat(filepath.Join(c.Dir, CABundle)); err == nil {
		m.TLS.CABundleFile = CABundle
	}
	m.Images.AISEdge = get("AISEDGE_IMAGE")
	m.StorageClass = get("AISEDGE_STORAGE_CLASS")
	m.S3.Bucket = get("S3_BUCKET")
	m.S3.AdminAccessKey = secret("S3_ADMIN_ACCESS_KEY")
	m.S3.AdminSecretKey = secret("S3_ADMIN_SECRET_KEY")
	m.XNAT.URL = get("XNAT_URL")
	m.XNAT.Username = secret("XNAT_USER")
	m.XNAT.Password = secret("XNAT_PASS")
	m.XNAT.AllowInsecureRedirect = get("XNAT_ALLOW_INSECURE_REDIRECT") == "1"
	m.HMACKey = secret("AIS_DEID_HMAC_SALT")
	l.badObs = loadObservability(c, get, secret)
	for _, n := range []string{"S3_ADMIN_SECRET_KEY", "XNAT_PASS", "GRAFANA_ADMIN_PASSWORD"} {
		if strings.Contains(get(n), "change-me") && (n != "GRAFANA_ADMIN_PASSWORD" || c.Observability.Enabled) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%d: %s is still the template's placeholder; set a real secret", l.mpath, l.mf.Vars[n].Line, n))
		}
	}
}

// edgeNodes makes a site of each EDGE_NODES entry.
func (l *envLoad) edgeNodes() {
	c, get := l.c, l.get
	nodes, ok := l.ef.Vars["EDGE_NODES"]
	switch {
	case !ok:
		l.probs = append(l.probs, config.Problem{File: l.epath, Field: "EDGE_NODES", Msg: "not set",
			Fix: `EDGE_NODES=( "CLUSTER_NAME|NODE_IP|SSH_USER|SSH_KEY|PROJECT_ID|S3_ACCESS_KEY|S3_SECRET_KEY" )`})
	case !nodes.IsArray:
		l.probs = append(l.probs, config.Problem{File: l.epath, Line: nodes.Line, Field: "EDGE_NODES", Msg: "is not an array",
			Fix: `EDGE_NODES=( "entry" "entry" )`})
	}
	home, _ := os.UserHomeDir()
	if l.env != nil {
		if h, ok := l.env("HOME"); ok {
			home = h
		}
	}
	_, routingErr := os.Stat(filepath.Join(l.dir, RoutingJSON))
	_, profileErr := os.Stat(filepath.Join(l.dir, ProfileJSON))
	if nodes != nil && nodes.IsArray {
		for i, e := range nodes.Array {
			line := nodes.Line
			if i < len(nodes.Lines) {
				line = nodes.Lines[i]
			}
			f := strings.Split(e, "|")
			field := fmt.Sprintf("EDGE_NODES[%d]", i)
			if len(f) != 7 && len(f) != 6 {
				l.probs = append(l.probs, config.Problem{File: l.epath, Line: line, Field: field,
					Msg: fmt.Sprintf("has %d fields", len(f)),
					Fix: "CLUSTER_NAME|NODE_IP|SSH_USER|SSH_KEY|PROJECT_ID|S3_ACCESS_KEY|S3_SECRET_KEY (7) or the same without PROJECT_ID (6)"})
				l.sites = append(l.sites, siteLoc{line, len(f)})
				c.Sites = append(c.Sites, Site{})
				l.bad[i] = true
				continue
			}
			s := Site{Name: f[0], NodeIP: f[1], SSH: SSH{User: f[2], Key: f[3]}}
			k := 4
			if len(f) == 7 {
				s.Project = f[4]
				k = 5
			}
			origin := func(n string) string { return fmt.Sprintf("%s %s %s", EdgeNodesEnv, field, n) }
			if f[k] != "" {
				s.S3AccessKey = Literal(f[k], origin("S3_ACCESS_KEY"))
			}
			if f[k+1] != "" {
				s.S3SecretKey = Literal(f[k+1], origin("S3_SECRET_KEY"))
			}
			if strings.HasPrefix(s.SSH.Key, "~/") && home != "" {
				s.SSH.Key = filepath.Join(home, s.SSH.Key[2:])
			}
			if routingErr == nil {
				s.Routing = filepath.Join(filepath.Base(l.dir), RoutingJSON)
			}
			if profileErr == nil {
				s.Profile = filepath.Join(filepath.Base(l.dir), ProfileJSON)
			}
			if i == 0 {
				// The first site keeps the original's shared names and
				// ports, so an existing edge keeps working.
				domain := get("INTERNAL_DOMAIN")
				if domain == "" {
					domain = DefaultDomain
				}
				s.APIHost, s.KonnectivityHost = get("K0S_API_HOSTNAME"), get("KONNECTIVITY_HOSTNAME")
				config.SetDefault(&s.APIHost, "k0s."+domain)
				config.SetDefault(&s.KonnectivityHost, "konnect."+domain)
				s.APIPort, s.KonnectivityPort = DefaultAPIPort, DefaultKonnPort
			} else {
				s.APIPort, s.KonnectivityPort = DefaultAPIPort+i, DefaultKonnPort+i
			}
			c.Sites = append(c.Sites, s)
			l.sites = append(l.sites, siteLoc{line, len(f)})
		}
		if len(nodes.Array) > 1 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: sites after the first get k0s-<site>/konnect-<site> hostnames and NodePorts by position (%d+i, %d+i); "+
				"reordering EDGE_NODES would move them: convert to a fleet file to pin them", l.epath, DefaultAPIPort, DefaultKonnPort))
		}
	}
}

// keepOthers keeps every variable aisedge does not read in c.Legacy, with
// a warning naming it.
func (l *envLoad) keepOthers() {
	c := l.c
	known := map[string]bool{"EDGE_NODES": true}
	for _, mv := range mgmtVars {
		known[mv.env] = true
	}
	for _, f := range []*envfile.File{l.mf, l.ef} {
		var ignored, obs, fork, unknown []string
		for _, n := range f.Order {
			if known[n] {
				continue
			}
			c.Legacy[n] = f.Vars[n].Value
			v := f.Vars[n]
			switch reason, ok := ignoredVars[n]; {
			case ok:
				if reason != "" && v.Value != "" {
					ignored = append(ignored, n+" ("+reason+")")
				}
			case hasPrefix(n, observabilityPrefixes):
				obs = append(obs, n)
			case hasPrefix(n, forkPrefixes):
				fork = append(fork, n)
			default:
				unknown = append(unknown, fmt.Sprintf("%s (line %d)", n, v.Line))
			}
		}
		if len(ignored) > 0 {
			c.Warnings = append(c.Warnings, f.Name+": not used by aisedge: "+strings.Join(ignored, ", "))
		}
		if len(obs) > 0 {
			c.Warnings = append(c.Warnings, f.Name+": observability variables aisedge fleet does not use: "+strings.Join(obs, ", "))
		}
		if len(fork) > 0 {
			c.Warnings = append(c.Warnings, f.Name+": variables of the stebo85 fork, read but not used: "+strings.Join(fork, ", "))
		}
		if len(unknown) > 0 {
			c.Warnings = append(c.Warnings, f.Name+": unknown variables, kept but not used: "+strings.Join(unknown, ", "))
		}
	}
}

// locate reports a problem of a fleet field against the env file, line and
// variable it comes from.
func (l *envLoad) locate(field string) (string, int, string) {

	if v, ok := l.fieldVar[field]; ok {
		if !strings.HasPrefix(field, "sites[") {
			line := 0
			if x, ok := l.mf.Vars[v]; ok {
				line = x.Line
			}
			return l.mpath, line, v
		}
		// sites[0] hostnames come from management.env when set.
		if x, ok := l.mf.Vars[v]; ok {
			return l.mpath, x.Line, v
		}
	}
	if strings.HasPrefix(field, "observability.alerts.emailTo[") {
		return l.mpath, l.mf.Vars["ALERT_EMAIL_TO"].Line, "ALERT_EMAIL_TO"
	}
	if strings.HasPrefix(field, "management.") || strings.HasPrefix(field, "observability.") {
		return l.mpath, 0, field
	}
	var i int
	var rest string
	if n, _ := fmt.Sscanf(field, "sites[%d]", &i); n == 1 && i < len(l.sites) {
		if j := strings.Index(field, "]."); j > 0 {
			rest = field[j+2:]
		}
		name := fmt.Sprintf("EDGE_NODES[%d]", i)
		off := 0
		if l.sites[i].fields == 6 {
			off = -1
		}
		switch rest {
		case "name":
			name += " CLUSTER_NAME (field 1)"
		case "nodeIP":
			name += " NODE_IP (field 2)"
		case "project":
			name += " PROJECT_ID (field 5)"
		case "s3AccessKey":
			name += fmt.Sprintf(" S3_ACCESS_KEY (field %d)", 6+off)
		case "s3SecretKey":
			name += fmt.Sprintf(" S3_SECRET_KEY (field %d)", 7+off)
		case "routing":
			return filepath.Join(l.dir, RoutingJSON), 0, "(file)"
		case "profile":
			return filepath.Join(l.dir, ProfileJSON), 0, "(file)"
		case "":
		default:
			name += " (" + rest + ")"
		}
		return l.epath, l.sites[i].line, name
	}
	return l.epath, 0, field
}

// problems gathers what reading found and what validation finds, sorted
// by file and line.
func (l *envLoad) problems() error {
	probs := l.probs
	for _, n := range l.badObs {
		probs = append(probs, config.Problem{File: l.mpath, Line: l.mf.Vars[n].Line, Field: n, Msg: "not a number of days", Fix: "e.g. 30"})
	}
	if l.badPort {
		probs = append(probs, config.Problem{File: l.mpath, Line: l.mf.Vars["INGRESS_PORT"].Line, Field: "INGRESS_PORT", Msg: "not a number", Fix: "443"})
	}
	if err := l.c.Validate(); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				var i int
				if n, _ := fmt.Sscanf(p.Field, "EDGE_NODES[%d]", &i); n == 1 && l.bad[i] {
					continue
				}
				probs = append(probs, p)
			}
		}
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool {
			if probs[i].File != probs[j].File {
				return probs[i].File < probs[j].File
			}
			return probs[i].Line < probs[j].Line
		})
		return &config.Error{Problems: probs}
	}
	return nil
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// loadObservability fills the observability section from management.env:
// the stack is enabled when ALERT_EMAIL_TO is set, as the original's
// installer skipped its step 02d otherwise. It returns the variables whose
// value is malformed.
func loadObservability(c *Config, get func(string) string, secret func(string) Secret) (bad []string) {
	o := &c.Observability
	for _, a := range strings.Split(get("ALERT_EMAIL_TO"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.Alerts.EmailTo = append(o.Alerts.EmailTo, a)
		}
	}
	o.Enabled = len(o.Alerts.EmailTo) > 0
	o.Alerts.EmailFrom = get("ALERT_EMAIL_FROM")
	o.Alerts.SMTPSmarthost = get("SMTP_SMARTHOST")
	o.Alerts.SMTPUsername = get("SMTP_USERNAME")
	o.Alerts.SMTPPassword = secret("SMTP_PASSWORD")
	if v := get("SMTP_REQUIRE_TLS"); v != "" {
		t := v != "0" && !strings.EqualFold(v, "false")
		o.Alerts.SMTPRequireTLS = &t
	}
	o.Alerts.SlackWebhookURL = secret("SLACK_WEBHOOK_URL")
	o.GrafanaHostname = get("GRAFANA_HOSTNAME")
	o.LokiHostname = get("LOKI_HOSTNAME")
	o.GrafanaAdminUser = get("GRAFANA_ADMIN_USER")
	o.GrafanaAdminPassword = secret("GRAFANA_ADMIN_PASSWORD")
	o.LogsBucket = get("LOGS_BUCKET")
	if v := get("OBSERVABILITY_RETENTION_DAYS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			o.Retention = strconv.Itoa(n) + "d"
		} else if o.Enabled {
			bad = append(bad, "OBSERVABILITY_RETENTION_DAYS")
			o.Retention = DefaultRetention // reported once, as the variable
		}
	}
	return bad
}
