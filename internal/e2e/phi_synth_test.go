package e2e

// Synthetic instances for the subprocess end-to-end test, with PHI planted
// where a scanner or a RIS puts it: every PN attribute of the dictionary
// (at the top level and inside a kept nested sequence item), names and IDs
// four sequence levels deep, Other Patient IDs Sequence, addresses and
// phone numbers, institution, descriptions and comments, private tags (a
// vendor text, a UTF-16LE blob, a UN value, a private sequence), the SR
// content tree, the file meta; in Latin-1, UTF-8 and ISO 2022 Japanese.
// Every planted value is also added to the canaries, in every encoding.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/aisedge/aisedge/internal/testpeer/synth"

	"github.com/aisedge/aisedge/internal/dicom"
)

// phiVariant is one synthetic patient.
type phiVariant struct {
	key     string
	charset string // Specific Character Set
	patient string // Patient's Name
	words   []string
	id, acc string
	n       int // number in UIDs
}

// The family and given names are the planted canaries of the issue
// ("Zyxwvut^Qponmlk"); each patient adds a name part of its own in its
// character set.
var phiVariants = []phiVariant{
	{key: "latin1", charset: "ISO_IR 100", patient: "Zyxwvut^Qponmlk^Brøndumgård",
		words: []string{"Zyxwvut", "Qponmlk", "Brøndumgård"}, id: "ZQL-48151623", acc: "ZQACCL0611", n: 1},
	{key: "utf8", charset: "ISO_IR 192", patient: "Zyxwvut^Qponmlk^Żółtkowska=鰐淵谷^蛯名権蔵",
		words: []string{"Zyxwvut", "Qponmlk", "Żółtkowska", "鰐淵谷", "蛯名権蔵"}, id: "ZQU-42108808", acc: "ZQACCU0612", n: 2},
	{key: "jis", charset: `\ISO 2022 IR 87`, patient: "Zyxwvut^Qponmlk=鰐淵谷^蛯名権蔵=わにぶちや^えびなごんぞう",
		words: []string{"Zyxwvut", "Qponmlk", "鰐淵谷", "蛯名権蔵", "わにぶちや", "えびなごんぞう"}, id: "ZQJ-31337042", acc: "ZQACCJ0613", n: 3},
}

// phiSynthCommon are planted values shared by every synthetic patient
// (searched as words: ≥ 5 characters, distinctive).
var phiSynthCommon = []string{
	"Zyxwvut General Hospital", "Qponmlk Memorial", "Qponmlkville", "Zyxwvutshire", "17 Zyxwvut Lane",
	"+61 2 5550 7319", "5550 7319", "5550 4421", "Zyxwvut Radiology Wing", "Qponmlk Clinic Registry",
	"ZQOPI00417", "ZQOPI00418", "ZQALT99173", "ZQSTU7731", "ZQRPID9988", "ZQLOC-VAULT", "ZQSRCAE77", "ZQPERFAE1",
	"ZQSTATAE2", "Zyxwvutova", "Deepthree", "Deepfour", "Privseqname", "Nestedsrperson", "Authorizerzq",
	"Verifierzq", "Referrerzq", "Zqdeep1 Institute", "Zqdeep4 Clinic",
}

// phiBirthDate is the planted birth date (the profile removes it).
const phiBirthDate = "19610723"

