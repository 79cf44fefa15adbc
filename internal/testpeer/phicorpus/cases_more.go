package phicorpus

import (
	"fmt"
	"strings"

	"golang.org/x/text/encoding/charmap"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Corpus cases 5 to 7, the labels and the controls (cases.go has 1 to 4).

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
