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

	"golang.org/x/text/encoding/charmap"

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

// ---- 5. text in safe-private numeric slots ----

func casesSafePrivate(g *gen) {
	creator := dicom.NewTag(0x0019, 0x0010)
	{
		pt := g.newPatient("", "")
		fc := g.synthetic("safe-private/gems-acqu-un-explicit.dcm", "", pt)
		fc.ds.SetString(creator, dicom.LO, "GEMS_ACQU_01")
		v := pt.full() + " MRN " + pt.mrn
		fc.ds.SetBytes(dicom.NewTag(0x0019, 0x1023), dicom.UN, []byte(v))
		fc.plant(cSafe, "GEMS_ACQU_01 (0019,xx23) Table Speed [DS] as explicit UN holding text", "patient-name", "(0019,1023)", true, []string{v}, pt.nameNeedles...)
		fc.plant(cSafe, "GEMS_ACQU_01 (0019,xx23) Table Speed [DS] as explicit UN holding text", "mrn", "(0019,1023)", true, []string{v}, pt.mrn)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.synthetic("safe-private/gems-acqu-ds-numbers.dcm", "", pt)
		fc.ds.SetString(creator, dicom.LO, "GEMS_ACQU_01")
		fc.ds.SetString(dicom.NewTag(0x0019, 0x1024), dicom.DS, pt.dob)
		fc.plant(cSafe, "GEMS_ACQU_01 (0019,xx24) Mid Scan Time [DS] holding the birth date as a number", "birth-date", "(0019,1024)", true, []string{pt.dob}, pt.dob)
		fc.ds.SetString(dicom.NewTag(0x0019, 0x1027), dicom.DS, pt.mrn)
		fc.plant(cSafe, "GEMS_ACQU_01 (0019,xx27) Rotation Speed [DS] holding the MRN as a number", "mrn", "(0019,1027)", true, []string{pt.mrn}, pt.mrn)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.synthetic("safe-private/gems-acqu-implicit-vr.dcm", "", pt)
		ts, _ := dicom.LookupTransferSyntax(dicom.ImplicitVRLittleEndian)
		fc.f.TransferSyntax = ts
		fc.info.TransferSyntax = ts.UID
		fc.ds.SetString(creator, dicom.LO, "GEMS_ACQU_01")
		v := "Patient " + pt.full()
		fc.ds.SetString(dicom.NewTag(0x0019, 0x1023), dicom.DS, v)
		fc.plant(cSafe, "GEMS_ACQU_01 (0019,xx23) [DS] with text, Implicit VR file", "patient-name", "(0019,1023)", true, []string{v}, pt.nameNeedles...)
		seq := "fse_" + strings.ToLower(pt.family)
		fc.ds.SetString(dicom.NewTag(0x0019, 0x109E), dicom.LO, seq)
		fc.plant(cSafe, "GEMS_ACQU_01 (0019,xx9E) Internal Pulse Sequence Name [LO], Implicit VR file", "family-name", "(0019,109E)", true, []string{seq}, pt.family)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("safe-private/ct-small-gems-acqu-phone.dcm", "pydicom_CT_small.dcm", "", "", pt)
		phone := g.phoneUS()
		fc.ds.SetString(dicom.NewTag(0x0019, 0x1023), dicom.DS, phone)
		fc.plant(cSafe, "GEMS_ACQU_01 (0019,1023) Table Speed [DS] of a real GE CT holding a phone number", "phone", "(0019,1023)", false, []string{phone}, phone)
		fc.write()
	}
}

// ---- 6. evasions of Clean Descriptors ----

