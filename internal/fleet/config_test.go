package fleet

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/aisedge/aisedge/internal/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with the file, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// effective prints a loaded config the way `fleet config validate` does.
func effective(t *testing.T, c *Config) []byte {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var w strings.Builder
	for _, s := range c.Warnings {
		w.WriteString("# warning: " + s + "\n")
	}
	return append([]byte(w.String()), b...)
}

func TestLoadNative(t *testing.T) {
	for _, name := range []string{"onprem", "cloud", "existing", "three-sites", "observability"} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", "native", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "native", name+".effective"), effective(t, c))
		})
	}
}

func TestNativeDefaults(t *testing.T) {
	c, err := Load("testdata/native/onprem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sites[0]
	if s.APIHost != "k0s-edge-uqcai.aisedge.local" || s.KonnectivityHost != "konnect-edge-uqcai.aisedge.local" ||
		s.APIPort != 30443 || s.KonnectivityPort != 30132 {
		t.Errorf("site endpoints %s:%d %s:%d", s.APIHost, s.APIPort, s.KonnectivityHost, s.KonnectivityPort)
	}
	if got := c.Management.XNAT.Password.Value(); got != `xnat "pass" with: yaml; chars # and $HOME` {
		t.Errorf("password = %q", got)
	}
	if c.Management.SeaweedFSHostname != "seaweedfs.aisedge.local" || c.Management.S3.Bucket != "ingest-bucket" {
		t.Errorf("defaults: %+v", c.Management)
	}
}

func TestSecretFromEnv(t *testing.T) {
	t.Setenv("AISEDGE_TEST_XNAT_PASS", "from-env")
	src, err := os.ReadFile("testdata/native/onprem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(src), "password: {file: ../secrets/xnat-password}", "password: {env: AISEDGE_TEST_XNAT_PASS}", 1)
	c, err := Parse("testdata/native/x.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.Management.XNAT.Password.Value() != "from-env" {
		t.Errorf("password = %q", c.Management.XNAT.Password.Value())
	}
}

// problems returns the validation error text, one problem per line.
func problems(t *testing.T, err error) []byte {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *config.Error", err)
	}
	var b strings.Builder
	for _, p := range ce.Problems {
		b.WriteString(p.String() + "\n")
	}
	return []byte(b.String())
}

func TestInvalidNative(t *testing.T) {
	for _, name := range []string{"everything", "unknown-field", "observability"} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", "invalid", name+".yaml"))
			golden(t, filepath.Join("testdata", "invalid", name+".golden"), problems(t, err))
		})
	}
}

// Every field of the invalid file is named, not just the first.
func TestEveryProblemNamed(t *testing.T) {
	_, err := Load("testdata/invalid/everything.yaml")
	got := string(problems(t, err))
	for _, want := range []string{
		"management.mode", "management.nodeIP", "management.domain", "management.tls.acmeEmail", "management.tls.dnsProvider",
		"management.images.aisedge", "management.images.seaweedfs", "management.s3.bucket", "management.s3.adminAccessKey",
		"management.s3.adminSecretKey", "management.xnat.url", "management.xnat.password", "management.hmacKey",
		"management.k0s.storageSize", "management.hub.interval", "sites[0].name", "sites[0].nodeIP", "sites[0].project",
		"sites[0].profile", "sites[0].apiPort", "sites[1].apiHost", "sites[1].konnectivityPort", "sites[1].dataDir",
		"sites[1].quietPeriod", "sites[2].name", "sites[2].quietPeriod", "sites[2].project", "sites[2].apiPort",
	} {
		if !strings.Contains(got, ": "+want+": ") {
			t.Errorf("no problem for %s in\n%s", want, got)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "testdata/invalid/everything.yaml:") || !strings.Contains(line, "(fix: ") {
			t.Errorf("problem without file:line or fix: %s", line)
		}
	}
}

