package deid

import (
	"fmt"
	"regexp"
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

// DefaultDates are the date-shift defaults (docs/deid.md, "Fields").
var DefaultDates = DateConfig{MinDays: 180, MaxDays: 1825, Direction: "past", WeekAligned: true, BirthDate: "remove", ComputeAge: true, AgeCapYears: 90}

// acknowledged reports whether the profile acknowledges key.
func (p *Profile) acknowledged(key string) bool { return p.acked[key] }
