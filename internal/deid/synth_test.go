package deid

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/aisedge/aisedge/internal/testpeer/synth"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Synthetic instances with PHI planted everywhere the issue lists: every
// PN and every DA/DT attribute of the dictionary, IDs in Other Patient IDs
// Sequence and Referenced Patient Sequence, addresses and phone numbers,
// private tags (text, UTF-16 blob, UN, private sequence), sequences four
// levels deep, SR content, descriptions, UIDs in referenced SOP sequences
// and the file meta, in UTF-8, ISO 2022 Japanese and Latin-1.

// canaries are the planted values an output must not contain.
type canaries struct {
	Names []string `json:"names"` // full PN values (UTF-8)
	Words []string `json:"words"` // distinctive name parts / identifiers (≥ 5 chars)
	Dates []string `json:"dates"` // YYYYMMDD
	UIDs  []string `json:"uids"`
	Texts []string `json:"texts"` // other identifying strings
	// Device holds device identifiers: PHI unless the profile retains
	// device identity.
	Device []string `json:"-"`
	// Charsets are the Specific Character Set values of the inputs, so
	// that the independent reader can also search the encoded bytes.
	Charsets []string `json:"charsets"`
}

func (c *canaries) add(dst *[]string, v string) {
	for _, x := range *dst {
		if x == v {
			return
		}
	}
	*dst = append(*dst, v)
}

func (c *canaries) merge(o *canaries) {
	for _, v := range o.Names {
		c.add(&c.Names, v)
	}
	for _, v := range o.Words {
		c.add(&c.Words, v)
	}
	for _, v := range o.Dates {
		c.add(&c.Dates, v)
	}
	for _, v := range o.UIDs {
		c.add(&c.UIDs, v)
	}
	for _, v := range o.Texts {
		c.add(&c.Texts, v)
	}
	for _, v := range o.Charsets {
		c.add(&c.Charsets, v)
	}
	for _, v := range o.Device {
		c.add(&c.Device, v)
	}
}

// variant selects the character set of a synthetic instance.
type variant struct {
	name    string
	charset string
	patient string // Patient's Name
	family  string // distinctive words of it (for the word search)
}

var variants = []variant{
	{"latin1", "ISO_IR 100", "Doeberg^Johnathan^Quincy", "Doeberg Johnathan Quincy"},
	{"utf8", "ISO_IR 192", "Müllerstein^Jürgen=王^小東", "Müllerstein Jürgen 小東"},
	{"jis", `\ISO 2022 IR 87`, "Yamadaki^Tarouzou=山田^太郎=やまだ^たろう", "Yamadaki Tarouzou 山田 太郎 やまだ たろう"},
}

// dictEntries lists dictionary attributes of the given VRs.
var dictEntries = synth.DictEntries

// b builds data sets whose text goes through the character set.
type b = synth.Builder

const (
	mrImageStorage  = "1.2.840.10008.5.1.4.1.1.4"
	comprehensiveSR = "1.2.840.10008.5.1.4.1.1.88.33"
)

// synthStudy holds the identifiers shared by the instances of one study.
type synthStudy struct {
	studyUID, seriesUID, forUID string
}

func newSynthStudy(seed int) synthStudy {
	return synthStudy{
		studyUID:  fmt.Sprintf("1.2.826.0.1.3680043.9.7777.1.%d.20190304101500", seed),
		seriesUID: fmt.Sprintf("1.2.826.0.1.3680043.9.7777.2.%d.20190304101501", seed),
		forUID:    fmt.Sprintf("1.2.826.0.1.3680043.9.7777.3.%d", seed),
	}
}

// plantDate returns distinct dates within one 120-day window (closer
// together than the smallest shift, so no shifted date can equal another
// planted date).
func plantDate(i int) string {
	return time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%120).Format("20060102")
}