func casesCleanDescriptors(g *gen) {
	one := func(name, charset string, pt *patient, fill func(fc *fileCtx)) {
		if pt == nil {
			pt = g.newPatient("", "")
		}
		fc := g.synthetic("clean/"+name+".dcm", charset, pt)
		fill(fc)
		fc.write()
	}
	const cd = cClean
	g.reserve("okonkwo")
	one("third-party-doctor", "", nil, func(fc *fileCtx) {
		fc.put(cd, "third party in StudyDescription", "physician-name", "StudyDescription", dicom.LO, false, "MRI brain, seen by Dr. Okonkwo", "Okonkwo")
	})
	one("name-after-full-stop", "", nil, func(fc *fileCtx) {
		fc.put(cd, "name after a full stop in ImageComments", "family-name", "ImageComments", dicom.LT, true,
			"Scan complete. "+fc.pt.family+" tolerated it well.", fc.pt.family)
	})
	one("lower-case-name", "", nil, func(fc *fileCtx) {
		fc.put(cd, "lower-case name in SeriesDescription", "patient-name", "SeriesDescription", dicom.LO, true,
			strings.ToLower(fc.pt.given+" "+fc.pt.family)+" follow-up", fc.pt.nameNeedles...)
	})
	one("all-caps-name", "", nil, func(fc *fileCtx) {
		fc.put(cd, "ALL-CAPS name in StudyDescription", "patient-name", "StudyDescription", dicom.LO, true,
			strings.ToUpper(fc.pt.family+" "+fc.pt.given)+" FOLLOW UP", fc.pt.nameNeedles...)
	})
	one("dob-spelled", "", nil, func(fc *fileCtx) {
		_, _, _, long, _ := dateForms(fc.pt.dob)
		fc.put(cd, "birth date spelled out (D Month YYYY) in ImageComments", "birth-date", "ImageComments", dicom.LT, true, "Born "+long+", allergic to contrast", long)
	})
	one("dob-slashes", "", nil, func(fc *fileCtx) {
		_, dmy, _, _, _ := dateForms(fc.pt.dob)
		fc.put(cd, "birth date DD/MM/YYYY in StudyDescription", "birth-date", "StudyDescription", dicom.LO, true, "Knee pain (dob "+dmy+")", dmy)
	})
	one("dob-iso", "", nil, func(fc *fileCtx) {
		fc.put(cd, "birth date YYYY-MM-DD in SeriesDescription", "birth-date", "SeriesDescription", dicom.LO, true, "T2 AX "+iso(fc.pt.dob), iso(fc.pt.dob))
	})
	one("third-party-dob-spelled", "", nil, func(fc *fileCtx) {
		d := g.date()
		_, _, _, long, _ := dateForms(d)
		fc.put(cd, "a relative's birth date spelled out in ImageComments", "birth-date", "ImageComments", dicom.LT, false, "Twin sister born "+long, long, d)
	})
	one("phone-us-dots", "", nil, func(fc *fileCtx) {
		p := g.phoneUS()
		fc.put(cd, "phone 555.0NN.NNNN in StudyDescription", "phone", "StudyDescription", dicom.LO, false, "Callback "+p, p)
	})
	one("phone-uk", "", nil, func(fc *fileCtx) {
		p := g.phoneUK()
		fc.put(cd, "phone +44 20 7946 0NNN in ImageComments", "phone", "ImageComments", dicom.LT, false, "Daughter on "+p, ukNeedles(p)...)
	})
	one("email", "", nil, func(fc *fileCtx) {
		m := g.email(fc.pt)
		fc.put(cd, "e-mail in ImageComments", "email", "ImageComments", dicom.LT, true, "Results to "+m+" please", m)
	})
	one("street-address", "", nil, func(fc *fileCtx) {
		a, _ := g.street()
		city := g.word(2, 6) + "bridge"
		v := a + ", " + city + " LB7 3QX"
		fc.put(cd, "street address in ImageComments", "street-address", "ImageComments", dicom.LT, false, "Home visit: "+v, a)
		fc.plant(cd, "city in ImageComments", "city", "(0020,4000)", false, []string{v}, city)
		fc.plant(cd, "postcode in ImageComments", "postcode", "(0020,4000)", false, []string{v}, "LB7 3QX")
	})
	g.reserve("müller")
	one("mueller-transliterated", "ISO_IR 100", g.newPatient("Müller", ""), func(fc *fileCtx) {
		fc.put(cd, "MÜLLER written MUELLER in SeriesDescription", "family-name", "SeriesDescription", dicom.LO, true,
			"MUELLER "+strings.ToUpper(fc.pt.given), "Müller", fc.pt.given)
	})
	one("muller-stripped", "ISO_IR 100", g.newPatient("Müller", ""), func(fc *fileCtx) {
		fc.put(cd, "MÜLLER written MULLER in StudyDescription", "family-name", "StudyDescription", dicom.LO, true,
			"MULLER "+strings.ToUpper(fc.pt.given)+" knee", "Müller", fc.pt.given)
	})
	one("zero-width-space", "ISO_IR 192", nil, func(fc *fileCtx) {
		f := fc.pt.family
		v := f[:3] + "\u200B" + f[3:] + " " + fc.pt.given[:2] + "\u200B" + fc.pt.given[2:]
		fc.put(cd, "name split by U+200B zero-width space in SeriesDescription", "patient-name", "SeriesDescription", dicom.LO, true, v, fc.pt.nameNeedles...)
	})
	one("soft-hyphen", "ISO_IR 100", nil, func(fc *fileCtx) {
		f := fc.pt.family
		v := "Review " + f[:4] + "\u00AD" + f[4:]
		fc.put(cd, "name split by U+00AD soft hyphen (Latin-1) in StudyDescription", "family-name", "StudyDescription", dicom.LO, true, v, f)
	})
	one("nfkd-diacritics", "ISO_IR 192", g.newPatient("Ávilaréssa", "Joëlline"), func(fc *fileCtx) {
		v := "Control " + "A\u0301vilare\u0301ssa Joe\u0308lline"
		fc.put(cd, "name with NFKD (decomposed) diacritics in ImageComments", "patient-name", "ImageComments", dicom.LT, true, v, fc.pt.nameNeedles...)
	})
	one("full-width-latin", "ISO_IR 192", nil, func(fc *fileCtx) {
		var b strings.Builder
		for _, r := range strings.ToUpper(fc.pt.family) {
			b.WriteRune(r - 'A' + 'Ａ')
		}
		v := "確認 " + b.String()
		fc.put(cd, "full-width Latin letters in ImageComments", "family-name", "ImageComments", dicom.LT, true, v, fc.pt.family)
	})
	one("next-of-kin", "", nil, func(fc *fileCtx) {
		n, gv := g.third(), g.word(2, 5)
		fc.put(cd, "next of kin in AdditionalPatientHistory-like free text (ImageComments)", "relative-name", "ImageComments", dicom.LT, false,
			"NOK: "+gv+" "+n+" (son)", n, gv)
	})
	one("mrn-in-protocol", "", nil, func(fc *fileCtx) {
		fc.put(cd, "MRN inside ProtocolName", "mrn", "ProtocolName", dicom.LO, true, "Research_"+fc.pt.mrn+"_T1", fc.pt.mrn)
	})
	one("surname-in-protocol", "", nil, func(fc *fileCtx) {
		fc.put(cd, "family name in ProtocolName", "family-name", "ProtocolName", dicom.LO, true, "T1 "+fc.pt.family+" research", fc.pt.family)
	})
	for _, k := range []struct {
		kind, route string
		make        func(fc *fileCtx) (text string, known bool, needles []string)
	}{
		{"url", "patient portal URL in ImageComments", func(fc *fileCtx) (string, bool, []string) {
			u := "https://portal." + strings.ToLower(g.word(2, 6)) + "-health.example/patients/" + fc.pt.mrn
			return "See " + u, true, []string{u, fc.pt.mrn}
		}},
		{"encounter-number", "encounter number in StudyDescription", func(fc *fileCtx) (string, bool, []string) {
			n := "ENC" + g.number(9)
			return "MR knee " + n, false, []string{n}
		}},
		{"account-number", "hospital account number in ImageComments", func(fc *fileCtx) (string, bool, []string) {
			n := g.number(11)
			return "Bill to acct " + n, false, []string{n}
		}},
		{"health-plan-id", "health plan member number in ImageComments", func(fc *fileCtx) (string, bool, []string) {
			n := "W" + g.number(9)
			return "BCBS member " + n, false, []string{n}
		}},
		{"licence-plate", "vehicle registration in ImageComments", func(fc *fileCtx) (string, bool, []string) {
			p := fmt.Sprintf("KV%02d XQZ", 10+g.rng.IntN(89))
			return "Car " + p + " in bay 4", false, []string{p}
		}},
		{"fax", "fax number in StudyDescription", func(fc *fileCtx) (string, bool, []string) {
			p := g.phoneUS()
			return "Fax report to " + p, false, []string{p}
		}},
		{"given-name", "given name alone in SeriesDescription", func(fc *fileCtx) (string, bool, []string) {
			return "for " + fc.pt.given + " only", true, []string{fc.pt.given}
		}},
		{"employer", "employer in ImageComments", func(fc *fileCtx) (string, bool, []string) {
			e := g.word(3, 7) + " Logistics"
			return "Works at " + e, false, []string{e}
		}},
		{"npi", "referring physician's NPI in ImageComments", func(fc *fileCtx) (string, bool, []string) {
			n := "1" + g.number(9)
			return "Referrer NPI " + n, false, []string{n}
		}},
		{"geo-coordinates", "home coordinates in ImageComments", func(fc *fileCtx) (string, bool, []string) {
			c := fmt.Sprintf("51.%04d -0.%04d", 1000+g.rng.IntN(8999), 1000+g.rng.IntN(8999))
			return "Home at " + c, false, []string{c}
		}},
		{"ip-address", "(0018,1803) NTPSourceAddress holding the patient's home router address", func(fc *fileCtx) (string, bool, []string) {
			a := fmt.Sprintf("86.%d.%d.%d", 100+g.rng.IntN(150), 100+g.rng.IntN(150), 100+g.rng.IntN(150))
			return a, false, []string{a}
		}},
	} {
		k := k
		one(k.kind, "", nil, func(fc *fileCtx) {
			v, known, needles := k.make(fc)
			kw := map[string]string{"encounter-number": "StudyDescription", "fax": "StudyDescription", "given-name": "SeriesDescription",
				"ip-address": "(0018,1803)"}[k.kind]
			vr := dicom.LO
			if kw == "" {
				kw, vr = "ImageComments", dicom.LT
			}
			fc.put(cd, k.route, k.kind, kw, vr, known, v, needles...)
		})
	}
	one("national-id", "", nil, func(fc *fileCtx) {
		s := fmt.Sprintf("%03d %03d %04d", 400+g.rng.IntN(500), g.rng.IntN(1000), g.rng.IntN(10000))
		fc.put(cd, "NHS-style number in ImageComments", "national-id", "ImageComments", dicom.LT, false, "NHS no "+s, s)
	})
}

