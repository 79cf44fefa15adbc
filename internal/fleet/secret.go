package fleet

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/aisedge/aisedge/internal/config"
)

// Secret is a credential. The native file never holds its value: it names
// a file (`{file: path}`, trimmed) or an environment variable (`{env:
// NAME}`). The original's env files held values inline; LoadEnvDir keeps
// them in memory only. Values reach the clusters as Secrets, never argv,
// ConfigMaps or printed output.
type Secret struct {
	File string `yaml:"file,omitempty"`
	Env  string `yaml:"env,omitempty"`

	value  string // resolved value
	origin string // where the value came from, for messages
	err    error  // why it could not be resolved
}

// Value returns the resolved value ("" when unset).
func (s Secret) Value() string { return s.value }

// IsSet reports whether a value was resolved.
func (s Secret) IsSet() bool { return s.value != "" }

// Literal makes a Secret holding v, found at origin (for the env-file
// loader and tests).
func Literal(v, origin string) Secret { return Secret{value: v, origin: origin} }

// UnmarshalYAML accepts {file: …} or {env: …} and refuses inline values.
// The error is kept for validation, so that decoding goes on and every
// other problem is reported too.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		*s = Secret{err: errors.New("written inline; a secret never goes in the fleet file")}
		return nil
	}
	type plain Secret
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = Secret(p)
	if (p.File == "") == (p.Env == "") {
		s.err = errors.New("names both or neither of file and env")
	}
	return nil
}

// MarshalYAML shows where the value comes from, never the value.
func (s Secret) MarshalYAML() (any, error) {
	switch {
	case s.File != "":
		return map[string]string{"file": s.File}, nil
	case s.Env != "":
		return map[string]string{"env": s.Env}, nil
	case s.origin != "":
		return "(" + s.origin + ")", nil
	}
	return nil, nil
}

// resolve reads the value from its file (relative to dir) or environment.
func (s *Secret) resolve(path func(string) string, getenv func(string) (string, bool)) {
	switch {
	case s.err != nil:
	case s.File != "":
		b, err := os.ReadFile(path(s.File))
		if err != nil {
			s.err = err
			return
		}
		s.value, s.origin = strings.TrimSpace(string(b)), s.File
	case s.Env != "":
		if v, ok := getenv(s.Env); ok && v != "" {
			s.value, s.origin = v, "$"+s.Env
		} else {
			s.err = fmt.Errorf("$%s is not set", s.Env)
		}
	}
}

// checkSecret reports an unresolvable or missing secret; it returns true
// when the value is usable.
func (c *Config) checkSecret(add config.AddFunc, field string, s Secret, required bool) bool {
	switch {
	case s.err != nil && s.File == "" && s.Env == "":
		add(field, s.err.Error(), "write {file: PATH} (a file holding the value) or {env: NAME}")
	case s.err != nil && s.File != "" && s.Env != "":
		add(field, s.err.Error(), "keep one of file and env")
	case s.err != nil:
		add(field, fmt.Sprintf("cannot be read: %v", s.err), "create the file or set the variable (secrets never go in the fleet file)")
		return false
	case s.value == "" && required && c.fromEnvFiles:
		add(field, "missing", "set it in the env file")
	case s.value == "" && required:
		add(field, "missing", "{file: PATH} or {env: NAME} holding the value")
		return false
	}
	return s.value != ""
}

// secrets lists every Secret field of the configuration.
func (c *Config) secrets() []*Secret {
	m := &c.Management
	out := []*Secret{&m.S3.AdminAccessKey, &m.S3.AdminSecretKey, &m.XNAT.Username, &m.XNAT.Password, &m.HMACKey, &m.TLS.CloudflareAPIToken}
	o := &c.Observability
	out = append(out, &o.GrafanaAdminPassword, &o.SiteTokenKey, &o.Alerts.SMTPPassword, &o.Alerts.SlackWebhookURL)
	for i := range c.Sites {
		out = append(out, &c.Sites[i].S3AccessKey, &c.Sites[i].S3SecretKey)
	}
	return out
}
