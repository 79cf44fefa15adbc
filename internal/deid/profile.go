package deid

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// BaselinePS315 is the only baseline rule set: PS3.15 2026c Table E.1-1.
const BaselinePS315 = "PS3.15-2026c"

// Pseudonym modes.
const (
	ModeHMAC       = "hmac-sha256"
	ModeLegacyDJB2 = "legacy-djb2"
)

// Acknowledgement keys for risky features (docs/deid.md, "Fields" and
// "Profile lint"). Keep paths are
// acknowledged by listing the path itself.
const (
	AckKeepPrivateTags = "KeepPrivateTags"
	AckBirthYearOnly   = "BirthYearOnly"
	AckGlobalNamespace = "Namespace:global"
	AckLegacyDJB2      = "legacy-djb2"
	AckPixelsClear     = "PixelsClear"
	AckNotStrict       = "Strict:false"
)

// Profile is a parsed and linted de-identification profile. It is
// immutable after LoadProfile and safe for concurrent use.
type Profile struct {
	Version         int
	Name            string
	Baseline        string // BaselinePS315 or "none"
	Options         OptionSet
	Pseudonyms      PseudonymConfig
	Dates           DateConfig
	SafePrivate     []SafePrivateEntry
	Pixels          PixelConfig
	Replace         []ReplaceRule // sorted by canonical path
	Keep            []TagPath
	Remove          []TagPath
	KeepPrivateTags bool
	Force           bool
	DicomVersion    string
	PrivateCreator  string
	Transcode       string // "" = keep the input's transfer syntax
	// Descriptors is how Clean Descriptors cleans text: "clean" (the
	// default: identifiers, dates, numbers and person-name shapes
	// removed) or "strict" (only acquisition and protocol vocabulary,
	// numbers and short codes are kept).
	Descriptors     string
	Strict          bool
	AllowNoBaseline bool
	Acknowledged    []string
	// Hash is the hex SHA-256 of the canonical JSON of the profile.
	Hash string
	// Findings are the lint results (warnings and waived errors; a
	// profile with unwaived errors is not returned).
	Findings []Finding

	acked map[string]bool
}

// PseudonymConfig is the "Pseudonyms" object (docs/deid.md, "Pseudonyms").
type PseudonymConfig struct {
	Mode             string // ModeHMAC or ModeLegacyDJB2 (legacy placeholders only)
	Namespace        string // site | issuer | global
	PatientID        IDSpec
	PatientName      string // SameAsPatientID | Empty
	AccessionNumber  IDSpec
	AccessionIfEmpty string // FromStudyInstanceUID | Empty
	StudyID          string // SameAsAccessionNumber | Own | Empty
	StudyIDSpec      IDSpec // when StudyID is Own
}

// IDSpec shapes a pseudonym: Prefix + first Length base32 characters.
type IDSpec struct {
	Prefix string
	Length int
}

// DateConfig is the "Dates" object (docs/deid.md, "Date shifting").
type DateConfig struct {
	MinDays, MaxDays int
	Direction        string // past | future
	WeekAligned      bool
	BirthDate        string // remove | shift | year
	ComputeAge       bool
	AgeCapYears      int
}

// SafePrivateEntry keeps private elements of one creator and group.
type SafePrivateEntry struct {
	Creator     string
	Group       uint16
	Elements    []uint8 // nil: every element byte ("*")
	VRs         []dicom.VR
	NumericOnly bool
}

// PixelConfig is the "Pixels" object (docs/deid.md, "Pixel risk").
type PixelConfig struct {
	Default string // quarantine-if-risky
	// Clear rules release high-risk instances whose header matches, for
	// sources known to carry no burned-in text (needs AckPixelsClear).
	// They never release Burned In Annotation = YES.
	Clear []ClearRule
}

// ClearRule matches instance headers by tag path → regular expression.
type ClearRule struct {
	When   []Condition
	Reason string
}

// Condition is one tag path → regular expression test on a top-level
// text value.
type Condition struct {
	Path TagPath
	Re   *regexp.Regexp
}

// ReplaceRule is one entry of "Replace".
type ReplaceRule struct {
	Path  TagPath
	Value ReplaceValue
}

// ReplaceValue is a Replace value cast to the target VR at load time.
// Strings may hold ${...} templates, substituted per instance.
type ReplaceValue struct {
	VR     dicom.VR
	Values []string         // text or numbers (joined with backslash)
	Items  [][]ReplaceField // sequence items
	Binary []byte
	kind   byte // 's' text/number, 'q' sequence, 'b' binary
}

// ReplaceField is one element of a Replace sequence item.
type ReplaceField struct {
	Tag   dicom.Tag
	Value ReplaceValue
}

// Severity of a lint finding.
type Severity int

// Finding severities.
const (
	SevInfo Severity = iota
	SevWarning
	SevError
)

func (s Severity) String() string {
	switch s {
	case SevError:
		return "error"
	case SevWarning:
		return "warning"
	}
	return "info"
}

// Finding is one lint result. Field names the profile field; Fix says
// what to do. Ack, when set, is the AcknowledgeRisk entry that waives it.
type Finding struct {
	Severity Severity `json:"severity"`
	Field    string   `json:"field"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
	Ack      string   `json:"ack,omitempty"`
	Waived   bool     `json:"waived,omitempty"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s: %s: %s", f.Severity, f.Field, f.Message)
	if f.Fix != "" {
		s += " (fix: " + f.Fix + ")"
	}
	if f.Waived {
		s += " [acknowledged]"
	}
	return s
}

// ProfileError is returned by LoadProfile when the profile is rejected.
// It wraps ErrInvalidInput.
type ProfileError struct {
	Findings []Finding // every finding, errors first
}

func (e *ProfileError) Error() string {
	var errs []string
	for _, f := range e.Findings {
		if f.Severity == SevError && !f.Waived {
			errs = append(errs, f.String())
		}
	}
	return fmt.Sprintf("deid: profile rejected (%d error(s)):\n  %s", len(errs), strings.Join(errs, "\n  "))
}

// Unwrap classifies the error as invalid input.
func (e *ProfileError) Unwrap() error { return ErrInvalidInput }

// Errors returns the unwaived errors.
func (e *ProfileError) Errors() []Finding {
	var out []Finding
	for _, f := range e.Findings {
		if f.Severity == SevError && !f.Waived {
			out = append(out, f)
		}
	}
	return out
}

