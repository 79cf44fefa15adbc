package phicorpus

// The corpus: one function per leak class, each writing files whose
// patients are their own (unique names and numbers), so that a hit names
// its file. Identifiers the engine cannot know (third parties, phone
// numbers nothing else names) are kept apart from the patient's own name
// where a verification gate that knows the name would quarantine the file
// and hide them.

import (
	"fmt"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

var corpusCases = []func(*gen){
	casesPixel, casesCharset, casesCodedValue, casesNonE1, casesSafePrivate, casesCleanDescriptors,
	casesStructure, casesLabels, casesControls,
}

const (
	cPixel   = "pixel-codestream"
	cCharset = "charset"
	cCoded   = "coded-value-name"
	cNonE1   = "non-e1-attribute"
	cSafe    = "safe-private"
	cClean   = "clean-descriptors"
	cStruct  = "structure"
	cLabels  = "labels"
)

// third invents a third party's family name (a person the instance does
// not otherwise name).
func (g *gen) third() string { return g.word(3, 7) }

// phoneUS is a unique NANP fictional number "555.0DD.DDDD".
func (g *gen) phoneUS() string {
	for {
		s := fmt.Sprintf("555.0%02d.%04d", g.rng.IntN(100), g.rng.IntN(10000))
		if !g.used[s] {
			g.used[s] = true
			return s
		}
	}
}

// phoneUK is a unique Ofcom drama number "+44 20 7946 0DDD".
func (g *gen) phoneUK() string {
	for {
		s := fmt.Sprintf("+44 20 7946 0%03d", g.rng.IntN(1000))
		if !g.used[s] {
			g.used[s] = true
			return s
		}
	}
}

// ukNeedles: the number as written and without the country code (the
// national form "(0)20 7946 0NNN", "020 7946 0NNN").
func ukNeedles(p string) []string { return []string{p, strings.TrimPrefix(p, "+44 ")} }

// street invents "NN Name Crescent".
func (g *gen) street() (full, name string) {
	name = g.word(3, 7)
	return fmt.Sprintf("%d %s Crescent", 10+g.rng.IntN(80), name), name
}

func (g *gen) email(p *patient) string {
	return strings.ToLower(p.given) + "." + strings.ToLower(p.family) + "@mailbox.example.org"
}

func iso(d string) string { a, _, _, _, _ := dateForms(d); return a }

// ---- 1. text inside encapsulated pixel data ----

func casesPixel(g *gen) {
	const jpeg, jpegls, j2k = "pydicom_SC_rgb_jpeg_dcmtk.dcm", "pydicom_MR_small_jpeg_ls_lossless.dcm", "pydicom_JPEG2000.dcm"
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpeg-com.dcm", jpeg, sopCT, "CT", pt)
		text := fmt.Sprintf("Patient: %s MRN %s", pt.full(), pt.mrn)
		fc.setFrame(jpegAfterSOI(fc.frame(), jpegSegment(0xFE, []byte(text))), "jpeg")
		fc.plant(cPixel, "JPEG baseline COM segment", "patient-name", "(7FE0,0010)", true, []string{text}, pt.nameNeedles...)
		fc.plant(cPixel, "JPEG baseline COM segment", "mrn", "(7FE0,0010)", true, []string{text}, pt.mrn)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpeg-app1-xmp-app13-iptc.dcm", jpeg, sopCT, "CT", pt)
		xmp := fmt.Sprintf(`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">`+
			`<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>%s</dc:creator><dc:description>born %s</dc:description>`+
			`</rdf:Description></rdf:RDF></x:xmpmeta>`, pt.full(), iso(pt.dob))
		phone, doctor := g.phoneUS(), g.third()
		caption, byline := "Call back "+phone, "Dr. "+doctor
		fc.setFrame(jpegAfterSOI(fc.frame(), xmpAPP1(xmp), photoshopAPP13(caption, byline)), "jpeg")
		fc.plant(cPixel, "JPEG APP1 XMP packet", "patient-name", "(7FE0,0010)", true, []string{xmp}, pt.nameNeedles...)
		fc.plant(cPixel, "JPEG APP1 XMP packet", "birth-date", "(7FE0,0010)", true, []string{xmp}, iso(pt.dob))
		fc.plant(cPixel, "JPEG APP13 Photoshop IPTC caption", "phone", "(7FE0,0010)", false, []string{caption}, phone)
		fc.plant(cPixel, "JPEG APP13 Photoshop IPTC by-line", "physician-name", "(7FE0,0010)", false, []string{byline}, doctor)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpeg-after-eoi.dcm", jpeg, sopCT, "CT", pt)
		doctor := g.third()
		mail := strings.ToLower(doctor) + "@radiology.example.net"
		trailer := fmt.Sprintf("\r\nReferring: Dr. %s <%s>\r\n", doctor, mail)
		fc.setFrame(jpegAfterEOI(fc.frame(), []byte(trailer)), "jpeg")
		fc.plant(cPixel, "bytes after the JPEG EOI marker", "physician-name", "(7FE0,0010)", false, []string{trailer}, doctor)
		fc.plant(cPixel, "bytes after the JPEG EOI marker", "email", "(7FE0,0010)", false, []string{trailer}, mail)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpegls-com.dcm", jpegls, sopMR, "MR", pt)
		text := fmt.Sprintf("Patient: %s MRN %s", pt.full(), pt.mrn)
		fc.setFrame(jpegAfterSOI(fc.frame(), jpegSegment(0xFE, []byte(text))), "jpeg-ls")
		fc.plant(cPixel, "JPEG-LS COM segment", "patient-name", "(7FE0,0010)", true, []string{text}, pt.nameNeedles...)
		fc.plant(cPixel, "JPEG-LS COM segment", "mrn", "(7FE0,0010)", true, []string{text}, pt.mrn)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpeg-app1-exif.dcm", jpeg, sopCT, "CT", pt)
		artist := g.third()
		desc := fmt.Sprintf("Accession %s DOB %s", pt.acc, iso(pt.dob))
		fc.setFrame(jpegAfterSOI(fc.frame(), exifAPP1(desc, artist)), "jpeg")
		fc.plant(cPixel, "JPEG APP1 Exif ImageDescription", "accession", "(7FE0,0010)", true, []string{desc}, pt.acc)
		fc.plant(cPixel, "JPEG APP1 Exif ImageDescription", "birth-date", "(7FE0,0010)", true, []string{desc}, iso(pt.dob))
		fc.plant(cPixel, "JPEG APP1 Exif Artist", "operator-name", "(7FE0,0010)", false, []string{artist}, artist)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jpegls-two-com.dcm", jpegls, sopMR, "MR", pt)
		tech := g.third()
		c1 := fmt.Sprintf("Acc %s born %s", pt.acc, iso(pt.dob))
		c2 := "Technologist " + tech
		fc.setFrame(jpegAfterSOI(fc.frame(), jpegSegment(0xFE, []byte(c1)), jpegSegment(0xFE, []byte(c2))), "jpeg-ls")
		fc.plant(cPixel, "JPEG-LS COM segment", "accession", "(7FE0,0010)", true, []string{c1}, pt.acc)
		fc.plant(cPixel, "JPEG-LS COM segment", "birth-date", "(7FE0,0010)", true, []string{c1}, iso(pt.dob))
		fc.plant(cPixel, "JPEG-LS second COM segment", "operator-name", "(7FE0,0010)", false, []string{c2}, tech)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/j2k-com-main-header.dcm", j2k, sopCT, "CT", pt)
		text := fmt.Sprintf("Patient: %s MRN %s", pt.full(), pt.mrn)
		fc.setFrame(j2kMainCOM(fc.frame(), text), "j2k")
		fc.plant(cPixel, "JPEG 2000 COM marker (main header)", "patient-name", "(7FE0,0010)", true, []string{text}, pt.nameNeedles...)
		fc.plant(cPixel, "JPEG 2000 COM marker (main header)", "mrn", "(7FE0,0010)", true, []string{text}, pt.mrn)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/j2k-com-tile-part.dcm", j2k, sopCT, "CT", pt)
		phone := g.phoneUK()
		text := fmt.Sprintf("DOB %s tel %s", iso(pt.dob), phone)
		fc.setFrame(j2kTileCOM(fc.frame(), text), "j2k")
		fc.plant(cPixel, "JPEG 2000 COM marker (tile-part header)", "birth-date", "(7FE0,0010)", true, []string{text}, iso(pt.dob))
		fc.plant(cPixel, "JPEG 2000 COM marker (tile-part header)", "phone", "(7FE0,0010)", false, []string{text}, ukNeedles(phone)...)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/jp2-xml-uuid-boxes.dcm", j2k, sopCT, "CT", pt)
		addr, _ := g.street()
		xml := fmt.Sprintf(`<?xml version="1.0"?><patient><name>%s</name><mrn>%s</mrn></patient>`, pt.full(), pt.mrn)
		uuidText := "home: " + addr
		fc.setFrame(jp2Wrap(fc.frame(), xml, [16]byte{0xbe, 0x7a, 0xcf, 0xcb, 0x97, 0xa9, 0x42, 0xe8, 0x9c, 0x71, 0x99, 0x94, 0x91, 0xe3, 0xaf, 0xac}, uuidText), "jp2")
		fc.plant(cPixel, "JP2 xml box", "patient-name", "(7FE0,0010)", true, []string{xml}, pt.nameNeedles...)
		fc.plant(cPixel, "JP2 xml box", "mrn", "(7FE0,0010)", true, []string{xml}, pt.mrn)
		fc.plant(cPixel, "JP2 uuid box", "street-address", "(7FE0,0010)", false, []string{uuidText}, addr)
		fc.write()
	}
}

