package phicorpus

// The third round: surnames that are descriptor vocabulary, homoglyphs and
// invisible characters other than the zero-width space and soft hyphen, an
// ISO 2022 escape splitting a name, text attributes under a binary VR,
// command-group and curve-group elements in a data set, and UIDs that are
// never remapped (structural by tag or by the DICOM root) carrying numbers.

import (
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

func init() {
	corpusCases = append(corpusCases, casesRound3)
}

func casesRound3(g *gen) {
	// Surnames that are words of acquisition descriptors.
	for _, c := range []struct{ family, series string }{{"DIXON", "DIXON"}, {"LONG", "LONG TR"}} {
		pt := g.newPatient(c.family, "")
		fc := g.synthetic("coded/family-"+strings.ToLower(c.family)+".dcm", "", pt)
		fc.set(fc.ds, "SeriesDescription", dicom.LO, c.series)
		fc.plantScoped(cCoded, "family name = a descriptor vocabulary word, in SeriesDescription → scan folder, MANIFEST.json", "family-name",
			"(0008,103E)", true, ScopeLabels, []string{c.series}, c.family)
		fc.write()
	}
	// The known family name disguised.
	for _, c := range []struct {
		name, route, charset string
		disguise             func(f string) string
	}{
		{"known-cyrillic-homoglyph", "the known family name with a Cyrillic homoglyph (і, о, а, е)", "ISO_IR 192", func(f string) string {
			return strings.NewReplacer("i", "і", "o", "о", "a", "а", "e", "е").Replace(f)
		}},
		{"known-word-joiner", "the known family name split by U+2060 WORD JOINER", "ISO_IR 192", func(f string) string { return f[:3] + "\u2060" + f[3:] }},
		{"known-zwnj", "the known family name split by U+200C ZERO WIDTH NON-JOINER", "ISO_IR 192", func(f string) string { return f[:4] + "\u200c" + f[4:] }},
		{"known-cgj", "the known family name split by U+034F COMBINING GRAPHEME JOINER", "ISO_IR 192", func(f string) string { return f[:2] + "\u034f" + f[2:] }},
		{"known-rlo", "the known family name with U+202E RIGHT-TO-LEFT OVERRIDE inside", "ISO_IR 192", func(f string) string { return f[:3] + "\u202e" + f[3:] + "\u202c" }},
	} {
		g.file("clean", c.name, c.charset, nil, func(fc *fileCtx) {
			v := c.disguise(fc.pt.family)
			needles := []string{fc.pt.family}
			if strings.ContainsAny(v, "іоае") {
				needles = []string{v} // a homoglyph is not a fold of the original: search the disguise itself
			}
			fc.put(cClean, c.route+" in SeriesDescription", "family-name", "SeriesDescription", dicom.LO, true, "T2 "+v, needles...)
		})
	}
	// An ISO 2022 escape (back to ASCII) in the middle of the name: no
	// byte run spells it, the decoded text does.
	g.file("charset", "iso2022-escape-splits-name", `\ISO 2022 IR 87`, nil, func(fc *fileCtx) {
		f := fc.pt.family
		raw := "T1 " + f[:4] + "\x1b(B" + f[4:]
		fc.ds.SetString(dicom.MustTag("SeriesDescription"), dicom.LO, raw)
		fc.plant(cCharset, "ISO 2022 escape sequence (ESC ( B) splitting the known family name in SeriesDescription", "family-name", "(0008,103E)", true, []string{raw}, f)
	})
	// A text attribute under a binary VR (explicit VR OB).
	g.file("structure", "text-attribute-as-ob", "", nil, func(fc *fileCtx) {
		n := g.third()
		v := "Dr. " + n + " protocol"
		fc.ds.SetBytes(dicom.MustTag("ProtocolName"), dicom.OB, []byte(v))
		fc.plant(cStruct, "ProtocolName written with explicit VR OB", "physician-name", "(0018,1030)", false, []string{v}, n)
	})
	// Command-group elements in a data set.
	g.file("structure", "command-group-in-dataset", "", nil, func(fc *fileCtx) {
		p := g.phoneUS()
		v := "Retry, call " + p
		fc.ds.SetString(dicom.NewTag(0x0000, 0x0902), dicom.LO, v)
		fc.plant(cStruct, "(0000,0902) ErrorComment (command group) in the data set", "phone", "(0000,0902)", false, []string{v}, p)
	})
	// Curve group text without curve data (retired group 50xx).
	g.file("structure", "curve-5000-text-without-data", "", nil, func(fc *fileCtx) {
		n := g.third()
		v := "ECG of " + n
		fc.ds.SetUint16(dicom.NewTag(0x5000, 0x0005), 1)
		fc.ds.SetString(dicom.NewTag(0x5000, 0x2500), dicom.LO, v)
		fc.plant(cStruct, "(5000,2500) CurveLabel without CurveData", "relative-name", "(5000,2500)", false, []string{v}, n)
	})
	// UIDs that are never remapped.
	g.file("labels", "structural-uid-referenced-sop-class", "", nil, func(fc *fileCtx) {
		p := g.phoneDigits()
		u := "1.2.840.10008.5.1.4.1.1.4." + p
		rs := fc.x.Seq("ReferencedImageSequence", 1)[0]
		rs.Str("ReferencedSOPClassUID", dicom.UI, u).Str("ReferencedSOPInstanceUID", dicom.UI, fc.uid(11))
		fc.plant(cLabels, "ReferencedSOPClassUID under the DICOM root carrying a phone number (structural: never remapped)", "phone", "(0008,1140)/(0008,1150)", false, []string{u}, p)
	})
	g.file("labels", "structural-uid-coding-scheme", "", nil, func(fc *fileCtx) {
		n := g.number(9)
		u := "1.3.6.1.4.1." + n
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		ar.Str("CodeValue", dicom.SH, "12738006").Str("CodingSchemeDesignator", dicom.SH, "SCT").Text("CodeMeaning", dicom.LO, "Brain")
		ar.Str("CodingSchemeUID", dicom.UI, u)
		fc.plant(cLabels, "CodingSchemeUID (structural: never remapped) carrying an account number", "account-number", "(0008,2218)/(0008,010C)", false, []string{u}, n)
	})
}