// ---- 7. structure: meta, preamble, private, UN, OB, deep, long, multi, PN groups ----

func casesStructure(g *gen) {
	one := func(name, charset string, fill func(fc *fileCtx)) {
		fc := g.synthetic("structure/"+name+".dcm", charset, g.newPatient("", ""))
		fill(fc)
		fc.write()
	}
	const cs = cStruct
	one("file-meta", "", func(fc *fileCtx) {
		meta := dicom.NewDataset()
		ae := strings.ToUpper(fc.pt.family)
		if len(ae) > 16 {
			ae = ae[:16]
		}
		meta.SetString(dicom.TagSourceApplicationEntityTitle, dicom.AE, ae)
		meta.SetString(dicom.NewTag(0x0002, 0x0100), dicom.UI, "1.2.826.0.1.3680043.10.917.99")
		info := fc.pt.full() + " " + fc.pt.mrn
		meta.SetBytes(dicom.NewTag(0x0002, 0x0102), dicom.OB, []byte(info))
		fc.metaExtra = meta
		fc.plant(cs, "(0002,0016) SourceApplicationEntityTitle", "family-name", "(0002,0016)", true, []string{ae}, fc.pt.family)
		fc.plant(cs, "(0002,0102) PrivateInformation (OB)", "patient-name", "(0002,0102)", true, []string{info}, fc.pt.nameNeedles...)
		fc.plant(cs, "(0002,0102) PrivateInformation (OB)", "mrn", "(0002,0102)", true, []string{info}, fc.pt.mrn)
	})
	one("preamble", "", func(fc *fileCtx) {
		v := fmt.Sprintf("TIFF-ish preamble: %s MRN %s", fc.pt.full(), fc.pt.mrn)
		fc.preamble = []byte(v)
		fc.plant(cs, "128-byte preamble", "patient-name", "preamble", true, []string{v}, fc.pt.nameNeedles...)
		fc.plant(cs, "128-byte preamble", "mrn", "preamble", true, []string{v}, fc.pt.mrn)
	})
	one("trailing-padding", "", func(fc *fileCtx) {
		v := "deleted " + fc.pt.full()
		fc.ds.SetBytes(dicom.Tag(0xFFFCFFFC), dicom.OB, []byte(v))
		fc.plant(cs, "(FFFC,FFFC) DataSetTrailingPadding", "patient-name", "(FFFC,FFFC)", true, []string{v}, fc.pt.nameNeedles...)
	})
	one("private-creator-known", "", func(fc *fileCtx) {
		v := strings.ToUpper(fc.pt.family) + " " + fc.pt.mrn
		fc.ds.SetString(dicom.NewTag(0x0029, 0x0010), dicom.LO, v)
		fc.ds.SetString(dicom.NewTag(0x0029, 0x1001), dicom.LO, "x")
		fc.plant(cs, "private creator string (0029,0010)", "family-name", "(0029,0010)", true, []string{v}, fc.pt.family)
		fc.plant(cs, "private creator string (0029,0010)", "mrn", "(0029,0010)", true, []string{v}, fc.pt.mrn)
	})
	one("private-creator-institution", "", func(fc *fileCtx) {
		n := g.word(3, 7)
		v := n + " Memorial PACS"
		fc.ds.SetString(dicom.NewTag(0x0031, 0x0010), dicom.LO, v)
		fc.ds.SetString(dicom.NewTag(0x0031, 0x1001), dicom.LO, "y")
		fc.plant(cs, "private creator string (0031,0010)", "institution", "(0031,0010)", false, []string{v}, n+" Memorial")
	})
	one("un-public-series-description", "", func(fc *fileCtx) {
		v := "T1 " + fc.pt.full()
		fc.ds.SetBytes(dicom.MustTag("SeriesDescription"), dicom.UN, []byte(v))
		fc.plant(cs, "SeriesDescription written as explicit VR UN", "patient-name", "(0008,103E)", true, []string{v}, fc.pt.nameNeedles...)
	})
	one("un-public-third-party", "", func(fc *fileCtx) {
		n := g.third()
		v := "Requested by Dr " + n
		fc.ds.SetBytes(dicom.MustTag("RequestedProcedureDescription"), dicom.UN, []byte(v))
		fc.plant(cs, "RequestedProcedureDescription written as explicit VR UN", "physician-name", "(0032,1060)", false, []string{v}, n)
	})
	one("un-sequence-undefined-length", "", func(fc *fileCtx) {
		it := dicom.NewDataset()
		v := "Request for " + fc.pt.full()
		it.SetString(dicom.MustTag("RequestedProcedureDescription"), dicom.LO, v)
		it.SetString(dicom.MustTag("RequestedProcedureID"), dicom.SH, "RP7")
		fc.ds.Put(&dicom.Element{Tag: dicom.MustTag("RequestAttributesSequence"), VR: dicom.UN, UndefinedLength: true, ImplicitItems: true, Items: []*dicom.Dataset{it}})
		fc.plant(cs, "RequestAttributesSequence as VR UN of undefined length (implicit items)", "patient-name", "(0040,0275)/(0032,1060)", true, []string{v}, fc.pt.nameNeedles...)
	})
	one("private-ob-texts", "ISO_IR 100", func(fc *fileCtx) {
		fc.ds.SetString(dicom.NewTag(0x0033, 0x0010), dicom.LO, "ZZ BLOBS 1")
		addr, _ := g.street()
		lat := "Adresse: " + addr + ", Göteborg"
		fc.ds.SetBytes(dicom.NewTag(0x0033, 0x1001), dicom.OB, latin1(lat))
		fc.plant(cs, "private OB value holding Latin-1 text", "street-address", "(0033,1001)", false, []string{lat}, addr)
		u8 := "Nom: " + fc.pt.full()
		fc.ds.SetBytes(dicom.NewTag(0x0033, 0x1002), dicom.OB, []byte(u8))
		fc.plant(cs, "private OB value holding UTF-8 text", "patient-name", "(0033,1002)", true, []string{u8}, fc.pt.nameNeedles...)
		u16 := "MRN " + fc.pt.mrn
		fc.ds.SetBytes(dicom.NewTag(0x0033, 0x1003), dicom.OW, utf16Bytes(u16, false))
		fc.plant(cs, "private OW value holding UTF-16LE text", "mrn", "(0033,1003)", true, []string{u16}, fc.pt.mrn)
	})
	one("dicomdir-references", "", func(fc *fileCtx) {
		v := []string{"DICOM", strings.ToUpper(fc.pt.family), fc.pt.mrn, "IM0001"}
		fc.ds.SetString(tagOf("(0004,1500)"), dicom.CS, v...)
		fc.plant(cs, "(0004,1500) ReferencedFileID path components", "family-name", "(0004,1500)", true, []string{strings.Join(v, `\`)}, fc.pt.family)
		fc.plant(cs, "(0004,1500) ReferencedFileID path components", "mrn", "(0004,1500)", true, []string{strings.Join(v, `\`)}, fc.pt.mrn)
		rec := dicom.NewDataset()
		rec.SetString(dicom.NewTag(0x0004, 0x1430), dicom.CS, "PATIENT")
		other := g.third()
		rec.SetString(dicom.MustTag("PatientName"), dicom.PN, other+"^Rosalind")
		fc.ds.SetSequence(dicom.NewTag(0x0004, 0x1220), rec)
		fc.plant(cs, "(0004,1220) DirectoryRecordSequence PATIENT record in an instance", "third-party-name", "(0004,1220)/(0010,0010)", false, []string{other + "^Rosalind"}, other)
	})
	one("nested-five-deep", "", func(fc *fileCtx) {
		l1 := fc.x.Seq("ReferencedSeriesSequence", 1)[0]
		l1.Str("SeriesInstanceUID", dicom.UI, fc.uid(9))
		l2 := l1.Seq("ReferencedInstanceSequence", 1)[0]
		l2.Str("ReferencedSOPClassUID", dicom.UI, sopMR).Str("ReferencedSOPInstanceUID", dicom.UI, fc.uid(10))
		l3 := l2.Seq("PurposeOfReferenceCodeSequence", 1)[0]
		l3.Str("CodeValue", dicom.SH, "121311").Str("CodingSchemeDesignator", dicom.SH, "DCM").Text("CodeMeaning", dicom.LO, "Localizer")
		l4 := l3.Seq("EquivalentCodeSequence", 1)[0]
		l4.Str("CodeValue", dicom.SH, "L1").Str("CodingSchemeDesignator", dicom.SH, "99X").Text("CodeMeaning", dicom.LO, "Localizer")
		l5 := l4.Seq("EquivalentCodeSequence", 1)[0]
		l5.Str("CodeValue", dicom.SH, "L2").Str("CodingSchemeDesignator", dicom.SH, "99Y")
		v := "Localizer of " + fc.pt.full()
		fc.set(l5.DS, "CodeMeaning", dicom.LO, v)
		fc.plant(cs, "CodeMeaning five sequences deep", "patient-name", "(0008,1115)/(0008,114A)/(0040,A170)/(0008,0121)/(0008,0121)/(0008,0104)", true, []string{v}, fc.pt.nameNeedles...)
		n := g.third()
		fc.set(l5.DS, "PersonName", dicom.PN, n+"^Ines")
		fc.plant(cs, "PersonName five sequences deep", "third-party-name", "(0008,1115)/(0008,114A)/(0040,A170)/(0008,0121)/(0008,0121)/(0040,A123)", false, []string{n + "^Ines"}, n)
	})
	one("long-lt-value", "", func(fc *fileCtx) {
		v := strings.Repeat("Routine post-operative control, no change. ", 230) + "Patient " + fc.pt.full()
		fc.put(cs, "name at the end of a 10 KB ImageComments (LT)", "patient-name", "ImageComments", dicom.LT, true, v, fc.pt.nameNeedles...)
	})
	one("long-ut-bulk-value", "", func(fc *fileCtx) {
		p := g.phoneUS()
		v := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 1300) + "Call " + p
		fc.put(cs, "phone at the end of a 74 KB UT value (InstructionDescription): above the 64 KiB bulk threshold", "phone", "(0018,9917)", dicom.UT, false, v, p)
	})
	one("overlong-lo-value", "", func(fc *fileCtx) {
		v := strings.Repeat("X", 70) + " " + fc.pt.mrn
		fc.ds.SetString(dicom.MustTag("StudyDescription"), dicom.LO, v)
		fc.plant(cs, "MRN past the 64-character limit of a LO (StudyDescription)", "mrn", "(0008,1030)", true, []string{v}, fc.pt.mrn)
	})
	one("multi-value-image-type", "", func(fc *fileCtx) {
		fc.x.Str("ImageType", dicom.CS, "ORIGINAL", "PRIMARY", "M", strings.ToUpper(fc.pt.family))
		fc.plant(cs, "fourth value of ImageType (CS, kept)", "family-name", "(0008,0008)", true, []string{strings.ToUpper(fc.pt.family)}, fc.pt.family)
	})
	one("multi-value-kernel", "", func(fc *fileCtx) {
		fc.x.Str("ConvolutionKernel", dicom.SH, "B30f", fc.pt.mrn)
		fc.plant(cs, "second value of ConvolutionKernel", "mrn", "(0018,1210)", true, []string{fc.pt.mrn}, fc.pt.mrn)
	})
	{
		// The alphabetic group is a placeholder; the real name is in the
		// ideographic and phonetic groups, and in a description.
		pt := g.newPatient("", "")
		pt.family, pt.given, pt.nameNeedles = "ANON", "X", nil
		pt.ideo, pt.phon = "鬼頭^千早妃", "きとう^ちさき"
		fc := g.synthetic("structure/pn-groups-placeholder-alphabetic.dcm", `\ISO 2022 IR 87`, pt)
		fc.put(cs, "name only in PN ideographic/phonetic groups, repeated in StudyDescription", "patient-name", "StudyDescription", dicom.LO, true, "鬼頭千早妃 きとう", "鬼頭", "千早妃", "きとう")
		fc.write()
	}
}

func latin1(s string) []byte {
	b, ok := encodeWith(charmap.ISO8859_1.NewEncoder(), s)
	if !ok {
		panic("not Latin-1: " + s)
	}
	return b
}

// ---- labels: AE titles, session and scan names, UIDs, DT/TM, ages ----

func casesLabels(g *gen) {
	{
		pt := g.newPatient("", "")
		fc := g.synthetic("labels/association-ae-titles.dcm", "", pt)
		calling := strings.ToUpper(pt.family)
		if len(calling) > 16 {
			calling = calling[:16]
		}
		called := "MRN" + pt.mrn
		fc.info.CallingAET, fc.info.CalledAET = calling, called
		fc.plant(cLabels, "calling AE title of the association", "ae-title", PathAssociation, true, []string{calling}, pt.family)
		fc.plant(cLabels, "called AE title of the association", "ae-title", PathAssociation, true, []string{called}, pt.mrn)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.synthetic("labels/retrieve-ae-title.dcm", "", pt)
		ae := strings.ToUpper(pt.family)
		fc.x.Str("RetrieveAETitle", dicom.AE, ae)
		fc.plant(cLabels, "RetrieveAETitle in the data set", "ae-title", "(0008,0054)", true, []string{ae}, pt.family)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		pt.acc = strings.ToUpper(pt.family[:5]) + pt.mrn[:6] // the identity plants it (session label)
		fc := g.synthetic("labels/study-id-accession-names.dcm", "", pt)
		sid := strings.ToUpper(pt.given)
		fc.x.Text("StudyID", dicom.SH, sid)
		fc.plant(cLabels, "StudyID = given name (session label)", "study-id", "(0020,0010)", true, []string{sid}, pt.given)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.synthetic("labels/series-description-scan-folder.dcm", "", pt)
		n := g.third()
		fc.put(cLabels, "SeriesDescription naming a third party (scan folder name)", "third-party-name", "SeriesDescription", dicom.LO, false, n+" protocol", n)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		pt.acc = "" // session label from the StudyInstanceUID
		fc := g.synthetic("labels/uid-encodes-mrn.dcm", "", pt)
		fc.ds.Delete(dicom.MustTag("AccessionNumber"))
		study := "1.2.840.99999." + pt.mrn + ".1"
		sop := "1.2.840.99999." + pt.mrn + "." + pt.dob + ".3"
		fc.x.Str("StudyInstanceUID", dicom.UI, study).Str("SOPInstanceUID", dicom.UI, sop)
		fc.plant(cLabels, "StudyInstanceUID encoding the MRN", "uid-with-mrn", "(0020,000D)", true, []string{study}, pt.mrn)
		fc.plant(cLabels, "SOPInstanceUID encoding MRN and birth date", "uid-with-mrn", "(0008,0018)", true, []string{sop}, pt.mrn)
		creator := "1.2.840.99999." + pt.mrn + ".77"
		fc.x.Str("InstanceCreatorUID", dicom.UI, creator)
		fc.plant(cLabels, "InstanceCreatorUID encoding the MRN", "uid-with-mrn", "(0008,0014)", true, []string{creator}, pt.mrn)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.synthetic("labels/uid-in-reference.dcm", "", pt)
		ref := "1.2.840.99999." + pt.mrn + ".5"
		rs := fc.x.Seq("ReferencedImageSequence", 1)[0]
		rs.Str("ReferencedSOPClassUID", dicom.UI, sopMR).Str("ReferencedSOPInstanceUID", dicom.UI, ref)
		fc.plant(cLabels, "ReferencedSOPInstanceUID encoding the MRN", "uid-with-mrn", "(0008,1140)/(0008,1155)", true, []string{ref}, pt.mrn)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.synthetic("labels/datetime-birth.dcm", "", pt)
		dt := pt.dob + "081500"
		fc.ds.SetString(tagOf("(0018,9151)"), dicom.DT, dt) // Frame Reference DateTime
		fc.plant(cLabels, "birth date in a DT outside Table E.1-1 (FrameReferenceDateTime)", "datetime", "(0018,9151)", true, []string{dt}, pt.dob)
		fc.x.Str("PatientBirthTime", dicom.TM, "034200.000")
		fc.plant(cLabels, "PatientBirthTime (TM)", "time-of-birth", "(0010,0032)", true, []string{"034200.000"}, "034200.000")
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		pt.dob = "19270304"
		g.used[pt.dob] = true
		fc := g.synthetic("labels/age-over-89.dcm", "", pt)
		fc.x.Str("PatientBirthDate", dicom.DA, pt.dob)
		fc.x.Str("PatientAge", dicom.AS, "097Y")
		fc.plant(cLabels, "PatientAge over 89", "age-over-89", "(0010,1010)", true, []string{"097Y"}, "097Y")
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.synthetic("labels/"+pt.given+"_"+pt.family+"_"+pt.mrn+".dcm", "", pt)
		fc.plant(cLabels, "input file name (offline command)", "patient-name", PathInputName, true, []string{fc.name}, pt.nameNeedles...)
		fc.plant(cLabels, "input file name (offline command)", "mrn", PathInputName, true, []string{fc.name}, pt.mrn)
		fc.write()
	}
}

// ---- utility controls ----

func casesControls(g *gen) {
	for _, c := range []struct{ value, modality, sop string }{
		{"T1_MPRAGE_SAG", "MR", sopMR}, {"AX FLAIR", "MR", sopMR}, {"DWI b1000", "MR", sopMR}, {"PET-CT SERIES", "PT", sopPET},
	} {
		fc := g.synthetic("controls/"+strings.ToLower(strings.NewReplacer(" ", "-", "_", "-").Replace(c.value))+".dcm", "", g.newPatient("", ""))
		fc.x.Str("Modality", dicom.CS, c.modality).Str("SOPClassUID", dicom.UI, c.sop)
		fc.set(fc.ds, "SeriesDescription", dicom.LO, c.value)
		fc.set(fc.ds, "ProtocolName", dicom.LO, c.value)
		fc.control("SeriesDescription", c.value)
		fc.control("ProtocolName", c.value)
		fc.write()
	}
}
