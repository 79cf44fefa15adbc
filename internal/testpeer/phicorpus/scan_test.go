package phicorpus

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// testManifest plants a few identifiers of each matching kind.
func testManifest() *Manifest {
	m := &Manifest{}
	add := func(kind string, scope Scope, needles ...string) {
		m.Planted = append(m.Planted, Planted{ID: len(m.Planted), Class: "identity", Kind: kind, File: "f.dcm", Path: "(0010,0010)",
			Strings: needles, Needles: needles, Scope: scope, Known: true})
	}
	add("patient-name", ScopeAll, "Quinmorvus", "Adaeze")      // 0
	add("patient-name", ScopeAll, "Müller")                    // 1
	add("patient-name", ScopeAll, "小鳥遊", "美和子")                // 2
	add("patient-name", ScopeAll, "司马翠萍")                      // 3
	add("phone", ScopeAll, "555.014.2233")                     // 4
	add("mrn", ScopeAll, "4071826391")                         // 5
	add("birth-date", ScopeAll, "19600102", "2 January 1960")  // 6
	add("family-name", ScopeLabels, "HEAD")                    // 7
	add("patient-name", ScopeAll, "Phạmthùy")                  // 8
	add("patient-name", ScopeAll, "ﾃｼｶﾞﾜﾗ")                    // 9
	add("phone", ScopeAll, "+44 20 7946 0958", "20 7946 0958") // 10
	add("email", ScopeAll, "adaeze.quinmorvus@example.org")    // 11
	add("age-over-89", ScopeAll, "097Y")                       // 12
	return m
}