// ---- 2. the name in other character sets ----

func casesCharset(g *gen) {
	{
		pt := g.newPatient("Takanashi", "Miwako")
		pt.ideo, pt.phon = "小鳥遊^美和子", "たかなし^みわこ"
		fc := g.synthetic("charset/iso2022-ir87.dcm", `\ISO 2022 IR 87`, pt)
		fc.put(cCharset, "ISO 2022 IR 87 in SeriesDescription (no spaces)", "patient-name", "SeriesDescription", dicom.LO, true, "小鳥遊美和子", "小鳥遊", "美和子")
		fc.put(cCharset, "ISO 2022 IR 87 in StudyDescription", "patient-name", "StudyDescription", dicom.LO, true, "小鳥遊美和子様　頭部ＭＲＩ", "小鳥遊", "美和子")
		fc.put(cCharset, "ISO 2022 IR 87 in ImageComments (kana)", "patient-name", "ImageComments", dicom.LT, true, "患者：小鳥遊　美和子（たかなし　みわこ）", "小鳥遊", "たかなし", "みわこ")
		fc.write()
	}
	{
		pt := g.newPatient("Teshigawara", "Kuranosuke")
		pt.ideo, pt.phon = "勅使河原^蔵之介", "てしがわら^くらのすけ"
		fc := g.synthetic("charset/iso2022-ir13-ir87.dcm", `ISO 2022 IR 13\ISO 2022 IR 87`, pt)
		fc.put(cCharset, "JIS X 0201 half-width katakana (IR 13) in SeriesDescription", "patient-name", "SeriesDescription", dicom.LO, true, "ﾃｼｶﾞﾜﾗ ｸﾗﾉｽｹ", "ﾃｼｶﾞﾜﾗ")
		fc.put(cCharset, "ISO 2022 IR 87 kanji after IR 13 in ProtocolName", "patient-name", "ProtocolName", dicom.LO, true, "勅使河原蔵之介 頭部", "勅使河原", "蔵之介")
		fc.write()
	}
	{
		pt := g.newPatient("Sima", "Cuiping")
		pt.ideo = "司马^翠萍"
		fc := g.synthetic("charset/gb18030.dcm", "GB18030", pt)
		fc.put(cCharset, "GB18030 in SeriesDescription", "patient-name", "SeriesDescription", dicom.LO, true, "司马翠萍 头颅平扫", "司马翠萍", "翠萍")
		fc.put(cCharset, "GB18030 in ImageComments", "patient-name", "ImageComments", dicom.LT, true, "患者司马翠萍，复查", "司马翠萍")
		fc.write()
	}
	{
		pt := g.newPatient("Dürrenbächler", "Maëlys")
		fc := g.synthetic("charset/latin1-diacritics.dcm", "ISO_IR 100", pt)
		fc.put(cCharset, "ISO_IR 100 Latin-1 in SeriesDescription", "patient-name", "SeriesDescription", dicom.LO, true, "Maëlys Dürrenbächler", "Dürrenbächler", "Maëlys")
		fc.put(cCharset, "ISO_IR 100 Latin-1 upper case in StudyDescription", "patient-name", "StudyDescription", dicom.LO, true, "DÜRRENBÄCHLER KNIE", "Dürrenbächler")
		fc.write()
	}
	{
		pt := g.newPatient("Phạmthùy", "Ngọclan")
		fc := g.synthetic("charset/utf8-combining.dcm", "ISO_IR 192", pt)
		nfd := "Ph\u0061\u0323mthu\u0300y Ngo\u0323clan"
		fc.put(cCharset, "UTF-8 decomposed (combining marks) in SeriesDescription", "patient-name", "SeriesDescription", dicom.LO, true, nfd, "Phạmthùy", "Ngọclan")
		fc.put(cCharset, "UTF-8 upper case precomposed in ImageComments", "patient-name", "ImageComments", dicom.LT, true, "PHẠMTHÙY NGỌCLAN", "Phạmthùy")
		fc.write()
	}
	{
		pt := g.newPatient("Zhukovskaya", "Olgerta")
		pt.ideo = "Жуковская^Ольгерта"
		fc := g.synthetic("charset/utf8-cyrillic-greek.dcm", "ISO_IR 192", pt)
		fc.put(cCharset, "UTF-8 Cyrillic in StudyDescription", "patient-name", "StudyDescription", dicom.LO, true, "МРТ Жуковская Ольгерта", "Жуковская", "Ольгерта")
		doc := "Παπαδημητρακοπούλου"
		fc.put(cCharset, "UTF-8 Greek third party in ImageComments", "physician-name", "ImageComments", dicom.LT, false, "Γιατρός "+doc, doc)
		fc.write()
	}
	{
		// Declared Latin-1, written in UTF-8: an engine that decodes as
		// declared sees "KjÃ¦rgÃ¥rd" and its deny list misses it.
		pt := g.newPatient("Kjærgårdsen", "Øyvindra")
		fc := g.synthetic("charset/misdeclared-latin1-holds-utf8.dcm", "ISO_IR 100", pt)
		v := "Kjærgårdsen Øyvindra kontroll"
		fc.ds.SetString(dicom.MustTag("ImageComments"), dicom.LT, v)
		fc.plant(cCharset, "UTF-8 bytes in a data set declared ISO_IR 100 (ImageComments)", "patient-name", "(0020,4000)", true, []string{v}, "Kjærgårdsen", "Øyvindra")
		fc.write()
	}
}

