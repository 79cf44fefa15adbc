package deid

import (
	"sort"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Option is a PS3.15 Annex E profile option. The first numTableOptions
// options have a column in Table E.1-1, in the table's column order.
type Option int

// The PS3.15 options, by their profile keywords.
const (
	OptRetainSafePrivate Option = iota
	OptRetainUIDs
	OptRetainDeviceIdentity
	OptRetainInstitutionIdentity
	OptRetainPatientCharacteristics
	OptRetainLongitudinalFullDates
	OptRetainLongitudinalModifiedDates
	OptCleanDescriptors
	OptCleanStructuredContent
	OptCleanGraphics
	OptCleanPixelData
	OptCleanRecognizableVisualFeatures
)

const (
	// numTableOptions is the number of options with a Table E.1-1 column.
	numTableOptions = int(OptCleanPixelData)
	numOptions      = int(OptCleanRecognizableVisualFeatures) + 1
)

type optionInfo struct {
	Keyword string
	Code    string // DCM code value for De-identification Method Code Sequence
	Meaning string
}

var optionInfos = [numOptions]optionInfo{
	OptRetainSafePrivate:               {"RetainSafePrivate", "113111", "Retain Safe Private Option"},
	OptRetainUIDs:                      {"RetainUIDs", "113110", "Retain UIDs Option"},
	OptRetainDeviceIdentity:            {"RetainDeviceIdentity", "113109", "Retain Device Identity Option"},
	OptRetainInstitutionIdentity:       {"RetainInstitutionIdentity", "113112", "Retain Institution Identity Option"},
	OptRetainPatientCharacteristics:    {"RetainPatientCharacteristics", "113108", "Retain Patient Characteristics Option"},
	OptRetainLongitudinalFullDates:     {"RetainLongitudinalFullDates", "113106", "Retain Longitudinal Temporal Information Full Dates Option"},
	OptRetainLongitudinalModifiedDates: {"RetainLongitudinalModifiedDates", "113107", "Retain Longitudinal Temporal Information Modified Dates Option"},
	OptCleanDescriptors:                {"CleanDescriptors", "113105", "Clean Descriptors Option"},
	OptCleanStructuredContent:          {"CleanStructuredContent", "113104", "Clean Structured Content Option"},
	OptCleanGraphics:                   {"CleanGraphics", "113103", "Clean Graphics Option"},
	OptCleanPixelData:                  {"CleanPixelData", "113101", "Clean Pixel Data Option"},
	OptCleanRecognizableVisualFeatures: {"CleanRecognizableVisualFeatures", "113102", "Clean Recognizable Visual Features Option"},
}

func (o Option) String() string {
	if o < 0 || int(o) >= numOptions {
		return "Option(?)"
	}
	return optionInfos[o].Keyword
}

func lookupOption(kw string) (Option, bool) {
	for i, oi := range optionInfos {
		if oi.Keyword == kw {
			return Option(i), true
		}
	}
	return 0, false
}

// OptionSet is a set of options.
type OptionSet uint32

// Has reports whether o is in the set.
func (s OptionSet) Has(o Option) bool { return s&(1<<o) != 0 }

func (s *OptionSet) add(o Option) { *s |= 1 << o }

// List returns the options in the set, in table order.
func (s OptionSet) List() []Option {
	var out []Option
	for i := range numOptions {
		if s.Has(Option(i)) {
			out = append(out, Option(i))
		}
	}
	return out
}

// Code is one PS3.15 Table E.1-1a action code.
type Code byte

// Action codes of PS3.15 Table E.1-1a.
const (
	CodeX Code = 'X' // remove
	CodeZ Code = 'Z' // zero-length (or dummy)
	CodeD Code = 'D' // dummy value
	CodeK Code = 'K' // keep
	CodeC Code = 'C' // clean
	CodeU Code = 'U' // consistent replacement UID
)

func (c Code) String() string { return string(rune(c)) }

// protect ranks codes from most to least protective: X > Z > D > C > U > K.
func protect(c Code) int {
	switch c {
	case CodeX:
		return 6
	case CodeZ:
		return 5
	case CodeD:
		return 4
	case CodeC:
		return 3
	case CodeU:
		return 2
	case CodeK:
		return 1
	}
	return 0
}

// codeSet is a possibly conditional code such as "X/Z/D": the leftmost
// alternative applies unless the IOD requires the attribute.
type codeSet struct {
	alts  []Code
	uStar bool // "X/Z/U*": a required sequence is kept with its UIDs remapped
}

func parseCodeSet(s string) codeSet {
	var cs codeSet
	for _, p := range strings.Split(s, "/") {
		if p == "" {
			continue
		}
		if p == "U*" {
			cs.uStar = true
			cs.alts = append(cs.alts, CodeU)
			continue
		}
		cs.alts = append(cs.alts, Code(p[0]))
	}
	return cs
}

func (cs codeSet) String() string {
	var b strings.Builder
	for i, c := range cs.alts {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteByte(byte(c))
		if c == CodeU && cs.uStar {
			b.WriteByte('*')
		}
	}
	return b.String()
}

func (cs codeSet) conditional() bool { return len(cs.alts) > 1 }

func (cs codeSet) has(c Code) bool {
	for _, a := range cs.alts {
		if a == c {
			return true
		}
	}
	return false
}

// tableRow is one row of Table E.1-1 (or, with Tag zero, of Table E.3.4-1).
type tableRow struct {
	Tag      dicom.Tag
	Mask     uint32
	Name     string
	Basic    string
	Options  [numTableOptions]string
	Retired  bool
	InStdIOD bool
}

// srRow is one row of Table E.3.4-1.
type srRow struct {
	CodeValue, Scheme, ValueType string
	Row                          tableRow
}

// safePrivateRow is one row of Table E.3.10-1.
type safePrivateRow struct {
	Group   uint16
	Element uint8
	Creator string
	VR      string
	VM      string
	Meaning string
}

// lookupRow finds the Table E.1-1 row of a public tag: exact, else one of
// the repeating rows (even groups 5000-501E / 6000-601E only).
func lookupRow(t dicom.Tag) (*tableRow, bool) {
	i := sort.Search(len(basicRows), func(i int) bool { return basicRows[i].Tag >= t })
	if i < len(basicRows) && basicRows[i].Tag == t {
		return &basicRows[i], true
	}
	g := t.Group()
	if g%2 == 0 && ((g >= 0x5000 && g <= 0x501E) || (g >= 0x6000 && g <= 0x601E)) {
		for j := range repeatingRows {
			r := &repeatingRows[j]
			if uint32(t)&r.Mask == uint32(r.Tag)&r.Mask {
				return r, true
			}
		}
	}
	return nil, false
}

// resolve applies the enabled options to a row: start from the basic
// profile; every enabled option with a code replaces it; among several
// options the most protective code wins. The result may still be
// conditional (e.g. X/D) when no option applies.
func (r *tableRow) resolve(opts OptionSet) (codeSet, Option, bool) {
	var best Code
	var bestOpt Option
	for i := range numTableOptions {
		o := Option(i)
		if !opts.Has(o) || r.Options[i] == "" {
			continue
		}
		c := parseCodeSet(r.Options[i]).alts[0]
		if best == 0 || protect(c) > protect(best) {
			best, bestOpt = c, o
		}
	}
	if best != 0 {
		return codeSet{alts: []Code{best}}, bestOpt, true
	}
	return parseCodeSet(r.Basic), 0, false
}

var srIndex = func() map[[3]string]*srRow {
	m := make(map[[3]string]*srRow, len(srRows))
	for i := range srRows {
		r := &srRows[i]
		m[[3]string{r.CodeValue, r.Scheme, r.ValueType}] = r
	}
	return m
}()

func lookupSRRow(value, scheme, valueType string) (*srRow, bool) {
	r, ok := srIndex[[3]string{value, scheme, valueType}]
	return r, ok
}
