package deid

import (
	"bufio"
	_ "embed"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// allowlist.tsv is the reviewed list of public attributes outside Table
// E.1-1 that may leave the facility (docs/deid.md, "Allowlist").
//
//go:embed allowlist.tsv
var allowlistTSV string

// allowTreatment is what an allowlist entry lets through.
type allowTreatment uint8

const (
	allowKeep  allowTreatment = iota + 1 // kept as is (form-checked)
	allowClean                           // cleaned, then kept
	allowItems                           // a sequence whose items are judged element by element
)

type allowEntry struct {
	treatment allowTreatment
	reason    string
	line      int
}

// allowlist holds the parsed file: keyword entries by tag, VR-class
// entries by VR.
type allowlist struct {
	byTag map[dicom.Tag]allowEntry
	byVR  map[dicom.VR]allowEntry
}

var allowed = func() *allowlist {
	a, err := parseAllowlist(allowlistTSV)
	if err != nil {
		panic("deid: allowlist.tsv: " + err.Error())
	}
	return a
}()

func parseAllowlist(src string) (*allowlist, error) {
	a := &allowlist{byTag: map[dicom.Tag]allowEntry{}, byVR: map[dicom.VR]allowEntry{}}
	sc := bufio.NewScanner(strings.NewReader(src))
	n := 0
	var problems []string
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 || strings.TrimSpace(f[2]) == "" {
			problems = append(problems, fmt.Sprintf("line %d: want keyword<TAB>treatment<TAB>reason", n))
			continue
		}
		e := allowEntry{reason: f[2], line: n}
		switch f[1] {
		case "keep":
			e.treatment = allowKeep
		case "clean":
			e.treatment = allowClean
		case "items":
			e.treatment = allowItems
		default:
			problems = append(problems, fmt.Sprintf("line %d: treatment %q is not keep, clean or items", n, f[1]))
			continue
		}
		if vrName, ok := strings.CutPrefix(f[0], "@"); ok {
			vr, known := dicom.ParseVR(vrName)
			if !known {
				problems = append(problems, fmt.Sprintf("line %d: unknown VR %q", n, vrName))
				continue
			}
			if _, dup := a.byVR[vr]; dup {
				problems = append(problems, fmt.Sprintf("line %d: VR %s listed twice", n, vrName))
			}
			a.byVR[vr] = e
			continue
		}
		de, ok := dicom.LookupKeyword(f[0])
		if !ok {
			problems = append(problems, fmt.Sprintf("line %d: %q is not a keyword of the data dictionary", n, f[0]))
			continue
		}
		if _, dup := a.byTag[de.Tag]; dup {
			problems = append(problems, fmt.Sprintf("line %d: %s listed twice", n, f[0]))
		}
		a.byTag[de.Tag] = e
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return a, nil
}

// valueFormOK reports whether every value of a kept element has the form
// of its VR (a DS that is a decimal number, a CS in the CS character set):
// a number slot or a code slot used to carry text fails.
func valueFormOK(e *dicom.Element, vr dicom.VR) bool {
	var form func(string) bool
	switch vr {
	case dicom.DS:
		form = isDSForm
	case dicom.IS:
		form = isISForm
	case dicom.CS: // upper-case letters, digits, space, underscore
		form = isCSForm
	case dicom.FL, dicom.FD, dicom.UL, dicom.SL, dicom.SV, dicom.UV:
	case dicom.AT:
		b, err := e.Bytes()
		return err == nil && atValuesOK(b)
	default:
		return true
	}
	b, _ := e.Bytes()
	if numberVRs[vr] {
		return binaryNumbersOK(b, vr)
	}
	if form == nil {
		return true
	}
	for i := 0; i < len(b); i++ {
		if b[i] >= 0x80 || (b[i] < 0x20 && b[i] != 0) {
			return false
		}
	}
	for _, v := range e.Strings() {
		v = strings.Trim(v, " \x00")
		if v != "" && (len(v) > maxLen(vr) || !form(v)) {
			return false
		}
		if (vr == dicom.DS || vr == dicom.IS) && identifierLikeNumber(v) {
			return false
		}
	}
	return true
}

// identifierLikeNumber reports a whole number with nine or more
// significant digits (a phone, account or record number written as a
// DS or IS, also in scientific notation). Measurements have fewer
// significant digits or a fraction; counts and indices are smaller.
func identifierLikeNumber(v string) bool {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) < 1e8 {
		return false
	}
	digits := strings.TrimRight(strconv.FormatFloat(math.Abs(f), 'f', 0, 64), "0")
	return len(digits) >= 9
}

