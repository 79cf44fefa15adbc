// Package route holds the routing table of the receiver: which called AE
// title feeds which project (and de-identification profile), what happens
// to instances sent to an AE title nobody configured, and which callers are
// allowed at all.
//
// It reads two forms:
//
//   - the original system's routing.json unchanged (docs/compat.md,
//     "Receiving and routing"):
//     {"AETMap": {"<CalledAET>": {"project": ...}}, "Defaults": {...}},
//     keys starting with "_" ignored, called AET titles matched exactly
//     and case-sensitively, unmapped AETs quarantined;
//   - a native form with the same content plus the policy knobs
//     (unknownCalledAET, allowCallingAETs, allowSources), decoded strictly.
//
// The package is a leaf: it imports nothing of the project, and the
// receiver adapts its decisions to association rejections.
package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
)

// EnvRoutingFile names the environment variable the original system read
// the routing.json path from.
const EnvRoutingFile = "AIS_ROUTING_FILE"

// Route is where instances addressed to one called AE title go.
type Route struct {
	CalledAET string `json:"calledAET"`
	Project   string `json:"project"`
	// Profile names the de-identification profile (or recipe) for this
	// AE title; empty means Defaults.DeidentificationProfileFile.
	Profile string `json:"profile,omitempty"`
	// Extra keeps any other keys of a legacy AETMap entry, verbatim.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// Defaults are the table-wide settings of the legacy "Defaults" object.
type Defaults struct {
	DeidentificationProfileFile string `json:"deidentificationProfileFile,omitempty"`
	FacilityBackupDir           string `json:"facilityBackupDir,omitempty"`
	// DeidEnabled false archives instances without de-identifying them;
	// nil means true.
	DeidEnabled *bool `json:"deidEnabled,omitempty"`
}

// The original system's defaults (docs/compat.md, "Receiving and routing").
const (
	DefaultProfileFile = "/etc/orthanc/deidentification-profile.json"
	DefaultBackupDir   = "/facility-backup"
)

// UnknownPolicy says what happens to associations addressed to a called
// AE title that has no route.
type UnknownPolicy string

// Policies for unknown called AE titles.
const (
	// Quarantine accepts the association and marks its instances for
	// quarantine (the original system's behaviour; the default).
	Quarantine UnknownPolicy = "quarantine"
	// Reject refuses the association with A-ASSOCIATE-RJ "called AE title
	// not recognized".
	Reject UnknownPolicy = "reject"
)

// Table is a loaded routing table. It is read-only after loading and safe
// for concurrent use.
type Table struct {
	routes map[string]Route
	// catchAll, when set, routes every called AE title not in routes.
	catchAll *Route
	Unknown  UnknownPolicy
	// AllowCallingAETs, when non-empty, lists the only calling AE titles
	// accepted (exact match).
	AllowCallingAETs []string
	// AllowSources, when non-empty, lists the only source networks
	// accepted.
	AllowSources []netip.Prefix
	Defaults     Defaults
	// Warnings collects non-fatal findings of the loader (entries that can
	// never match, unknown keys, placeholders).
	Warnings []string
	// Legacy records that the table came from an original routing.json.
	Legacy bool
}

// Errors returned by Admit; they are wrapped in an *AdmitError.
var (
	ErrUnknownCalledAET     = errors.New("called AE title not recognized")
	ErrCallingAETNotAllowed = errors.New("calling AE title not allowed")
	ErrSourceNotAllowed     = errors.New("source address not allowed")
)

// AdmitError explains why an association is refused.
type AdmitError struct {
	Err                   error
	CalledAET, CallingAET string
	Remote                string
}

func (e *AdmitError) Error() string {
	return fmt.Sprintf("route: %v (called %q, calling %q, from %s)", e.Err, e.CalledAET, e.CallingAET, e.Remote)
}

func (e *AdmitError) Unwrap() error { return e.Err }

// Decision is the routing of an admitted association.
type Decision struct {
	Route Route
	// Quarantine is set when the called AE title has no route and the
	// policy is Quarantine: instances must be kept aside, not forwarded.
	Quarantine bool
}

// Lookup returns the route of a called AE title (exact, case-sensitive).
func (t *Table) Lookup(calledAET string) (Route, bool) {
	r, ok := t.routes[calledAET]
	if !ok && t.catchAll != nil {
		r, ok = *t.catchAll, true
		r.CalledAET = calledAET
	}
	return r, ok
}

// Configured reports whether an AE title is named by the configuration: a
// route's called AE title or an allowed calling AE title. Logs and events
// show configured titles as they are and others only as a keyed hash.
func (t *Table) Configured(aet string) bool {
	if t == nil {
		return false
	}
	_, ok := t.routes[aet]
	return ok || contains(t.AllowCallingAETs, aet)
}

// CatchAll returns a table that routes every called AE title to one project
// (standalone installations without a routing file).
func CatchAll(project string) *Table {
	return &Table{Unknown: Quarantine, routes: map[string]Route{}, catchAll: &Route{Project: project}}
}

// Routes returns every route, sorted by called AE title.
func (t *Table) Routes() []Route {
	out := make([]Route, 0, len(t.routes))
	for _, r := range t.routes {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CalledAET < out[j].CalledAET })
	return out
}