// templateRE matches ${Name} placeholders.
var templateRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// Known placeholders; aliases map legacy AIS names (docs/deid.md,
// "Templates").
var knownTemplates = map[string]bool{
	"ProjectCode": true, "Site": true, "PseudoPatientID": true, "PseudoAccession": true,
	"PseudoStudyID": true, "KeyID": true, "ProfileHash": true,
	"SubjectHash": true, "SessionHash": true, "BirthYearOnly": true,
}

var prefixRE = regexp.MustCompile(`^[A-Z0-9_]*$`)

// fourKeys are the attributes Orthanc guards with Force.
var fourKeys = map[dicom.Tag]string{
	dicom.MustTag("PatientID"): "PatientID",
	dicom.TagStudyInstanceUID:  "StudyInstanceUID",
	dicom.TagSeriesInstanceUID: "SeriesInstanceUID",
	dicom.TagSOPInstanceUID:    "SOPInstanceUID",
}

// linter collects findings while parsing.
type linter struct {
	findings []Finding
	acks     map[string]bool
	used     map[string]bool
}

func (l *linter) add(sev Severity, field, msg, fix string) {
	l.findings = append(l.findings, Finding{Severity: sev, Field: field, Message: msg, Fix: fix})
}

// risk adds an error that the acknowledgement ack waives.
func (l *linter) risk(field, msg, fix, ack string) {
	f := Finding{Severity: SevError, Field: field, Message: msg, Fix: fix, Ack: ack}
	if l.acks[ack] {
		f.Waived = true
		l.used[ack] = true
	}
	l.findings = append(l.findings, f)
}

// kv is one member of a JSON object, in order.
type kv struct {
	key string
	raw json.RawMessage
}