// resolveAllowed is the last step of resolve for a public attribute that
// Table E.1-1 does not list: kept when the allowlist names it (by keyword,
// or by its VR for numbers and code strings) and its value has the VR's
// form; otherwise removed, or emptied when the IOD needs it present.
func (s *state) resolveAllowed(e *dicom.Element, vr dicom.VR, loc []locStep, c walkCtx) action {
	entry, ok := allowed.byTag[e.Tag]
	rule := "allowlist"
	if !ok && !e.IsSequence() {
		entry, ok = allowed.byVR[vr]
		rule = "allowlist @" + vr.String()
	}
	if ok {
		switch {
		case entry.treatment == allowItems && e.IsSequence():
			return action{code: CodeK, kind: akAllow, rule: rule + " (items judged)"}
		case entry.treatment == allowItems || e.IsSequence():
			// A keyword entry for a sequence met as a value, or the reverse:
			// the element is not what the entry was reviewed for.
		case !valueFormOK(e, vr):
			s.report.warn("value-form", formatLoc(loc, true), "value does not have the form of its VR")
			return s.notAllowed(e, loc, c, "allowlist: value not in the form of "+vr.String())
		case entry.treatment == allowClean:
			return action{code: CodeC, kind: akAllow, rule: rule + " (cleaned)"}
		case s.p.Descriptors == "strict" && (vr.UsesCharset() || vr == dicom.CS) && !codeKeywords[e.Tag] && e.Tag != dicom.TagSpecificCharacterSet:
			// Strict descriptors: kept text (equipment names, code
			// strings, labels) goes through the same word filter as the
			// descriptions, so a name in a model name or a CS slot falls out.
			return action{code: CodeC, kind: akAllow, rule: rule + " (strict descriptors)"}
		default:
			return action{code: CodeK, kind: akAllow, rule: rule}
		}
	}
	return s.notAllowed(e, loc, c, "not in the allowlist")
}

// notAllowed removes an element the allowlist does not let through, or
// empties it when the IOD makes it Type 2 (present, may be empty).
func (s *state) notAllowed(e *dicom.Element, loc []locStep, c walkCtx, rule string) action {
	s.report.NotAllowed++
	if typ, known := iodType(s.sop, c.parentSeq, e.Tag); known && typ == 2 {
		return action{code: CodeZ, kind: akVR, rule: rule + " (emptied: Type 2)"}
	}
	return action{code: CodeX, kind: akVR, rule: rule}
}

// privateFormOK checks a kept private value against the VR the safe
// private list gives it: decimal and integer strings and codes by their
// form, binary numbers by their length. Other VRs are read by the gate.
func privateFormOK(e *dicom.Element, vr dicom.VR) bool {
	size := 0
	switch vr {
	case dicom.DS, dicom.IS, dicom.CS:
		c := *e
		c.VR = vr // read the bytes as the slot's VR (UN has no value form)
		return valueFormOK(&c, vr)
	case dicom.US, dicom.SS:
		size = 2
	case dicom.UL, dicom.SL, dicom.FL, dicom.AT:
		size = 4
	case dicom.FD, dicom.SV, dicom.UV:
		size = 8
	default:
		return true
	}
	b, err := e.Bytes()
	return err == nil && len(b)%size == 0
}

