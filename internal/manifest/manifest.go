// Package manifest defines MANIFEST.json, the record of one shipped session
// generation that the edge writes last (sealing the session in the bucket)
// and the hub verifies before and after uploading to XNAT.
//
// A manifest names files by their path inside the session, with sizes and
// digests; it holds pseudonymous labels only (project, subject, visit,
// experiment label, scan names derived from de-identified values), never original values.
// It is imported by the edge stager and uploader and by the hub.
package manifest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Version is the manifest format version this package writes.
const Version = 1

// FileName is the manifest's name inside a session folder. A generation g
// > 1 (an append) is named MANIFEST.g<g>.json so that earlier seals stay.
const FileName = "MANIFEST.json"

// NameFor returns the manifest file name of a generation.
func NameFor(generation int) string {
	if generation <= 1 {
		return FileName
	}
	return fmt.Sprintf("MANIFEST.g%d.json", generation)
}

// Manifest describes one generation of a session.
type Manifest struct {
	Version int `json:"version"`
	// Edge is the name of the edge that staged the session.
	Edge string `json:"edge"`
	// Project, Subject and Visit are the XNAT project ID, the subject
	// label and the visit pseudonym (session.ID's three parts). The
	// visit's JSON name stays "session", as in every MANIFEST.json already
	// in a bucket; in the code "session" is the imaging session as a whole.
	Project string `json:"project"`
	Subject string `json:"subject"`
	Visit   string `json:"session"`
	// Folder is the session folder name, PROJECT.SUBJECT.VISIT.
	Folder string `json:"folder"`
	// Label is the XNAT experiment (session) label, unique in the project;
	// empty means Visit.
	Label string `json:"label,omitempty"`
	// Generation counts the shipments of this session: 1 for the first,
	// 2 and up for appends (series that arrived after it shipped).
	Generation int `json:"generation"`
	// Modality is the session's primary modality (for the XNAT xsiType).
	Modality string `json:"modality,omitempty"`
	// ProfileHash identifies the de-identification profile and key in
	// force (a digest, not the key).
	ProfileHash string    `json:"profileHash"`
	CreatedAt   time.Time `json:"createdAt"`
	Series      []Series  `json:"series"`
	Files       []File    `json:"files"`
}

// Series summarises one scan folder.
type Series struct {
	// Scan is the folder name <SeriesNumber>.<SeriesDescription>,
	// sanitised to [A-Za-z0-9_].
	Scan              string `json:"scan"`
	SeriesNumber      string `json:"seriesNumber,omitempty"`
	Modality          string `json:"modality,omitempty"`
	SeriesDescription string `json:"seriesDescription,omitempty"`
	Files             int    `json:"files"`
	Bytes             int64  `json:"bytes"`
}

// File is one file of the session.
type File struct {
	// Path is relative to the session folder: <scan>/DICOM/<name>.dcm.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	MD5    string `json:"md5"`
}

var (
	labelRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	partRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	hexRE   = regexp.MustCompile(`^[0-9a-f]+$`)
)

// ErrInvalid marks a manifest that breaks the format's rules.
var ErrInvalid = errors.New("invalid manifest")

// Validate checks that the manifest is well-formed: labels and paths safe,
// digests present, no duplicate paths, series counts adding up.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if m.Version != Version {
		return bad("version %d, want %d", m.Version, Version)
	}
	for name, v := range map[string]string{"edge": m.Edge, "project": m.Project, "subject": m.Subject, "visit": m.Visit} {
		if !labelRE.MatchString(v) {
			return bad("%s label %q is empty or not [A-Za-z0-9_-]", name, v)
		}
	}
	if m.Label != "" && !labelRE.MatchString(m.Label) {
		return bad("label %q is not [A-Za-z0-9_-]", m.Label)
	}
	if m.Folder != m.Project+"."+m.Subject+"."+m.Visit {
		return bad("folder %q is not PROJECT.SUBJECT.VISIT", m.Folder)
	}
	if m.Generation < 1 {
		return bad("generation %d", m.Generation)
	}
	if len(m.Files) == 0 {
		return bad("no files")
	}
	seen := map[string]bool{}
	perScan := map[string]int{}
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return bad("%v", err)
		}
		if seen[f.Path] {
			return bad("duplicate path %q", f.Path)
		}
		seen[f.Path] = true
		if len(f.SHA256) != 64 || !hexRE.MatchString(f.SHA256) || len(f.MD5) != 32 || !hexRE.MatchString(f.MD5) {
			return bad("file %q lacks a lower-case hex SHA-256 or MD5", f.Path)
		}
		if f.Size < 0 {
			return bad("file %q has a negative size", f.Path)
		}
		perScan[strings.SplitN(f.Path, "/", 2)[0]]++
	}
	total := 0
	for _, s := range m.Series {
		if perScan[s.Scan] != s.Files {
			return bad("series %q lists %d files, manifest has %d", s.Scan, s.Files, perScan[s.Scan])
		}
		total += s.Files
	}
	if total != len(m.Files) {
		return bad("series account for %d of %d files", total, len(m.Files))
	}
	return nil
}

// checkPath accepts <scan>/<resource>/<name> with safe components only.
func checkPath(p string) error {
	if path.Clean(p) != p || strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q is not clean and relative", p)
	}
	parts := strings.Split(p, "/")
	if len(parts) != 3 {
		return fmt.Errorf("path %q is not <scan>/<resource>/<file>", p)
	}
	for _, c := range parts {
		if !partRE.MatchString(c) || c == "." || c == ".." {
			return fmt.Errorf("path %q has an unsafe component %q", p, c)
		}
	}
	return nil
}

// Marshal encodes the manifest deterministically (files sorted by path,
// series by scan), indented, with a final newline.
func (m *Manifest) Marshal() ([]byte, error) {
	c := *m
	c.Files = slices.Clone(m.Files)
	c.Series = slices.Clone(m.Series)
	slices.SortFunc(c.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(c.Series, func(a, b Series) int { return strings.Compare(a.Scan, b.Scan) })
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse decodes and validates a manifest; unknown fields are errors.
func Parse(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Digest computes a file entry's size, SHA-256 and MD5 from its content.
func Digest(rel string, r io.Reader) (File, error) {
	s, m := sha256.New(), md5.New()
	n, err := io.Copy(io.MultiWriter(s, m), r)
	if err != nil {
		return File{}, err
	}
	return File{Path: rel, Size: n, SHA256: hex.EncodeToString(s.Sum(nil)), MD5: hex.EncodeToString(m.Sum(nil))}, nil
}

// ExperimentLabel is the XNAT experiment label to deliver to.
func (m *Manifest) ExperimentLabel() string {
	if m.Label != "" {
		return m.Label
	}
	return m.Visit
}

// Find returns the entry for a path.
func (m *Manifest) Find(rel string) (File, bool) {
	for _, f := range m.Files {
		if f.Path == rel {
			return f, true
		}
	}
	return File{}, false
}

// TotalBytes sums the file sizes.
func (m *Manifest) TotalBytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}
