// Package config owns the daemons' configuration file: one strict YAML
// document with an `edge` and a `hub` section, decoded into typed structs
// with defaults, and validated so that every problem is reported at once
// with the file, the line, the field and the fix. Secrets never live in the
// file itself: they come from the environment or from files it names.
//
// Parse checks the file on its own: syntax, unknown and repeated fields,
// types (sizes, durations, whole numbers, true/false only: the YAML 1.1
// yes/no/on/off are refused since tools read them differently), value
// ranges and fields that need each other. What depends on the machine
// (secrets, profiles, folders) is checked by the commands at start and by
// `aisedge config validate`, which report through File.Problem.
//
// The commands import it; of the project's own packages it imports only
// internal/fsperm (key files).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aisedge/aisedge/internal/fsperm"
)

// File is the whole configuration file.
type File struct {
	Edge *Edge `yaml:"edge"`
	Hub  *Hub  `yaml:"hub"`

	name  string
	lines map[string]int
}

// Edge configures `aisedge edge`.
type Edge struct {
	// Name is the edge's name in object keys, manifests and events.
	Name string `yaml:"name"`
	// DataDir holds the spool, staging, quarantine, state and the local
	// API socket (required). It must belong to the daemon's user and not
	// be group- or world-writable; a missing one is created 0750.
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
	// DeidKeyFile holds the de-identification key (64 hex digits; 0600
	// and the daemon's, or root:<its group> 0440/0640 as a Kubernetes
	// Secret volume). Without it the key comes from the file named by
	// $AIS_DEID_HMAC_SALT_FILE or from $AIS_DEID_HMAC_SALT.
	DeidKeyFile string `yaml:"deidKeyFile"`
	// FacilityBackup keeps every original at the facility.
	FacilityBackup FacilityBackup `yaml:"facilityBackup"`
	// Study configures study completion.
	Study Study `yaml:"study"`
	// S3 is where sealed sessions go, with this edge's put-only key.
	S3 S3 `yaml:"s3"`
	// HTTP serves /metrics, /healthz, /readyz, /api/status and the status
	// page (read-only).
	HTTP string `yaml:"http"`
	// HTTPActions also serves the operator actions on the http address.
	HTTPActions HTTPActions `yaml:"httpActions"`
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
	// MinFreeBytes is the disk watermark below which C-STOREs get A700
	// (-1 turns the check off).
	MinFreeBytes Size `yaml:"minFreeBytes"`
	// MaxAssociationsPerSource bounds the associations of one sender
	// (an IPv4 address or IPv6 /64; default a quarter of
	// maxAssociations), so that one host cannot take every slot.
	MaxAssociationsPerSource int `yaml:"maxAssociationsPerSource"`
	// IdleTimeout ends an association that sends nothing between
	// messages for this long (default 30s).
	IdleTimeout Duration `yaml:"idleTimeout"`
	// MinRate is the slowest a message may arrive, in bytes per second
	// averaged over 20 s of waiting for the sender (default 8KiB); a
	// slower one is aborted and its partial data deleted.
	MinRate Size `yaml:"minRate"`
}

// FacilityBackup configures the originals' backup and its retention (the
// original system had none).
type FacilityBackup struct {
	// Dir receives the originals in the original layout
	// (<PatientID>/<StudyUID>/<SeriesUID>/<SOPUID>.dcm; required). It must
	// belong to the daemon's user and not be group- or world-writable; a
	// missing one is created 0700.
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
	// AccessKeyFile and SecretKeyFile hold the key pair (both or neither;
	// mode 0600 and owned by the daemon's user).
	AccessKeyFile string `yaml:"accessKeyFile"`
	SecretKeyFile string `yaml:"secretKeyFile"`
	// AccessKeyEnv and SecretKeyEnv name the environment variables that
	// hold the key pair when no files are given.
	AccessKeyEnv string `yaml:"accessKeyEnv"`
	SecretKeyEnv string `yaml:"secretKeyEnv"`
	// Parallel bounds concurrent uploads (edge only; default 8).
	Parallel int `yaml:"parallel"`
}

// HTTPActions configures the operator actions (quarantine-requeue,
// deadletter-requeue) on the TCP http address. By default they are served
// only on the local socket, for the CLI on the same machine.
type HTTPActions struct {
	// Enabled serves POST /api/{action}/{id} on the http address, to
	// requests with the bearer token from TokenFile, a Host header that is
	// an IP address, localhost or one of AllowedHosts, and not from
	// another site's page.
	Enabled bool `yaml:"enabled"`
	// TokenFile holds the bearer token (at least 32 characters, e.g.
	// `openssl rand -hex 32`; mode 0600 and owned by the daemon's user).
	TokenFile string `yaml:"tokenFile"`
	// AllowedHosts are the names (host or host:port) clients reach the
	// daemon by, besides IP addresses and localhost.
	AllowedHosts []string `yaml:"allowedHosts,omitempty"`
}