// ---- 3. a family name equal to a kept coded value ----

func casesCodedValue(g *gen) {
	for _, c := range []struct{ family, body, series, protocol string }{
		{"HEAD", "HEAD", "HEAD", "HEAD"},
		{"KNEE", "KNEE", "KNEE LEFT", "KNEE"},
		{"BRAIN", "BRAIN", "BRAIN", "BRAIN ROUTINE"},
	} {
		pt := g.newPatient(c.family, "")
		fc := g.synthetic("coded/family-"+strings.ToLower(c.family)+".dcm", "", pt)
		fc.x.Str("BodyPartExamined", dicom.CS, c.body)
		fc.set(fc.ds, "SeriesDescription", dicom.LO, c.series)
		fc.set(fc.ds, "ProtocolName", dicom.LO, c.protocol)
		fc.plantScoped(cCoded, "family name = Body Part Examined, in SeriesDescription → scan folder, MANIFEST.json", "family-name",
			"(0008,103E)", true, ScopeLabels, []string{c.series}, c.family)
		fc.plantScoped(cCoded, "family name = Body Part Examined, in ProtocolName", "family-name",
			"(0018,1030)", true, ScopeLabels, []string{c.protocol}, c.family)
		fc.write()
	}
}

// ---- 4. public attributes outside Table E.1-1 ----