// readObject reads a JSON object, keeping member order and rejecting
// duplicate keys (which encoding/json would silently collapse).
func readObject(raw json.RawMessage) ([]kv, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("want a JSON object")
	}
	var out []kv
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		key := tok.(string)
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("invalid JSON in %q: %w", key, err)
		}
		out = append(out, kv{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	return out, nil
}

func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// suggest returns " (did you mean X?)" for a near miss among names.
func suggest(name string, names []string) string {
	best, bestD := "", 4
	for _, n := range names {
		if d := editDistance(strings.ToLower(name), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var topFields = []string{
	"ProfileVersion", "Name", "Baseline", "Options", "Pseudonyms", "Dates", "SafePrivate", "Pixels",
	"Strict", "AllowNoBaseline", "AcknowledgeRisk", "Replace", "Remove", "Keep", "KeepPrivateTags",
	"RemovePrivateTags", "Force", "DicomVersion", "PrivateCreator", "Transcode", "Descriptors", "KeepSource",
	"Priority", "Asynchronous", "Synchronous", "MaskPixelData", "DeidMode",
}

// DefaultDates are the date-shift defaults (docs/deid.md, "Fields").
var DefaultDates = DateConfig{MinDays: 180, MaxDays: 1825, Direction: "past", WeekAligned: true, BirthDate: "remove", ComputeAge: true, AgeCapYears: 90}

// LoadProfile parses and lints a profile. On rejection the error is a
// *ProfileError listing every finding with the field and the fix.
func LoadProfile(data []byte) (*Profile, error) {
	p := &Profile{
		Version:  1,
		Baseline: BaselinePS315,
		Strict:   true,
		Pseudonyms: PseudonymConfig{
			Mode: ModeHMAC, Namespace: "site",
			PatientID: IDSpec{Length: 16}, PatientName: "SameAsPatientID",
			AccessionNumber: IDSpec{Length: 16}, AccessionIfEmpty: "FromStudyInstanceUID",
			StudyID: "SameAsAccessionNumber",
		},
		Dates:  DefaultDates,
		Pixels: PixelConfig{Default: "quarantine-if-risky"},
	}
	fail := func(field, msg, fix string) (*Profile, error) {
		return nil, &ProfileError{Findings: []Finding{{Severity: SevError, Field: field, Message: msg, Fix: fix}}}
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return fail("(file)", fmt.Sprintf("not valid JSON: %v", err), "fix the JSON syntax")
	}
	members, err := readObject(data)
	if err != nil {
		return fail("(file)", err.Error(), "the profile is one JSON object with unique keys")
	}
	// Canonical form and hash.
	var generic any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return fail("(file)", err.Error(), "")
	}
	var canon bytes.Buffer
	enc := json.NewEncoder(&canon)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil {
		return fail("(file)", err.Error(), "")
	}
	sum := sha256.Sum256(bytes.TrimRight(canon.Bytes(), "\n"))
	p.Hash = hex.EncodeToString(sum[:])

	l := &linter{acks: map[string]bool{}, used: map[string]bool{}}
	byKey := map[string]json.RawMessage{}
	for _, m := range members {
		byKey[m.key] = m.raw
	}
	// Acknowledgements first: other checks consult them.
	if raw, ok := byKey["AcknowledgeRisk"]; ok {
		if err := json.Unmarshal(raw, &p.Acknowledged); err != nil {
			l.add(SevError, "AcknowledgeRisk", "must be an array of strings", `e.g. ["KeepPrivateTags"]`)
		}
		for _, a := range p.Acknowledged {
			l.acks[a] = true
			// Tag paths are acknowledged in any spelling.
			if tp, err := ParseTagPath(a); err == nil {
				l.acks["path:"+tp.Canonical()] = true
			}
		}
	}
	p.acked = l.acks

	var replaceRaw json.RawMessage
	var keepPrivate, removePrivate *bool
	var dateOpts []string
	for _, m := range members {
		field, raw := m.key, m.raw
		switch field {
		case "ProfileVersion":
			if err := json.Unmarshal(raw, &p.Version); err != nil || p.Version != 1 {
				l.add(SevError, field, "unsupported profile version", "set ProfileVersion to 1")
			}
		case "Name":
			if err := json.Unmarshal(raw, &p.Name); err != nil {
				l.add(SevError, field, "must be a string", "")
			}
		case "Baseline":
			if err := json.Unmarshal(raw, &p.Baseline); err != nil || (p.Baseline != BaselinePS315 && p.Baseline != "none") {
				l.add(SevError, field, fmt.Sprintf("must be %q or \"none\"", BaselinePS315), fmt.Sprintf("use %q", BaselinePS315))
			}
		case "Options":
			var names []string
			if err := json.Unmarshal(raw, &names); err != nil {
				l.add(SevError, field, "must be an array of option keywords", "")
				break
			}
			var kws []string
			for _, oi := range optionInfos {
				kws = append(kws, oi.Keyword)
			}
			for _, n := range names {
				o, ok := lookupOption(n)
				if !ok {
					l.add(SevError, field, fmt.Sprintf("unknown option %q", n), suggest(n, kws))
					continue
				}
				switch o {
				case OptCleanPixelData, OptCleanRecognizableVisualFeatures, OptCleanGraphics:
					l.add(SevError, field, fmt.Sprintf("option %s cannot be honoured by this engine (v1)", n),
						"remove it; instances at pixel risk are quarantined (Pixels), graphics sequences quarantine the instance")
					continue
				}
				if p.Options.Has(o) {
					l.add(SevWarning, field, fmt.Sprintf("option %s listed twice", n), "list it once")
				}
				p.Options.add(o)
				if o == OptRetainLongitudinalFullDates || o == OptRetainLongitudinalModifiedDates {
					dateOpts = append(dateOpts, n)
				}
			}
		case "Pseudonyms":
			parsePseudonyms(l, raw, &p.Pseudonyms)
		case "Dates":
			parseDates(l, raw, &p.Dates)
		case "SafePrivate":
			p.SafePrivate = parseSafePrivate(l, raw)
		case "Pixels":
			parsePixels(l, raw, &p.Pixels)
		case "Strict":
			if err := json.Unmarshal(raw, &p.Strict); err != nil {
				l.add(SevError, field, "must be true or false", "")
			}
		case "AllowNoBaseline":
			if err := json.Unmarshal(raw, &p.AllowNoBaseline); err != nil {
				l.add(SevError, field, "must be true or false", "")
			}
		case "AcknowledgeRisk":
		case "Replace":
			replaceRaw = raw
		case "Remove", "Keep":
			var paths []string
			if err := json.Unmarshal(raw, &paths); err != nil {
				l.add(SevError, field, "must be an array of tag paths", `e.g. ["PatientComments"]`)
				break
			}
			for _, s := range paths {
				tp, err := ParseTagPath(s)
				if err != nil {
					l.add(SevError, field, err.Error(), "write a keyword, gggg,eeee, Seq[i].Child or (gggg,{Creator}ee)")
					continue
				}
				if field == "Keep" {
					p.Keep = append(p.Keep, tp)
				} else {
					p.Remove = append(p.Remove, tp)
				}
			}
		case "KeepPrivateTags":
			keepPrivate = new(bool)
			if err := json.Unmarshal(raw, keepPrivate); err != nil {
				l.add(SevError, field, "must be true or false", "")
			}
		case "RemovePrivateTags":
			removePrivate = new(bool)
			if err := json.Unmarshal(raw, removePrivate); err != nil {
				l.add(SevError, field, "must be true or false", "")
			}
		case "Force":
			if err := json.Unmarshal(raw, &p.Force); err != nil {
				l.add(SevError, field, "must be true or false", "")
			}
		case "DicomVersion":
			if err := json.Unmarshal(raw, &p.DicomVersion); err != nil {
				l.add(SevError, field, "must be a string", "")
			} else if p.DicomVersion != "2026c" {
				l.add(SevWarning, field, fmt.Sprintf("recorded only: the engine always applies its pinned PS3.15 2026c table, not %q", p.DicomVersion), `remove it or set "2026c"`)
			}
		case "PrivateCreator":
			if err := json.Unmarshal(raw, &p.PrivateCreator); err != nil {
				l.add(SevError, field, "must be a string", "")
			}
		case "Transcode":
			if err := json.Unmarshal(raw, &p.Transcode); err != nil || (p.Transcode != dicom.ExplicitVRLittleEndian && p.Transcode != dicom.ImplicitVRLittleEndian) {
				l.add(SevError, field, "only Explicit VR Little Endian (1.2.840.10008.1.2.1) and Implicit VR Little Endian (1.2.840.10008.1.2) are supported", "remove Transcode or use one of those")
			}
		case "Descriptors":
			if err := json.Unmarshal(raw, &p.Descriptors); err != nil || (p.Descriptors != "clean" && p.Descriptors != "strict") {
				l.add(SevError, field, `must be "clean" or "strict"`, `"strict" keeps only acquisition and protocol words, numbers and short codes`)
			}
		case "KeepSource", "Priority", "Asynchronous", "Synchronous":
			l.add(SevInfo, field, "Orthanc job-control field, ignored", "")
		case "MaskPixelData":
			l.add(SevError, field, "pixel masks are not supported by this engine (v1)", "remove MaskPixelData; instances at pixel risk are quarantined")
		case "DeidMode":
			var mode string
			if err := json.Unmarshal(raw, &mode); err != nil || (mode != "modify" && mode != "anonymize") {
				l.add(SevError, field, `must be "modify" or "anonymize"`, "")
			} else {
				l.add(SevWarning, field, "legacy AIS field, ignored: the baseline is controlled by Baseline only", "remove DeidMode")
			}
		default:
			l.add(SevError, field, "unknown field", suggest(field, topFields))
		}
	}
	if p.Name == "" {
		// Orthanc bodies (the legacy template) have no Name: accepted, so
		// that the original file loads unchanged once acknowledged.
		p.Name = "unnamed"
		l.add(SevInfo, "Name", "not set; reports say \"unnamed\"", `add "Name": "<site>-<purpose>"`)
	}
	if p.Baseline == "none" && !p.AllowNoBaseline {
		l.add(SevError, "Baseline", `"none" disables the PS3.15 rules`, `add "AllowNoBaseline": true if this is really wanted`)
	}
	if len(dateOpts) > 1 {
		l.add(SevError, "Options", "RetainLongitudinalFullDates and RetainLongitudinalModifiedDates are mutually exclusive", "keep one of them")
	}
	if !p.Strict {
		l.risk("Strict", "non-strict loading turns lint errors into warnings", `remove "Strict": false`, AckNotStrict)
	}
	// Private tags.
	if keepPrivate != nil && *keepPrivate {
		if removePrivate != nil && *removePrivate {
			l.add(SevError, "KeepPrivateTags", "KeepPrivateTags and RemovePrivateTags are both true", "keep one of them")
		}
		l.risk("KeepPrivateTags", "keeps every private element (vendors put names and IDs there)", `use Options "RetainSafePrivate" with SafePrivate entries instead`, AckKeepPrivateTags)
		p.KeepPrivateTags = true
	}
	if removePrivate != nil && !*removePrivate {
		l.add(SevWarning, "RemovePrivateTags", "false does not keep private tags: they are removed by the baseline", `use Options "RetainSafePrivate" or "KeepPrivateTags"`)
	}
	if len(p.SafePrivate) > 0 && !p.Options.Has(OptRetainSafePrivate) {
		l.add(SevError, "SafePrivate", "entries are only used with option RetainSafePrivate", `add "RetainSafePrivate" to Options`)
	}
	if p.Options.Has(OptRetainSafePrivate) && len(p.SafePrivate) == 0 {
		l.add(SevWarning, "Options", "RetainSafePrivate without SafePrivate entries keeps nothing", `add SafePrivate entries or {"Import": "PS3.15-2026c"}`)
	}
	if p.Pseudonyms.Namespace == "global" {
		l.risk("Pseudonyms.Namespace", `"global" links patients across sites; only valid for globally unique IDs`, `use "site"`, AckGlobalNamespace)
	}
	if p.Pseudonyms.Mode == ModeLegacyDJB2 {
		l.risk("Pseudonyms.Mode", "legacy-djb2 is a 48-bit non-cryptographic hash (the salt holder can recover IDs); only for sites migrating existing subjects", `use "hmac-sha256"`, AckLegacyDJB2)
	}
	if p.Dates.BirthDate == "year" {
		l.risk("Dates.BirthDate", `"year" retains the true birth year`, `use "remove"`, AckBirthYearOnly)
	}
	if p.Dates.BirthDate == "shift" && !p.Options.Has(OptRetainLongitudinalModifiedDates) {
		l.add(SevError, "Dates.BirthDate", `"shift" needs option RetainLongitudinalModifiedDates`, `add the option or use "remove"`)
	}
	if p.Dates.ComputeAge && !p.Options.Has(OptRetainPatientCharacteristics) {
		// The default is true; it only takes effect with the option.
		p.Dates.ComputeAge = false
	}
	if len(p.Pixels.Clear) > 0 {
		l.risk("Pixels.Clear", "releases instances that may carry burned-in text", "remove the Clear rules (instances are quarantined instead)", AckPixelsClear)
	}
	if replaceRaw != nil {
		p.Replace = parseReplace(l, replaceRaw)
	}
	lintUserRules(l, p)
	for _, r := range p.Replace {
		if r.Path.topLevel() {
			switch r.Path.leaf().tag {
			case tagPatientIdentityRemoved, tagDeidentificationMethod, tagDeidentificationMethodCodes, tagLongitudinalModified:
				l.add(SevInfo, "Replace."+r.Path.raw, "de-identification markers are written by the engine (docs/deid.md, Markers and file meta); this value is not used", "")
			}
		}
	}

	// Unused acknowledgements are a warning: they may hide a typo.
	for _, a := range p.Acknowledged {
		tp, err := ParseTagPath(a)
		if l.used[a] || (err == nil && l.used["path:"+tp.Canonical()]) {
			continue
		}
		l.add(SevWarning, "AcknowledgeRisk", fmt.Sprintf("%q waives nothing in this profile", a), "remove it or fix its spelling")
	}

	// Non-strict: waivable errors become warnings, the others still reject.
	if !p.Strict && l.acks[AckNotStrict] {
		for i := range l.findings {
			f := &l.findings[i]
			if f.Severity == SevError && !f.Waived && f.Ack != "" {
				f.Severity = SevWarning
			}
		}
	}
	sort.SliceStable(l.findings, func(i, j int) bool { return l.findings[i].Severity > l.findings[j].Severity })
	p.Findings = l.findings
	for _, f := range l.findings {
		if f.Severity == SevError && !f.Waived {
			return nil, &ProfileError{Findings: l.findings}
		}
	}
	return p, nil
}

func parsePseudonyms(l *linter, raw json.RawMessage, pc *PseudonymConfig) {
	members, err := readObject(raw)
	if err != nil {
		l.add(SevError, "Pseudonyms", err.Error(), "")
		return
	}
	names := []string{"Mode", "Namespace", "PatientID", "PatientName", "AccessionNumber", "StudyID"}
	for _, m := range members {
		f := "Pseudonyms." + m.key
		switch m.key {
		case "Mode":
			if err := json.Unmarshal(m.raw, &pc.Mode); err != nil || (pc.Mode != ModeHMAC && pc.Mode != ModeLegacyDJB2) {
				l.add(SevError, f, `must be "hmac-sha256" or "legacy-djb2"`, `use "hmac-sha256"`)
			}
		case "Namespace":
			if err := json.Unmarshal(m.raw, &pc.Namespace); err != nil || (pc.Namespace != "site" && pc.Namespace != "issuer" && pc.Namespace != "global") {
				l.add(SevError, f, `must be "site", "issuer" or "global"`, `use "site"`)
			}
		case "PatientID":
			parseIDSpec(l, f, m.raw, &pc.PatientID, 64, nil)
		case "PatientName":
			if err := json.Unmarshal(m.raw, &pc.PatientName); err != nil || (pc.PatientName != "SameAsPatientID" && pc.PatientName != "Empty") {
				l.add(SevError, f, `must be "SameAsPatientID" or "Empty"`, "")
			}
		case "AccessionNumber":
			parseIDSpec(l, f, m.raw, &pc.AccessionNumber, 16, &pc.AccessionIfEmpty)
		case "StudyID":
			var s string
			if json.Unmarshal(m.raw, &s) == nil {
				if s != "SameAsAccessionNumber" && s != "Empty" {
					l.add(SevError, f, `must be "SameAsAccessionNumber", "Empty" or {"Prefix","Length"}`, "")
				}
				pc.StudyID = s
				break
			}
			pc.StudyID = "Own"
			pc.StudyIDSpec = IDSpec{Length: 16}
			parseIDSpec(l, f, m.raw, &pc.StudyIDSpec, 16, nil)
		default:
			l.add(SevError, f, "unknown field", suggest(m.key, names))
		}
	}
}

func parseIDSpec(l *linter, field string, raw json.RawMessage, spec *IDSpec, maxLen int, ifEmpty *string) {
	members, err := readObject(raw)
	if err != nil {
		l.add(SevError, field, err.Error(), `e.g. {"Prefix": "", "Length": 16}`)
		return
	}
	for _, m := range members {
		f := field + "." + m.key
		switch m.key {
		case "Prefix":
			if err := json.Unmarshal(m.raw, &spec.Prefix); err != nil || !prefixRE.MatchString(spec.Prefix) {
				l.add(SevError, f, "must be a string of A-Z, 0-9 and _", "")
			}
		case "Length":
			if err := json.Unmarshal(m.raw, &spec.Length); err != nil || spec.Length < 8 || spec.Length > 52 {
				l.add(SevError, f, "must be an integer from 8 to 52 (base32 characters of a 256-bit HMAC)", "use 16")
			}
		case "IfEmpty":
			if ifEmpty == nil {
				l.add(SevError, f, "unknown field", "")
				break
			}
			if err := json.Unmarshal(m.raw, ifEmpty); err != nil || (*ifEmpty != "FromStudyInstanceUID" && *ifEmpty != "Empty") {
				l.add(SevError, f, `must be "FromStudyInstanceUID" or "Empty"`, "")
			}
		default:
			l.add(SevError, f, "unknown field", suggest(m.key, []string{"Prefix", "Length", "IfEmpty"}))
		}
	}
	if len(spec.Prefix)+spec.Length > maxLen {
		l.add(SevError, field, fmt.Sprintf("Prefix + Length must not exceed %d characters", maxLen), "shorten the prefix or the length")
	}
}

func parseDates(l *linter, raw json.RawMessage, dc *DateConfig) {
	members, err := readObject(raw)
	if err != nil {
		l.add(SevError, "Dates", err.Error(), "")
		return
	}
	names := []string{"MinDays", "MaxDays", "Direction", "WeekAligned", "BirthDate", "ComputeAge", "AgeCapYears"}
	for _, m := range members {
		f := "Dates." + m.key
		var err error
		switch m.key {
		case "MinDays":
			err = json.Unmarshal(m.raw, &dc.MinDays)
		case "MaxDays":
			err = json.Unmarshal(m.raw, &dc.MaxDays)
		case "Direction":
			err = json.Unmarshal(m.raw, &dc.Direction)
			if err == nil && dc.Direction != "past" && dc.Direction != "future" {
				err = errors.New(`must be "past" or "future"`)
			}
		case "WeekAligned":
			err = json.Unmarshal(m.raw, &dc.WeekAligned)
		case "BirthDate":
			err = json.Unmarshal(m.raw, &dc.BirthDate)
			if err == nil && dc.BirthDate != "remove" && dc.BirthDate != "shift" && dc.BirthDate != "year" {
				err = errors.New(`must be "remove", "shift" or "year"`)
			}
		case "ComputeAge":
			err = json.Unmarshal(m.raw, &dc.ComputeAge)
		case "AgeCapYears":
			err = json.Unmarshal(m.raw, &dc.AgeCapYears)
			if err == nil && (dc.AgeCapYears < 1 || dc.AgeCapYears > 999) {
				err = errors.New("must be from 1 to 999")
			}
		default:
			l.add(SevError, f, "unknown field", suggest(m.key, names))
			continue
		}
		if err != nil {
			l.add(SevError, f, "invalid value: "+err.Error(), "")
		}
	}
	if dc.MinDays < 1 || dc.MinDays > dc.MaxDays {
		l.add(SevError, "Dates.MinDays", "need 1 ≤ MinDays ≤ MaxDays (the shift must never be zero)", "e.g. MinDays 180, MaxDays 1825")
	}
	if dc.WeekAligned && dc.MinDays < 7 {
		l.add(SevError, "Dates.MinDays", "must be at least 7 when WeekAligned", "raise MinDays or set WeekAligned false")
	}
	if dc.MaxDays > 36500 {
		l.add(SevError, "Dates.MaxDays", "must not exceed 36500 days", "")
	}
}

func parseSafePrivate(l *linter, raw json.RawMessage) []SafePrivateEntry {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		l.add(SevError, "SafePrivate", "must be an array of objects", "")
		return nil
	}
	var out []SafePrivateEntry
	for i, it := range items {
		field := fmt.Sprintf("SafePrivate[%d]", i)
		members, err := readObject(it)
		if err != nil {
			l.add(SevError, field, err.Error(), "")
			continue
		}
		var e SafePrivateEntry
		var haveCreator, haveGroup, haveElements bool
		imported := false
		for _, m := range members {
			f := field + "." + m.key
			switch m.key {
			case "Import":
				var s string
				if err := json.Unmarshal(m.raw, &s); err != nil || s != BaselinePS315 {
					l.add(SevError, f, fmt.Sprintf("the only importable list is %q (Table E.3.10-1)", BaselinePS315), "")
					continue
				}
				imported = true
			case "Creator":
				haveCreator = json.Unmarshal(m.raw, &e.Creator) == nil && strings.TrimRight(e.Creator, " ") != ""
				e.Creator = strings.TrimRight(e.Creator, " ")
				if !haveCreator {
					l.add(SevError, f, "must be a non-empty string", "")
				}
			case "Group":
				var s string
				g, err := strconv.ParseUint(strings.TrimPrefix(func() string { json.Unmarshal(m.raw, &s); return s }(), "0x"), 16, 16)
				if err != nil || len(s) != 4 || g%2 == 0 {
					l.add(SevError, f, "must be an odd group as four hex digits, e.g. \"0019\"", "")
					continue
				}
				e.Group, haveGroup = uint16(g), true
			case "Elements":
				var star string
				if json.Unmarshal(m.raw, &star) == nil {
					if star != "*" {
						l.add(SevError, f, `must be "*" or an array of two-digit hex element bytes`, "")
					}
					haveElements = true
					continue
				}
				var els []string
				if err := json.Unmarshal(m.raw, &els); err != nil || len(els) == 0 {
					l.add(SevError, f, `must be "*" or a non-empty array of two-digit hex element bytes`, "")
					continue
				}
				for _, s := range els {
					v, err := strconv.ParseUint(s, 16, 8)
					if err != nil || len(s) != 2 {
						l.add(SevError, f, fmt.Sprintf("%q is not a two-digit hex element byte", s), `e.g. "0C"`)
						continue
					}
					e.Elements = append(e.Elements, uint8(v))
				}
				haveElements = true
			case "VR":
				var s string
				json.Unmarshal(m.raw, &s)
				for _, part := range strings.Split(s, "/") {
					vr, ok := dicom.ParseVR(part)
					if !ok || vr == dicom.UN {
						l.add(SevError, f, fmt.Sprintf("%q is not a VR", s), `e.g. "DS"`)
						break
					}
					e.VRs = append(e.VRs, vr)
				}
			case "NumericOnly":
				if err := json.Unmarshal(m.raw, &e.NumericOnly); err != nil {
					l.add(SevError, f, "must be true or false", "")
				}
			default:
				l.add(SevError, f, "unknown field", suggest(m.key, []string{"Creator", "Group", "Elements", "VR", "NumericOnly", "Import"}))
			}
		}
		if imported {
			if len(members) != 1 {
				l.add(SevError, field, "an Import entry has no other fields", "split it into two entries")
			}
			out = append(out, importSafePrivateSample()...)
			continue
		}
		if !haveCreator || !haveGroup || !haveElements {
			l.add(SevError, field, "needs Creator, Group and Elements", `e.g. {"Creator": "Philips PET Private Group", "Group": "7053", "Elements": ["00"]}`)
			continue
		}
		if e.NumericOnly && e.Elements != nil {
			l.add(SevError, field+".NumericOnly", `only allowed with "Elements": "*"`, "")
		}
		if e.Elements == nil && !e.NumericOnly {
			l.add(SevError, field+".Elements", `"*" keeps every element of the block: only allowed with "NumericOnly": true`, "list the element bytes")
		}
		out = append(out, e)
	}
	return out
}

func importSafePrivateSample() []SafePrivateEntry {
	var out []SafePrivateEntry
	for _, r := range safePrivateSample {
		e := SafePrivateEntry{Creator: strings.TrimRight(r.Creator, " "), Group: r.Group, Elements: []uint8{r.Element}}
		for _, part := range strings.Split(r.VR, "/") {
			if vr, ok := dicom.ParseVR(part); ok {
				e.VRs = append(e.VRs, vr)
			}
		}
		out = append(out, e)
	}
	return out
}

func parsePixels(l *linter, raw json.RawMessage, pc *PixelConfig) {
	members, err := readObject(raw)
	if err != nil {
		l.add(SevError, "Pixels", err.Error(), "")
		return
	}
	for _, m := range members {
		f := "Pixels." + m.key
		switch m.key {
		case "Default":
			if err := json.Unmarshal(m.raw, &pc.Default); err != nil || pc.Default != "quarantine-if-risky" {
				l.add(SevError, f, `must be "quarantine-if-risky"`, "")
			}
		case "Masks":
			var masks []json.RawMessage
			if err := json.Unmarshal(m.raw, &masks); err != nil {
				l.add(SevError, f, "must be an array", "")
			} else if len(masks) > 0 {
				l.add(SevError, f, "pixel masks are not supported by this engine (v1)", "remove the masks; instances at pixel risk are quarantined")
			}
		case "Clear":
			var rules []json.RawMessage
			if err := json.Unmarshal(m.raw, &rules); err != nil {
				l.add(SevError, f, "must be an array of {When, Reason}", "")
				continue
			}
			for i, r := range rules {
				rf := fmt.Sprintf("%s[%d]", f, i)
				var cr struct {
					When   map[string]string
					Reason string
				}
				if err := decodeStrict(r, &cr); err != nil {
					l.add(SevError, rf, err.Error(), `e.g. {"When": {"Modality": "^OT$", "Manufacturer": "^ACME$"}, "Reason": "..."}`)
					continue
				}
				if len(cr.When) == 0 || cr.Reason == "" {
					l.add(SevError, rf, "needs a non-empty When and a Reason", "")
					continue
				}
				rule := ClearRule{Reason: cr.Reason}
				keys := make([]string, 0, len(cr.When))
				for k := range cr.When {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					tp, err := ParseTagPath(k)
					if err != nil || !tp.topLevel() {
						l.add(SevError, rf+".When", fmt.Sprintf("%q: conditions test top-level public attributes", k), "")
						continue
					}
					re, err := regexp.Compile(cr.When[k])
					if err != nil {
						l.add(SevError, rf+".When", fmt.Sprintf("%q: bad regular expression: %v", k, err), "")
						continue
					}
					rule.When = append(rule.When, Condition{Path: tp, Re: re})
				}
				pc.Clear = append(pc.Clear, rule)
			}
		default:
			l.add(SevError, f, "unknown field", suggest(m.key, []string{"Default", "Masks", "Clear"}))
		}
	}
}

// parseReplace reads the Replace object: tag path → value.
func parseReplace(l *linter, raw json.RawMessage) []ReplaceRule {
	members, err := readObject(raw)
	if err != nil {
		l.add(SevError, "Replace", err.Error(), "")
		return nil
	}
	var out []ReplaceRule
	for _, m := range members {
		field := "Replace." + m.key
		tp, err := ParseTagPath(m.key)
		if err != nil {
			l.add(SevError, field, err.Error(), "write a keyword, gggg,eeee, Seq[i].Child or (gggg,{Creator}ee)")
			continue
		}
		leaf := tp.leaf()
		vr := dicom.LO
		if !leaf.private {
			de, ok := dicom.LookupTag(leaf.tag)
			if !ok {
				l.add(SevError, field, "tag unknown to the data dictionary: its VR cannot be determined", "use a public dictionary attribute")
				continue
			}
			vr = de.VR()
			if de.Retired {
				l.add(SevWarning, field, "retired attribute", "")
			}
		}
		v, ok := parseReplaceValue(l, field, m.raw, vr)
		if !ok {
			continue
		}
		out = append(out, ReplaceRule{Path: tp, Value: v})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path.Canonical() < out[j].Path.Canonical() })
	return out
}

func parseReplaceValue(l *linter, field string, raw json.RawMessage, vr dicom.VR) (ReplaceValue, bool) {
	rv := ReplaceValue{VR: vr, kind: 's'}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return rv, false
	}
	switch trimmed[0] {
	case '"':
		var s string
		json.Unmarshal(raw, &s)
		if strings.HasPrefix(s, "data:") {
			b, err := parseDataURI(s)
			if err != nil {
				l.add(SevError, field, err.Error(), "use data:application/octet-stream;base64,<base64>")
				return rv, false
			}
			switch vr {
			case dicom.OB, dicom.OW, dicom.OD, dicom.OF, dicom.OL, dicom.OV, dicom.UN, dicom.LO:
			default:
				l.add(SevError, field, fmt.Sprintf("binary data cannot be stored in a %s element", vr), "")
				return rv, false
			}
			if vr == dicom.LO {
				rv.VR = dicom.UN
			}
			rv.kind, rv.Binary = 'b', b
			return rv, true
		}
		if vr == dicom.SQ {
			if s != "" {
				l.add(SevError, field, "a sequence takes an array of items (objects), or \"\" / [] for an empty sequence", "")
				return rv, false
			}
			rv.kind = 'q'
			return rv, true
		}
		rv.Values = splitValues(vr, s)
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(raw, &arr); err != nil {
			l.add(SevError, field, "invalid array", "")
			return rv, false
		}
		if vr == dicom.SQ {
			rv.kind = 'q'
			for i, it := range arr {
				item, ok := parseReplaceItem(l, fmt.Sprintf("%s[%d]", field, i), it)
				if !ok {
					return rv, false
				}
				rv.Items = append(rv.Items, item)
			}
			return rv, true
		}
		for _, a := range arr {
			s, ok := scalarString(a)
			if !ok {
				l.add(SevError, field, "array values must be strings or numbers", "")
				return rv, false
			}
			rv.Values = append(rv.Values, s)
		}
	case '{':
		l.add(SevError, field, "an object is not a value; a sequence takes an array of objects", "")
		return rv, false
	default:
		s, ok := scalarString(raw)
		if !ok {
			l.add(SevError, field, "value must be a string, number, array or data: URI", "")
			return rv, false
		}
		rv.Values = []string{s}
	}
	if vr == dicom.SQ {
		l.add(SevError, field, "a sequence takes an array of items (objects)", "")
		return rv, false
	}
	// Validate the cast with placeholders stood in by representative values.
	for _, v := range rv.Values {
		if err := checkTemplates(v); err != nil {
			l.add(SevError, field, err.Error(), "supported: ${ProjectCode} ${Site} ${PseudoPatientID} ${PseudoAccession} ${PseudoStudyID} ${KeyID} ${ProfileHash} ${SubjectHash} ${SessionHash} ${BirthYearOnly}")
			return rv, false
		}
		if strings.Contains(v, "${BirthYearOnly}") {
			l.risk(field, "${BirthYearOnly} retains the true birth year", "replace the birth date with a constant or remove it", AckBirthYearOnly)
		}
		sample := templateRE.ReplaceAllStringFunc(v, func(m string) string {
			switch m {
			case "${BirthYearOnly}":
				return "1900"
			case "${ProjectCode}", "${Site}":
				return "P"
			}
			return "ABCDEFGHIJKLMNOP"
		})
		if err := checkCast(vr, sample); err != nil {
			l.add(SevError, field, fmt.Sprintf("value cannot be cast to %s: %v", vr, err), "")
			return rv, false
		}
	}
	return rv, true
}

