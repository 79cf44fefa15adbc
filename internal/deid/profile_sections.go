package deid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// The parsers of the profile's sections (Pseudonyms, Dates, SafePrivate,
// Pixels, Replace), each adding its findings to the linter.

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
