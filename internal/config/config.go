// Package config owns the daemons' configuration file: one strict YAML
// document with an `edge` and a `hub` section, decoded into typed structs
// with defaults, and validated so that every problem is reported at once
// with the file, the line, the field and the fix. Secrets never live in the
// file itself: they come from the environment or from files it names.
//
// The commands import it; it imports nothing of the project's own.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is the whole configuration file.
type File struct {
	Edge *Edge `yaml:"edge"`
	Hub  *Hub  `yaml:"hub"`
}

// Edge configures `aisedge edge`.
type Edge struct {
	// Name is the edge's name in object keys, manifests and events.
	Name string `yaml:"name"`
	// DataDir holds the spool, staging, quarantine, state and the local
	// API socket (required).
	DataDir string `yaml:"dataDir"`
	// DICOM configures the C-STORE receiver.
	DICOM DICOM `yaml:"dicom"`
	// Routing is a routing file: the original routing.json (AETMap) or
	// the native form. Empty routes every called AE title to Project.
	Routing string `yaml:"routing"`
	// Project is the XNAT project of every called AE title when there is
	// no routing file.
	Project string `yaml:"project"`
	// Profile is a de-identification profile file or a built-in name.
	Profile string `yaml:"profile"`
	// FacilityBackup keeps every original at the facility.
	FacilityBackup FacilityBackup `yaml:"facilityBackup"`
	// Study configures study completion.
	Study Study `yaml:"study"`
	// S3 is where sealed sessions go, with this edge's put-only key.
	S3 S3 `yaml:"s3"`
	// HTTP serves /metrics, /healthz, /readyz and the status page.
	HTTP string `yaml:"http"`
	// Socket is the local API for `aisedge status` and `aisedge
	// quarantine` (default <dataDir>/aisedge.sock).
	Socket string `yaml:"socket"`
}

// DICOM configures the receiver.
type DICOM struct {
	// Listen is the receiver's TCP address.
	Listen string `yaml:"listen"`
	// AETitle is the receiver's own AE title.
	AETitle string `yaml:"aeTitle"`
	// MaxAssociations bounds concurrent associations; more are rejected
	// with "local limit exceeded".
	MaxAssociations int `yaml:"maxAssociations"`
	// MinFreeBytes is the disk watermark below which C-STOREs get A700.
	MinFreeBytes Size `yaml:"minFreeBytes"`
}

// FacilityBackup configures the originals' backup and its retention (the
// original system had none).
type FacilityBackup struct {
	// Dir receives the originals in the original layout
	// (<PatientID>/<StudyUID>/<SeriesUID>/<SOPUID>.dcm; required).
	Dir string `yaml:"dir"`
	// MaxAge deletes originals older than this (0 keeps them forever).
	MaxAge Duration `yaml:"maxAge"`
	// MaxBytes deletes the oldest originals beyond this size (0: no limit).
	MaxBytes Size `yaml:"maxBytes"`
}

// Study configures study completion.
type Study struct {
	// QuietPeriod: a session is complete this long after its last instance
	// (the original's StableAge).
	QuietPeriod Duration `yaml:"quietPeriod"`
	// ForceTimeout stages a session that keeps receiving once its oldest
	// pending instance is this old.
	ForceTimeout Duration `yaml:"forceTimeout"`
}

// S3 configures an S3 endpoint. Keys come from AccessKeyFile/SecretKeyFile
// or, when those are empty, from the environment variables named by
// AccessKeyEnv/SecretKeyEnv.
type S3 struct {
	// Endpoint is the S3 base URL, https://host[:port] (required).
	Endpoint string `yaml:"endpoint"`
	// Bucket holds the staged/ prefix.
	Bucket string `yaml:"bucket"`
	// Region is used for request signing only.
	Region string `yaml:"region"`
	// CAFile is a PEM bundle of the CAs trusted for the endpoint (the
	// deployment's private CA); empty means the system roots.
	CAFile string `yaml:"caFile"`
	// AccessKeyFile and SecretKeyFile hold the key pair.
	AccessKeyFile string `yaml:"accessKeyFile"`
	SecretKeyFile string `yaml:"secretKeyFile"`
	// AccessKeyEnv and SecretKeyEnv name the environment variables that
	// hold the key pair when no files are given.
	AccessKeyEnv string `yaml:"accessKeyEnv"`
	SecretKeyEnv string `yaml:"secretKeyEnv"`
	// Parallel bounds concurrent uploads (edge only; default 8).
	Parallel int `yaml:"parallel"`
}