func parseReplaceItem(l *linter, field string, raw json.RawMessage) ([]ReplaceField, bool) {
	members, err := readObject(raw)
	if err != nil {
		l.add(SevError, field, err.Error(), "a sequence item is an object: tag → value")
		return nil, false
	}
	var out []ReplaceField
	for _, m := range members {
		f := field + "." + m.key
		tp, err := ParseTagPath(m.key)
		if err != nil || len(tp.steps) != 1 || tp.anyDepth || tp.steps[0].private {
			l.add(SevError, f, "item members are single public tags or keywords", "")
			return nil, false
		}
		de, ok := dicom.LookupTag(tp.steps[0].tag)
		if !ok {
			l.add(SevError, f, "tag unknown to the data dictionary", "")
			return nil, false
		}
		v, ok := parseReplaceValue(l, f, m.raw, de.VR())
		if !ok {
			return nil, false
		}
		out = append(out, ReplaceField{Tag: tp.steps[0].tag, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, true
}

func scalarString(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&n) == nil {
		return n.String(), true
	}
	return "", false
}

func splitValues(vr dicom.VR, s string) []string {
	if vr.IsMultiValued() {
		return strings.Split(s, `\`)
	}
	return []string{s}
}

func parseDataURI(s string) ([]byte, error) {
	comma := strings.IndexByte(s, ',')
	if comma < 0 || !strings.HasSuffix(s[:comma], ";base64") {
		return nil, errors.New("data: URI must be base64-encoded")
	}
	b, err := base64.StdEncoding.DecodeString(s[comma+1:])
	if err != nil {
		return nil, fmt.Errorf("data: URI: %w", err)
	}
	return b, nil
}

func checkTemplates(s string) error {
	for _, m := range templateRE.FindAllStringSubmatch(s, -1) {
		if !knownTemplates[m[1]] {
			return fmt.Errorf("unknown template ${%s}", m[1])
		}
	}
	rest := templateRE.ReplaceAllString(s, "")
	if strings.Contains(rest, "${") {
		return errors.New("unterminated ${ in template")
	}
	return nil
}

var (
	daRE = regexp.MustCompile(`^\d{8}$`)
	tmRE = regexp.MustCompile(`^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$`)
	dtRE = regexp.MustCompile(`^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$`)
	asRE = regexp.MustCompile(`^\d{3}[DWMY]$`)
)

// maxLen is the PS3.5 maximum value length in characters (0 = none).
func maxLen(vr dicom.VR) int {
	switch vr {
	case dicom.AE, dicom.CS, dicom.SH, dicom.DS, dicom.TM:
		return 16
	case dicom.AS:
		return 4
	case dicom.DA:
		return 8
	case dicom.IS:
		return 12
	case dicom.DT:
		return 26
	case dicom.LO, dicom.UI:
		return 64
	case dicom.PN:
		return 64 * 3
	case dicom.ST:
		return 1024
	case dicom.LT:
		return 10240
	}
	return 0
}

// checkCast validates one value (placeholders already stood in) for vr.
func checkCast(vr dicom.VR, s string) error {
	if s == "" {
		return nil
	}
	if n := maxLen(vr); n > 0 && len([]rune(s)) > n {
		return fmt.Errorf("longer than %d characters", n)
	}
	switch vr {
	case dicom.DA:
		if !daRE.MatchString(s) {
			return errors.New("want YYYYMMDD")
		}
	case dicom.TM:
		if !tmRE.MatchString(s) {
			return errors.New("want HHMMSS[.F]")
		}
	case dicom.DT:
		if !dtRE.MatchString(s) {
			return errors.New("want YYYYMMDDHHMMSS[.F][±ZZZZ]")
		}
	case dicom.AS:
		if !asRE.MatchString(s) {
			return errors.New("want nnnD/W/M/Y")
		}
	case dicom.CS:
		if !isCSForm(s) {
			return errors.New("CS allows A-Z, 0-9, space and _")
		}
	case dicom.UI:
		if !isUIForm(s) {
			return errors.New("not a valid UID")
		}
	case dicom.IS:
		if !isISForm(s) {
			return errors.New("not an integer string")
		}
	case dicom.DS:
		if !isDSForm(strings.TrimSpace(s)) {
			return errors.New("not a decimal string")
		}
	case dicom.US, dicom.UL, dicom.UV:
		if _, err := strconv.ParseUint(s, 10, bitsOf(vr)); err != nil {
			return errors.New("not an unsigned integer of that size")
		}
	case dicom.SS, dicom.SL, dicom.SV:
		if _, err := strconv.ParseInt(s, 10, bitsOf(vr)); err != nil {
			return errors.New("not a signed integer of that size")
		}
	case dicom.FL, dicom.FD:
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return errors.New("not a number")
		}
	case dicom.AT, dicom.OB, dicom.OW, dicom.OD, dicom.OF, dicom.OL, dicom.OV, dicom.UN:
		return fmt.Errorf("%s values need a data: URI", vr)
	case dicom.AE:
		if strings.Contains(s, `\`) {
			return errors.New("backslash not allowed")
		}
	}
	if !vr.UsesCharset() {
		for _, r := range s {
			if r >= 0x80 {
				return fmt.Errorf("%s allows only the default character repertoire", vr)
			}
		}
	}
	return nil
}

func bitsOf(vr dicom.VR) int {
	switch vr {
	case dicom.US, dicom.SS:
		return 16
	case dicom.UL, dicom.SL:
		return 32
	}
	return 64
}

// identifyingKind classifies the leaf of a Keep path for lint: "UID",
// "person name", "ID", "date" or "" (docs/deid.md, "Profile lint").
func identifyingKind(t dicom.Tag) string {
	de, _ := dicom.LookupTag(t)
	if row, ok := lookupRow(t); ok && parseCodeSet(row.Basic).has(CodeU) {
		return "UID"
	}
	switch de.VR() {
	case dicom.UI:
		return "UID"
	case dicom.PN:
		return "person name"
	case dicom.DA, dicom.DT, dicom.TM:
		return "date/time"
	}
	kw := de.Keyword
	if strings.HasSuffix(kw, "ID") || strings.HasSuffix(kw, "IDs") || strings.HasSuffix(kw, "Number") || strings.Contains(kw, "Identifier") {
		if _, ok := lookupRow(t); ok {
			return "ID"
		}
	}
	return ""
}

// lintUserRules checks Keep / Remove / Replace against each other, Force and
// the risky-keep rules.
func lintUserRules(l *linter, p *Profile) {
	type use struct{ list, raw string }
	seen := map[string][]use{}
	note := func(list string, tp TagPath) {
		c := tp.Canonical()
		seen[c] = append(seen[c], use{list, tp.raw})
	}
	for _, tp := range p.Keep {
		note("Keep", tp)
	}
	for _, tp := range p.Remove {
		note("Remove", tp)
	}
	for _, r := range p.Replace {
		note("Replace", r.Path)
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		uses := seen[k]
		if len(uses) > 1 {
			var lists []string
			for _, u := range uses {
				lists = append(lists, u.list)
			}
			msg := fmt.Sprintf("path %s appears in %s", uses[0].raw, strings.Join(lists, " and "))
			same := true
			for _, l := range lists {
				same = same && l == lists[0]
			}
			if same {
				l.add(SevWarning, uses[0].list, fmt.Sprintf("path %s is listed twice", uses[0].raw), "list it once")
				continue
			}
			if p.Strict {
				l.add(SevError, uses[0].list, msg, "keep it in one list")
			} else {
				l.add(SevWarning, uses[0].list, msg+"; Orthanc order applies (Keep beats Replace beats Remove)", "keep it in one list")
			}
		}
	}
	check4 := func(list string, tp TagPath) {
		if !tp.topLevel() {
			return
		}
		name, ok := fourKeys[tp.leaf().tag]
		if !ok {
			return
		}
		if list == "Remove" {
			l.add(SevError, "Remove", fmt.Sprintf("%s cannot be removed", name), "remove it from Remove (it is pseudonymised or remapped by the baseline)")
			return
		}
		if !p.Force {
			l.add(SevError, list, fmt.Sprintf("%s of %s needs \"Force\": true (as in Orthanc)", list, name), `add "Force": true`)
		}
	}
	for _, tp := range p.Remove {
		check4("Remove", tp)
	}
	for _, r := range p.Replace {
		check4("Replace", r.Path)
	}
	for _, tp := range p.Keep {
		check4("Keep", tp)
		leaf := tp.leaf()
		if leaf.private {
			continue
		}
		if kind := identifyingKind(leaf.tag); kind != "" {
			l.risk("Keep", fmt.Sprintf("keeps %s %s with its original value", kind, tp.raw),
				fmt.Sprintf("remove %s from Keep, or list it in AcknowledgeRisk", tp.raw), "path:"+tp.Canonical())
		} else if _, ok := lookupRow(leaf.tag); ok {
			l.add(SevWarning, "Keep", fmt.Sprintf("keeps %s, which PS3.15 Table E.1-1 lists as identifying (the gate still checks it)", tp.raw), "")
		}
	}
}

// acknowledged reports whether the profile acknowledges key.
func (p *Profile) acknowledged(key string) bool { return p.acked[key] }
