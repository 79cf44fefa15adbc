package phicorpus

// The second round, aimed at what an allowlisting engine keeps: kept
// equipment and processing attributes, values that have the form of
// their VR (CS, DS, IS), code values and versions of registered schemes,
// SR concept names, safe-private text slots, descriptor heuristics
// (single untitled names, glued names, undotted phones, numeric dates,
// obfuscated spellings of the known name) and other codestream
// placements.

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"

	"github.com/aisedge/aisedge/internal/dicom"
)

func init() {
	corpusCases = append(corpusCases, casesKept, casesSafePrivateText, casesDescriptorEvasions, casesPixel2, casesLabels2)
}

// file builds one synthetic file in folder dir.
func (g *gen) file(dir, name, charset string, pt *patient, fill func(fc *fileCtx)) {
	if pt == nil {
		pt = g.newPatient("", "")
	}
	fc := g.synthetic(dir+"/"+name+".dcm", charset, pt)
	fill(fc)
	fc.write()
}

func upper(s string) string { return strings.ToUpper(s) }

// phoneDigits is a unique 10-digit number of the fictional 555-01xx range.
func (g *gen) phoneDigits() string {
	p := g.phoneUS()
	return strings.ReplaceAll(p, ".", "")
}

// ---- kept public attributes with identifiers nothing else names ----

