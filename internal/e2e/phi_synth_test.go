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
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"

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

// phiDictPN lists the PN attributes of the dictionary (read from the
// generated dictionary source: the codec exports lookups, not a list).
func phiDictPN(t testing.TB) []dicom.DictEntry {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(moduleRoot(t), "internal", "dicom", "dict_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\{Tag: 0x([0-9A-F]{8}), VRs: \[\]VR\{PN\}, VM: "[^"]*", Keyword: "(\w+)"`)
	var out []dicom.DictEntry
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		e, ok := dicom.LookupKeyword(m[2])
		if !ok || e.Mask != 0 {
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	if len(out) < 20 {
		t.Fatalf("found only %d PN attributes in the dictionary source", len(out))
	}
	return out
}

// phiB builds data sets whose text goes through their character set.
type phiB struct {
	t  testing.TB
	ds *dicom.Dataset
}

func (x phiB) text(kw string, vr dicom.VR, v ...string) phiB {
	x.t.Helper()
	if err := x.ds.SetText(dicom.MustTag(kw), vr, v...); err != nil {
		x.t.Fatalf("%s: %v", kw, err)
	}
	return x
}

func (x phiB) textTag(tag dicom.Tag, vr dicom.VR, v ...string) phiB {
	x.t.Helper()
	if err := x.ds.SetText(tag, vr, v...); err != nil {
		x.t.Fatalf("%s: %v", tag, err)
	}
	return x
}

func (x phiB) str(kw string, vr dicom.VR, v ...string) phiB {
	x.ds.SetString(dicom.MustTag(kw), vr, v...)
	return x
}

func (x phiB) seq(kw string, n int) []phiB {
	return x.seqTag(dicom.MustTag(kw), n)
}

func (x phiB) seqTag(tag dicom.Tag, n int) []phiB {
	items := make([]*dicom.Dataset, n)
	for i := range items {
		items[i] = dicom.NewDataset()
	}
	x.ds.SetSequence(tag, items...)
	var out []phiB
	for _, it := range x.ds.Get(tag).Items {
		out = append(out, phiB{x.t, it})
	}
	return out
}

// everyPN sets every PN attribute of the dictionary, each to its own
// name "Zyxwvut<n>^Qponmlk<n>" (with the variant's suffix, so a hit
// shows which attribute and which level leaked).
func (x phiB) everyPN(pns []dicom.DictEntry, level string) {
	for i, e := range pns {
		name := fmt.Sprintf("Zyxwvut%s%02d^Qponmlk%s%02d", level, i, level, i)
		x.textTag(e.Tag, dicom.PN, name)
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
	x.str("SpecificCharacterSet", dicom.CS, strings.Split(v.charset, `\`)...)
	x.str("StudyInstanceUID", dicom.UI, study)
	// Every PN attribute first; the specific ones below override some.
	x.everyPN(pns, "T")
	x.text("PatientName", dicom.PN, v.patient)
	x.text("PatientID", dicom.LO, v.id).text("IssuerOfPatientID", dicom.LO, "Zyxwvut General Hospital MRN")
	x.text("OtherPatientIDs", dicom.LO, "ZQALT99173")
	x.text("OtherPatientNames", dicom.PN, "Zyxwvutova^Qponmlk")
	x.str("PatientBirthDate", dicom.DA, phiBirthDate).str("PatientSex", dicom.CS, "F").str("PatientAge", dicom.AS, "062Y")
	x.text("PatientAddress", dicom.LO, "17 Zyxwvut Lane, Qponmlkville, Zyxwvutshire")
	x.text("PatientTelephoneNumbers", dicom.SH, "5550 4421")
	x.text("PatientComments", dicom.LT, "lives with "+v.words[1]+" "+v.words[0]+" at Qponmlkville")
	x.text("AdditionalPatientHistory", dicom.LT, "history given by "+v.words[0]+" family")
	x.text("Occupation", dicom.SH, "Zyxwvutor")
	x.text("MedicalRecordLocator", dicom.LO, "ZQLOC-VAULT")
	x.text("AccessionNumber", dicom.SH, v.acc).text("StudyID", dicom.SH, "ZQSTU7731")
	x.text("RequestedProcedureID", dicom.SH, "ZQRPID9988")
	x.str("StudyDate", dicom.DA, "20240611").str("StudyTime", dicom.TM, "093015")
	x.text("StudyDescription", dicom.LO, "MRI brain for "+v.words[1]+" "+v.words[0]+" "+v.id)
	x.text("RequestedProcedureDescription", dicom.LO, "MRI for "+v.words[0])
	x.text("ReferringPhysicianName", dicom.PN, "Referrerzq^Qponmlk")
	x.text("ReferringPhysicianAddress", dicom.ST, "99 Qponmlk Street, Qponmlkville")
	x.text("ReferringPhysicianTelephoneNumbers", dicom.SH, "+61 2 5550 7319")
	x.text("InstitutionName", dicom.LO, "Zyxwvut General Hospital")
	x.text("InstitutionAddress", dicom.ST, "1 Qponmlk Memorial Road, Zyxwvutshire")
	x.text("InstitutionalDepartmentName", dicom.LO, "Zyxwvut Radiology Wing")
	x.str("PerformedStationAETitle", dicom.AE, "ZQPERFAE1").str("StationAETitle", dicom.AE, "ZQSTATAE2")
	x.text("Manufacturer", dicom.LO, "ACME Medical").text("ManufacturerModelName", dicom.LO, "Magnetron 3T")
	for i, it := range x.seq("OtherPatientIDsSequence", 2) {
		it.text("PatientID", dicom.LO, fmt.Sprintf("ZQOPI0041%d", 7+i)).text("IssuerOfPatientID", dicom.LO, "Qponmlk Clinic Registry")
		it.str("TypeOfPatientID", dicom.CS, "TEXT")
	}
}

// phiPrivate plants private elements: a vendor block with the name and
// ID, a UTF-16LE blob, a UN value and a private sequence with a nested
// private sequence.
func phiPrivate(x phiB, v phiVariant) {
	ds := x.ds
	ds.SetString(dicom.NewTag(0x0029, 0x0010), dicom.LO, "ZQ PHI 1.0")
	x.textTag(dicom.NewTag(0x0029, 0x1010), dicom.LO, v.patient)
	x.textTag(dicom.NewTag(0x0029, 0x1013), dicom.LO, v.id)
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
	ps := x.seqTag(dicom.NewTag(0x0031, 0x1001), 1)[0]
	ps.text("PatientName", dicom.PN, "Privseqname^Zyxwvut")
	ps.ds.SetString(dicom.NewTag(0x0031, 0x0010), dicom.LO, "ZQ SEQ")
	inner := ps.seqTag(dicom.NewTag(0x0031, 0x1002), 1)[0]
	inner.text("PatientID", dicom.LO, v.id).text("PersonName", dicom.PN, v.patient)
}

// phiNested plants names, IDs and institutions four levels deep through
// sequences the baseline keeps, and every PN attribute inside a kept item.
func phiNested(x phiB, v phiVariant, pns []dicom.DictEntry, seriesUID, sop string) {
	rs := x.seq("ReferencedSeriesSequence", 1)[0]
	rs.str("SeriesInstanceUID", dicom.UI, seriesUID)
	rs.everyPN(pns, "N")
	ri := rs.seq("ReferencedInstanceSequence", 1)[0]
	ri.str("ReferencedSOPClassUID", dicom.UI, phiMRImage).str("ReferencedSOPInstanceUID", dicom.UI, sop)

	l1 := x.seq("SharedFunctionalGroupsSequence", 1)[0]
	l1.text("InstitutionName", dicom.LO, "Zqdeep1 Institute").text("PatientID", dicom.LO, v.id)
	l2 := l1.seq("DerivationImageSequence", 1)[0]
	l2.text("DerivationDescription", dicom.ST, "derived for "+v.words[0]+" "+v.id)
	l3 := l2.seq("SourceImageSequence", 1)[0]
	l3.str("ReferencedSOPClassUID", dicom.UI, phiMRImage).str("ReferencedSOPInstanceUID", dicom.UI, fmt.Sprintf("%s.%d.9.3", phiUIDRoot, v.n))
	l3.text("PersonName", dicom.PN, "Deepthree^"+v.words[0])
	l4 := l3.seq("PurposeOfReferenceCodeSequence", 1)[0]
	l4.str("CodeValue", dicom.SH, "121320").str("CodingSchemeDesignator", dicom.SH, "DCM").text("CodeMeaning", dicom.LO, "Uncompressed predecessor")
	l4.text("PersonName", dicom.PN, "Deepfour^"+v.words[1]).text("InstitutionName", dicom.LO, "Zqdeep4 Clinic")
	l4.ds.SetString(dicom.NewTag(0x0019, 0x0010), dicom.LO, "ZQ DEEP")
	l4.textTag(dicom.NewTag(0x0019, 0x1001), dicom.LO, v.patient)
}

// phiSynthMR builds an MR image; derived makes it DERIVED\SECONDARY (the
// pixel-risk quarantine case).
func phiSynthMR(t testing.TB, v phiVariant, pns []dicom.DictEntry, series, instance int, derived bool) *dicom.File {
	t.Helper()
	ds := dicom.NewDataset()
	x := phiB{t, ds}
	phiPatientModule(x, v, pns)
	_, forUID := phiSynthUIDs(v)
	seriesUID := fmt.Sprintf("%s.%d.2.%d", phiUIDRoot, v.n, series)
	sop := fmt.Sprintf("%s.%d.4.%d.%d", phiUIDRoot, v.n, series, instance)
	x.str("SOPClassUID", dicom.UI, phiMRImage).str("SOPInstanceUID", dicom.UI, sop)
	x.str("SeriesInstanceUID", dicom.UI, seriesUID).str("FrameOfReferenceUID", dicom.UI, forUID)
	x.str("Modality", dicom.CS, "MR").str("SeriesNumber", dicom.IS, fmt.Sprint(series)).str("InstanceNumber", dicom.IS, fmt.Sprint(instance))
	if derived {
		x.str("ImageType", dicom.CS, "DERIVED", "SECONDARY", "MPR")
		x.text("SeriesDescription", dicom.LO, "MPR reformat "+v.words[0])
	} else {
		x.str("ImageType", dicom.CS, "ORIGINAL", "PRIMARY", "M", "ND")
		x.text("SeriesDescription", dicom.LO, "T1 sag "+v.words[0])
	}
	x.text("ProtocolName", dicom.LO, v.words[0]+" research protocol")
	x.text("ImageComments", dicom.LT, "Patient "+v.words[0]+" was anxious; MRN "+v.id)
	x.str("SeriesTime", dicom.TM, "093516")
	phiNested(x, v, pns, seriesUID, sop)
	phiPrivate(x, v)
	// Pixels: 8x8, 16 bits.
	x.str("PhotometricInterpretation", dicom.CS, "MONOCHROME2")
	ds.SetUint16(dicom.MustTag("SamplesPerPixel"), 1)
	ds.SetUint16(dicom.MustTag("Rows"), 8)
	ds.SetUint16(dicom.MustTag("Columns"), 8)
	ds.SetUint16(dicom.TagBitsAllocated, 16)
	ds.SetUint16(dicom.MustTag("BitsStored"), 12)
	ds.SetUint16(dicom.MustTag("HighBit"), 11)
	ds.SetUint16(dicom.TagPixelRepresentation, 0)
	pix := make([]byte, 128)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	ds.SetBytes(dicom.TagPixelData, dicom.OW, pix)
	return phiFile(ds, phiMRImage, sop)
}

// phiSynthSR builds a Comprehensive SR with names, IDs and dates in its
// content tree.
func phiSynthSR(t testing.TB, v phiVariant, pns []dicom.DictEntry) *dicom.File {
	t.Helper()
	ds := dicom.NewDataset()
	x := phiB{t, ds}
	phiPatientModule(x, v, pns)
	sop := fmt.Sprintf("%s.%d.8.1", phiUIDRoot, v.n)
	imgUID := fmt.Sprintf("%s.%d.4.1.1", phiUIDRoot, v.n)
	study, _ := phiSynthUIDs(v)
	x.str("SOPClassUID", dicom.UI, phiCompSR).str("SOPInstanceUID", dicom.UI, sop)
	x.str("SeriesInstanceUID", dicom.UI, fmt.Sprintf("%s.%d.2.99", phiUIDRoot, v.n))
	x.str("Modality", dicom.CS, "SR").str("SeriesNumber", dicom.IS, "99").str("InstanceNumber", dicom.IS, "1")
	x.text("SeriesDescription", dicom.LO, "Report for "+v.words[0])
	x.str("ContentDate", dicom.DA, "20240611").str("ContentTime", dicom.TM, "101500")
	x.str("CompletionFlag", dicom.CS, "COMPLETE").str("VerificationFlag", dicom.CS, "VERIFIED")
	vo := x.seq("VerifyingObserverSequence", 1)[0]
	vo.text("VerifyingObserverName", dicom.PN, "Verifierzq^"+v.words[0]).text("VerifyingOrganization", dicom.LO, "Zyxwvut General Hospital")
	vo.str("VerificationDateTime", dicom.DT, "20240612101500")
	vo.seq("VerifyingObserverIdentificationCodeSequence", 0)
	x.seq("ReferencedPerformedProcedureStepSequence", 0)
	x.seq("PerformedProcedureCodeSequence", 0)
	ev := x.seq("CurrentRequestedProcedureEvidenceSequence", 1)[0]
	ev.str("StudyInstanceUID", dicom.UI, study)
	evs := ev.seq("ReferencedSeriesSequence", 1)[0]
	evs.str("SeriesInstanceUID", dicom.UI, fmt.Sprintf("%s.%d.2.1", phiUIDRoot, v.n))
	evi := evs.seq("ReferencedSOPSequence", 1)[0]
	evi.str("ReferencedSOPClassUID", dicom.UI, phiMRImage).str("ReferencedSOPInstanceUID", dicom.UI, imgUID)

	x.str("ValueType", dicom.CS, "CONTAINER").str("ContinuityOfContent", dicom.CS, "SEPARATE")
	code := func(it phiB, kw, value, scheme, meaning string) {
		cn := it.seq(kw, 1)[0]
		cn.str("CodeValue", dicom.SH, value).str("CodingSchemeDesignator", dicom.SH, scheme).text("CodeMeaning", dicom.LO, meaning)
	}
	code(x, "ConceptNameCodeSequence", "126000", "DCM", "Imaging Measurement Report")
	items := x.seq("ContentSequence", 5)
	items[0].str("RelationshipType", dicom.CS, "CONTAINS").str("ValueType", dicom.CS, "TEXT")
	code(items[0], "ConceptNameCodeSequence", "121106", "DCM", "Comment")
	items[0].text("TextValue", dicom.UT, v.words[1]+" "+v.words[0]+" seen 2024-06-11, MRN "+v.id+", call 5550 4421")
	items[1].str("RelationshipType", dicom.CS, "CONTAINS").str("ValueType", dicom.CS, "TEXT")
	code(items[1], "ConceptNameCodeSequence", "99001", "99LOCAL", "Local note")
	items[1].text("TextValue", dicom.UT, "free text about "+v.words[0]+" of Qponmlkville")
	items[2].str("RelationshipType", dicom.CS, "CONTAINS").str("ValueType", dicom.CS, "PNAME")
	code(items[2], "ConceptNameCodeSequence", "113850", "DCM", "Irradiation Authorizing")
	items[2].text("PersonName", dicom.PN, "Authorizerzq^"+v.words[0])
	items[3].str("RelationshipType", dicom.CS, "CONTAINS").str("ValueType", dicom.CS, "IMAGE")
	code(items[3], "ConceptNameCodeSequence", "121138", "DCM", "Image Acquired")
	rsop := items[3].seq("ReferencedSOPSequence", 1)[0]
	rsop.str("ReferencedSOPClassUID", dicom.UI, phiMRImage).str("ReferencedSOPInstanceUID", dicom.UI, imgUID)
	items[4].str("RelationshipType", dicom.CS, "CONTAINS").str("ValueType", dicom.CS, "CONTAINER").str("ContinuityOfContent", dicom.CS, "SEPARATE")
	code(items[4], "ConceptNameCodeSequence", "125007", "DCM", "Measurement Group")
	nested := items[4].seq("ContentSequence", 1)
	nested[0].str("RelationshipType", dicom.CS, "CONTAINS").str("ValueType", dicom.CS, "PNAME")
	code(nested[0], "ConceptNameCodeSequence", "99002", "99LOCAL", "Local person")
	nested[0].text("PersonName", dicom.PN, "Nestedsrperson^"+v.words[1])
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