func casesNonE1(g *gen) {
	one := func(name string, fill func(fc *fileCtx)) {
		fc := g.synthetic("non-e1/"+name+".dcm", "", g.newPatient("", ""))
		fill(fc)
		fc.write()
	}
	one("alternative-calendar-dates", func(fc *fileCtx) {
		fc.ds.SetString(tagOf("(0010,0035)"), dicom.CS, "I")
		fc.put(cNonE1, "(0010,0033) PatientBirthDateInAlternativeCalendar", "birth-date-alt-calendar", "(0010,0033)", dicom.LO, true, "1379-07-06", "1379-07-06")
		fc.put(cNonE1, "(0010,0034) PatientDeathDateInAlternativeCalendar", "death-date", "(0010,0034)", dicom.LO, false, "1445-02-11", "1445-02-11")
	})
	one("contact-display-name", func(fc *fileCtx) {
		n := g.third()
		fc.put(cNonE1, "(0074,100C) ContactDisplayName", "physician-name", "ContactDisplayName", dicom.LO, false, "Dr. "+n+" ext 4417", n)
	})
	one("performed-procedure-type-description", func(fc *fileCtx) {
		fc.put(cNonE1, "(0040,0255) PerformedProcedureTypeDescription", "patient-name", "PerformedProcedureTypeDescription", dicom.LO, true,
			"MRI brain for "+fc.pt.full(), fc.pt.nameNeedles...)
	})
	one("hanging-protocol-creator", func(fc *fileCtx) {
		n := g.third()
		fc.put(cNonE1, "(0072,0008) HangingProtocolCreator", "operator-name", "HangingProtocolCreator", dicom.LO, false, "Prof. "+n, n)
	})
	one("image-id", func(fc *fileCtx) {
		fc.put(cNonE1, "(0054,0400) ImageID", "mrn", "ImageID", dicom.SH, true, fc.pt.mrn+"-1", fc.pt.mrn)
	})
	one("confidentiality-code", func(fc *fileCtx) {
		m := g.email(fc.pt)
		fc.put(cNonE1, "(0040,1008) ConfidentialityCode", "email", "ConfidentialityCode", dicom.LO, false, "VIP "+m, m)
	})
	one("potential-reasons-for-procedure", func(fc *fileCtx) {
		addr, _ := g.street()
		fc.put(cNonE1, "(0018,9908) PotentialReasonsForProcedure (second value)", "street-address", "PotentialReasonsForProcedure", dicom.UC, false,
			`headache\fall at `+addr, addr)
	})
	one("code-meanings", func(fc *fileCtx) {
		doc, inst := g.third(), g.word(3, 7)
		pc := fc.x.Seq("ProcedureCodeSequence", 1)[0]
		pc.Str("CodeValue", dicom.SH, "MRBR").Str("CodingSchemeDesignator", dicom.SH, "99RIS")
		fc.set(pc.DS, "CodeMeaning", dicom.LO, "MR brain per Dr. "+doc)
		fc.plant(cNonE1, "CodeMeaning in ProcedureCodeSequence", "physician-name", "(0008,1032)/(0008,0104)", false, []string{"MR brain per Dr. " + doc}, doc)
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		ar.Str("CodeValue", dicom.SH, "T-A0100").Str("CodingSchemeDesignator", dicom.SH, "SRT")
		fc.set(ar.DS, "CodeMeaning", dicom.LO, "Brain of "+fc.pt.full())
		fc.plant(cNonE1, "CodeMeaning in AnatomicRegionSequence", "patient-name", "(0008,2218)/(0008,0104)", true, []string{"Brain of " + fc.pt.full()}, fc.pt.nameNeedles...)
		pp := fc.x.Seq("PerformedProtocolCodeSequence", 1)[0]
		pp.Str("CodeValue", dicom.SH, "STRK1").Str("CodingSchemeDesignator", dicom.SH, "99PROT")
		fc.set(pp.DS, "CodeMeaning", dicom.LO, inst+" Memorial stroke protocol")
		fc.plant(cNonE1, "CodeMeaning in PerformedProtocolCodeSequence", "institution", "(0040,0260)/(0008,0104)", false, []string{inst + " Memorial stroke protocol"}, inst+" Memorial")
	})
	one("code-meaning-two-levels", func(fc *fileCtx) {
		ra := fc.x.Seq("RequestAttributesSequence", 1)[0]
		ra.Text("RequestedProcedureID", dicom.SH, "RP1")
		sp := ra.Seq("ScheduledProtocolCodeSequence", 1)[0]
		sp.Str("CodeValue", dicom.SH, "P1").Str("CodingSchemeDesignator", dicom.SH, "99PROT")
		v := "Protocol for " + fc.pt.full()
		fc.set(sp.DS, "CodeMeaning", dicom.LO, v)
		fc.plant(cNonE1, "CodeMeaning two levels down (RequestAttributesSequence/ScheduledProtocolCodeSequence)", "patient-name",
			"(0040,0275)/(0040,0008)/(0008,0104)", true, []string{v}, fc.pt.nameNeedles...)
	})
	one("local-code-value-mrn", func(fc *fileCtx) {
		pc := fc.x.Seq("ProcedureCodeSequence", 1)[0]
		pc.Str("CodeValue", dicom.SH, fc.pt.mrn).Str("CodingSchemeDesignator", dicom.SH, "99RISMRN")
		pc.Text("CodeMeaning", dicom.LO, "Imaging request")
		fc.plant(cNonE1, "local 99 coding scheme CodeValue one level down (ProcedureCodeSequence)", "mrn", "(0008,1032)/(0008,0100)", true, []string{fc.pt.mrn}, fc.pt.mrn)
	})
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("non-e1/sr-code-and-unit-meanings.dcm", "pydicom_test-SR.dcm", "", "", pt)
		doc := g.third()
		phone := g.phoneUS()
		var codes, units, texts []*dicom.Dataset
		fc.ds.Walk(func(holder *dicom.Dataset, e *dicom.Element) bool {
			switch e.Tag {
			case dicom.MustTag("ConceptCodeSequence"):
				codes = append(codes, e.Items...)
			case dicom.MustTag("MeasurementUnitsCodeSequence"):
				units = append(units, e.Items...)
			case dicom.MustTag("TextValue"):
				texts = append(texts, holder)
			}
			return true
		})
		if len(codes) == 0 || len(units) == 0 || len(texts) == 0 {
			g.tb.Fatalf("test-SR: no CODE, NUM or TEXT content item")
		}
		fc.set(codes[0], "CodeMeaning", dicom.LO, "Lesion reviewed by Dr. "+doc)
		fc.plant(cNonE1, "SR CODE content item ConceptCodeSequence CodeMeaning", "physician-name", "(0040,A730)/(0040,A168)/(0008,0104)", false, []string{"Lesion reviewed by Dr. " + doc}, doc)
		fc.set(units[0], "CodeMeaning", dicom.LO, "mm ("+pt.full()+")")
		fc.plant(cNonE1, "SR NUM MeasurementUnitsCodeSequence CodeMeaning", "patient-name", "(0040,A730)/(0040,08EA)/(0008,0104)", true, []string{"mm (" + pt.full() + ")"}, pt.nameNeedles...)
		fc.set(texts[0], "TextValue", dicom.UT, "A mass of 3 cm; family to call "+phone)
		fc.plant(cNonE1, "SR TEXT content item TextValue", "phone", "(0040,A730)/(0040,A160)", false, []string{"A mass of 3 cm; family to call " + phone}, phone)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("non-e1/enhanced-ct-functional-groups.dcm", "suyashkumar_5_CT_multiframe.dcm", "", "", pt)
		pf := fc.ds.Get(dicom.MustTag("PerFrameFunctionalGroupsSequence"))
		sh := fc.ds.Get(dicom.MustTag("SharedFunctionalGroupsSequence"))
		if pf == nil || len(pf.Items) < 2 || sh == nil || len(sh.Items) == 0 {
			g.tb.Fatal("CT multiframe: no functional groups")
		}
		fcs := pf.Items[0].Get(dicom.MustTag("FrameContentSequence"))
		var item *dicom.Dataset
		if fcs != nil && len(fcs.Items) > 0 {
			item = fcs.Items[0]
		} else {
			item = dicom.NewDataset()
			pf.Items[0].SetSequence(dicom.MustTag("FrameContentSequence"), item)
		}
		fc.set(item, "FrameLabel", dicom.LO, pt.full())
		fc.plant(cNonE1, "FrameLabel in PerFrameFunctionalGroupsSequence/FrameContentSequence", "patient-name", "(5200,9230)/(0020,9111)/(0020,9453)", true, []string{pt.full()}, pt.nameNeedles...)
		tech := g.third()
		ct := dicom.NewDataset()
		fc.set(ct, "(0018,9423)", dicom.LO, "Acquired by "+tech)
		sh.Items[0].SetSequence(dicom.NewTag(0x0018, 0x9301), ct) // CT Acquisition Type Sequence
		fc.plant(cNonE1, "AcquisitionProtocolName in SharedFunctionalGroupsSequence/CTAcquisitionTypeSequence", "operator-name", "(5200,9229)/(0018,9301)/(0018,9423)", false, []string{"Acquired by " + tech}, tech)
		dl := g.third()
		di := dicom.NewDataset()
		fc.set(di, "DimensionDescriptionLabel", dicom.LO, "Stack of "+dl)
		fc.ds.SetSequence(dicom.MustTag("DimensionIndexSequence"), di)
		fc.plant(cNonE1, "DimensionDescriptionLabel in DimensionIndexSequence", "third-party-name", "(0020,9222)/(0020,9421)", false, []string{"Stack of " + dl}, dl)
		fc.write()
	}
	one("overlay-6002-text-without-data", func(fc *fileCtx) {
		ds := fc.ds
		ds.SetUint16(dicom.NewTag(0x6002, 0x0010), 8)
		ds.SetUint16(dicom.NewTag(0x6002, 0x0011), 8)
		ds.SetString(dicom.NewTag(0x6002, 0x0040), dicom.CS, "G")
		ds.Put(ssElement(dicom.NewTag(0x6002, 0x0050), 1, 1))
		ds.SetUint16(dicom.NewTag(0x6002, 0x0100), 1)
		ds.SetUint16(dicom.NewTag(0x6002, 0x0102), 0)
		desc := fc.pt.full() + " MRN " + fc.pt.mrn
		fc.set(ds, "(6002,0022)", dicom.LO, desc)
		fc.plant(cNonE1, "(6002,0022) OverlayDescription without OverlayData", "patient-name", "(6002,0022)", true, []string{desc}, fc.pt.nameNeedles...)
		fc.plant(cNonE1, "(6002,0022) OverlayDescription without OverlayData", "mrn", "(6002,0022)", true, []string{desc}, fc.pt.mrn)
		lbl := g.third()
		fc.set(ds, "(6002,1500)", dicom.LO, "R "+lbl)
		fc.plant(cNonE1, "(6002,1500) OverlayLabel without OverlayData", "operator-name", "(6002,1500)", false, []string{"R " + lbl}, lbl)
	})
	one("acquisition-context", func(fc *fileCtx) {
		rel, phone := g.third(), g.phoneUK()
		items := fc.x.Seq("AcquisitionContextSequence", 2)
		items[0].Str("ValueType", dicom.CS, "TEXT")
		cn := items[0].Seq("ConceptNameCodeSequence", 1)[0]
		cn.Str("CodeValue", dicom.SH, "121106").Str("CodingSchemeDesignator", dicom.SH, "DCM").Text("CodeMeaning", dicom.LO, "Comment")
		v := "Escorted by " + rel + " (daughter), " + phone
		fc.set(items[0].DS, "TextValue", dicom.UT, v)
		fc.plant(cNonE1, "TextValue in AcquisitionContextSequence", "relative-name", "(0040,0555)/(0040,A160)", false, []string{v}, rel)
		fc.plant(cNonE1, "TextValue in AcquisitionContextSequence", "phone", "(0040,0555)/(0040,A160)", false, []string{v}, ukNeedles(phone)...)
		items[1].Str("ValueType", dicom.CS, "PNAME")
		cn = items[1].Seq("ConceptNameCodeSequence", 1)[0]
		cn.Str("CodeValue", dicom.SH, "121008").Str("CodingSchemeDesignator", dicom.SH, "DCM").Text("CodeMeaning", dicom.LO, "Person Observer Name")
		obs := g.third()
		fc.set(items[1].DS, "PersonName", dicom.PN, obs+"^Hal")
		fc.plant(cNonE1, "PersonName in AcquisitionContextSequence", "operator-name", "(0040,0555)/(0040,A123)", false, []string{obs + "^Hal"}, obs)
	})
	// More public text attributes outside Table E.1-1, one each.
	for _, a := range []struct {
		kw   string
		vr   dicom.VR
		kind string
		make func(fc *fileCtx) (value string, known bool, needles []string)
	}{
		{"SoftwareVersions", dicom.LO, "patient-name", func(fc *fileCtx) (string, bool, []string) {
			return `VE11C\` + fc.pt.full(), true, fc.pt.nameNeedles
		}},
		{"SequenceName", dicom.SH, "mrn", func(fc *fileCtx) (string, bool, []string) { return "*tfl_" + fc.pt.mrn, true, []string{fc.pt.mrn} }},
		{"ReceiveCoilName", dicom.SH, "third-party-name", func(fc *fileCtx) (string, bool, []string) { n := g.word(2, 6); return "Coil " + n, false, []string{n} }},
		{"DeviceID", dicom.LO, "national-id", func(fc *fileCtx) (string, bool, []string) {
			s := fmt.Sprintf("%03d-%02d-%04d", 600+g.rng.IntN(99), 10+g.rng.IntN(89), 1000+g.rng.IntN(8999))
			return s, false, []string{s}
		}},
		{"DocumentTitle", dicom.ST, "patient-name", func(fc *fileCtx) (string, bool, []string) {
			return "Consent of " + fc.pt.full(), true, fc.pt.nameNeedles
		}},
		{"InstructionText", dicom.LO, "phone", func(fc *fileCtx) (string, bool, []string) {
			p := g.phoneUS()
			return "Call " + p + " when done", false, []string{p}
		}},
		{"CommentsOnTheScheduledProcedureStep", dicom.LT, "street-address", func(fc *fileCtx) (string, bool, []string) {
			a, _ := g.street()
			return "Transport from " + a, false, []string{a}
		}},
		{"ReasonForCancellation", dicom.LT, "relative-name", func(fc *fileCtx) (string, bool, []string) {
			n := g.third()
			return "Cancelled by mother " + n, false, []string{n}
		}},
		{"HL7InstanceIdentifier", dicom.ST, "mrn", func(fc *fileCtx) (string, bool, []string) { return fc.pt.mrn + "^^^HOSP", true, []string{fc.pt.mrn} }},
		{"LocalNamespaceEntityID", dicom.UT, "institution", func(fc *fileCtx) (string, bool, []string) {
			n := g.word(3, 7)
			return n + " Infirmary", false, []string{n + " Infirmary"}
		}},
		{"StorageMediaFileSetID", dicom.SH, "family-name", func(fc *fileCtx) (string, bool, []string) {
			return strings.ToUpper(fc.pt.family) + "_CD", true, []string{fc.pt.family}
		}},
		{"ContentDescription", dicom.LO, "patient-name", func(fc *fileCtx) (string, bool, []string) {
			return "Images of " + fc.pt.full(), true, fc.pt.nameNeedles
		}},
		{"DataSetName", dicom.LO, "insurance-id", func(fc *fileCtx) (string, bool, []string) {
			s := "INS-" + g.number(9)
			return s, false, []string{s}
		}},
		{"RouteOfAdmissions", dicom.LO, "street-address", func(fc *fileCtx) (string, bool, []string) {
			a, _ := g.street()
			return "Ambulance from " + a, false, []string{a}
		}},
		{"BoardingPassID", dicom.SH, "passport-number", func(fc *fileCtx) (string, bool, []string) {
			s := "P" + g.number(8)
			return s, false, []string{s}
		}},
		{"AcquisitionProtocolName", dicom.LO, "patient-name", func(fc *fileCtx) (string, bool, []string) {
			return "Research protocol " + fc.pt.family, true, []string{fc.pt.family}
		}},
		{"(0018,9917)", dicom.UT, "email", func(fc *fileCtx) (string, bool, []string) {
			m := g.email(fc.pt)
			return "Send results to " + m, false, []string{m}
		}},
	} {
		t := tagOf(a.kw)
		e, _ := dicom.LookupTag(t)
		one(strings.ToLower(e.Keyword), func(fc *fileCtx) {
			v, known, needles := a.make(fc)
			fc.put(cNonE1, t.String()+" "+e.Keyword, a.kind, a.kw, a.vr, known, v, needles...)
		})
	}
}

// ssElement is an SS element (Overlay Origin).
func ssElement(t dicom.Tag, v ...int16) *dicom.Element {
	ds := dicom.NewDataset()
	b := make([]byte, 0, 2*len(v))
	for _, x := range v {
		b = append(b, byte(uint16(x)), byte(uint16(x)>>8))
	}
	ds.SetBytes(t, dicom.SS, b)
	return ds.Get(t)
}