// Hub configures `aisedge hub`.
type Hub struct {
	// DataDir holds the hub's delivery records and download area
	// (required). It must belong to the daemon's user and not be group-
	// or world-writable; a missing one is created 0700.
	DataDir string `yaml:"dataDir"`
	// S3 is the bucket the edges seal sessions in, with a key that may
	// read and delete.
	S3 S3 `yaml:"s3"`
	// Prefix is where edges seal sessions.
	Prefix string `yaml:"prefix"`
	// XNAT is an XNAT to deliver to: the one destination of
	// configurations written before hub.destinations, taken as a
	// destination named xnat (it may be combined with hub.destinations).
	XNAT *XNAT `yaml:"xnat,omitempty"`
	// Destinations are where sessions are delivered, each session to
	// every destination that takes its project.
	Destinations []Destination `yaml:"destinations,omitempty"`
	// Parallel bounds sessions delivered at once.
	Parallel int `yaml:"parallel"`
	// Retain keeps delivered objects in the bucket instead of deleting
	// them.
	Retain bool `yaml:"retain"`
	// Interval is the pause between delivery rounds (longer after the
	// hub's own failures) and a failing destination's first backoff.
	Interval Duration `yaml:"interval"`
	// HTTP serves /metrics, /healthz, /readyz, /api/status and the status
	// page (read-only).
	HTTP string `yaml:"http"`
	// HTTPActions also serves the operator actions on the http address.
	HTTPActions HTTPActions `yaml:"httpActions"`
	// Socket is the local API for `aisedge status` (default
	// <dataDir>/aisedge.sock).
	Socket string `yaml:"socket"`
}

// XNAT configures an XNAT destination. Credentials come from UsernameFile
// and PasswordFile (both or neither) or from XNAT_USER / XNAT_PASS.
type XNAT struct {
	// URL is the XNAT base URL, https://host[/context] (required).
	URL string `yaml:"url"`
	// CAFile adds PEM CA certificates for XNAT's certificate.
	CAFile string `yaml:"caFile"`
	// UsernameFile and PasswordFile hold the XNAT account's credentials
	// (mode 0600 and owned by the daemon's user).
	UsernameFile string `yaml:"usernameFile"`
	PasswordFile string `yaml:"passwordFile"`
	// AliasToken says the credentials are an XNAT alias token and its
	// secret: the hub renews the token 12 hours before it expires (tokens
	// last 48 hours by default) and keeps the renewed one in
	// <dataDir>/xnat-alias-token.json (0600) for restarts, used while the
	// files hold the token it descends from.
	AliasToken bool `yaml:"aliasToken"`
	// AllowInsecureRedirect permits an https → http redirect (the
	// original's XNAT_ALLOW_INSECURE_REDIRECT=1); refused otherwise.
	AllowInsecureRedirect bool `yaml:"allowInsecureRedirect"`
	// UploadMode is "archive" (one .tar.gz per resource, default) or
	// "per-file".
	UploadMode string `yaml:"uploadMode"`
}

// Duration is a time.Duration written as "30s", "2h".
type Duration time.Duration

const durationFix = "write e.g. 30s, 15m, 2h"

func parseDuration(v string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	return Duration(d), nil
}

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%v (%s)", err, durationFix)
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration back as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Size is a byte count written as a number or with a unit: "512MiB",
// "1GiB", "10GB".
type Size int64

const sizeFix = "write e.g. 1073741824, 1GiB, 500MB"

var sizeRE = regexp.MustCompile(`^\s*(-?[0-9]+)\s*([KMGT]i?B|B)?\s*$`)

func parseSize(v string) (Size, error) {
	m := sizeRE.FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size", v)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	mult := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	if err != nil || (n != 0 && (n*mult)/mult != n) {
		return 0, fmt.Errorf("%q is too large", v)
	}
	return Size(n * mult), nil
}

// UnmarshalYAML parses a size.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseSize(n.Value)
	if err != nil {
		return fmt.Errorf("%v (%s)", err, sizeFix)
	}
	*s = v
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

// SortProblems orders problems by file and line (stable otherwise).
func SortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}

