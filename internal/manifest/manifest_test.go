package manifest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func sample() *Manifest {
	f1, _ := Digest("1.T1w/DICOM/a.dcm", strings.NewReader("one"))
	f2, _ := Digest("1.T1w/DICOM/b.dcm", strings.NewReader("two"))
	f3, _ := Digest("2.DWI/DICOM/c.dcm", strings.NewReader("three"))
	return &Manifest{
		Version: Version, Edge: "edge-a", Project: "PROJ", Subject: "PROJ-0A1B2C", Visit: "S7F3E",
		Folder: "PROJ.PROJ-0A1B2C.S7F3E", Generation: 1, Modality: "MR", ProfileHash: "sha256:00",
		CreatedAt: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		Series:    []Series{{Scan: "2.DWI", Files: 1, Bytes: 5}, {Scan: "1.T1w", Files: 2, Bytes: 6}},
		Files:     []File{f3, f2, f1},
	}
}

func TestDigestKnownValues(t *testing.T) {
	f, err := Digest("x", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	// Well-known digests of "abc".
	if f.MD5 != "900150983cd24fb0d6963f7d28e17f72" || f.SHA256 != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" || f.Size != 3 {
		t.Fatalf("%+v", f)
	}
}

func TestRoundTripIsDeterministic(t *testing.T) {
	a, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Marshal()
	if string(a) != string(b) {
		t.Fatalf("not deterministic:\n%s\n%s", a, b)
	}
	if !strings.Contains(string(a), `"path": "1.T1w/DICOM/a.dcm"`) || strings.Index(string(a), "a.dcm") > strings.Index(string(a), "c.dcm") {
		t.Fatalf("files not sorted:\n%s", a)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Manifest)
	}{
		{"traversal", func(m *Manifest) { m.Files[0].Path = "../x/DICOM/a.dcm" }},
		{"absolute", func(m *Manifest) { m.Files[0].Path = "/1/DICOM/a.dcm" }},
		{"too deep", func(m *Manifest) { m.Files[0].Path = "1/DICOM/x/a.dcm" }},
		{"bad label", func(m *Manifest) { m.Subject = "Doe^John" }},
		{"folder mismatch", func(m *Manifest) { m.Folder = "X.Y.Z" }},
		{"duplicate", func(m *Manifest) { m.Files[1].Path = m.Files[0].Path }},
		{"missing md5", func(m *Manifest) { m.Files[0].MD5 = "" }},
		{"series count", func(m *Manifest) { m.Series[0].Files = 5 }},
		{"generation", func(m *Manifest) { m.Generation = 0 }},
		{"version", func(m *Manifest) { m.Version = 9 }},
	}
	for _, tc := range tests {
		m := sample()
		tc.edit(m)
		if err := m.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}
	if _, err := Parse([]byte(`{"version":1,"extra":true}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown field accepted: %v", err)
	}
}

func TestNameFor(t *testing.T) {
	if NameFor(1) != "MANIFEST.json" || NameFor(3) != "MANIFEST.g3.json" {
		t.Fatal(NameFor(1), NameFor(3))
	}
}
