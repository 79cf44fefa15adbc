package deid

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// LoadProfile parses and lints a profile. On rejection the error is a
// *ProfileError listing every finding with the field and the fix.
//
// It runs in stages: the JSON is read and hashed (canonicalProfile), the
// acknowledgements are read first since the other checks consult them,
// each top-level field is parsed (parseFields), the fields are linted
// against each other (lintCombinations) and against the user's rules
// (lintReplace, lintUserRules), and the findings are settled
// (settleFindings).
func LoadProfile(data []byte) (*Profile, error) {
	p := defaultProfile()
	members, hash, fail := canonicalProfile(data)
	if fail != nil {
		return nil, &ProfileError{Findings: []Finding{*fail}}
	}
	p.Hash = hash
	l := &linter{acks: map[string]bool{}, used: map[string]bool{}}
	byKey := map[string]json.RawMessage{}
	for _, m := range members {
		byKey[m.key] = m.raw
	}
	p.readAcknowledgements(l, byKey)
	pend := p.parseFields(l, members)
	p.lintCombinations(l, pend)
	p.lintReplace(l, pend.replaceRaw)
	return p.settleFindings(l)
}

// defaultProfile is a profile before its file is read: every default of
// docs/deid.md, "Fields".
func defaultProfile() *Profile {
	return &Profile{
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
}

// canonicalProfile reads the profile's members in order and hashes its
// canonical form; a file that is not one JSON object with unique keys is
// one failing finding.
func canonicalProfile(data []byte) ([]kv, string, *Finding) {
	fail := func(msg, fix string) ([]kv, string, *Finding) {
		return nil, "", &Finding{Severity: SevError, Field: "(file)", Message: msg, Fix: fix}
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return fail(fmt.Sprintf("not valid JSON: %v", err), "fix the JSON syntax")
	}
	members, err := readObject(data)
	if err != nil {
		return fail(err.Error(), "the profile is one JSON object with unique keys")
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return fail(err.Error(), "")
	}
	var canon bytes.Buffer
	enc := json.NewEncoder(&canon)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil {
		return fail(err.Error(), "")
	}
	sum := sha256.Sum256(bytes.TrimRight(canon.Bytes(), "\n"))
	return members, hex.EncodeToString(sum[:]), nil
}

// readAcknowledgements reads AcknowledgeRisk before anything else: other
// checks consult it.
func (p *Profile) readAcknowledgements(l *linter, byKey map[string]json.RawMessage) {
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
}

// pending is what parseFields leaves for the later stages: fields that
// are judged together with others.
type pending struct {
	replaceRaw                 json.RawMessage
	keepPrivate, removePrivate *bool
	dateOpts                   []string
}

// parseFields parses each top-level field into p.
func (p *Profile) parseFields(l *linter, members []kv) pending {
	var pend pending
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
					pend.dateOpts = append(pend.dateOpts, n)
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
			pend.replaceRaw = raw
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
			pend.keepPrivate = new(bool)
			if err := json.Unmarshal(raw, pend.keepPrivate); err != nil {
				l.add(SevError, field, "must be true or false", "")
			}
		case "RemovePrivateTags":
			pend.removePrivate = new(bool)
			if err := json.Unmarshal(raw, pend.removePrivate); err != nil {
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
	return pend
}

// lintCombinations judges the fields against each other: baseline and
// options, private tags, namespaces, dates and pixels.
func (p *Profile) lintCombinations(l *linter, pend pending) {
	if p.Name == "" {
		// Orthanc bodies (the legacy template) have no Name: accepted, so
		// that the original file loads unchanged once acknowledged.
		p.Name = "unnamed"
		l.add(SevInfo, "Name", "not set; reports say \"unnamed\"", `add "Name": "<site>-<purpose>"`)
	}
	if p.Baseline == "none" && !p.AllowNoBaseline {
		l.add(SevError, "Baseline", `"none" disables the PS3.15 rules`, `add "AllowNoBaseline": true if this is really wanted`)
	}
	if len(pend.dateOpts) > 1 {
		l.add(SevError, "Options", "RetainLongitudinalFullDates and RetainLongitudinalModifiedDates are mutually exclusive", "keep one of them")
	}
	if !p.Strict {
		l.risk("Strict", "non-strict loading turns lint errors into warnings", `remove "Strict": false`, AckNotStrict)
	}
	// Private tags.
	if pend.keepPrivate != nil && *pend.keepPrivate {
		if pend.removePrivate != nil && *pend.removePrivate {
			l.add(SevError, "KeepPrivateTags", "KeepPrivateTags and RemovePrivateTags are both true", "keep one of them")
		}
		l.risk("KeepPrivateTags", "keeps every private element (vendors put names and IDs there)", `use Options "RetainSafePrivate" with SafePrivate entries instead`, AckKeepPrivateTags)
		p.KeepPrivateTags = true
	}
	if pend.removePrivate != nil && !*pend.removePrivate {
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
}

// lintReplace parses Replace (after the other fields: its casts depend on
// them) and lints the user's rules.
func (p *Profile) lintReplace(l *linter, replaceRaw json.RawMessage) {
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
}

// settleFindings warns of unused acknowledgements, applies non-strict
// loading and rejects the profile if an unwaived error remains.
func (p *Profile) settleFindings(l *linter) (*Profile, error) {
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