// Load reads, decodes strictly, applies defaults and validates a file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(path, b)
}

var (
	yamlLineRE  = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)`)
	yamlFieldRE = regexp.MustCompile(`field (\S+) not found in type (\S+)`)
)

// Parse decodes b (named name in messages) and checks it on its own. It
// returns the file (with defaults applied) and, when anything is wrong, an
// *Error naming every problem; the file is nil only when b is not YAML.
func Parse(name string, b []byte) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, &Error{Problems: YAMLProblems(name, err)}
	}
	f := &File{name: name, lines: FieldLines(&root)}
	d := decoder{file: name}
	if len(root.Content) > 0 {
		d.value(root.Content[0], reflect.ValueOf(f).Elem(), "", 1)
	}
	probs := d.probs
	if line := secondDocument(b); line > 0 {
		probs = append(probs, Problem{File: name, Line: line, Field: "(file)", Msg: "a second YAML document (after ---) is not read",
			Fix: "put the edge and hub sections in one document"})
	}
	if f.Edge == nil && f.Hub == nil && len(probs) == 0 {
		probs = append(probs, Problem{File: name, Line: 1, Field: "(file)", Msg: "neither an edge nor a hub section", Fix: "add `edge:` and/or `hub:`"})
	}
	// A value that could not be decoded is not judged again (its section
	// was not read either).
	undecoded := func(field string) bool {
		for _, p := range d.probs {
			if p.Field == field || strings.HasPrefix(field, p.Field+".") || strings.HasPrefix(field, p.Field+"[") {
				return true
			}
		}
		return false
	}
	add := func(field, msg, fix string) {
		if !undecoded(field) {
			probs = append(probs, f.Problem(field, msg, fix))
		}
	}
	if f.Edge != nil {
		f.Edge.defaults()
		f.Edge.validate(add, f.set)
	}
	if f.Hub != nil {
		f.Hub.defaults()
		f.Hub.validate(add, f.set)
	}
	if len(probs) > 0 {
		SortProblems(probs)
		return f, &Error{Problems: probs}
	}
	return f, nil
}

// secondDocument returns the line of the file's second YAML document, or 0.
func secondDocument(b []byte) int {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var n yaml.Node
	if dec.Decode(&n) != nil {
		return 0
	}
	if err := dec.Decode(&n); err != nil {
		return 0
	}
	if n.Line > 1 {
		return n.Line - 1 // the --- line
	}
	return 1
}

// Name is the file's name as given to Parse or Load.
func (f *File) Name() string { return f.name }

// Line is the line of field (a dotted path such as edge.s3.endpoint) or,
// when the file does not set it, of the nearest section that contains it;
// 0 when there is none.
func (f *File) Line(field string) int {
	for p := field; p != ""; p = parentField(p) {
		if l, ok := f.lines[p]; ok {
			return l
		}
	}
	return 0
}

// set reports whether the file itself sets field.
func (f *File) set(field string) bool { _, ok := f.lines[field]; return ok }

// Problem returns a problem located at field's line.
func (f *File) Problem(field, msg, fix string) Problem {
	return Problem{File: f.name, Line: f.Line(field), Field: field, Msg: msg, Fix: fix}
}

// parentField strips the last component of a dotted path.
func parentField(f string) string {
	if i := strings.LastIndexAny(f, ".["); i > 0 {
		return f[:i]
	}
	return ""
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
				if _, dup := out[p]; !dup {
					out[p] = k.Line
				}
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
	// The DICOM server's own defaults, shown in the effective
	// configuration.
	if e.DICOM.MaxAssociationsPerSource == 0 && e.DICOM.MaxAssociations > 0 {
		e.DICOM.MaxAssociationsPerSource = max(1, e.DICOM.MaxAssociations/4)
	}
	if e.DICOM.IdleTimeout == 0 {
		e.DICOM.IdleTimeout = Duration(30 * time.Second)
	}
	if e.DICOM.MinRate == 0 {
		e.DICOM.MinRate = 8 << 10
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
	h.destinationDefaults()
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
	hostnameRE = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)
	bucketRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

type addFunc = AddFunc

func (e *Edge) validate(add addFunc, set func(string) bool) {
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
		add("edge.dicom.maxAssociations", fmt.Sprintf("%d is negative", e.DICOM.MaxAssociations), "a positive number, e.g. 32")
	}
	if e.DICOM.MaxAssociationsPerSource < 0 {
		add("edge.dicom.maxAssociationsPerSource", fmt.Sprintf("%d is negative", e.DICOM.MaxAssociationsPerSource), "a positive number, at most maxAssociations, e.g. 8 (0: a quarter of maxAssociations)")
	} else if e.DICOM.MaxAssociationsPerSource > e.DICOM.MaxAssociations && e.DICOM.MaxAssociations > 0 {
		add("edge.dicom.maxAssociationsPerSource", fmt.Sprintf("%d is more than maxAssociations (%d)", e.DICOM.MaxAssociationsPerSource, e.DICOM.MaxAssociations), "at most maxAssociations")
	}
	if e.DICOM.IdleTimeout < 0 {
		add("edge.dicom.idleTimeout", "negative", "a duration such as 30s (0: the default, 30s)")
	}
	if e.DICOM.MinRate < 0 {
		add("edge.dicom.minRate", "negative", "a size per second such as 8KiB (0: the default, 8KiB)")
	}
	if e.DICOM.MinFreeBytes < -1 {
		add("edge.dicom.minFreeBytes", fmt.Sprintf("%d is negative", e.DICOM.MinFreeBytes), "a size such as 1GiB, or -1 to turn the check off")
	}
	checkFile(add, "edge.routing", e.Routing)
	checkFile(add, "edge.deidKeyFile", e.DeidKeyFile)
	if e.Routing == "" && !labelRE.MatchString(e.Project) {
		add("edge.project", fmt.Sprintf("%q is not an XNAT project ID", e.Project), "letters, digits, '_' and '-'")
	}
	if strings.ContainsAny(e.Profile, "/.") {
		checkFile(add, "edge.profile", e.Profile)
	}
	if e.FacilityBackup.Dir == "" {
		add("edge.facilityBackup.dir", "missing", "set where originals are kept at the facility (the original used /facility-backup)")
	} else if e.DataDir != "" && cleanPath(e.FacilityBackup.Dir) == cleanPath(e.DataDir) {
		add("edge.facilityBackup.dir", "is the data folder", "keep the originals apart, e.g. /facility-backup")
	}
	if e.FacilityBackup.MaxBytes < 0 {
		add("edge.facilityBackup.maxBytes", fmt.Sprintf("%d is negative", e.FacilityBackup.MaxBytes), "0 for no size limit, or a size such as 500GiB")
	}
	if e.Study.QuietPeriod < Duration(time.Second) {
		add("edge.study.quietPeriod", "shorter than 1s", "30s is the original's StableAge")
	}
	if e.Study.ForceTimeout < e.Study.QuietPeriod {
		add("edge.study.forceTimeout", "shorter than the quiet period", "a few hours, e.g. 2h")
	}
	e.S3.validate(add, "edge.s3")
	if e.S3.Parallel < 0 {
		add("edge.s3.parallel", fmt.Sprintf("%d is negative", e.S3.Parallel), "a positive number of concurrent uploads, e.g. 8")
	}
	checkHostPort(add, "edge.http", e.HTTP)
	if e.HTTP == e.DICOM.Listen && !strings.HasSuffix(e.HTTP, ":0") {
		add("edge.http", "is the DICOM listen address", "use another port, e.g. 127.0.0.1:8080")
	}
	e.HTTPActions.validate(add, "edge.httpActions")
}

func (h *Hub) validate(add addFunc, set func(string) bool) {
	if h.DataDir == "" {
		add("hub.dataDir", "missing", "set the folder for the hub's state, e.g. /var/lib/aisedge-hub")
	}
	h.S3.validate(add, "hub.s3")
	if set("hub.s3.parallel") {
		add("hub.s3.parallel", "has no effect in the hub", "remove it; hub.parallel bounds the sessions delivered at once")
	}
	if !strings.HasSuffix(h.Prefix, "/") {
		add("hub.prefix", fmt.Sprintf("%q does not end in '/'", h.Prefix), "staged/ (the original's prefix)")
	}
	h.validateDestinations(add)
	if h.Parallel < 0 {
		add("hub.parallel", fmt.Sprintf("%d is negative", h.Parallel), "a positive number of sessions delivered at once, e.g. 2")
	}
	if h.Interval < Duration(time.Second) {
		add("hub.interval", fmt.Sprintf("%v is shorter than 1s", time.Duration(h.Interval)), "60s")
	}
	checkHostPort(add, "hub.http", h.HTTP)
	h.HTTPActions.validate(add, "hub.httpActions")
}

func (a *HTTPActions) validate(add addFunc, at string) {
	switch {
	case a.Enabled && a.TokenFile == "":
		add(at+".tokenFile", "missing while enabled is true", "name a file holding the bearer token (openssl rand -hex 32 > FILE; chmod 0600 FILE)")
	case !a.Enabled && a.TokenFile != "":
		add(at+".tokenFile", "has no effect unless enabled is true", "set enabled: true to serve the actions on the http address, or remove tokenFile")
	case !a.Enabled && len(a.AllowedHosts) > 0:
		add(at+".allowedHosts", "has no effect unless enabled is true", "set enabled: true, or remove allowedHosts")
	}
	checkFile(add, at+".tokenFile", a.TokenFile)
	for i, h := range a.AllowedHosts {
		host := h
		if hh, port, err := net.SplitHostPort(h); err == nil {
			host = hh
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				host = "" // reported below
			}
		}
		if !hostnameRE.MatchString(host) {
			add(fmt.Sprintf("%s[%d]", at+".allowedHosts", i), fmt.Sprintf("%q is not a host name or host:port", h), "the name clients use, e.g. edge-a.example.org or edge-a.example.org:8080")
		}
	}
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
	if !bucketRE.MatchString(s.Bucket) || strings.Contains(s.Bucket, "..") {
		add(at+".bucket", fmt.Sprintf("%q is not an S3 bucket name", s.Bucket), "3-63 lower-case letters, digits, '.' and '-', e.g. ingest-bucket (the original's bucket)")
	}
	checkFile(add, at+".caFile", s.CAFile)
	checkFile(add, at+".accessKeyFile", s.AccessKeyFile)
	checkFile(add, at+".secretKeyFile", s.SecretKeyFile)
	checkPair(add, at, "accessKeyFile", s.AccessKeyFile, "secretKeyFile", s.SecretKeyFile, "$"+s.AccessKeyEnv+" and $"+s.SecretKeyEnv)
	for _, e := range []struct{ field, v string }{{"accessKeyEnv", s.AccessKeyEnv}, {"secretKeyEnv", s.SecretKeyEnv}} {
		if !envNameRE.MatchString(e.v) {
			add(at+"."+e.field, fmt.Sprintf("%q is not an environment variable name", e.v), "letters, digits and '_', e.g. AISEDGE_S3_ACCESS_KEY")
		}
	}
	if s.AccessKeyEnv == s.SecretKeyEnv {
		add(at+".secretKeyEnv", "is the same variable as accessKeyEnv", "name two variables, e.g. AISEDGE_S3_ACCESS_KEY and AISEDGE_S3_SECRET_KEY")
	}
}

// checkPair reports one of two fields that must be set together set
// alone.
func checkPair(add addFunc, at, aName, a, bName, b, env string) {
	switch {
	case a != "" && b == "":
		add(at+"."+bName, fmt.Sprintf("missing while %s is set", aName), fmt.Sprintf("set both files, or neither (then %s hold the pair)", env))
	case a == "" && b != "":
		add(at+"."+aName, fmt.Sprintf("missing while %s is set", bName), fmt.Sprintf("set both files, or neither (then %s hold the pair)", env))
	}
}

func cleanPath(p string) string {
	return strings.TrimSuffix(p, "/")
}

// checkHostPort checks a listen address: an IP address, a host name or
// nothing, and a port from 0 to 65535 (0: any free port).
func checkHostPort(add addFunc, field, v string) {
	host, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		add(field, fmt.Sprintf("%q is not host:port", v), "e.g. 0.0.0.0:4242 or 127.0.0.1:8080")
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		add(field, fmt.Sprintf("port %q is not a number from 0 to 65535", port), "e.g. 0.0.0.0:4242 or 127.0.0.1:8080")
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && !hostnameRE.MatchString(host) {
		add(field, fmt.Sprintf("%q is not an IP address or host name", host), "e.g. 0.0.0.0, 127.0.0.1 or [::1]")
	}
}

func checkFile(add addFunc, field, path string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		add(field, fmt.Sprintf("%s cannot be read: %s", path, msg), "point it at an existing file")
	}
}

// Secret reads a credential from a file (trimmed; the file must pass
// fsperm's key-file check: 0600 and the daemon's, or root:<our group>
// 0440/0640) or from an environment variable. An empty secret is an
// error; what names it is returned for error messages only.
func Secret(file, env string) (string, error) {
	if file != "" {
		b, err := fsperm.ReadKeyFile("secret file", file)
		if err != nil {
			return "", err
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return v, nil
	}
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("no secret: set %s or configure a file", env)
}