func TestLoadEnvDir(t *testing.T) {
	env := func(n string) (string, bool) {
		if n == "HOME" {
			return "/home/op", true
		}
		return "", false
	}
	c, err := LoadEnvDir("testdata/legacy/config", env)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/legacy/effective", effective(t, c))
	if len(c.Sites) != 2 {
		t.Fatalf("sites %d", len(c.Sites))
	}
	a, b := c.Sites[0], c.Sites[1]
	if a.Project != "UQCAI" || a.S3AccessKey.Value() != "edge-uqcai-key" || a.S3SecretKey.Value() != "uqcai-secret-0001" || a.SSH.Key != "/home/op/.ssh/id_ed25519" {
		t.Errorf("7-field entry: %+v", a)
	}
	if b.Project != "" || b.S3AccessKey.Value() != "edge-usyd-key" || b.S3SecretKey.Value() != "usyd-secret-0002" || b.SSH.Key != "" {
		t.Errorf("6-field entry: %+v", b)
	}
	// The first site keeps the original's shared names; the second gets
	// its own.
	if a.APIHost != "k0s.aisedge.local" || a.KonnectivityHost != "konnect.aisedge.local" || a.APIPort != 30443 || a.KonnectivityPort != 30132 {
		t.Errorf("first site endpoints: %+v", a)
	}
	if b.APIHost != "k0s-edge-usyd.aisedge.local" || b.KonnectivityHost != "konnect-edge-usyd.aisedge.local" || b.APIPort != 30444 || b.KonnectivityPort != 30133 {
		t.Errorf("second site endpoints: %+v", b)
	}
	if c.Management.XNAT.Password.Value() != "p@ss: word #1" || c.Management.S3.AdminSecretKey.Value() != `s3cr3t-admin-"key"` {
		t.Error("secrets not read verbatim")
	}
	if c.Legacy["SITE_CONTACT"] != "imaging-ops@example.org" {
		t.Errorf("unknown variables not kept: %v", c.Legacy)
	}
	// ALERT_EMAIL_TO is empty: the stack is skipped, as the original's
	// installer skipped it.
	if c.Observability.Enabled {
		t.Error("observability enabled without ALERT_EMAIL_TO")
	}
}

// The same installation described natively and by the env files loads to
// the same sites (modulo where secrets come from).
func TestEnvDirRefusesCommands(t *testing.T) {
	_, err := LoadEnvDir("testdata/legacy-invalid/config", nil)
	golden(t, "testdata/legacy-invalid/golden", problems(t, err))
}

func TestEnvDirProblems(t *testing.T) {
	_, err := LoadEnvDir("testdata/legacy-problems/config", nil)
	golden(t, "testdata/legacy-problems/golden", problems(t, err))
}

// The shipped example is valid but for its secret files, which a real
// installation creates, and its image, which is a placeholder (the
// all-zero digest) until the operator pins the one they built.
func TestDeployExample(t *testing.T) {
	_, err := Load("../../deploy/fleet/fleet.example.yaml")
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	secrets, placeholder := 0, 0
	for _, p := range ce.Problems {
		switch {
		case strings.Contains(p.Msg, "cannot be read") && strings.Contains(p.Msg, "secrets/"):
			secrets++
		case p.Field == "management.images.aisedge" && p.Msg == zeroDigestMsg:
			placeholder++
		default:
			t.Errorf("unexpected problem: %s", p)
		}
	}
	if secrets != 11 || placeholder != 1 {
		t.Errorf("%d secret-file problems and %d placeholder image, want 11 and 1", secrets, placeholder)
	}
}

// An unset observability section is disabled and adds nothing to a fleet
// file's effective configuration.
func TestObservabilityDisabledByDefault(t *testing.T) {
	c, err := Load("testdata/native/onprem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Observability.Enabled {
		t.Fatal("enabled by default")
	}
	if strings.Contains(string(effective(t, c)), "observability") {
		t.Error("a disabled section shows in the effective configuration")
	}
}

// Every field of the observability section is checked when enabled, each
// problem with its line and a fix.
func TestObservabilityProblems(t *testing.T) {
	_, err := Load("testdata/invalid/observability.yaml")
	got := string(problems(t, err))
	for _, want := range []string{
		"observability.grafanaHostname", "observability.lokiHostname", "observability.logsBucket", "observability.retention",
		"observability.storageSize", "observability.grafanaAdminPassword", "observability.alerts.emailTo[0]",
		"observability.alerts.smtpSmarthost", "observability.alerts.smtpPassword", "observability.alerts.slackWebhookURL",
		"observability.alerts.slack", "observability.images.vector",
	} {
		if !strings.Contains(got, ": "+want+": ") {
			t.Errorf("no problem for %s in\n%s", want, got)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "testdata/invalid/observability.yaml:") || !strings.Contains(line, "(fix: ") {
			t.Errorf("problem without file:line or fix: %s", line)
		}
	}
}