// Admit decides about an association request. remote may be nil when the
// address is unknown (then source allow lists refuse it).
func (t *Table) Admit(calledAET, callingAET string, remote net.Addr) (Decision, error) {
	fail := func(err error) (Decision, error) {
		rs := "?"
		if remote != nil {
			rs = remote.String()
		}
		return Decision{}, &AdmitError{Err: err, CalledAET: calledAET, CallingAET: callingAET, Remote: rs}
	}
	if len(t.AllowSources) > 0 && !t.sourceAllowed(remote) {
		return fail(ErrSourceNotAllowed)
	}
	if len(t.AllowCallingAETs) > 0 && !contains(t.AllowCallingAETs, callingAET) {
		return fail(ErrCallingAETNotAllowed)
	}
	if r, ok := t.Lookup(calledAET); ok {
		return Decision{Route: r}, nil
	}
	if t.Unknown == Reject {
		return fail(ErrUnknownCalledAET)
	}
	return Decision{Route: Route{CalledAET: calledAET}, Quarantine: true}, nil
}

func (t *Table) sourceAllowed(remote net.Addr) bool {
	var ip netip.Addr
	switch a := remote.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case nil:
		return false
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	for _, p := range t.AllowSources {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Load reads a routing table file in either form. An empty path means the
// file named by $AIS_ROUTING_FILE.
func Load(path string) (*Table, error) {
	if path == "" {
		path = os.Getenv(EnvRoutingFile)
	}
	if path == "" {
		return nil, fmt.Errorf("route: no routing file given and $%s is not set", EnvRoutingFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("route: %s: %w", path, err)
	}
	return t, nil
}

// Parse decodes a routing table, detecting the form: an object with an
// "AETMap" key is the original routing.json, anything else the native form.
func Parse(b []byte) (*Table, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, ok := probe["AETMap"]; ok {
		return ParseLegacy(b)
	}
	return ParseNative(b)
}

// ParseLegacy decodes the original system's routing.json as it is.
func ParseLegacy(b []byte) (*Table, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, err
	}
	t := &Table{routes: map[string]Route{}, Unknown: Quarantine, Legacy: true}
	for k := range top {
		if strings.HasPrefix(k, "_") || k == "AETMap" || k == "Defaults" {
			continue
		}
		// Orthanc read this file as configuration too; other keys were
		// simply ignored by the hook.
		t.warn("top-level key %q ignored", k)
	}
	var aetMap map[string]json.RawMessage
	if err := json.Unmarshal(top["AETMap"], &aetMap); err != nil || aetMap == nil {
		return nil, fmt.Errorf("AETMap: want an object of called AE titles: %v", err)
	}
	for aet, raw := range aetMap {
		if strings.HasPrefix(aet, "_") {
			continue
		}
		var entry map[string]json.RawMessage
		if err := json.Unmarshal(raw, &entry); err != nil || entry == nil {
			return nil, fmt.Errorf("AETMap[%q]: want an object with a project: %v", aet, err)
		}
		r := Route{CalledAET: aet}
		for k, v := range entry {
			switch {
			case strings.HasPrefix(k, "_"):
			case k == "project":
				if err := json.Unmarshal(v, &r.Project); err != nil {
					return nil, fmt.Errorf("AETMap[%q].project: want a string", aet)
				}
			case k == "profile" || k == "recipe":
				if err := json.Unmarshal(v, &r.Profile); err != nil {
					return nil, fmt.Errorf("AETMap[%q].%s: want a string", aet, k)
				}
			default:
				if r.Extra == nil {
					r.Extra = map[string]json.RawMessage{}
				}
				r.Extra[k] = append(json.RawMessage(nil), v...)
				t.warn("AETMap[%q]: key %q kept but not used", aet, k)
			}
		}
		if err := t.add(r); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["Defaults"]; ok {
		var d map[string]json.RawMessage
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("Defaults: want an object: %v", err)
		}
		for k, v := range d {
			var err error
			switch {
			case strings.HasPrefix(k, "_"):
			case k == "DeidentificationProfileFile":
				err = json.Unmarshal(v, &t.Defaults.DeidentificationProfileFile)
			case k == "FacilityBackupDir":
				err = json.Unmarshal(v, &t.Defaults.FacilityBackupDir)
			case k == "DeidEnabled":
				var b bool
				err = json.Unmarshal(v, &b)
				t.Defaults.DeidEnabled = &b
			default:
				t.warn("Defaults: key %q ignored", k)
			}
			if err != nil {
				return nil, fmt.Errorf("Defaults.%s: %v", k, err)
			}
		}
	}
	t.fillDefaults()
	return t, nil
}

// nativeFile is the native form, decoded strictly.
type nativeFile struct {
	Routes           []Route       `json:"routes"`
	UnknownCalledAET UnknownPolicy `json:"unknownCalledAET,omitempty"`
	AllowCallingAETs []string      `json:"allowCallingAETs,omitempty"`
	AllowSources     []string      `json:"allowSources,omitempty"`
	Defaults         Defaults      `json:"defaults"`
}

// ParseNative decodes the native form; unknown fields are errors.
func ParseNative(b []byte) (*Table, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f nativeFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	t := &Table{routes: map[string]Route{}, Unknown: f.UnknownCalledAET, Defaults: f.Defaults}
	switch t.Unknown {
	case "":
		t.Unknown = Quarantine
	case Quarantine, Reject:
	default:
		return nil, fmt.Errorf("unknownCalledAET %q: want %q or %q", t.Unknown, Quarantine, Reject)
	}
	for _, r := range f.Routes {
		if len(r.Extra) > 0 {
			return nil, fmt.Errorf("route %q: extra is only for legacy entries", r.CalledAET)
		}
		if err := t.add(r); err != nil {
			return nil, err
		}
	}
	for _, a := range f.AllowCallingAETs {
		if err := checkAET(a); err != nil {
			return nil, fmt.Errorf("allowCallingAETs: %v", err)
		}
	}
	t.AllowCallingAETs = f.AllowCallingAETs
	for _, s := range f.AllowSources {
		p, err := ParseSource(s)
		if err != nil {
			return nil, fmt.Errorf("allowSources: %v", err)
		}
		t.AllowSources = append(t.AllowSources, p)
	}
	t.fillDefaults()
	return t, nil
}

// ParseSource accepts a CIDR prefix or a single address.
func ParseSource(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (t *Table) fillDefaults() {
	if t.Defaults.DeidentificationProfileFile == "" {
		t.Defaults.DeidentificationProfileFile = DefaultProfileFile
	}
	if t.Defaults.FacilityBackupDir == "" {
		t.Defaults.FacilityBackupDir = DefaultBackupDir
	}
}

// DeidEnabled reports Defaults.DeidEnabled (true unless set to false).
func (t *Table) DeidEnabled() bool { return t.Defaults.DeidEnabled == nil || *t.Defaults.DeidEnabled }

func (t *Table) warn(format string, args ...any) {
	t.Warnings = append(t.Warnings, fmt.Sprintf(format, args...))
}

// checkAET validates an AE title as it arrives in an association request:
// 1-16 characters, no backslash or control characters, no leading or
// trailing spaces (the receiver trims them, so such a key never matches).
func checkAET(a string) error {
	if a == "" || len(a) > 16 {
		return fmt.Errorf("AE title %q: want 1 to 16 characters", a)
	}
	if strings.TrimSpace(a) != a {
		return fmt.Errorf("AE title %q: leading or trailing spaces never match", a)
	}
	for _, c := range a {
		if c < 0x20 || c == '\\' || c > 0x7E {
			return fmt.Errorf("AE title %q: invalid character %q", a, c)
		}
	}
	return nil
}

func (t *Table) add(r Route) error {
	if err := checkAET(r.CalledAET); err != nil {
		if t.Legacy {
			// The original matched the raw key: such an entry was dead
			// there too. Keep loading, but say so.
			t.warn("AETMap[%q] can never match: %v", r.CalledAET, err)
			return nil
		}
		return err
	}
	if r.Project == "" {
		return fmt.Errorf("route for %q has no project", r.CalledAET)
	}
	if strings.HasPrefix(r.Project, "REPLACE_") {
		t.warn("route for %q: project %q looks like an unfilled template placeholder", r.CalledAET, r.Project)
	}
	if _, dup := t.routes[r.CalledAET]; dup {
		return fmt.Errorf("called AE title %q routed twice", r.CalledAET)
	}
	t.routes[r.CalledAET] = r
	return nil
}

// SafeName turns an AE title or project code into a single path element
// that cannot escape a directory: [A-Za-z0-9._-] kept, everything else
// (and a leading dot) percent-encoded.
func SafeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || (c == '.' && i > 0)
		if ok {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		return "%00"
	}
	return b.String()
}