// phiDictPN lists the PN attributes of the dictionary (each a single
// attribute, not a repeating group).
func phiDictPN(t testing.TB) []dicom.DictEntry {
	t.Helper()
	var out []dicom.DictEntry
	for _, e := range synth.DictEntries(t, "PN") {
		if e.Mask == 0 {
			out = append(out, e)
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d PN attributes in the dictionary source", len(out))
	}
	return out
}

// phiB builds data sets whose text goes through their character set.
type phiB = synth.Builder

// everyPN sets every PN attribute of the dictionary, each to its own
// name "Zyxwvut<n>^Qponmlk<n>" (with the variant's suffix, so a hit
// shows which attribute and which level leaked).
func everyPN(x phiB, pns []dicom.DictEntry, level string) {
	for i, e := range pns {
		name := fmt.Sprintf("Zyxwvut%s%02d^Qponmlk%s%02d", level, i, level, i)
		x.TextTag(e.Tag, dicom.PN, name)
	}
}

const (
	phiMRImage = "1.2.840.10008.5.1.4.1.1.4"
	phiCompSR  = "1.2.840.10008.5.1.4.1.1.88.33"
	phiUIDRoot = "1.2.826.0.1.3680043.8.1055.424242"
)

// phiSynthUIDs are one patient's study identifiers.
func phiSynthUIDs(v phiVariant) (study, forUID string) {
	return fmt.Sprintf("%s.%d.1.20240611093015", phiUIDRoot, v.n), fmt.Sprintf("%s.%d.3.7", phiUIDRoot, v.n)
}

// phiPatientModule plants the patient, study and site identification.
func phiPatientModule(x phiB, v phiVariant, pns []dicom.DictEntry) {
	study, _ := phiSynthUIDs(v)
	x.Str("SpecificCharacterSet", dicom.CS, strings.Split(v.charset, `\`)...)
	x.Str("StudyInstanceUID", dicom.UI, study)
	// Every PN attribute first; the specific ones below override some.
	everyPN(x, pns, "T")
	x.Text("PatientName", dicom.PN, v.patient)
	x.Text("PatientID", dicom.LO, v.id).Text("IssuerOfPatientID", dicom.LO, "Zyxwvut General Hospital MRN")
	x.Text("OtherPatientIDs", dicom.LO, "ZQALT99173")
	x.Text("OtherPatientNames", dicom.PN, "Zyxwvutova^Qponmlk")
	x.Str("PatientBirthDate", dicom.DA, phiBirthDate).Str("PatientSex", dicom.CS, "F").Str("PatientAge", dicom.AS, "062Y")
	x.Text("PatientAddress", dicom.LO, "17 Zyxwvut Lane, Qponmlkville, Zyxwvutshire")
	x.Text("PatientTelephoneNumbers", dicom.SH, "5550 4421")
	x.Text("PatientComments", dicom.LT, "lives with "+v.words[1]+" "+v.words[0]+" at Qponmlkville")
	x.Text("AdditionalPatientHistory", dicom.LT, "history given by "+v.words[0]+" family")
	x.Text("Occupation", dicom.SH, "Zyxwvutor")
	x.Text("MedicalRecordLocator", dicom.LO, "ZQLOC-VAULT")
	x.Text("AccessionNumber", dicom.SH, v.acc).Text("StudyID", dicom.SH, "ZQSTU7731")
	x.Text("RequestedProcedureID", dicom.SH, "ZQRPID9988")
	x.Str("StudyDate", dicom.DA, "20240611").Str("StudyTime", dicom.TM, "093015")
	x.Text("StudyDescription", dicom.LO, "MRI brain for "+v.words[1]+" "+v.words[0]+" "+v.id)
	x.Text("RequestedProcedureDescription", dicom.LO, "MRI for "+v.words[0])
	x.Text("ReferringPhysicianName", dicom.PN, "Referrerzq^Qponmlk")
	x.Text("ReferringPhysicianAddress", dicom.ST, "99 Qponmlk Street, Qponmlkville")
	x.Text("ReferringPhysicianTelephoneNumbers", dicom.SH, "+61 2 5550 7319")
	x.Text("InstitutionName", dicom.LO, "Zyxwvut General Hospital")
	x.Text("InstitutionAddress", dicom.ST, "1 Qponmlk Memorial Road, Zyxwvutshire")
	x.Text("InstitutionalDepartmentName", dicom.LO, "Zyxwvut Radiology Wing")
	x.Str("PerformedStationAETitle", dicom.AE, "ZQPERFAE1").Str("StationAETitle", dicom.AE, "ZQSTATAE2")
	x.Text("Manufacturer", dicom.LO, "ACME Medical").Text("ManufacturerModelName", dicom.LO, "Magnetron 3T")
	for i, it := range x.Seq("OtherPatientIDsSequence", 2) {
		it.Text("PatientID", dicom.LO, fmt.Sprintf("ZQOPI0041%d", 7+i)).Text("IssuerOfPatientID", dicom.LO, "Qponmlk Clinic Registry")
		it.Str("TypeOfPatientID", dicom.CS, "TEXT")
	}
}

// phiPrivate plants private elements: a vendor block with the name and
// ID, a UTF-16LE blob, a UN value and a private sequence with a nested
// private sequence.
func phiPrivate(x phiB, v phiVariant) {
	ds := x.DS
	ds.SetString(dicom.NewTag(0x0029, 0x0010), dicom.LO, "ZQ PHI 1.0")
	x.TextTag(dicom.NewTag(0x0029, 0x1010), dicom.LO, v.patient)
	x.TextTag(dicom.NewTag(0x0029, 0x1013), dicom.LO, v.id)
	var u []byte
	for _, r := range utf16.Encode([]rune(v.id + " " + v.words[0] + " " + v.words[1])) {
		u = append(u, byte(r), byte(r>>8))
	}
	ds.SetBytes(dicom.NewTag(0x0029, 0x1011), dicom.OB, u)
	ds.SetBytes(dicom.NewTag(0x0029, 0x1012), dicom.UN, []byte("Zyxwvut General Hospital "+v.id))
	// A safe private attribute (PS3.15 E.3.10 sample), kept by the profile.
	ds.SetString(dicom.NewTag(0x7053, 0x0010), dicom.LO, "Philips PET Private Group")
	ds.SetString(dicom.NewTag(0x7053, 0x1000), dicom.DS, "1.234")
	ds.SetString(dicom.NewTag(0x0031, 0x0010), dicom.LO, "ZQ SEQ")
	ps := x.SeqTag(dicom.NewTag(0x0031, 0x1001), 1)[0]
	ps.Text("PatientName", dicom.PN, "Privseqname^Zyxwvut")
	ps.DS.SetString(dicom.NewTag(0x0031, 0x0010), dicom.LO, "ZQ SEQ")
	inner := ps.SeqTag(dicom.NewTag(0x0031, 0x1002), 1)[0]
	inner.Text("PatientID", dicom.LO, v.id).Text("PersonName", dicom.PN, v.patient)
}

// phiNested plants names, IDs and institutions four levels deep through
// sequences the baseline keeps, and every PN attribute inside a kept item.
func phiNested(x phiB, v phiVariant, pns []dicom.DictEntry, seriesUID, sop string) {
	rs := x.Seq("ReferencedSeriesSequence", 1)[0]
	rs.Str("SeriesInstanceUID", dicom.UI, seriesUID)
	everyPN(rs, pns, "N")
	ri := rs.Seq("ReferencedInstanceSequence", 1)[0]
	ri.Str("ReferencedSOPClassUID", dicom.UI, phiMRImage).Str("ReferencedSOPInstanceUID", dicom.UI, sop)

	l1 := x.Seq("SharedFunctionalGroupsSequence", 1)[0]
	l1.Text("InstitutionName", dicom.LO, "Zqdeep1 Institute").Text("PatientID", dicom.LO, v.id)
	l2 := l1.Seq("DerivationImageSequence", 1)[0]
	l2.Text("DerivationDescription", dicom.ST, "derived for "+v.words[0]+" "+v.id)
	l3 := l2.Seq("SourceImageSequence", 1)[0]
	l3.Str("ReferencedSOPClassUID", dicom.UI, phiMRImage).Str("ReferencedSOPInstanceUID", dicom.UI, fmt.Sprintf("%s.%d.9.3", phiUIDRoot, v.n))
	l3.Text("PersonName", dicom.PN, "Deepthree^"+v.words[0])
	l4 := l3.Seq("PurposeOfReferenceCodeSequence", 1)[0]
	l4.Str("CodeValue", dicom.SH, "121320").Str("CodingSchemeDesignator", dicom.SH, "DCM").Text("CodeMeaning", dicom.LO, "Uncompressed predecessor")
	l4.Text("PersonName", dicom.PN, "Deepfour^"+v.words[1]).Text("InstitutionName", dicom.LO, "Zqdeep4 Clinic")
	l4.DS.SetString(dicom.NewTag(0x0019, 0x0010), dicom.LO, "ZQ DEEP")
	l4.TextTag(dicom.NewTag(0x0019, 0x1001), dicom.LO, v.patient)
}

// phiSynthMR builds an MR image; derived makes it DERIVED\SECONDARY (the
// pixel-risk quarantine case).
func phiSynthMR(t testing.TB, v phiVariant, pns []dicom.DictEntry, series, instance int, derived bool) *dicom.File {
	t.Helper()
	ds := dicom.NewDataset()
	x := phiB{T: t, DS: ds}
	phiPatientModule(x, v, pns)
	_, forUID := phiSynthUIDs(v)
	seriesUID := fmt.Sprintf("%s.%d.2.%d", phiUIDRoot, v.n, series)
	sop := fmt.Sprintf("%s.%d.4.%d.%d", phiUIDRoot, v.n, series, instance)
	x.Str("SOPClassUID", dicom.UI, phiMRImage).Str("SOPInstanceUID", dicom.UI, sop)
	x.Str("SeriesInstanceUID", dicom.UI, seriesUID).Str("FrameOfReferenceUID", dicom.UI, forUID)
	x.Str("Modality", dicom.CS, "MR").Str("SeriesNumber", dicom.IS, fmt.Sprint(series)).Str("InstanceNumber", dicom.IS, fmt.Sprint(instance))
	if derived {
		x.Str("ImageType", dicom.CS, "DERIVED", "SECONDARY", "MPR")
		x.Text("SeriesDescription", dicom.LO, "MPR reformat "+v.words[0])
	} else {
		x.Str("ImageType", dicom.CS, "ORIGINAL", "PRIMARY", "M", "ND")
		x.Text("SeriesDescription", dicom.LO, "T1 sag "+v.words[0])
	}
	x.Text("ProtocolName", dicom.LO, v.words[0]+" research protocol")
	x.Text("ImageComments", dicom.LT, "Patient "+v.words[0]+" was anxious; MRN "+v.id)
	x.Str("SeriesTime", dicom.TM, "093516")
	phiNested(x, v, pns, seriesUID, sop)
	phiPrivate(x, v)
	// Pixels: 8x8, 16 bits.
	x.Pixels8x8(func(i int) byte { return byte(i * 7) })
	return phiFile(ds, phiMRImage, sop)
}

// phiSynthSR builds a Comprehensive SR with names, IDs and dates in its
// content tree.
func phiSynthSR(t testing.TB, v phiVariant, pns []dicom.DictEntry) *dicom.File {
	t.Helper()
	ds := dicom.NewDataset()
	x := phiB{T: t, DS: ds}
	phiPatientModule(x, v, pns)
	sop := fmt.Sprintf("%s.%d.8.1", phiUIDRoot, v.n)
	imgUID := fmt.Sprintf("%s.%d.4.1.1", phiUIDRoot, v.n)
	study, _ := phiSynthUIDs(v)
	x.Str("SOPClassUID", dicom.UI, phiCompSR).Str("SOPInstanceUID", dicom.UI, sop)
	x.Str("SeriesInstanceUID", dicom.UI, fmt.Sprintf("%s.%d.2.99", phiUIDRoot, v.n))
	x.Str("Modality", dicom.CS, "SR").Str("SeriesNumber", dicom.IS, "99").Str("InstanceNumber", dicom.IS, "1")
	x.Text("SeriesDescription", dicom.LO, "Report for "+v.words[0])
	x.Str("ContentDate", dicom.DA, "20240611").Str("ContentTime", dicom.TM, "101500")
	x.Str("CompletionFlag", dicom.CS, "COMPLETE").Str("VerificationFlag", dicom.CS, "VERIFIED")
	vo := x.Seq("VerifyingObserverSequence", 1)[0]
	vo.Text("VerifyingObserverName", dicom.PN, "Verifierzq^"+v.words[0]).Text("VerifyingOrganization", dicom.LO, "Zyxwvut General Hospital")
	vo.Str("VerificationDateTime", dicom.DT, "20240612101500")
	vo.Seq("VerifyingObserverIdentificationCodeSequence", 0)
	x.Seq("ReferencedPerformedProcedureStepSequence", 0)
	x.Seq("PerformedProcedureCodeSequence", 0)
	ev := x.Seq("CurrentRequestedProcedureEvidenceSequence", 1)[0]
	ev.Str("StudyInstanceUID", dicom.UI, study)
	evs := ev.Seq("ReferencedSeriesSequence", 1)[0]
	evs.Str("SeriesInstanceUID", dicom.UI, fmt.Sprintf("%s.%d.2.1", phiUIDRoot, v.n))
	evi := evs.Seq("ReferencedSOPSequence", 1)[0]
	evi.Str("ReferencedSOPClassUID", dicom.UI, phiMRImage).Str("ReferencedSOPInstanceUID", dicom.UI, imgUID)

	x.Str("ValueType", dicom.CS, "CONTAINER").Str("ContinuityOfContent", dicom.CS, "SEPARATE")
	code := func(it phiB, kw, value, scheme, meaning string) {
		cn := it.Seq(kw, 1)[0]
		cn.Str("CodeValue", dicom.SH, value).Str("CodingSchemeDesignator", dicom.SH, scheme).Text("CodeMeaning", dicom.LO, meaning)
	}
	code(x, "ConceptNameCodeSequence", "126000", "DCM", "Imaging Measurement Report")
	items := x.Seq("ContentSequence", 5)
	items[0].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "TEXT")
	code(items[0], "ConceptNameCodeSequence", "121106", "DCM", "Comment")
	items[0].Text("TextValue", dicom.UT, v.words[1]+" "+v.words[0]+" seen 2024-06-11, MRN "+v.id+", call 5550 4421")
	items[1].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "TEXT")
	code(items[1], "ConceptNameCodeSequence", "99001", "99LOCAL", "Local note")
	items[1].Text("TextValue", dicom.UT, "free text about "+v.words[0]+" of Qponmlkville")
	items[2].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "PNAME")
	code(items[2], "ConceptNameCodeSequence", "113850", "DCM", "Irradiation Authorizing")
	items[2].Text("PersonName", dicom.PN, "Authorizerzq^"+v.words[0])
	items[3].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "IMAGE")
	code(items[3], "ConceptNameCodeSequence", "121138", "DCM", "Image Acquired")
	rsop := items[3].Seq("ReferencedSOPSequence", 1)[0]
	rsop.Str("ReferencedSOPClassUID", dicom.UI, phiMRImage).Str("ReferencedSOPInstanceUID", dicom.UI, imgUID)
	items[4].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "CONTAINER").Str("ContinuityOfContent", dicom.CS, "SEPARATE")
	code(items[4], "ConceptNameCodeSequence", "125007", "DCM", "Measurement Group")
	nested := items[4].Seq("ContentSequence", 1)
	nested[0].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "PNAME")
	code(nested[0], "ConceptNameCodeSequence", "99002", "99LOCAL", "Local person")
	nested[0].Text("PersonName", dicom.PN, "Nestedsrperson^"+v.words[1])
	return phiFile(ds, phiCompSR, sop)
}

func phiFile(ds *dicom.Dataset, class, sop string) *dicom.File {
	meta := dicom.NewFileMeta(class, sop, dicom.ExplicitVRLittleEndian)
	meta.SetString(dicom.TagSourceApplicationEntityTitle, dicom.AE, "ZQSRCAE77")
	ts, _ := dicom.LookupTransferSyntax(dicom.ExplicitVRLittleEndian)
	return &dicom.File{Meta: meta, Dataset: ds, TransferSyntax: ts}
}

// phiSynthInput is one synthetic file and what must become of it.
type phiSynthInput struct {
	path       string
	quarantine string // expected reason code, "" = delivered
}

// phiWriteSynthetic writes the synthetic instances into dir: per patient
// two MR images and an SR (delivered) and a DERIVED\SECONDARY MR image
// (quarantined for pixel risk). It adds every planted value to c.
func phiWriteSynthetic(t testing.TB, dir string, c *phiCanaries) []phiSynthInput {
	t.Helper()
	pns := phiDictPN(t)
	var out []phiSynthInput
	write := func(name string, f *dicom.File, quarantine string) {
		var buf bytes.Buffer
		if err := dicom.WriteFile(&buf, f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, phiSynthInput{path: p, quarantine: quarantine})
	}
	for _, v := range phiVariants {
		write(fmt.Sprintf("synth-%s-mr1.dcm", v.key), phiSynthMR(t, v, pns, 1, 1, false), "")
		write(fmt.Sprintf("synth-%s-mr2.dcm", v.key), phiSynthMR(t, v, pns, 1, 2, false), "")
		write(fmt.Sprintf("synth-%s-sr.dcm", v.key), phiSynthSR(t, v, pns), "")
		write(fmt.Sprintf("synth-%s-derived.dcm", v.key), phiSynthMR(t, v, pns, 3, 1, true), "pixel-risk")

		c.text("synthetic Patient's Name "+v.key, v.patient, phiAnywhere)
		for _, w := range v.words {
			c.text("synthetic name part "+v.key, w, phiAnywhere)
		}
		// Every component group and its parts, as the PN encoder writes them.
		for _, g := range strings.Split(v.patient, "=") {
			c.text("synthetic name group "+v.key, g, phiAnywhere)
		}
		c.text("synthetic Patient ID "+v.key, v.id, phiAnywhere)
		c.text("synthetic Accession Number "+v.key, v.acc, phiAnywhere)
		study, forUID := phiSynthUIDs(v)
		c.raw("synthetic Study Instance UID", study, []byte(study), phiNoDigit)
		c.raw("synthetic Frame of Reference UID", forUID, []byte(forUID), phiNoDigit)
		for _, u := range []string{
			fmt.Sprintf("%s.%d.2.1", phiUIDRoot, v.n), fmt.Sprintf("%s.%d.2.3", phiUIDRoot, v.n), fmt.Sprintf("%s.%d.2.99", phiUIDRoot, v.n),
			fmt.Sprintf("%s.%d.4.1.1", phiUIDRoot, v.n), fmt.Sprintf("%s.%d.4.1.2", phiUIDRoot, v.n), fmt.Sprintf("%s.%d.4.3.1", phiUIDRoot, v.n),
			fmt.Sprintf("%s.%d.8.1", phiUIDRoot, v.n), fmt.Sprintf("%s.%d.9.3", phiUIDRoot, v.n),
		} {
			c.raw("synthetic instance UID", u, []byte(u), phiNoDigit)
		}
	}
	// The root of every synthetic UID: no remapped UID may keep it.
	c.raw("synthetic UID root", phiUIDRoot, []byte(phiUIDRoot), phiNoDigit)
	for _, w := range phiSynthCommon {
		c.text("synthetic planted value", w, phiAnywhere)
	}
	c.raw("synthetic birth date", phiBirthDate, []byte(phiBirthDate), phiNoNumber)
	return out
}