func casesKept(g *gen) {
	type kept struct {
		kw   string
		vr   dicom.VR
		kind string
		make func() (value string, needles []string)
	}
	third := func(prefix, suffix string) func() (string, []string) {
		return func() (string, []string) { n := g.third(); return prefix + n + suffix, []string{n} }
	}
	thirdShort := func(prefix string) func() (string, []string) {
		// SH values hold 16 characters.
		return func() (string, []string) {
			n := g.word(2, 6)
			return prefix + n, []string{n}
		}
	}
	for _, k := range []kept{
		{"ManufacturerModelName", dicom.LO, "third-party-name", third("Magnetron 3T ", "")},
		{"PulseSequenceName", dicom.SH, "third-party-name", thirdShort("fse_")},
		{"TransmitCoilName", dicom.SH, "third-party-name", thirdShort("Tx ")},
		{"MultiCoilElementName", dicom.SH, "third-party-name", thirdShort("")},
		{"FilterType", dicom.SH, "third-party-name", thirdShort("F ")},
		{"ReconstructionMethod", dicom.LO, "operator-name", third("OSEM by ", "")},
		{"LUTExplanation", dicom.LO, "operator-name", third("window set by ", "")},
		{"WindowCenterWidthExplanation", dicom.LO, "physician-name", third("", " preset")},
		{"RescaleType", dicom.LO, "third-party-name", third("HU ", "")},
		{"Radiopharmaceutical", dicom.LO, "relative-name", third("FDG dose for ", "")},
		{"StackID", dicom.SH, "third-party-name", thirdShort("")},
		{"PositionReferenceIndicator", dicom.LO, "third-party-name", third("", "")},
		{"SegmentAlgorithmName", dicom.LO, "operator-name", third("contoured by ", "")},
		{"ConvolutionKernel", dicom.SH, "phone", func() (string, []string) { p := g.phoneDigits(); return `B30f\` + p, []string{p} }},
		{"ContentLabel", dicom.CS, "third-party-name", func() (string, []string) { n := upper(g.word(2, 6)); return n, []string{n} }},
		{"ScanOptions", dicom.CS, "third-party-name", func() (string, []string) { n := upper(g.word(2, 6)); return `FC\` + n, []string{n} }},
		{"SliceLocation", dicom.DS, "phone", func() (string, []string) { p := g.phoneDigits(); return p, []string{p} }},
		{"SliceThickness", dicom.DS, "phone", func() (string, []string) {
			p := g.phoneDigits()
			return p[:1] + "." + p[1:] + "E9", []string{p}
		}},
		{"AcquisitionNumber", dicom.IS, "account-number", func() (string, []string) { n := g.number(9); return n, []string{n} }},
	} {
		e, _ := dicom.LookupKeyword(k.kw)
		g.file("kept", strings.ToLower(k.kw), "", nil, func(fc *fileCtx) {
			v, needles := k.make()
			if k.vr == dicom.CS || k.vr == dicom.DS || k.vr == dicom.IS {
				fc.ds.SetString(e.Tag, k.vr, strings.Split(v, `\`)...)
				fc.plant(cNonE1, fmt.Sprintf("%s %s (%s, kept when of its VR's form)", e.Tag, k.kw, k.vr), k.kind, e.Tag.String(), false, []string{v}, needles...)
				return
			}
			fc.put(cNonE1, fmt.Sprintf("%s %s (kept attribute)", e.Tag, k.kw), k.kind, k.kw, k.vr, false, v, needles...)
		})
	}
	g.file("kept", "image-type-fifth-value", "", nil, func(fc *fileCtx) {
		n := upper(g.word(2, 6))
		fc.x.Str("ImageType", dicom.CS, "ORIGINAL", "PRIMARY", "M", "ND", n)
		fc.plant(cNonE1, "(0008,0008) ImageType fifth value (CS)", "third-party-name", "(0008,0008)", false, []string{n}, n)
	})
	g.file("kept", "registered-code-value-phone", "", nil, func(fc *fileCtx) {
		p := g.phoneDigits()
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		ar.Str("CodeValue", dicom.SH, p).Str("CodingSchemeDesignator", dicom.SH, "SCT").Text("CodeMeaning", dicom.LO, "Brain")
		fc.plant(cNonE1, "CodeValue of a registered scheme (SCT) in AnatomicRegionSequence holding digits", "phone", "(0008,2218)/(0008,0100)", false, []string{p}, p)
	})
	g.file("kept", "registered-code-version-and-context", "", nil, func(fc *fileCtx) {
		n, p := g.word(2, 6), g.phoneDigits()
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		ar.Str("CodeValue", dicom.SH, "12738006").Str("CodingSchemeDesignator", dicom.SH, "SCT").Text("CodeMeaning", dicom.LO, "Brain")
		ar.Text("CodingSchemeVersion", dicom.SH, "v"+n)
		ar.Str("ContextIdentifier", dicom.CS, p)
		fc.plant(cNonE1, "CodingSchemeVersion of a registered code", "third-party-name", "(0008,2218)/(0008,0103)", false, []string{"v" + n}, n)
		fc.plant(cNonE1, "ContextIdentifier (CS) of a registered code", "phone", "(0008,2218)/(0008,010F)", false, []string{p}, p)
	})
	g.file("kept", "registered-code-meaning-single-name", "", nil, func(fc *fileCtx) {
		n := g.third()
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		ar.Str("CodeValue", dicom.SH, "12738006").Str("CodingSchemeDesignator", dicom.SH, "SCT")
		v := "Brain (per " + n + ")"
		fc.set(ar.DS, "CodeMeaning", dicom.LO, v)
		fc.plant(cNonE1, "CodeMeaning of a registered code with one untitled name", "physician-name", "(0008,2218)/(0008,0104)", false, []string{v}, n)
	})
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("kept/sr-concept-name-meaning.dcm", "pydicom_test-SR.dcm", "", "", pt)
		var concepts []*dicom.Dataset
		cs := fc.ds.Get(tagContentSequence())
		if cs == nil {
			g.tb.Fatal("test-SR: no ContentSequence")
		}
		for _, it := range cs.Items {
			if cn := it.Get(dicom.MustTag("ConceptNameCodeSequence")); cn != nil && len(cn.Items) > 0 {
				concepts = append(concepts, cn.Items[0])
			}
		}
		if len(concepts) == 0 {
			g.tb.Fatal("test-SR: no concept name in the content tree")
		}
		n := g.third()
		v := "Opinion of " + n
		fc.set(concepts[0], "CodeMeaning", dicom.LO, v)
		fc.plant(cNonE1, "SR ConceptNameCodeSequence CodeMeaning (SR concept names)", "physician-name", "(0040,A730)/(0040,A043)/(0008,0104)", false, []string{v}, n)
		fc.write()
	}
}

func bytesIndex(b, sub []byte) int {
	i := strings.Index(string(b), string(sub))
	if i < 0 {
		panic("segment not found")
	}
	return i
}

func tagContentSequence() dicom.Tag { return dicom.MustTag("ContentSequence") }

// ---- text in safe-private text slots and numeric slots of the right form ----

func casesSafePrivateText(g *gen) {
	slot := func(name string, group uint16, creator string, elem uint16, vr dicom.VR, kind, route string, mk func() (string, []string)) {
		g.file("safe-private", name, "", nil, func(fc *fileCtx) {
			v, needles := mk()
			fc.ds.SetString(dicom.NewTag(group, 0x0010), dicom.LO, creator)
			t := dicom.NewTag(group, 0x1000|elem)
			fc.ds.SetString(t, vr, strings.Split(v, `\`)...)
			fc.plant(cSafe, route, kind, t.String(), false, []string{v}, needles...)
		})
	}
	slot("gems-acqu-pulse-sequence-name", 0x0019, "GEMS_ACQU_01", 0x9E, dicom.LO, "third-party-name",
		"GEMS_ACQU_01 (0019,xx9E) Internal Pulse Sequence Name [LO] with a third party's name", func() (string, []string) {
			n := g.third()
			return "fse_" + strings.ToLower(n), []string{n}
		})
	slot("gems-parm-pitch-ratio", 0x0043, "GEMS_PARM_01", 0x27, dicom.SH, "third-party-name",
		"GEMS_PARM_01 (0043,xx27) Scan Pitch Ratio [SH] with a name", func() (string, []string) {
			n := g.word(2, 6)
			return n + ":1", []string{n}
		})
	slot("philips-echo-time-display", 0x2001, "Philips Imaging DD 001", 0x25, dicom.SH, "phone",
		"Philips Imaging DD 001 (2001,xx25) MR Series Echo Time Display [SH] with a phone number", func() (string, []string) {
			p := g.phoneDigits()
			return p, []string{p}
		})
	slot("philips-graphic-marker-type", 0x2001, "Philips Imaging DD 001", 0x50, dicom.LO, "street-address",
		"Philips Imaging DD 001 (2001,xx50) Graphic Marker Type [LO] with an address", func() (string, []string) {
			a, _ := g.street()
			return a, []string{a}
		})
	slot("philips-cs-slot", 0x2001, "Philips Imaging DD 001", 0x36, dicom.CS, "third-party-name",
		"Philips Imaging DD 001 (2001,xx36) Stack Type [CS] with a name of CS form", func() (string, []string) {
			n := upper(g.word(2, 6))
			return n, []string{n}
		})
	slot("gems-acqu-ds-valid-phone", 0x0019, "GEMS_ACQU_01", 0x23, dicom.DS, "phone",
		"GEMS_ACQU_01 (0019,xx23) Table Speed [DS] holding a phone number that is a valid DS", func() (string, []string) {
			p := g.phoneDigits()
			return p, []string{p}
		})
	slot("philips-pet-suv-sci", 0x7053, "Philips PET Private Group", 0x00, dicom.DS, "account-number",
		"Philips PET Private Group (7053,xx00) SUV Factor [DS] holding an account number in scientific notation", func() (string, []string) {
			n := g.number(9)
			return n[:1] + "." + n[1:] + "E8", []string{n}
		})
}

// ---- descriptor heuristics ----

func casesDescriptorEvasions(g *gen) {
	type ev struct {
		name, kw, kind, route string
		known                 bool
		make                  func(fc *fileCtx) (string, []string)
	}
	for _, e := range []ev{
		{"third-lower-case", "SeriesDescription", "third-party-name", "a third party's name in lower case", false, func(fc *fileCtx) (string, []string) {
			n := g.third()
			return "t1 sag " + strings.ToLower(n), []string{n}
		}},
		{"third-all-caps", "SeriesDescription", "third-party-name", "a third party's name in capitals, alone", false, func(fc *fileCtx) (string, []string) {
			n := g.third()
			return "T2 AX " + upper(n), []string{n}
		}},
		{"third-underscore", "ProtocolName", "third-party-name", "a third party's name glued with underscores", false, func(fc *fileCtx) (string, []string) {
			n := g.third()
			return "T1_" + upper(n) + "_SAG", []string{n}
		}},
		{"third-camel-case", "ProtocolName", "third-party-name", "a third party's name in CamelCase", false, func(fc *fileCtx) (string, []string) {
			n := g.third()
			return "T1" + n + "Sag", []string{n}
		}},
		{"third-with-vocabulary", "StudyDescription", "third-party-name", "a third party's name next to a vocabulary word", false, func(fc *fileCtx) (string, []string) {
			n := g.third()
			return "Brain " + n, []string{n}
		}},
		{"phone-spaces", "StudyDescription", "phone", "phone NNN NNN NNNN", false, func(fc *fileCtx) (string, []string) {
			p := g.phoneDigits()
			v := p[:3] + " " + p[3:6] + " " + p[6:]
			return "call " + v, []string{v}
		}},
		{"phone-dashes", "StudyDescription", "phone", "phone NNN-NNN-NNNN", false, func(fc *fileCtx) (string, []string) {
			p := g.phoneDigits()
			v := p[:3] + "-" + p[3:6] + "-" + p[6:]
			return "call " + v, []string{v}
		}},
		{"phone-parentheses", "SeriesDescription", "phone", "phone (NNN) NNN-NNNN", false, func(fc *fileCtx) (string, []string) {
			p := g.phoneDigits()
			v := "(" + p[:3] + ") " + p[3:6] + "-" + p[6:]
			return "cb " + v, []string{v}
		}},
		{"phone-plain-digits", "ProtocolName", "phone", "phone as 10 plain digits", false, func(fc *fileCtx) (string, []string) {
			p := g.phoneDigits()
			return "cb" + p, []string{p}
		}},
		{"third-email", "ProtocolName", "email", "a third party's e-mail", false, func(fc *fileCtx) (string, []string) {
			m := strings.ToLower(g.word(2, 6)) + "@example-clinic.org"
			return "to " + m, []string{m}
		}},
		{"third-numeric-date", "SeriesDescription", "birth-date", "a relative's birth date DD/MM/YYYY", false, func(fc *fileCtx) (string, []string) {
			d := g.date()
			_, dmy, _, _, _ := dateForms(d)
			return "twin dob " + dmy, []string{dmy}
		}},
		{"third-iso-date", "StudyDescription", "birth-date", "a relative's birth date YYYY-MM-DD", false, func(fc *fileCtx) (string, []string) {
			d := g.date()
			return "mother b. " + iso(d), []string{iso(d)}
		}},
		{"address-lower-case", "StudyDescription", "street-address", "a street address in lower case", false, func(fc *fileCtx) (string, []string) {
			a, _ := g.street()
			return "from " + strings.ToLower(a), []string{a}
		}},
		{"postcode", "SeriesDescription", "postcode", "a postcode alone", false, func(fc *fileCtx) (string, []string) {
			pc := fmt.Sprintf("QX%d %dZT", 1+g.rng.IntN(9), 1+g.rng.IntN(9))
			return "T1 " + pc, []string{pc}
		}},
		{"known-spaced-letters", "SeriesDescription", "family-name", "the known family name with spaced letters", true, func(fc *fileCtx) (string, []string) {
			v := strings.Join(strings.Split(upper(fc.pt.family), ""), " ")
			return v, []string{v}
		}},
		{"known-reversed", "StudyDescription", "family-name", "the known family name reversed", true, func(fc *fileCtx) (string, []string) {
			r := []rune(strings.ToLower(fc.pt.family))
			for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
				r[i], r[j] = r[j], r[i]
			}
			return string(r), []string{string(r)}
		}},
		{"known-typo", "StudyDescription", "family-name", "the known family name with one letter changed", true, func(fc *fileCtx) (string, []string) {
			r := []rune(fc.pt.family)
			r[len(r)-2] = map[bool]rune{true: 'y', false: 'a'}[r[len(r)-2] == 'a']
			return "MR " + string(r), []string{string(r)}
		}},
		{"known-leet", "ProtocolName", "family-name", "the known family name in leetspeak", true, func(fc *fileCtx) (string, []string) {
			v := strings.NewReplacer("o", "0", "i", "1", "e", "3", "a", "4").Replace(strings.ToLower(fc.pt.family))
			if v == strings.ToLower(fc.pt.family) {
				v += "0"
			}
			return v, []string{v}
		}},
		{"known-base64", "ProtocolName", "patient-name", "the known name in base64", true, func(fc *fileCtx) (string, []string) {
			v := base64.StdEncoding.EncodeToString([]byte(fc.pt.full()))
			return v, []string{v}
		}},
		{"known-dob-dots", "SeriesDescription", "birth-date", "the known birth date DD.MM.YYYY", true, func(fc *fileCtx) (string, []string) {
			d := fc.pt.dob
			v := d[6:] + "." + d[4:6] + "." + d[:4]
			return "geb. " + v, []string{v}
		}},
		{"known-dob-us", "StudyDescription", "birth-date", "the known birth date MM-DD-YYYY", true, func(fc *fileCtx) (string, []string) {
			d := fc.pt.dob
			v := d[4:6] + "-" + d[6:] + "-" + d[:4]
			return "dob " + v, []string{v}
		}},
		{"known-mrn-dashes", "ProtocolName", "mrn", "the known MRN with dashes", true, func(fc *fileCtx) (string, []string) {
			m := fc.pt.mrn
			v := m[:3] + "-" + m[3:6] + "-" + m[6:]
			return "ref " + v, []string{v}
		}},
		{"known-initials-dob", "SeriesDescription", "birth-date", "initials and compact DDMMYYYY birth date", true, func(fc *fileCtx) (string, []string) {
			d := fc.pt.dob
			v := d[6:] + d[4:6] + d[:4]
			return string(unicode.ToUpper(rune(fc.pt.given[0]))) + string(unicode.ToUpper(rune(fc.pt.family[0]))) + " " + v, []string{v}
		}},
	} {
		g.file("clean", e.name, "", nil, func(fc *fileCtx) {
			v, needles := e.make(fc)
			fc.put(cClean, e.route+" in "+e.kw, e.kind, e.kw, dicom.LO, e.known, v, needles...)
		})
	}
}

// ---- codestream placements the first round did not use ----

func casesPixel2(g *gen) {
	const jpeg, jpegls, j2k = "pydicom_SC_rgb_jpeg_dcmtk.dcm", "pydicom_MR_small_jpeg_ls_lossless.dcm", "pydicom_JPEG2000.dcm"
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpeg-com-before-sos.dcm", jpeg, sopCT, "CT", pt)
		n := g.third()
		text := "Reported by " + n
		fc.setFrame(jpegBeforeSOS(fc.frame(), jpegSegment(0xFE, []byte(text))), "jpeg")
		fc.plant(cPixel, "JPEG COM segment right before SOS (after the tables)", "physician-name", "(7FE0,0010)", false, []string{text}, n)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpeg-com-across-fragments.dcm", jpeg, sopCT, "CT", pt)
		n, phone := g.third(), g.phoneUS()
		text := "Pt contact " + n + " " + phone
		com := jpegSegment(0xFE, []byte(text))
		b := jpegBeforeSOS(fc.frame(), com)
		// Cut inside the COM payload, before the name (the first fragment
		// keeps the headers up to SOF, which readers parse from it).
		cut := bytesIndex(b, com) + 4 + 10
		cut -= cut % 2
		fc.setFrameFragments("jpeg", b[:cut], b[cut:])
		fc.plant(cPixel, "JPEG COM segment split across two fragments of one frame", "relative-name", "(7FE0,0010)", false, []string{text}, n)
		fc.plant(cPixel, "JPEG COM segment split across two fragments of one frame", "phone", "(7FE0,0010)", false, []string{text}, phone)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpeg-app2-icc-desc.dcm", jpeg, sopCT, "CT", pt)
		n := g.third()
		desc := "Calibrated by " + n
		fc.setFrame(jpegAfterSOI(fc.frame(), iccAPP2(desc)), "jpeg")
		fc.plant(cPixel, "JPEG APP2 ICC profile 'desc' tag", "operator-name", "(7FE0,0010)", false, []string{desc}, n)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpegls-com-before-sos.dcm", jpegls, sopMR, "MR", pt)
		n := g.third()
		text := "Technologist " + n
		fc.setFrame(jpegBeforeSOS(fc.frame(), jpegSegment(0xFE, []byte(text))), "jpeg-ls")
		fc.plant(cPixel, "JPEG-LS COM segment right before SOS", "operator-name", "(7FE0,0010)", false, []string{text}, n)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/j2k-com-binary-utf16.dcm", j2k, sopCT, "CT", pt)
		n := g.third()
		text := "Operator " + n
		fc.setFrame(j2kAfterSIZ(fc.frame(), j2kCOMBinary(utf16Bytes(text, false))), "j2k")
		fc.plant(cPixel, "JPEG 2000 COM marker with Rcom 0 (binary) holding UTF-16LE, right after SIZ", "operator-name", "(7FE0,0010)", false, []string{text}, n)
		fc.write()
	}
}

// ---- labels built from kept numbers ----

func casesLabels2(g *gen) {
	g.file("labels", "series-number-account", "", nil, func(fc *fileCtx) {
		n := g.number(9)
		fc.x.Str("SeriesNumber", dicom.IS, n)
		fc.plant(cLabels, "SeriesNumber (IS, kept) holding an account number: scan folder name", "account-number", "(0020,0011)", false, []string{n}, n)
	})
	g.file("labels", "series-description-glued-third-party", "", nil, func(fc *fileCtx) {
		n := g.third()
		fc.put(cLabels, "SeriesDescription glued to a third party's name (scan folder name)", "third-party-name", "SeriesDescription", dicom.LO, false, "3_"+n, n)
	})
}
