package deid

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/aisedge/aisedge/internal/dicom"
)

// gateAfter de-identifies a fresh synthetic instance, lets mutate plant a
// value in the result (as a bug in the rules or a surprise in a corpus
// would), serialises it and runs the gate.
func gateAfter(t *testing.T, e *Engine, sr bool, v variant, mutate func(res *Result), names ...string) *GateResult {
	t.Helper()
	st := newSynthStudy(9)
	var f *dicom.File
	if sr {
		f, _ = synthSR(t, v, st)
	} else {
		f, _ = synthMR(t, v, st, 1)
	}
	var buf bytes.Buffer
	dicom.WriteFile(&buf, f)
	f, err := dicom.ReadFileBytes(buf.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Deidentify(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Quarantined() {
		t.Fatalf("quarantined before the gate: %v", res.Reasons)
	}
	mutate(res)
	var out bytes.Buffer
	if err := dicom.WriteFile(&out, res.File); err != nil {
		t.Fatal(err)
	}
	g, err := e.Verify(res, bytes.NewReader(out.Bytes()), int64(out.Len()), names...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func failedChecks(g *GateResult) []string {
	var out []string
	for _, c := range g.Checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

// TestGateMutations is the gate mutation suite of docs/deid.md, "Tests that
// pin the contract": canary
// values planted after the rules ran, in places the rules would normally
// clear; every one must be caught.
func TestGateMutations(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	latin, utf8v := variants[0], variants[1]
	sur, _ := latin.names()
	setText := func(ds *dicom.Dataset, kw string, vr dicom.VR, v string) {
		if err := ds.SetText(dicom.MustTag(kw), vr, v); err != nil {
			t.Fatal(err)
		}
	}
	orthancPatient := func() string {
		s := sha1.Sum([]byte("MRN8675309"))
		h := hex.EncodeToString(s[:])
		return h[:8] + "-" + h[8:16] + "-" + h[16:24] + "-" + h[24:32] + "-" + h[32:]
	}()
	cases := []struct {
		name   string
		sr     bool
		v      variant
		mutate func(res *Result)
		names  []string
		want   string // a check that must fail
	}{
		{name: "nested sequence", v: latin, want: "strings", mutate: func(r *Result) {
			it := r.File.Dataset.Get(dicom.MustTag("SharedFunctionalGroupsSequence")).Items[0]
			d := it.Get(dicom.MustTag("DerivationImageSequence")).Items[0]
			setText(d, "DerivationDescription", dicom.ST, "planted Springfield Canary Hospital")
		}},
		{name: "private OB (UTF-16)", v: latin, want: "raw-bytes", mutate: func(r *Result) {
			ds := r.File.Dataset
			ds.SetString(dicom.NewTag(0x0029, 0x0010), dicom.LO, "ACME")
			ds.SetBytes(dicom.NewTag(0x0029, 0x1001), dicom.OB, utf16le("x "+sur+" y"))
		}},
		{name: "birth date as a binary number", v: latin, want: "strings", mutate: func(r *Result) {
			r.File.Dataset.SetBytes(dicom.MustTag("DiffusionBValue"), dicom.FD, binary.LittleEndian.AppendUint64(nil, math.Float64bits(19580512)))
		}},
		{name: "private element outside the list", v: latin, want: "private", mutate: func(r *Result) {
			ds := r.File.Dataset
			ds.SetString(dicom.NewTag(0x0029, 0x0010), dicom.LO, "ACME")
			ds.SetString(dicom.NewTag(0x0029, 0x1002), dicom.DS, "1")
		}},
		{name: "orphan creator", v: latin, want: "private", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.NewTag(0x0029, 0x0011), dicom.LO, "ACME")
		}},
		{name: "file meta", v: latin, want: "markers-meta", mutate: func(r *Result) {
			r.File.Meta.SetString(dicom.TagSourceApplicationEntityTitle, dicom.AE, "MRAE01PHI")
		}},
		{name: "file meta value", v: latin, want: "raw-bytes", mutate: func(r *Result) {
			r.File.Meta.SetString(dicom.TagSourceApplicationEntityTitle, dicom.AE, "MRAE01PHI")
		}},
		{name: "overlay comments", v: latin, want: "strings", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.NewTag(0x6000, 0x4000), dicom.LT, "drawn for "+strings.ToUpper(sur))
		}},
		{name: "SR TEXT item", sr: true, v: utf8v, want: "strings", mutate: func(r *Result) {
			it := r.File.Dataset.Get(tagContentSequence).Items[0]
			setText(it, "TextValue", dicom.UT, "reviewed with 王 小東")
		}},
		{name: "Latin-1 bytes in a blob", v: utf8v, want: "raw-bytes", mutate: func(r *Result) {
			b, _ := charmap.ISO8859_1.NewEncoder().String("Jürgen Müllerstein")
			r.File.Dataset.SetBytes(dicom.MustTag("PixelPaddingValue"), dicom.OB, []byte(b))
		}},
		{name: "file name", v: latin, want: "names", names: []string{"MRN8675309/x.dcm"}, mutate: func(*Result) {}},
		{name: "path characters", v: latin, want: "names", names: []string{"a b/x.dcm"}, mutate: func(*Result) {}},
		{name: "original UID kept", v: latin, want: "uids", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("FrameOfReferenceUID"), dicom.UI, newSynthStudy(9).forUID)
		}},
		{name: "bad UID", v: latin, want: "uids", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("FrameOfReferenceUID"), dicom.UI, "1.02.3")
		}},
		{name: "meta UID mismatch", v: latin, want: "markers-meta", mutate: func(r *Result) {
			r.File.Meta.SetString(dicom.TagMediaStorageSOPInstanceUID, dicom.UI, "2.25.1")
		}},
		{name: "unshifted date", v: latin, want: "dates", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("AcquisitionDate"), dicom.DA, "20190304")
		}},
		{name: "birth date in another format", v: latin, want: "strings", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("ImageComments"), dicom.LT, "born 12/05/1958")
		}},
		{name: "patient ID upper-cased in a CS", v: latin, want: "strings", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("ImageType"), dicom.CS, "ORIGINAL", "PRIMARY", "MRN8675309")
		}},
		{name: "name component in a kept LO", v: latin, want: "strings", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("ManufacturerModelName"), dicom.LO, "Magnetron "+sur)
		}},
		{name: "initial glued to the surname", v: latin, want: "strings", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("ManufacturerModelName"), dicom.LO, "J"+strings.ToUpper(sur))
		}},
		{name: "initial glued to a short surname", v: latin, want: "strings", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("ManufacturerModelName"), dicom.LO, "user JDOEBERG")
		}},
		{name: "name without its accents", v: utf8v, want: "strings", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("ManufacturerModelName"), dicom.LO, "seen by Mullerstein")
		}},
		{name: "Orthanc ID of the original", v: latin, want: "strings", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("ImageComments"), dicom.LT, orthancPatient)
		}},
		{name: "unjustified element", v: latin, want: "justification", mutate: func(r *Result) {
			r.File.Dataset.SetString(dicom.MustTag("BodyPartExamined"), dicom.CS, "HEAD")
		}},
		{name: "marker removed", v: latin, want: "markers-meta", mutate: func(r *Result) {
			r.File.Dataset.Delete(tagPatientIdentityRemoved)
		}},
		{name: "burned in annotation", v: latin, want: "pixels", mutate: func(r *Result) {
			r.File.Dataset.SetString(tagBurnedInAnnotation, dicom.CS, "YES")
		}},
		{name: "ISO 2022 bytes in a blob", v: variants[2], want: "raw-bytes", mutate: func(r *Result) {
			cs, _ := r.File.Dataset.CharacterSet()
			b, err := cs.Encode("x 山田 y", false)
			if err != nil {
				t.Fatal(err)
			}
			r.File.Dataset.SetBytes(dicom.MustTag("PixelPaddingValue"), dicom.OB, b)
		}},
		{name: "upper-case non-ASCII in a blob", v: utf8v, want: "raw-bytes", mutate: func(r *Result) {
			r.File.Dataset.SetBytes(dicom.MustTag("PixelPaddingValue"), dicom.OB, []byte("x MÜLLERSTEIN y"))
		}},
		{name: "Japanese name in ISO 2022", v: variants[2], want: "strings", mutate: func(r *Result) {
			setText(r.File.Dataset, "ImageComments", dicom.LT, "やまだ たろう")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := gateAfter(t, e, tc.sr, tc.v, tc.mutate, tc.names...)
			if g.Passed {
				t.Fatal("gate passed")
			}
			failed := failedChecks(g)
			found := false
			for _, c := range failed {
				found = found || c == tc.want
			}
			if !found {
				t.Errorf("check %s did not fail (failed: %v)", tc.want, failed)
			}
			// Reasons are value-free.
			for _, c := range g.Checks {
				for _, f := range c.Failures {
					low := strings.ToLower(f)
					for _, v := range []string{strings.ToLower(sur), "mrn8675309", "springfield", "19580512", "12/05/1958", "müller", "王", "やまだ", orthancPatient} {
						if strings.Contains(low, v) {
							t.Errorf("gate failure text contains an original value: %s", f)
						}
					}
				}
			}
		})
	}
	// And the unmutated instances pass.
	for _, sr := range []bool{false, true} {
		for _, v := range variants {
			if g := gateAfter(t, e, sr, v, func(*Result) {}); !g.Passed {
				t.Errorf("clean %s (SR %v) failed the gate: %v", v.name, sr, g.Checks)
			}
		}
	}
}

func TestMatcherBoundaries(t *testing.T) {
	d := newDenyList()
	d.add("12345678", tkID, "patient-id", nil)
	d.add("Lee", tkComponent, "person-name", nil)
	d.add("4711", tkID, "id", nil)
	canon, raw := d.buildMatchers([]string{"2.25.9912345678"})
	cases := []struct {
		text string
		hit  bool
	}{
		{"12345678", true},
		{"mrn 0012345678", true}, // zero padding
		{"112345678", false},     // a longer number
		{"x12345678y", true},
		{"2.25.9912345678", false}, // inside an engine-generated UID
		{"lee", true},
		{"fleet", false}, // short names only as words
		{"4711", true},
		{"0.4711", false}, // a short number inside a decimal
		{"44711", false},
	}
	for _, tc := range cases {
		got := false
		canon.scan([]byte(tc.text), func(*token, int) bool { got = true; return false })
		raw.scan([]byte(tc.text), func(*token, int) bool { got = true; return false })
		if got != tc.hit {
			t.Errorf("%q: hit %v, want %v", tc.text, got, tc.hit)
		}
	}
}