// copyEnvDir copies the legacy fixture to a temporary config/ folder with
// management.env changed by edit.
func copyEnvDir(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config")
	if err := os.CopyFS(dir, os.DirFS("testdata/legacy/config")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, ManagementEnv)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(edit(string(b))), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// With ALERT_EMAIL_TO set, the original's variables configure the stack;
// a malformed one is named with its file and line.
func TestEnvDirObservability(t *testing.T) {
	dir := copyEnvDir(t, func(s string) string {
		return strings.Replace(s, `export ALERT_EMAIL_TO=""`, `export ALERT_EMAIL_TO="ops@example.org, oncall@example.org"
export ALERT_EMAIL_FROM="aisedge@example.org"
export SMTP_SMARTHOST="smtp.example.org:587"
export SMTP_USERNAME="aisedge"
export SMTP_PASSWORD="relay-secret"
export SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T/B/X"`, 1)
	})
	c, err := LoadEnvDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Observability
	if !o.Enabled || strings.Join(o.Alerts.EmailTo, ",") != "ops@example.org,oncall@example.org" || o.Alerts.SMTPSmarthost != "smtp.example.org:587" ||
		o.Alerts.SMTPPassword.Value() != "relay-secret" || o.Alerts.SlackWebhookURL.Value() == "" || o.Retention != "30d" ||
		o.LogsBucket != "logs-bucket" || o.GrafanaHostname != "grafana.aisedge.local" || o.Images.Vector != DefaultVectorImage {
		t.Errorf("observability from management.env: %+v", o)
	}
	var placeholder bool
	for _, w := range c.Warnings {
		placeholder = placeholder || strings.Contains(w, "GRAFANA_ADMIN_PASSWORD is still the template's placeholder")
	}
	if !placeholder {
		t.Errorf("no warning about the Grafana placeholder password: %v", c.Warnings)
	}

	dir = copyEnvDir(t, func(s string) string {
		s = strings.Replace(s, `export ALERT_EMAIL_TO=""`, `export ALERT_EMAIL_TO="not-an-address"`, 1)
		return strings.Replace(s, `OBSERVABILITY_RETENTION_DAYS="30"`, `OBSERVABILITY_RETENTION_DAYS="a month"`, 1)
	})
	_, err = LoadEnvDir(dir, nil)
	got := string(problems(t, err))
	for _, want := range []string{
		"management.env:57: OBSERVABILITY_RETENTION_DAYS: not a number of days",
		"management.env:59: ALERT_EMAIL_TO: \"not-an-address\" is not an e-mail address",
		"management.env: SMTP_SMARTHOST: missing",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
}

// An image pinned to the all-zero digest is a template's placeholder: it
// is refused by name, wherever it is.
func TestZeroDigestRefused(t *testing.T) {
	zero := "@sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		field string
		set   func(c *Config)
	}{
		{"management.images.aisedge", func(c *Config) { c.Management.Images.AISEdge = "registry.example/aisedge" + zero }},
		{"management.images.seaweedfs", func(c *Config) { c.Management.Images.SeaweedFS = "chrislusf/seaweedfs:3.99" + zero }},
		{"management.images.etcd", func(c *Config) { c.Management.Images.Etcd = "quay.io/coreos/etcd" + zero }},
		{"observability.images.vector", func(c *Config) { c.Observability.Images.Vector = "timberio/vector:0.43.1-alpine" + zero }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c, err := Load("testdata/native/observability.yaml")
			if err != nil {
				t.Fatal(err)
			}
			tc.set(c)
			got := string(problems(t, c.Validate()))
			if !strings.Contains(got, tc.field+": "+zeroDigestMsg) {
				t.Errorf("no zero-digest problem for %s in\n%s", tc.field, got)
			}
		})
	}
	// A real digest passes.
	c, err := Load("testdata/native/observability.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Management.Images.AISEdge = "registry.example/aisedge@sha256:" + strings.Repeat("0", 63) + "1"
	if err := c.Validate(); err != nil {
		t.Errorf("a non-zero digest is refused: %v", err)
	}
}