// Hub configures `aisedge hub`.
type Hub struct {
	// DataDir holds the hub's delivery records and download area
	// (required).
	DataDir string `yaml:"dataDir"`
	// S3 is the bucket the edges seal sessions in, with a key that may
	// read and delete.
	S3 S3 `yaml:"s3"`
	// Prefix is where edges seal sessions.
	Prefix string `yaml:"prefix"`
	// XNAT is the archive.
	XNAT XNAT `yaml:"xnat"`
	// Parallel bounds sessions delivered at once.
	Parallel int `yaml:"parallel"`
	// Retain keeps delivered objects in the bucket instead of deleting
	// them.
	Retain bool `yaml:"retain"`
	// Interval is the pause between delivery rounds (longer after
	// failures, with backoff).
	Interval Duration `yaml:"interval"`
	// HTTP serves /metrics, /healthz, /readyz and the status page.
	HTTP string `yaml:"http"`
	// Socket is the local API for `aisedge status` (default
	// <dataDir>/aisedge.sock).
	Socket string `yaml:"socket"`
}

// XNAT configures the archive. Credentials come from UsernameFile and
// PasswordFile or from XNAT_USER / XNAT_PASS.
type XNAT struct {
	// URL is the XNAT base URL, https://host[/context] (required).
	URL string `yaml:"url"`
	// CAFile adds PEM CA certificates for XNAT's certificate.
	CAFile string `yaml:"caFile"`
	// UsernameFile and PasswordFile hold the XNAT account's credentials.
	UsernameFile string `yaml:"usernameFile"`
	PasswordFile string `yaml:"passwordFile"`
	// AllowInsecureRedirect permits an https → http redirect (the
	// original's XNAT_ALLOW_INSECURE_REDIRECT=1); refused otherwise.
	AllowInsecureRedirect bool `yaml:"allowInsecureRedirect"`
	// UploadMode is "archive" (one .tar.gz per resource, default) or
	// "per-file".
	UploadMode string `yaml:"uploadMode"`
}

// Duration is a time.Duration written as "30s", "2h".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration (write e.g. 30s, 15m, 2h)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Size is a byte count written as a number or with a unit: "512MiB",
// "1GiB", "10GB".
type Size int64

var sizeRE = regexp.MustCompile(`^\s*(-?[0-9]+)\s*([KMGT]i?B|B)?\s*$`)

// UnmarshalYAML parses a size.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	m := sizeRE.FindStringSubmatch(n.Value)
	if m == nil {
		return fmt.Errorf("%q is not a size (write e.g. 1073741824, 1GiB, 500MB)", n.Value)
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a size: %v", n.Value, err)
	}
	mult := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	*s = Size(v * mult)
	return nil
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	File  string
	Line  int
	Field string
	Msg   string
	Fix   string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	s := fmt.Sprintf("%s: %s: %s", loc, p.Field, p.Msg)
	if p.Fix != "" {
		s += " (fix: " + p.Fix + ")"
	}
	return s
}

// Error lists every problem found.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

// Load reads, decodes strictly, applies defaults and validates a file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(path, b)
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

// Parse decodes b (named name in messages).
func Parse(name string, b []byte) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, &Error{Problems: yamlProblems(name, err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, &Error{Problems: yamlProblems(name, err)}
	}
	if f.Edge == nil && f.Hub == nil {
		return nil, &Error{Problems: []Problem{{File: name, Field: "(file)", Msg: "neither an edge nor a hub section", Fix: "add `edge:` and/or `hub:`"}}}
	}
	lines := FieldLines(&root)
	var probs []Problem
	add := func(field, msg, fix string) {
		probs = append(probs, Problem{File: name, Line: lines[field], Field: field, Msg: msg, Fix: fix})
	}
	if f.Edge != nil {
		f.Edge.defaults()
		f.Edge.validate(add)
	}
	if f.Hub != nil {
		f.Hub.defaults()
		f.Hub.validate(add)
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return &f, &Error{Problems: probs}
	}
	return &f, nil
}