// synthMR builds an MR image instance with PHI everywhere.
func synthMR(t testing.TB, v variant, st synthStudy, instance int) (*dicom.File, *canaries) {
	t.Helper()
	c := &canaries{Charsets: []string{v.charset}}
	ds := dicom.NewDataset()
	x := b{T: t, DS: ds}
	sur, giv := v.names()
	sop := fmt.Sprintf("1.2.826.0.1.3680043.9.7777.4.%d.%d", instance, 20190304101502)
	x.Str("SpecificCharacterSet", dicom.CS, strings.Split(v.charset, `\`)...)
	x.Str("SOPClassUID", dicom.UI, mrImageStorage).Str("SOPInstanceUID", dicom.UI, sop)
	x.Str("StudyInstanceUID", dicom.UI, st.studyUID).Str("SeriesInstanceUID", dicom.UI, st.seriesUID)
	x.Str("FrameOfReferenceUID", dicom.UI, st.forUID)
	c.UIDs = append(c.UIDs, sop, st.studyUID, st.seriesUID, st.forUID)
	x.Str("Modality", dicom.CS, "MR").Str("ImageType", dicom.CS, "ORIGINAL", "PRIMARY", "M", "ND")
	x.Text("Manufacturer", dicom.LO, "ACME Medical").Text("ManufacturerModelName", dicom.LO, "Magnetron 3T")
	x.Str("SeriesNumber", dicom.IS, "7").Str("InstanceNumber", dicom.IS, fmt.Sprint(instance))
	x.Str("StudyTime", dicom.TM, "101500").Str("SeriesTime", dicom.TM, "101501")

	// Every PN attribute of the dictionary, each with its own name.
	for i, e := range dictEntries(t, "PN") {
		name := fmt.Sprintf("Zqfam%03d^Zqgiv%03d", i, i)
		if err := ds.SetText(e.Tag, dicom.PN, name); err != nil {
			t.Fatal(err)
		}
		c.Names = append(c.Names, name)
		c.Words = append(c.Words, fmt.Sprintf("Zqfam%03d", i))
	}
	x.Text("PatientName", dicom.PN, v.patient)
	c.Names = append(c.Names, v.patient)
	for _, w := range strings.Fields(v.family) {
		c.Words = append(c.Words, w)
	}
	// Every DA and DT attribute of the dictionary.
	for i, e := range dictEntries(t, "DA", "DT") {
		d := plantDate(i)
		val := d
		if e.VR() == dicom.DT {
			val = d + "101530.25+1000"
		}
		ds.SetString(e.Tag, e.VR(), val)
		c.Dates = append(c.Dates, d)
	}
	x.Str("PatientBirthDate", dicom.DA, "19580512")
	c.Dates = append(c.Dates, "19580512")
	x.Str("StudyDate", dicom.DA, "20190304")

	// IDs, addresses, phone numbers, institution, device.
	ids := map[string]string{
		"PatientID": "MRN8675309", "IssuerOfPatientID": "SPRINGFIELD-GH-MRN", "OtherPatientIDs": "ALT5550123",
		"AccessionNumber": "ACC20190304X", "StudyID": "STU424242", "RequestedProcedureID": "RPID998877",
		"MedicalRecordLocator": "LOC-VAULT-77",
	}
	keys := make([]string, 0, len(ids))
	for k := range ids {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		de, _ := dicom.LookupKeyword(k)
		if err := ds.SetText(de.Tag, de.VR(), ids[k]); err != nil {
			t.Fatal(err)
		}
		c.Words = append(c.Words, ids[k])
	}
	texts := map[string]string{
		"PatientAddress":                     "12 Canaryfield Lane Springfield",
		"InstitutionName":                    "Springfield Canary Hospital",
		"InstitutionAddress":                 "1 Hospital Road Canarytown",
		"InstitutionalDepartmentName":        "Canary Radiology Wing",
		"ReferringPhysicianAddress":          "99 Referrer Street Canaryville",
		"ReferringPhysicianTelephoneNumbers": "+61 2 5550 1234",
		"PatientTelephoneNumbers":            "5550199",
		"StudyDescription":                   "MRI brain for " + giv + " " + sur + " MRN8675309",
		"SeriesDescription":                  "T1 sag " + sur,
		"ImageComments":                      "Patient " + sur + " was anxious",
		"PatientComments":                    "lives with Janet " + sur + " at Canaryfield",
		"AdditionalPatientHistory":           "history given by Janet " + sur,
		"ProtocolName":                       sur + " research protocol",
		"Occupation":                         "Canary keeper",
		"RequestedProcedureDescription":      "MRI for " + sur,
	}
	keys = keys[:0]
	for k := range texts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		de, _ := dicom.LookupKeyword(k)
		if err := ds.SetText(de.Tag, de.VR(), texts[k]); err != nil {
			t.Fatal(err)
		}
	}
	c.Words = append(c.Words, "Canaryfield", "Springfield Canary Hospital", "Canarytown", "Canary Radiology", "Canaryville", "5550 1234", "5550199", "Janet")
	x.Text("StationName", dicom.SH, "MRSCANNER7").Text("DeviceSerialNumber", dicom.LO, "SN44556677")
	c.Device = append(c.Device, "MRSCANNER7", "SN44556677")
	x.Str("PerformedStationAETitle", dicom.AE, "MRAE01PHI").Str("StationAETitle", dicom.AE, "STATAE77PHI")
	c.Words = append(c.Words, "MRAE01PHI", "STATAE77PHI")
	x.Str("PatientSex", dicom.CS, "M").Str("PatientAge", dicom.AS, "060Y").Str("PatientWeight", dicom.DS, "72.5")

	// Other Patient IDs Sequence and Referenced Patient Sequence.
	for i, it := range x.Seq("OtherPatientIDsSequence", 2) {
		id := fmt.Sprintf("OPI777123%d", i)
		it.Text("PatientID", dicom.LO, id).Text("IssuerOfPatientID", dicom.LO, "St Canary Elsewhere").Str("TypeOfPatientID", dicom.CS, "TEXT")
		c.Words = append(c.Words, id)
	}
	c.Words = append(c.Words, "St Canary Elsewhere")
	refPatUID := "1.2.826.0.1.3680043.9.7777.5.1"
	it := x.Seq("ReferencedPatientSequence", 1)[0]
	it.Str("ReferencedSOPClassUID", dicom.UI, "1.2.840.10008.3.1.2.1.1").Str("ReferencedSOPInstanceUID", dicom.UI, refPatUID)
	c.UIDs = append(c.UIDs, refPatUID)

	// UIDs in referenced SOP sequences.
	for i, kw := range []string{"ReferencedImageSequence", "SourceImageSequence", "ReferencedStudySequence"} {
		u := fmt.Sprintf("1.2.826.0.1.3680043.9.7777.6.%d.%d", instance, i)
		it := x.Seq(kw, 1)[0]
		it.Str("ReferencedSOPClassUID", dicom.UI, mrImageStorage).Str("ReferencedSOPInstanceUID", dicom.UI, u)
		c.UIDs = append(c.UIDs, u)
	}
	// A kept reference: Referenced Series Sequence (not in Table E.1-1).
	rs := x.Seq("ReferencedSeriesSequence", 1)[0]
	rs.Str("SeriesInstanceUID", dicom.UI, st.seriesUID)
	ri := rs.Seq("ReferencedInstanceSequence", 1)[0]
	ri.Str("ReferencedSOPClassUID", dicom.UI, mrImageStorage).Str("ReferencedSOPInstanceUID", dicom.UI, sop)

	// Four levels deep, through sequences the baseline keeps, with PHI at
	// every level.
	l1 := x.Seq("SharedFunctionalGroupsSequence", 1)[0]
	l1.Text("InstitutionName", dicom.LO, "Deep1 Canary Institute").Text("PatientID", dicom.LO, "MRN8675309")
	l2 := l1.Seq("DerivationImageSequence", 1)[0]
	l2.Text("DerivationDescription", dicom.ST, "derived for "+sur+" on 2019-03-04").Str("ContentDate", dicom.DA, "20190305")
	l3 := l2.Seq("SourceImageSequence", 1)[0]
	deepUID := "1.2.826.0.1.3680043.9.7777.7.1"
	l3.Str("ReferencedSOPClassUID", dicom.UI, mrImageStorage).Str("ReferencedSOPInstanceUID", dicom.UI, deepUID)
	l3.Text("PersonName", dicom.PN, "Deeplevel^Threeperson")
	l4 := l3.Seq("PurposeOfReferenceCodeSequence", 1)[0]
	l4.Str("CodeValue", dicom.SH, "121320").Str("CodingSchemeDesignator", dicom.SH, "DCM").Text("CodeMeaning", dicom.LO, "Uncompressed predecessor")
	l4.Text("PersonName", dicom.PN, "Deeplevel^Fourperson").Str("Date", dicom.DA, "20190306")
	l4.Text("InstitutionName", dicom.LO, "Deep4 Canary Clinic").Str("ObservationDateTime", dicom.DT, "20190306121314")
	l4p := l4.DS
	l4p.SetString(dicom.NewTag(0x0019, 0x0010), dicom.LO, "ACME DEEP")
	l4p.SetText(dicom.NewTag(0x0019, 0x1001), dicom.LO, "Doeberg^Johnathan")
	c.Names = append(c.Names, "Deeplevel^Threeperson", "Deeplevel^Fourperson")
	c.Words = append(c.Words, "Deep1 Canary Institute", "Deep4 Canary Clinic", "Threeperson", "Fourperson")
	c.UIDs = append(c.UIDs, deepUID)
	c.Dates = append(c.Dates, "20190305", "20190306")

	// Private tags: a vendor block with PHI, a safe-private block, a
	// private sequence holding a name.
	ds.SetString(dicom.NewTag(0x0029, 0x0010), dicom.LO, "ACME PHI 1.0")
	if err := ds.SetText(dicom.NewTag(0x0029, 0x1010), dicom.LO, v.patient); err != nil {
		t.Fatal(err)
	}
	ds.SetBytes(dicom.NewTag(0x0029, 0x1011), dicom.OB, utf16le("MRN8675309 "+sur))
	ds.SetBytes(dicom.NewTag(0x0029, 0x1012), dicom.UN, []byte("Springfield Canary Hospital"))
	ds.SetString(dicom.NewTag(0x7053, 0x0010), dicom.LO, "Philips PET Private Group")
	ds.SetString(dicom.NewTag(0x7053, 0x1000), dicom.DS, "1.234")
	ds.SetString(dicom.NewTag(0x7053, 0x1009), dicom.DS, "2.5")
	ds.SetString(dicom.NewTag(0x0031, 0x0010), dicom.LO, "ACME SEQ")
	ps := dicom.NewDataset()
	ds.SetSequence(dicom.NewTag(0x0031, 0x1001), ps)
	ps = ds.Get(dicom.NewTag(0x0031, 0x1001)).Items[0]
	if err := ps.SetText(dicom.MustTag("PatientName"), dicom.PN, "Privseq^Canaryname"); err != nil {
		t.Fatal(err)
	}
	c.Names = append(c.Names, "Privseq^Canaryname")

	// Overlay with a comment.
	ds.SetString(dicom.NewTag(0x6000, 0x4000), dicom.LT, "overlay drawn for "+sur)
	ds.SetUint16(dicom.NewTag(0x6000, 0x0010), 8)
	ds.SetUint16(dicom.NewTag(0x6000, 0x0011), 8)
	ds.SetBytes(dicom.NewTag(0x6000, 0x3000), dicom.OW, make([]byte, 8))

	// Pixels: 8x8 16-bit.
	x.Pixels8x8(func(i int) byte { return byte(i) })

	meta := dicom.NewFileMeta(mrImageStorage, sop, dicom.ExplicitVRLittleEndian)
	meta.SetString(dicom.TagSourceApplicationEntityTitle, dicom.AE, "PHISOURCEAE")
	c.Words = append(c.Words, "PHISOURCEAE")
	ts, _ := dicom.LookupTransferSyntax(dicom.ExplicitVRLittleEndian)
	return &dicom.File{Meta: meta, Dataset: ds, TransferSyntax: ts}, c
}

// names returns the family and given names of the variant's first
// component group.
func (v variant) names() (sur, giv string) {
	g := strings.Split(strings.Split(v.patient, "=")[0], "^")
	return g[0], g[1]
}

func utf16le(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

// synthSR builds a Comprehensive SR of the same study with PHI in its
// content tree.
func synthSR(t testing.TB, v variant, st synthStudy) (*dicom.File, *canaries) {
	t.Helper()
	c := &canaries{Charsets: []string{v.charset}}
	ds := dicom.NewDataset()
	x := b{T: t, DS: ds}
	sur, giv := v.names()
	sop := "1.2.826.0.1.3680043.9.7777.8.1"
	x.Str("SpecificCharacterSet", dicom.CS, strings.Split(v.charset, `\`)...)
	x.Str("SOPClassUID", dicom.UI, comprehensiveSR).Str("SOPInstanceUID", dicom.UI, sop)
	x.Str("StudyInstanceUID", dicom.UI, st.studyUID).Str("SeriesInstanceUID", dicom.UI, st.seriesUID+".9")
	c.UIDs = append(c.UIDs, sop, st.studyUID, st.seriesUID+".9")
	x.Str("Modality", dicom.CS, "SR").Str("SeriesNumber", dicom.IS, "99").Str("InstanceNumber", dicom.IS, "1")
	x.Text("Manufacturer", dicom.LO, "ACME Medical")
	x.Text("PatientName", dicom.PN, v.patient).Text("PatientID", dicom.LO, "MRN8675309")
	x.Str("PatientBirthDate", dicom.DA, "19580512").Str("PatientSex", dicom.CS, "M")
	x.Str("StudyDate", dicom.DA, "20190304").Str("StudyTime", dicom.TM, "101500")
	x.Text("AccessionNumber", dicom.SH, "ACC20190304X").Text("StudyID", dicom.SH, "STU424242")
	x.Text("ReferringPhysicianName", dicom.PN, "Referrer^Canaryhouse")
	x.Str("ContentDate", dicom.DA, "20190304").Str("ContentTime", dicom.TM, "111500")
	x.Str("CompletionFlag", dicom.CS, "COMPLETE").Str("VerificationFlag", dicom.CS, "VERIFIED")
	vo := x.Seq("VerifyingObserverSequence", 1)[0]
	vo.Text("VerifyingObserverName", dicom.PN, "Verifier^Veracanary").Text("VerifyingOrganization", dicom.LO, "Springfield Canary Hospital")
	vo.Str("VerificationDateTime", dicom.DT, "20190305101500")
	vo.Seq("VerifyingObserverIdentificationCodeSequence", 0)
	x.Seq("ReferencedPerformedProcedureStepSequence", 0)
	x.Seq("PerformedProcedureCodeSequence", 0)
	c.Names = append(c.Names, v.patient, "Referrer^Canaryhouse", "Verifier^Veracanary")
	c.Words = append(c.Words, "MRN8675309", "ACC20190304X", "STU424242", "Canaryhouse", "Veracanary", "Springfield Canary Hospital")
	c.Dates = append(c.Dates, "19580512", "20190304", "20190305")

	imgUID := "1.2.826.0.1.3680043.9.7777.4.1.20190304101502"
	ev := x.Seq("CurrentRequestedProcedureEvidenceSequence", 1)[0]
	ev.Str("StudyInstanceUID", dicom.UI, st.studyUID)
	evs := ev.Seq("ReferencedSeriesSequence", 1)[0]
	evs.Str("SeriesInstanceUID", dicom.UI, st.seriesUID)
	evi := evs.Seq("ReferencedSOPSequence", 1)[0]
	evi.Str("ReferencedSOPClassUID", dicom.UI, mrImageStorage).Str("ReferencedSOPInstanceUID", dicom.UI, imgUID)
	c.UIDs = append(c.UIDs, imgUID)

	x.Str("ValueType", dicom.CS, "CONTAINER").Str("ContinuityOfContent", dicom.CS, "SEPARATE")
	code := func(it b, kw, value, scheme, meaning string) {
		cn := it.Seq(kw, 1)[0]
		cn.Str("CodeValue", dicom.SH, value).Str("CodingSchemeDesignator", dicom.SH, scheme).Text("CodeMeaning", dicom.LO, meaning)
	}
	code(x, "ConceptNameCodeSequence", "126000", "DCM", "Imaging Measurement Report")
	items := x.Seq("ContentSequence", 7)
	// 0: known TEXT (Comment, C under Clean Descriptors): cleaned.
	items[0].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "TEXT")
	code(items[0], "ConceptNameCodeSequence", "121106", "DCM", "Comment")
	items[0].Text("TextValue", dicom.UT, giv+" "+sur+" seen 2019-03-04, MRN8675309, call 5550199, ok")
	// 1: unknown TEXT: removed.
	items[1].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "TEXT")
	code(items[1], "ConceptNameCodeSequence", "99001", "99LOCAL", "Local note")
	items[1].Text("TextValue", dicom.UT, "Canaryfree text about "+sur)
	// 2: known PNAME (D): dummy.
	items[2].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "PNAME")
	code(items[2], "ConceptNameCodeSequence", "113850", "DCM", "Irradiation Authorizing")
	items[2].Text("PersonName", dicom.PN, "Authorizer^Canarydoc")
	// 3: DATE (Content Date, X/D → X): removed.
	items[3].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "DATE")
	code(items[3], "ConceptNameCodeSequence", "111018", "DCM", "Content Date")
	items[3].Str("Date", dicom.DA, "20190307")
	// 4: UIDREF (Irradiation Event UID, D): remapped.
	items[4].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "UIDREF")
	code(items[4], "ConceptNameCodeSequence", "113769", "DCM", "Irradiation Event UID")
	evUID := "1.2.826.0.1.3680043.9.7777.9.1"
	items[4].Str("UID", dicom.UI, evUID)
	// 5: IMAGE reference (Image Acquired, D): kept, UIDs remapped.
	items[5].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "IMAGE")
	code(items[5], "ConceptNameCodeSequence", "121138", "DCM", "Image Acquired")
	rsop := items[5].Seq("ReferencedSOPSequence", 1)[0]
	rsop.Str("ReferencedSOPClassUID", dicom.UI, mrImageStorage).Str("ReferencedSOPInstanceUID", dicom.UI, imgUID)
	// 6: a CONTAINER with nested items (a NUM and an unknown PNAME).
	items[6].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "CONTAINER").Str("ContinuityOfContent", dicom.CS, "SEPARATE")
	code(items[6], "ConceptNameCodeSequence", "125007", "DCM", "Measurement Group")
	nested := items[6].Seq("ContentSequence", 2)
	nested[0].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "NUM")
	code(nested[0], "ConceptNameCodeSequence", "410668003", "SCT", "Length")
	mv := nested[0].Seq("MeasuredValueSequence", 1)[0]
	mv.Str("NumericValue", dicom.DS, "12.5")
	code(mv, "MeasurementUnitsCodeSequence", "mm", "UCUM", "millimeter")
	nested[1].Str("RelationshipType", dicom.CS, "CONTAINS").Str("ValueType", dicom.CS, "PNAME")
	code(nested[1], "ConceptNameCodeSequence", "99002", "99LOCAL", "Local person")
	nested[1].Text("PersonName", dicom.PN, "Nestedsr^Canaryperson")
	c.Names = append(c.Names, "Authorizer^Canarydoc", "Nestedsr^Canaryperson")
	c.Words = append(c.Words, "Canaryfree", "Canarydoc", "Canaryperson", sur, giv)
	c.Dates = append(c.Dates, "20190307")
	c.UIDs = append(c.UIDs, evUID)

	meta := dicom.NewFileMeta(comprehensiveSR, sop, dicom.ExplicitVRLittleEndian)
	ts, _ := dicom.LookupTransferSyntax(dicom.ExplicitVRLittleEndian)
	return &dicom.File{Meta: meta, Dataset: ds, TransferSyntax: ts}, c
}

// writeSynth serialises a synthetic file and re-reads it, so that the
// engine sees exactly what a receiver would.
func writeSynth(t testing.TB, f *dicom.File, path string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
