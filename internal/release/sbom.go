package release

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// SPDX is the part of an SPDX 2.3 JSON document that SBOM writes.
type SPDX struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      SPDXCreation       `json:"creationInfo"`
	Packages          []SPDXPackage      `json:"packages"`
	Relationships     []SPDXRelationship `json:"relationships"`
}

// SPDXCreation is the document's creationInfo.
type SPDXCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

// SPDXPackage is one package (a Go module, the toolchain).
type SPDXPackage struct {
	Name             string       `json:"name"`
	SPDXID           string       `json:"SPDXID"`
	VersionInfo      string       `json:"versionInfo"`
	DownloadLocation string       `json:"downloadLocation"`
	FilesAnalyzed    bool         `json:"filesAnalyzed"`
	LicenseConcluded string       `json:"licenseConcluded"`
	LicenseDeclared  string       `json:"licenseDeclared"`
	CopyrightText    string       `json:"copyrightText"`
	Checksums        []SPDXSum    `json:"checksums,omitempty"`
	ExternalRefs     []SPDXExtRef `json:"externalRefs,omitempty"`
	Comment          string       `json:"comment,omitempty"`
	PrimaryPurpose   string       `json:"primaryPackagePurpose,omitempty"`
}

// SPDXSum is a checksum.
type SPDXSum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

// SPDXExtRef is an external reference (the package URL).
type SPDXExtRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

// SPDXRelationship relates two elements.
type SPDXRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxID(kind, name string) string {
	return "SPDXRef-" + kind + "-" + spdxIDUnsafe.ReplaceAllString(name, "-")
}

// SBOM reads the module graph linked into a Go binary (debug/buildinfo:
// the main module, every dependency module with its version and go.sum
// hash, replacements applied, and the toolchain) and returns it as an SPDX
// 2.3 document. version names the main module's release (the binary's
// own is "(devel)" when built from a work tree); licence is its declared
// SPDX licence expression; created stamps the document.
func SBOM(binaryPath, version, licence string, created time.Time) (*SPDX, error) {
	bi, err := buildinfo.ReadFile(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	main := bi.Main.Path
	if version == "" {
		version = bi.Main.Version
	}
	doc := &SPDX{SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:         fmt.Sprintf("%s-%s", main, version),
		CreationInfo: SPDXCreation{Created: created.UTC().Format(time.RFC3339), Creators: []string{"Tool: aisedge-release"}}}
	mainID := spdxID("Package", main)
	doc.Packages = append(doc.Packages, SPDXPackage{Name: main, SPDXID: mainID, VersionInfo: version,
		DownloadLocation: "https://" + main, LicenseConcluded: "NOASSERTION", LicenseDeclared: licence, CopyrightText: "NOASSERTION",
		PrimaryPurpose: "APPLICATION", ExternalRefs: []SPDXExtRef{purl(main, version)}})
	doc.Relationships = append(doc.Relationships, SPDXRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", mainID})
	tool := strings.TrimPrefix(bi.GoVersion, "go")
	toolID := spdxID("Package", "golang.org/toolchain")
	doc.Packages = append(doc.Packages, SPDXPackage{Name: "golang.org/toolchain", SPDXID: toolID, VersionInfo: tool,
		DownloadLocation: "https://go.dev/dl/", LicenseConcluded: "NOASSERTION", LicenseDeclared: "BSD-3-Clause", CopyrightText: "NOASSERTION",
		Comment: "the Go toolchain and standard library the binary was built with", ExternalRefs: []SPDXExtRef{purl("stdlib", bi.GoVersion)}})
	doc.Relationships = append(doc.Relationships, SPDXRelationship{mainID, "DEPENDS_ON", toolID})
	h := sha256.New()
	h.Write([]byte(main + "@" + version + "\n"))
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		h.Write([]byte(m.Path + "@" + m.Version + " " + m.Sum + "\n"))
		p := SPDXPackage{Name: m.Path, SPDXID: spdxID("Package", m.Path+"-"+m.Version), VersionInfo: m.Version,
			DownloadLocation: "https://proxy.golang.org/" + strings.ToLower(m.Path) + "/@v/" + m.Version + ".zip",
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
			ExternalRefs: []SPDXExtRef{purl(m.Path, m.Version)}, PrimaryPurpose: "LIBRARY"}
		if m.Sum != "" {
			p.Comment = "go.sum " + m.Sum
		}
		if d.Replace != nil {
			p.Comment = strings.TrimSpace(p.Comment + "; replaces " + d.Path + "@" + d.Version)
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, SPDXRelationship{mainID, "DEPENDS_ON", p.SPDXID})
	}
	doc.DocumentNamespace = "https://" + main + "/spdx/" + version + "-" + hex.EncodeToString(h.Sum(nil))[:16]
	return doc, nil
}

func purl(path, version string) SPDXExtRef {
	return SPDXExtRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:golang/" + path + "@" + version}
}

// JSON is the document, indented.
func (d *SPDX) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	return append(b, '\n'), err
}
