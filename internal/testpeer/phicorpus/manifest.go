// Package phicorpus is an adversarial de-identification corpus and the
// scanner that judges it. Generate writes DICOM files (built from the
// repository's sample files and from synthetic instances) in which
// identifiers are planted where de-identification engines are known to
// miss them: text in JPEG, JPEG-LS and JPEG 2000 codestreams, names in
// ISO 2022 Japanese, GB18030, Latin-1 and decomposed UTF-8, family names
// equal to kept coded values, public attributes outside PS3.15 Table
// E.1-1, text in safe-private numeric slots, descriptor evasions (zero
// width spaces, transliterations, full-width letters, spelled dates),
// file meta, private creators, UN public elements, binary values, deep
// sequences, long and multi-valued values, PN groups, association AE
// titles, labels and UIDs. Every planted identifier is listed in the
// returned Manifest with its leak class, kind, file, location and exact
// strings.
//
// The Scanner is independent of internal/deid: it searches bytes (raw, as
// Latin-1, UTF-8, UTF-16LE/BE, ISO 2022 IR 87, GB18030), Unicode-folded
// text (NFKC, case fold, no format characters, no diacritics, German
// transliteration), digit-only forms of numbers and dates, and reports
// every hit per planted identifier, located in the DICOM element that
// holds it when the bytes parse. A Tally turns hits into the per-class
// and per-kind table the harness tests print.
//
// Test support only (it takes a testing.TB, like internal/testpeer/synth).
package phicorpus

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Scope says where a planted identifier counts as leaked.
type Scope string

const (
	// ScopeAll: anywhere (file bytes, names, logs, events, HTTP).
	ScopeAll Scope = "all"
	// ScopeLabels: only in labels derived from the data: folder and file
	// names, object keys, MANIFEST.json, XNAT labels. For values that the
	// output may legitimately carry in a kept element (a family name equal
	// to Body Part Examined "HEAD").
	ScopeLabels Scope = "labels"
)

// Planted is one identifier planted in one place.
type Planted struct {
	ID    int    `json:"id"`
	Class string `json:"class"` // leak route family (see Classes)
	Route string `json:"route"` // the precise route, e.g. "JPEG COM segment"
	Kind  string `json:"kind"`  // name, mrn, birth-date, phone, ...
	File  string `json:"file"`  // corpus file (relative path)
	// Path is the location: a tag path like "(0040,0275)/(0040,0008)/(0008,0104)",
	// "(7FE0,0010)" for pixel data, "preamble", or "association" for the
	// association's AE titles (not in the file's bytes).
	Path string `json:"path"`
	// Strings are the exact values written (UTF-8), Needles what the
	// scanner searches for (components, alternative spellings).
	Strings []string `json:"strings"`
	Needles []string `json:"needles"`
	Scope   Scope    `json:"scope"`
	// Known: the same identifier is also in the instance's identifying
	// attributes (the engine has it on its deny list); false for
	// identifiers of third parties and values nothing else names.
	Known bool `json:"known"`
}

// InFile reports whether the identifier is in the file's bytes (the
// association's AE titles are not).
func (p Planted) InFile() bool { return p.Path != PathAssociation && p.Path != PathInputName }

// PathAssociation marks identifiers carried by the association (AE
// titles), not by the file.
const PathAssociation = "association"

// Control is a clean utility value that must survive de-identification.
type Control struct {
	File  string `json:"file"`
	Path  string `json:"path"` // tag of the element that holds it
	Value string `json:"value"`
}

// File is one corpus file.
type File struct {
	Name           string `json:"name"`
	Base           string `json:"base"` // sample file it derives from, or "synthetic"
	SOPClassUID    string `json:"sopClassUID"`
	SOPInstanceUID string `json:"sopInstanceUID"`
	TransferSyntax string `json:"transferSyntax"`
	// CallingAET/CalledAET: send this file in an association of its own
	// with these AE titles (planted identifiers); empty = the harness's.
	CallingAET string `json:"callingAET,omitempty"`
	CalledAET  string `json:"calledAET,omitempty"`
	// Codestream names the compressed format whose validity matters
	// ("jpeg", "jpeg-ls", "j2k", "jp2"), empty for native pixel data.
	Codestream string `json:"codestream,omitempty"`
}