func mustScanner(t *testing.T, m *Manifest) *Scanner {
	t.Helper()
	s, err := NewScanner(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jis(t *testing.T, s string) []byte {
	b, err := japanese.ISO2022JP.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScannerFindsEveryForm: each encoding and spelling of a planted value
// is found, and attributed to the right identifier.
func TestScannerFindsEveryForm(t *testing.T) {
	s := mustScanner(t, testManifest())
	gb, _ := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte("患者司马翠萍复查"))
	for _, tc := range []struct {
		name  string
		data  []byte
		label bool
		want  int
	}{
		{"UTF-8", []byte("seen: Quinmorvus"), false, 0},
		{"upper case", []byte("QUINMORVUS ADAEZE"), false, 0},
		{"lower case", []byte("adaeze quinmorvus"), false, 0},
		{"given name alone", []byte("Adaeze."), false, 0},
		{"inside a longer word (long needle)", []byte("xQuinmorvusx"), false, 0},
		{"UTF-16LE", utf16Bytes("Name Quinmorvus", false), false, 0},
		{"UTF-16BE", utf16Bytes("Name Quinmorvus", true), false, 0},
		{"zero-width space", []byte("Quin\u200bmorvus"), false, 0},
		{"soft hyphen (UTF-8)", []byte("Quinmor\u00advus"), false, 0},
		{"soft hyphen (Latin-1)", []byte("Quinmor\xadvus"), false, 0},
		{"BOM inside", []byte("Quin\ufeffmorvus"), false, 0},
		{"full-width letters", []byte("ＱＵＩＮＭＯＲＶＵＳ"), false, 0},
		{"Latin-1 MÜLLER", []byte("M\xdcLLER"), false, 1},
		{"UTF-8 Müller", []byte("Müller"), false, 1},
		{"MUELLER", []byte("Dr MUELLER"), false, 1},
		{"MULLER", []byte("muller,"), false, 1},
		{"decomposed", []byte("Mu\u0308ller"), false, 1},
		{"ISO 2022 IR 87 with escapes", jis(t, "患者小鳥遊美和子"), false, 2},
		{"JIS bytes without escapes", jis(t, "小鳥遊")[3:9], false, 2},
		{"kana in JIS", jis(t, "美和子様"), false, 2},
		{"GB18030", gb, false, 3},
		{"phone as written", []byte("tel 555.014.2233"), false, 4},
		{"phone, other separators", []byte("(555) 014-2233"), false, 4},
		{"phone, digits only", []byte("5550142233"), false, 4},
		{"phone, UTF-16LE", utf16Bytes("555 014 2233", false), false, 4},
		{"MRN", []byte("MRN:4071826391;"), false, 5},
		{"MRN in a UID", []byte("1.2.840.99999.4071826391.1"), false, 5},
		{"MRN full-width", []byte("４０７１８２６３９１"), false, 5},
		{"date YYYYMMDD", []byte("19600102"), false, 6},
		{"date ISO", []byte("1960-01-02"), false, 6},
		{"date spelled", []byte("born 2 January 1960."), false, 6},
		{"label HEAD in a path", []byte("PRJ/S/V/scans/3.HEAD/resources"), true, 7},
		{"label head in a manifest", []byte(`"seriesDescription":"head"`), true, 7},
		{"Vietnamese NFC", []byte("PHẠMTHÙY"), false, 8},
		{"Vietnamese decomposed", []byte("Pha\u0323mthu\u0300y"), false, 8},
		{"Vietnamese without marks", []byte("Phamthuy"), false, 8},
		{"half-width katakana (IR 13 bytes)", []byte{0xc3, 0xbc, 0xb6, 0xde, 0xdc, 0xd7}, false, 9},
		{"UK phone", []byte("+44 (0)20 7946 0958"), false, 10},
		{"UK phone digits", []byte("442079460958"), false, 10},
		{"e-mail", []byte("mailto:Adaeze.Quinmorvus@example.org"), false, 11},
		{"age", []byte("age 097Y"), false, 12},
		{"date running on into a time (DT)", []byte("19600102081500"), false, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits []Hit
			if tc.label {
				hits = s.ScanLabel("test", tc.name, tc.data)
			} else {
				hits = s.ScanBytes("test", tc.name, tc.data)
			}
			for _, h := range hits {
				for _, id := range h.Planted {
					if id == tc.want {
						return
					}
				}
			}
			t.Errorf("%q: planted #%d not found; hits %v", tc.data, tc.want, hits)
		})
	}
}

// TestScannerIgnoresCleanText: common words, labels outside label scope,
// numbers that are not aligned on the planted groups and short words
// inside longer ones are not hits.
func TestScannerIgnoresCleanText(t *testing.T) {
	s := mustScanner(t, testManifest())
	for _, text := range []string{
		"HEAD", "Brain MRI, head first supine; HEADER; knee left", // HEAD only in labels
		"T1_MPRAGE_SAG AX FLAIR DWI b1000 PET-CT SERIES ORIGINAL\\PRIMARY\\AXIAL",
		"Patient Name Hospital Radiology Report Comments Protocol Series Study",
		"2.25.140718263912345678901234567890123456", // the MRN's digits inside a longer number
		"24071826391", "40718263910",
		"1960-01-03 19600103 2 January 1961",
		"555.014.22334",
		"Mullerian ducts, Mullerstrasse",
		"1097Y",
	} {
		if hits := s.ScanBytes("test", "clean", []byte(text)); len(hits) > 0 {
			t.Errorf("%q: %v", text, hits)
		}
	}
	if hits := s.ScanLabel("test", "clean", []byte("PRJ/SUBJ/VISIT/scans/3.HEADER_and_FOREHEAD/x.dcm")); len(hits) > 0 {
		t.Errorf("HEAD inside longer words in a label: %v", hits)
	}
}

// TestScannerRejectsBadNeedles: common words and short values cannot be
// needles of ScopeAll.
func TestScannerRejectsBadNeedles(t *testing.T) {
	for _, n := range []string{"HEAD", "knee", "Li", "1234", "Jo"} {
		m := &Manifest{Planted: []Planted{{Needles: []string{n}, Scope: ScopeAll, Path: "(0010,0010)"}}}
		if _, err := NewScanner(m); err == nil {
			t.Errorf("needle %q accepted", n)
		}
	}
}

// TestScannerLocatesElements: in a DICOM haystack the hit names the
// element, and identifiers sharing a needle are told apart by location.
func TestScannerLocatesElements(t *testing.T) {
	dir := t.TempDir()
	m := Generate(t, dir, DefaultSeed)
	s := mustScanner(t, m)
	var target Planted
	for _, p := range m.Planted {
		if p.Route == "JPEG baseline COM segment" && p.Kind == "patient-name" {
			target = p
		}
	}
	data := readFile(t, dir, target.File)
	hits := s.ScanBytes("input", target.File, data)
	ok := false
	for _, h := range hits {
		if strings.Contains(h.Location, "JPEG COM") && containsString(target.Needles, h.Needle) {
			ok = true
			if len(h.Planted) != 1 || h.Planted[0] != target.ID {
				t.Errorf("COM hit attributed to %v, want only #%d", h.Planted, target.ID)
			}
		}
	}
	if !ok {
		t.Errorf("no hit located in the JPEG COM segment: %v", hits)
	}
}

// TestScannerMasksTheRunsClock: the digits of a log line's own timestamp
// are not a planted date (CI once saw 19600102 in "...T02:59:19.600102..."),
// but a planted date written as a timestamp, or any other timestamp far
// from now, is still found.
func TestScannerMasksTheRunsClock(t *testing.T) {
	s := mustScanner(t, testManifest())
	now := time.Now().UTC()
	clock := time.Date(now.Year(), now.Month(), now.Day(), 2, 59, 19, 600102622, time.UTC)
	line := `{"time":"` + clock.Format(time.RFC3339Nano) + `","level":"INFO","msg":"instance de-identified"}`
	if !strings.Contains(strings.NewReplacer(":", "", ".", "").Replace(line), "19600102") {
		t.Fatalf("test line %q does not hold the planted digits", line)
	}
	if hits := s.ScanString("stderr", "line 1", line); len(hits) > 0 {
		t.Errorf("the run's own timestamp reported as a leak: %v", hits)
	}
	for _, text := range []string{
		`{"time":"1960-01-02T00:00:00Z"}`,
		`{"time":"2010-01-01T02:59:19.600102622Z"}`,
		`{"birth":"19600102","time":"` + clock.Format(time.RFC3339Nano) + `"}`,
	} {
		hits := s.ScanString("stderr", "line 2", text)
		if len(hits) == 0 {
			t.Errorf("%s: planted date #6 not found", text)
		}
		for _, h := range hits {
			if len(h.Planted) != 1 || h.Planted[0] != 6 {
				t.Errorf("%s: hit attributed to %v, want #6", text, h.Planted)
			}
		}
	}
}