var (
	tagCodingSchemeVersion = dicom.MustTag("CodingSchemeVersion")
	tagContextIdentifier   = dicom.MustTag("ContextIdentifier")
	loincRE                = regexp.MustCompile(`^\d{1,7}-\d$`)
	dcmCodeRE              = regexp.MustCompile(`^\d{5,6}$`)
	srtCodeRE              = regexp.MustCompile(`^[A-Z]-[0-9A-Z]{4,6}$`)
	schemeVersionRE        = regexp.MustCompile(`^[0-9A-Za-z._-]{1,16}$`)
	contextIDRE            = regexp.MustCompile(`^\d{1,5}$`)
	digitRunRE             = regexp.MustCompile(`\d{9,}`)
	// schemeCodeRE: the code forms of registered schemes whose codes
	// have one (a UMLS CUI, a RadLex ID, an NCI Thesaurus code, an FMA
	// ID, an ICD-10 code).
	schemeCodeRE = map[string]*regexp.Regexp{
		"UMLS":   regexp.MustCompile(`^C\d{7}$`),
		"RADLEX": regexp.MustCompile(`^RP?ID\d{1,7}$`),
		"NCIt":   regexp.MustCompile(`^C\d{1,7}$`),
		"NCI":    regexp.MustCompile(`^C\d{1,7}$`),
		"FMA":    regexp.MustCompile(`^\d{1,7}$`),
		"MDC":    regexp.MustCompile(`^(\d{1,10}|MDC_[A-Z0-9_]{1,60})$`),
		"ICD10":  regexp.MustCompile(`^[A-Z]\d{2}(\.?[0-9A-Z]{1,4})?$`),
		"I10":    regexp.MustCompile(`^[A-Z]\d{2}(\.?[0-9A-Z]{1,4})?$`),
	}
	longCodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	urnCodeRE  = regexp.MustCompile(`^urn:(oid:[0-2](\.(0|[1-9][0-9]{0,7}))+|uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
)

// codeItemFormOK checks the coded part of a code item of a registered
// scheme against that scheme's form: a SNOMED CT identifier carries a
// Verhoeff check digit, a LOINC code a mod-10 one, a DCM code is five or
// six digits; a scheme version has a digit; a context group identifier
// is a number. A code item failing it carries something else (a phone
// number in a code value, a name in a version) and is removed.
func codeItemFormOK(it *dicom.Dataset) bool {
	// The long and URN forms carry the code when it does not fit a Code
	// Value: a long code is one token of code characters (no spaces), a
	// URN code an OID or UUID URN. Anything else in them is not a code.
	urn := strings.Trim(it.String(tagURNCodeValue), " \x00")
	if urn != "" && !urnCodeRE.MatchString(urn) {
		return false
	}
	v := strings.TrimSpace(it.String(tagCodeValue))
	long := strings.Trim(it.String(tagLongCodeValue), " \x00")
	switch {
	case long != "" && v != "":
		return false // one of the two, never both (PS3.3 Code Sequence Macro)
	case long != "":
		if !longCodeRE.MatchString(long) {
			return false
		}
		v = long
	}
	scheme := it.String(tagCodingSchemeDesignator)
	switch {
	case v == "" && urn != "":
		// The URN is the code, and has been checked.
	case scheme == "SCT":
		if !sctidOK(v) {
			return false
		}
	case scheme == "LN":
		if !loincRE.MatchString(v) || !loincCheckOK(v) {
			return false
		}
	case scheme == "DCM":
		if !dcmCodeRE.MatchString(v) {
			return false
		}
	case scheme == "SRT" || scheme == "SNM3":
		if !srtCodeRE.MatchString(v) {
			return false
		}
	default:
		if re, ok := schemeCodeRE[scheme]; ok {
			if !re.MatchString(v) {
				return false
			}
		} else if (len(v) > 16 && long == "") || digitRunRE.MatchString(v) || nameLikeCode(v) {
			return false
		}
		if scheme == "UCUM" && !ucumOK(v) {
			return false
		}
	}
	if ver := strings.TrimSpace(it.String(tagCodingSchemeVersion)); ver != "" &&
		(!schemeVersionRE.MatchString(ver) || !strings.ContainsAny(ver, "0123456789")) {
		return false
	}
	if cid := strings.TrimSpace(it.String(tagContextIdentifier)); cid != "" && !contextIDRE.MatchString(cid) {
		return false
	}
	return true
}

// sctidOK: a SNOMED CT identifier is 6 to 18 digits, the last a Verhoeff
// check digit over the others.
func sctidOK(v string) bool {
	if len(v) < 6 || len(v) > 18 || !allDigits(v) || v[0] == '0' {
		return false
	}
	// The partition identifier (the two digits before the check digit)
	// says what the identifier names: 00 and 10 are concepts, the only
	// kind a code value holds.
	if part := v[len(v)-3 : len(v)-1]; part != "00" && part != "10" {
		return false
	}
	d := [10][10]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}
	p := [8][10]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8}}
	c := 0
	for i := 0; i < len(v); i++ {
		c = d[c][p[i%8][int(v[len(v)-1-i]-'0')]]
	}
	return c == 0
}

// loincCheckOK verifies a LOINC code's mod-10 check digit (the Luhn
// scheme over the digits before the hyphen).
func loincCheckOK(v string) bool {
	num, check, _ := strings.Cut(v, "-")
	sum := 0
	double := true
	for i := len(num) - 1; i >= 0; i-- {
		n := int(num[i] - '0')
		if double {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return (10-sum%10)%10 == int(check[0]-'0')
}

// numberVRs are the binary number VRs whose values are checked like DS
// and IS: a whole number of nine or more significant digits is an
// identifier, not a measurement.
var numberVRs = map[dicom.VR]bool{dicom.FL: true, dicom.FD: true, dicom.UL: true, dicom.SL: true, dicom.SV: true, dicom.UV: true}

// binarySize is the size of one value of a binary number VR (0 for
// another VR).
func binarySize(vr dicom.VR) int {
	switch vr {
	case dicom.FL, dicom.UL, dicom.SL:
		return 4
	case dicom.FD, dicom.SV, dicom.UV:
		return 8
	}
	return 0
}

// binaryNumber reads the little-endian value of vr at the start of b
// (binarySize(vr) bytes).
func binaryNumber(b []byte, vr dicom.VR) float64 {
	switch vr {
	case dicom.FL:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case dicom.FD:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case dicom.UL:
		return float64(binary.LittleEndian.Uint32(b))
	case dicom.SL:
		return float64(int32(binary.LittleEndian.Uint32(b)))
	case dicom.UV:
		return float64(binary.LittleEndian.Uint64(b))
	case dicom.SV:
		return float64(int64(binary.LittleEndian.Uint64(b)))
	}
	return 0
}

func binaryNumbersOK(b []byte, vr dicom.VR) bool {
	size := binarySize(vr)
	if size == 0 || len(b)%size != 0 {
		return false
	}
	for i := 0; i+size <= len(b); i += size {
		f := binaryNumber(b[i:], vr)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		if identifierLikeNumber(strconv.FormatFloat(f, 'f', -1, 64)) {
			return false
		}
	}
	return true
}

// wholeNumberSpellings calls fn with the decimal spelling of every whole
// value of six or more digits that e holds as vr (binary numbers read
// little endian, DS and IS as text), until fn returns true; it reports
// whether fn did. A birth date (19600102) or a record number of fewer
// digits than identifierLikeNumber catches is such a value, written as
// a number instead of as text (docs/deid.md, "Numbers that spell an
// identifier").
func wholeNumberSpellings(e *dicom.Element, vr dicom.VR, fn func(string) bool) bool {
	spell := func(f float64) bool {
		if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
			return false
		}
		if a := math.Abs(f); a < 1e5 || a >= 1e17 {
			return false
		}
		return fn(strconv.FormatFloat(math.Abs(f), 'f', 0, 64))
	}
	if vr == dicom.DS || vr == dicom.IS {
		for _, v := range e.Strings() {
			v = strings.Trim(v, " \x00")
			if len(v) < 6 {
				continue
			}
			if f, err := strconv.ParseFloat(v, 64); err == nil && spell(f) {
				return true
			}
		}
		return false
	}
	size := binarySize(vr)
	if size == 0 {
		return false
	}
	b, err := e.Bytes()
	if err != nil {
		return false
	}
	for i := 0; i+size <= len(b); i += size {
		f := binaryNumber(b[i:], vr)
		if spell(f) {
			return true
		}
	}
	return false
}

// nameLikeCode reports a code value of six or more letters and nothing
// else: codes of the schemes without a checked form are numbers,
// abbreviations or compounds with digits and symbols, while a word of
// that shape can be a person's name.
func nameLikeCode(v string) bool {
	if len(v) < 6 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// UCUM: the letter runs of a unit code are a prefix and an atom (mm, kBq,
// mmHg, Cel); an annotation in braces is one of a few common words. Other
// letters are not a unit.
var (
	ucumPrefixes = []string{"", "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "da", "d", "c", "m", "u", "n", "p", "f", "a"}
	ucumAtoms    = map[string]bool{}
	ucumNotes    = map[string]bool{"ratio": true, "beats": true, "beat": true, "counts": true, "count": true, "cells": true,
		"score": true, "index": true, "breaths": true, "events": true, "copies": true, "#": true, "s": true, "HB": true, "dose": true, "slices": true}
)

func init() {
	for _, a := range strings.Fields(`m s g l L t Hz N Pa J W A V C F Ohm S Wb T H Cel K mol cd sr rad Gy Sv Bq Ci R
		RAD REM deg min h d wk mo a bar eV u mmHg Torr atm cal kcal dB B Np U IU eq osm gf ph lm lx ar
		Gal G Mx Oe Gb P St sb Lmb Ky Bi St cc dyn erg i in ft yd mi ppm ppb ppt pct`) {
		ucumAtoms[a] = true
	}
}

func ucumOK(v string) bool {
	for len(v) > 0 {
		if v[0] == '{' {
			end := strings.IndexByte(v, '}')
			if end < 0 || !ucumNotes[v[1:end]] {
				return false
			}
			v = v[end+1:]
			continue
		}
		n := 0
		for n < len(v) && (v[n]|0x20 >= 'a' && v[n]|0x20 <= 'z') {
			n++
		}
		if n == 0 {
			v = v[1:]
			continue
		}
		run := v[:n]
		ok := false
		for _, p := range ucumPrefixes {
			if strings.HasPrefix(run, p) && ucumAtoms[run[len(p):]] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
		v = v[n:]
	}
	return true
}

// atValuesOK: every value of a kept public AT element (a pointer such as
// Frame Increment Pointer or Dimension Index Pointer) names an attribute
// of the data dictionary. Four bytes of text read as a tag name nothing
// (a private tag is no use either: private elements leave only through
// the safe-private list, which checks its own).
func atValuesOK(b []byte) bool {
	if len(b)%4 != 0 {
		return false
	}
	for i := 0; i+4 <= len(b); i += 4 {
		t := dicom.NewTag(binary.LittleEndian.Uint16(b[i:]), binary.LittleEndian.Uint16(b[i+2:]))
		if t.IsPrivate() {
			return false
		}
		if _, ok := dicom.LookupTag(t); !ok {
			return false
		}
	}
	return true
}
