package deid

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Replace values: casts to the target VR, templates and the limits of
// each VR.

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
