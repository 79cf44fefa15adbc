// Package synth is test support for building synthetic DICOM data sets: a
// Builder whose text goes through the data set's Specific Character Set,
// and the dictionary's attributes listed by VR (the codec exports lookups,
// not a list). The de-identification tests and the end-to-end PHI test
// plant identifiers with it. Tests only.
package synth

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/testpeer/sampledata"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Builder sets attributes of DS, failing T on text its character set cannot
// encode. Methods return the builder so calls chain.
type Builder struct {
	T  testing.TB
	DS *dicom.Dataset
}

// Text sets the attribute named kw to v, encoded in the data set's
// character set.
func (x Builder) Text(kw string, vr dicom.VR, v ...string) Builder {
	x.T.Helper()
	return x.TextTag(dicom.MustTag(kw), vr, v...)
}

// TextTag is Text by tag.
func (x Builder) TextTag(tag dicom.Tag, vr dicom.VR, v ...string) Builder {
	x.T.Helper()
	if err := x.DS.SetText(tag, vr, v...); err != nil {
		x.T.Fatalf("%s: %v", tag, err)
	}
	return x
}

// Str sets the attribute named kw to v as bytes (no character set).
func (x Builder) Str(kw string, vr dicom.VR, v ...string) Builder {
	x.DS.SetString(dicom.MustTag(kw), vr, v...)
	return x
}

// Seq sets the sequence named kw to n empty items and returns their
// builders.
func (x Builder) Seq(kw string, n int) []Builder { return x.SeqTag(dicom.MustTag(kw), n) }

// SeqTag is Seq by tag.
func (x Builder) SeqTag(tag dicom.Tag, n int) []Builder {
	items := make([]*dicom.Dataset, n)
	for i := range items {
		items[i] = dicom.NewDataset()
	}
	x.DS.SetSequence(tag, items...)
	var out []Builder
	for _, it := range x.DS.Get(tag).Items {
		out = append(out, Builder{x.T, it})
	}
	return out
}

// DictEntries lists the dictionary's attributes whose only VR is one of
// vrs, outside the command and file meta groups, in tag order. It reads
// the generated dictionary source of the module's codec.
func DictEntries(t testing.TB, vrs ...string) []dicom.DictEntry {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(sampledata.ModuleRoot(t), "internal", "dicom", "dict_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\{Tag: 0x([0-9A-F]{8}), VRs: \[\]VR\{(` + strings.Join(vrs, "|") + `)\}, VM: "[^"]*", Keyword: "(\w+)"`)
	var out []dicom.DictEntry
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		e, ok := dicom.LookupKeyword(m[3])
		if !ok || e.Tag.Group() <= 0x0004 || e.Tag.Group() >= 0xFFFA {
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out
}

// Pixels8x8 sets an 8x8 MONOCHROME2 image of 12 bits stored in 16, its 128
// bytes of pixel data given by value(i) for byte i.
func (x Builder) Pixels8x8(value func(i int) byte) Builder {
	x.Str("PhotometricInterpretation", dicom.CS, "MONOCHROME2")
	x.DS.SetUint16(dicom.MustTag("SamplesPerPixel"), 1)
	x.DS.SetUint16(dicom.MustTag("Rows"), 8)
	x.DS.SetUint16(dicom.MustTag("Columns"), 8)
	x.DS.SetUint16(dicom.TagBitsAllocated, 16)
	x.DS.SetUint16(dicom.MustTag("BitsStored"), 12)
	x.DS.SetUint16(dicom.MustTag("HighBit"), 11)
	x.DS.SetUint16(dicom.TagPixelRepresentation, 0)
	pix := make([]byte, 128)
	for i := range pix {
		pix[i] = value(i)
	}
	x.DS.SetBytes(dicom.TagPixelData, dicom.OW, pix)
	return x
}