// Manifest lists the corpus.
type Manifest struct {
	Seed     int64     `json:"seed"`
	Dir      string    `json:"-"`
	Files    []File    `json:"files"`
	Planted  []Planted `json:"planted"`
	Controls []Control `json:"controls"`
}

// Classes are the leak classes, in report order, with what they cover.
var Classes = []struct{ Name, About string }{
	{"identity", "the patient's identifying attributes themselves (PatientName, PatientID, PatientBirthDate, AccessionNumber)"},
	{"pixel-codestream", "text inside encapsulated pixel data: JPEG/JPEG-LS COM and APPn, data after EOI, JPEG 2000 COM markers, JP2 xml/uuid boxes"},
	{"charset", "the name in ISO 2022 IR 87, IR 13, GB18030, Latin-1, decomposed UTF-8, Cyrillic/Greek UTF-8, mis-declared character set"},
	{"coded-value-name", "a family name equal to a kept coded value (HEAD, KNEE, BRAIN) reaching labels"},
	{"non-e1-attribute", "public attributes outside PS3.15 Table E.1-1, code meanings, SR codes and units, functional groups, overlays, acquisition context"},
	{"safe-private", "text in safe-private numeric slots (GEMS_ACQU_01), explicit UN, DS and implicit VR"},
	{"clean-descriptors", "evasions in kept descriptions: third parties, case, punctuation, spelled dates, phones, e-mail, addresses, transliteration, zero-width and soft hyphens, full-width letters"},
	{"structure", "file meta, preamble, trailing padding, private creators, UN public elements, OB values, DICOMDIR references, deep nesting, long values, multi-values, PN groups"},
	{"labels", "values that build names: association AE titles, StudyID/AccessionNumber (session), SeriesDescription (scan folder), UIDs encoding the MRN, DT/TM dates, ages"},
}

// Kinds returns the distinct kinds, sorted.
func (m *Manifest) Kinds() []string {
	seen := map[string]bool{}
	for _, p := range m.Planted {
		seen[p.Kind] = true
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FileByName returns the corpus file with that name.
func (m *Manifest) FileByName(name string) (File, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// JSON renders the manifest (it names the planted values: it is test
// data, never written next to outputs that must be clean).
func (m *Manifest) JSON() []byte {
	b, _ := json.MarshalIndent(m, "", "  ")
	return b
}

// Summary is one line: files, identifiers, kinds.
func (m *Manifest) Summary() string {
	return fmt.Sprintf("%d files, %d planted identifiers of %d kinds in %d classes, %d utility controls",
		len(m.Files), len(m.Planted), len(m.Kinds()), len(Classes), len(m.Controls))
}

// planted returns the identifier with id.
func (m *Manifest) planted(id int) *Planted { return &m.Planted[id] }

// LocationMatches reports whether a hit's location (an element path of
// the scanned file) is the planted path: same first or last tag.
func LocationMatches(plantedPath, loc string) bool {
	if plantedPath == loc {
		return true
	}
	pt, tags := pathTags(plantedPath), pathTags(loc)
	return len(pt) > 0 && len(tags) > 0 && (pt[len(pt)-1] == tags[len(tags)-1] || pt[0] == tags[0])
}

// pathTags splits "(0040,0275)[0]/(0040,0008)/(0008,0104)#1 JPEG COM" into
// its tags without item indices or suffixes.
func pathTags(p string) []string {
	var out []string
	for _, part := range strings.Split(p, "/") {
		if i := strings.IndexAny(part, "[# "); i >= 0 {
			part = part[:i]
		}
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}