// yamlProblems turns decoder errors (which carry "line N: ...") into
// problems.
func yamlProblems(name string, err error) []Problem {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out []Problem
	for _, m := range msgs {
		p := Problem{File: name, Field: "(yaml)", Msg: m}
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = sm[2]
			if f := regexp.MustCompile(`field (\S+) not found`).FindStringSubmatch(sm[2]); f != nil {
				p.Field = f[1]
				p.Msg = "unknown field"
				p.Fix = "remove it or check its spelling and indentation"
			}
		}
		out = append(out, p)
	}
	return out
}

// FieldLines maps the field paths of a YAML document (edge.s3.endpoint,
// sites[1].name) to their line numbers, for problems that name the line.
func FieldLines(root *yaml.Node) map[string]int {
	out := map[string]int{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				out[p] = k.Line
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				out[p] = c.Line
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return out
}

func (e *Edge) defaults() {
	setStr(&e.DICOM.Listen, "0.0.0.0:4242")
	setStr(&e.DICOM.AETitle, "AISEDGE")
	if e.DICOM.MaxAssociations == 0 {
		e.DICOM.MaxAssociations = 32
	}
	if e.DICOM.MinFreeBytes == 0 {
		e.DICOM.MinFreeBytes = 1 << 30
	}
	setStr(&e.Project, "AISEDGE")
	setStr(&e.Profile, "research-default")
	if e.Study.QuietPeriod == 0 {
		e.Study.QuietPeriod = Duration(30 * time.Second)
	}
	if e.Study.ForceTimeout == 0 {
		e.Study.ForceTimeout = Duration(2 * time.Hour)
	}
	setStr(&e.HTTP, "127.0.0.1:8080")
	e.S3.defaults("AISEDGE_S3_ACCESS_KEY", "AISEDGE_S3_SECRET_KEY")
	if e.S3.Parallel == 0 {
		e.S3.Parallel = 8
	}
}

func (s *S3) defaults(akEnv, skEnv string) {
	setStr(&s.Bucket, "ingest-bucket")
	setStr(&s.Region, "us-east-1")
	setStr(&s.AccessKeyEnv, akEnv)
	setStr(&s.SecretKeyEnv, skEnv)
}

func (h *Hub) defaults() {
	h.S3.defaults("AISEDGE_S3_ACCESS_KEY", "AISEDGE_S3_SECRET_KEY")
	setStr(&h.Prefix, "staged/")
	setStr(&h.XNAT.UploadMode, "archive")
	if h.Parallel == 0 {
		h.Parallel = 2
	}
	if h.Interval == 0 {
		h.Interval = Duration(60 * time.Second)
	}
	setStr(&h.HTTP, "127.0.0.1:8081")
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

var (
	edgeNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	aetRE      = regexp.MustCompile(`^[\x20-\x5B\x5D-\x7E]{1,16}$`)
	labelRE    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

type addFunc func(field, msg, fix string)

func (e *Edge) validate(add addFunc) {
	if !edgeNameRE.MatchString(e.Name) {
		add("edge.name", fmt.Sprintf("%q is not a valid edge name", e.Name), "lower-case letters, digits and '-', like a Kubernetes cluster name (edge-a)")
	}
	if e.DataDir == "" {
		add("edge.dataDir", "missing", "set the folder for spool, state, staging and quarantine, e.g. /var/lib/aisedge")
	}
	checkHostPort(add, "edge.dicom.listen", e.DICOM.Listen)
	if !aetRE.MatchString(e.DICOM.AETitle) || strings.TrimSpace(e.DICOM.AETitle) == "" {
		add("edge.dicom.aeTitle", fmt.Sprintf("%q is not an AE title", e.DICOM.AETitle), "1-16 printable characters, no backslash")
	}
	if e.DICOM.MaxAssociations < 0 {
		add("edge.dicom.maxAssociations", "negative", "a positive number, e.g. 32")
	}
	checkFile(add, "edge.routing", e.Routing)
	if e.Routing == "" && !labelRE.MatchString(e.Project) {
		add("edge.project", fmt.Sprintf("%q is not an XNAT project ID", e.Project), "letters, digits, '_' and '-'")
	}
	if strings.ContainsAny(e.Profile, "/.") {
		checkFile(add, "edge.profile", e.Profile)
	}
	if e.FacilityBackup.Dir == "" {
		add("edge.facilityBackup.dir", "missing", "set where originals are kept at the facility (the original used /facility-backup)")
	}
	if e.FacilityBackup.MaxBytes < 0 {
		add("edge.facilityBackup.maxBytes", "negative", "0 for no size limit, or a size such as 500GiB")
	}
	if e.Study.QuietPeriod < Duration(time.Second) {
		add("edge.study.quietPeriod", "shorter than 1s", "30s is the original's StableAge")
	}
	if e.Study.ForceTimeout < e.Study.QuietPeriod {
		add("edge.study.forceTimeout", "shorter than the quiet period", "a few hours, e.g. 2h")
	}
	e.S3.validate(add, "edge.s3")
	checkHostPort(add, "edge.http", e.HTTP)
}

func (h *Hub) validate(add addFunc) {
	if h.DataDir == "" {
		add("hub.dataDir", "missing", "set the folder for the hub's state, e.g. /var/lib/aisedge-hub")
	}
	h.S3.validate(add, "hub.s3")
	if !strings.HasSuffix(h.Prefix, "/") {
		add("hub.prefix", fmt.Sprintf("%q does not end in '/'", h.Prefix), "staged/ (the original's prefix)")
	}
	u, err := url.Parse(h.XNAT.URL)
	switch {
	case h.XNAT.URL == "":
		add("hub.xnat.url", "missing", "the XNAT base URL, https://xnat.example.org")
	case err != nil || u.Host == "":
		add("hub.xnat.url", fmt.Sprintf("%q is not a URL", h.XNAT.URL), "https://xnat.example.org")
	case u.User != nil:
		add("hub.xnat.url", "carries credentials", "remove them; use usernameFile/passwordFile or XNAT_USER/XNAT_PASS")
	case u.Scheme != "https" && !h.XNAT.AllowInsecureRedirect:
		add("hub.xnat.url", "is not https", "use https (or set allowInsecureRedirect: true on a closed network, as XNAT_ALLOW_INSECURE_REDIRECT=1 did)")
	}
	checkFile(add, "hub.xnat.caFile", h.XNAT.CAFile)
	checkFile(add, "hub.xnat.usernameFile", h.XNAT.UsernameFile)
	checkFile(add, "hub.xnat.passwordFile", h.XNAT.PasswordFile)
	if h.XNAT.UploadMode != "archive" && h.XNAT.UploadMode != "per-file" {
		add("hub.xnat.uploadMode", fmt.Sprintf("%q", h.XNAT.UploadMode), "archive or per-file")
	}
	checkHostPort(add, "hub.http", h.HTTP)
}

func (s *S3) validate(add addFunc, at string) {
	u, err := url.Parse(s.Endpoint)
	switch {
	case s.Endpoint == "":
		add(at+".endpoint", "missing", "the S3 endpoint, e.g. https://seaweedfs.aisedge.local")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		add(at+".endpoint", fmt.Sprintf("%q is not an http(s) URL", s.Endpoint), "https://host[:port]")
	case u.User != nil:
		add(at+".endpoint", "carries credentials", "remove them; use accessKeyFile/secretKeyFile or the environment")
	}
	if s.Bucket == "" {
		add(at+".bucket", "missing", "ingest-bucket (the original's bucket)")
	}
	checkFile(add, at+".caFile", s.CAFile)
	checkFile(add, at+".accessKeyFile", s.AccessKeyFile)
	checkFile(add, at+".secretKeyFile", s.SecretKeyFile)
}

func checkHostPort(add addFunc, field, v string) {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		add(field, fmt.Sprintf("%q is not host:port", v), "e.g. 0.0.0.0:4242 or 127.0.0.1:8080")
	}
}

func checkFile(add addFunc, field, path string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		add(field, fmt.Sprintf("%s cannot be read: %v", path, errors.Unwrap(err)), "point it at an existing file")
	}
}

// Secret reads a credential from a file (trimmed) or an environment
// variable; what names it is returned for error messages only.
func Secret(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading secret file %s: %w", file, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("no secret: set %s or configure a file", env)
}
