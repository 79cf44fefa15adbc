package deid

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// profileWith loads a profile from JSON or fails the test.
func profileWith(t *testing.T, js string) *Profile {
	t.Helper()
	p, err := LoadProfile([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// deidSynth runs one synthetic MR through e and returns the outcome and
// the output data set (nil when quarantined).
func deidSynth(t *testing.T, e *Engine, mutate func(*dicom.Dataset)) (*Outcome, *dicom.Dataset, *canaries) {
	t.Helper()
	f, c := synthMR(t, variants[0], newSynthStudy(4), 1)
	if mutate != nil {
		mutate(f.Dataset)
	}
	in := filepath.Join(t.TempDir(), "in.dcm")
	writeSynth(t, f, in)
	_, outs := processAll(t, e, []string{in})
	o := outs[0]
	if o.Quarantined() {
		return o, nil, c
	}
	of, err := dicom.Open(o.OutputPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { of.Close() })
	return o, of.Dataset, c
}

func TestComputeAndCapAge(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	_, ds, _ := deidSynth(t, e, func(ds *dicom.Dataset) { ds.Delete(tagPatientAge) })
	if got := ds.String(tagPatientAge); got != "060Y" {
		t.Errorf("computed age %q, want 060Y (1958-05-12 → 2019-03-04)", got)
	}
	_, ds, _ = deidSynth(t, e, func(ds *dicom.Dataset) { ds.SetString(tagPatientAge, dicom.AS, "094Y") })
	if got := ds.String(tagPatientAge); got != "090Y" {
		t.Errorf("age %q, want capped 090Y", got)
	}
	// Without Retain Patient Characteristics the age is removed (X).
	_, ds, _ = deidSynth(t, testEngine(t, profileWith(t, basicProfile)), nil)
	if ds.Has(tagPatientAge) {
		t.Error("age kept without RetainPatientCharacteristics")
	}
}

func TestBirthDateOptions(t *testing.T) {
	e := testEngine(t, profileWith(t, `{"Name":"y","Options":["CleanStructuredContent"],"Dates":{"BirthDate":"year"},"AcknowledgeRisk":["BirthYearOnly"]}`))
	_, ds, _ := deidSynth(t, e, nil)
	if got := ds.String(tagPatientBirthDate); got != "19580101" {
		t.Errorf("birth date %q, want 19580101", got)
	}
	e = testEngine(t, profileWith(t, `{"Name":"s","Options":["CleanStructuredContent","RetainLongitudinalModifiedDates"],"Dates":{"BirthDate":"shift"}}`))
	_, ds, _ = deidSynth(t, e, nil)
	if got := ds.String(tagPatientBirthDate); got == "" || got == "19580512" {
		t.Errorf("birth date %q, want shifted", got)
	}
}

// TestGateCatchesWhatRulesKeep: profiles that keep too much are stopped by
// the gate, not by a list of tags.
func TestGateCatchesWhatRulesKeep(t *testing.T) {
	cases := []struct{ name, js, check string }{
		{"KeepPrivateTags", `{"Name":"k","Options":["CleanStructuredContent"],"KeepPrivateTags":true,"AcknowledgeRisk":["KeepPrivateTags"]}`, "gate:"},
		{"no baseline", `{"Name":"n","Baseline":"none","AllowNoBaseline":true}`, "gate:"},
		{"keep a description", `{"Name":"d","Options":["CleanStructuredContent"],"Keep":["StudyDescription"]}`, "gate:strings"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, _, _ := deidSynth(t, testEngine(t, profileWith(t, tc.js)), nil)
			if !o.Quarantined() {
				t.Fatal("not quarantined")
			}
			found := false
			for _, r := range o.Reasons {
				found = found || strings.HasPrefix(r.Code, tc.check)
			}
			if !found {
				t.Errorf("reasons %v lack %s", o.Reasons, tc.check)
			}
		})
	}
}

func TestRetainUIDs(t *testing.T) {
	e := testEngine(t, profileWith(t, `{"Name":"u","Options":["CleanStructuredContent","RetainUIDs"]}`))
	o, ds, _ := deidSynth(t, e, nil)
	if o.Quarantined() {
		t.Fatalf("quarantined: %v", o.Reasons)
	}
	st := newSynthStudy(4)
	if ds.String(dicom.TagStudyInstanceUID) != st.studyUID || ds.String(dicom.MustTag("FrameOfReferenceUID")) != st.forUID {
		t.Error("UIDs not retained")
	}
	codes := map[string]bool{}
	for _, it := range ds.Get(tagDeidentificationMethodCodes).Items {
		codes[it.String(tagCodeValue)] = true
	}
	if !codes["113110"] || !codes["113100"] || !codes["113104"] {
		t.Errorf("method codes %v", codes)
	}
}

func TestReplaceRules(t *testing.T) {
	e := testEngine(t, profileWith(t, `{"Name":"r","Force":true,"Options":["CleanStructuredContent"],
		"Replace":{"ClinicalTrialSubjectID":"${PseudoPatientID}","ClinicalTrialProtocolID":"${ProjectCode}",
		"ClinicalTrialTimePointID":"${PseudoAccession}","PatientID":"${ProjectCode}-${PseudoPatientID}",
		"(0011,{AIS EDGE}01)":"study ${Site}", "**.PersonName":"NOBODY",
		"ReferencedStudySequence":[{"ReferencedSOPClassUID":"1.2.840.10008.3.1.2.3.1","ReferencedSOPInstanceUID":"2.25.1"}]}}`))
	o, ds, _ := deidSynth(t, e, nil)
	if o.Quarantined() {
		t.Fatalf("quarantined: %v", o.Reasons)
	}
	pid := e.keys.PatientPseudonym("site:SITE1", "MRN8675309", IDSpec{Length: 16})
	want := map[string]string{
		"ClinicalTrialSubjectID":   pid,
		"ClinicalTrialProtocolID":  "PRJ",
		"ClinicalTrialTimePointID": e.keys.AccessionPseudonym("site:SITE1", "ACC20190304X", IDSpec{Length: 16}),
		"PatientID":                "PRJ-" + pid,
	}
	for kw, w := range want {
		if got := ds.String(dicom.MustTag(kw)); got != w {
			t.Errorf("%s = %q, want %q", kw, got, w)
		}
	}
	if ds.String(0x00110010) != "AIS EDGE" || ds.String(0x00111001) != "study SITE1" {
		t.Errorf("private insert: creator %q value %q", ds.String(0x00110010), ds.String(0x00111001))
	}
	deep := ds.Get(dicom.MustTag("SharedFunctionalGroupsSequence")).Items[0].Get(dicom.MustTag("DerivationImageSequence")).Items[0].
		Get(dicom.MustTag("SourceImageSequence")).Items[0]
	if got := deep.String(dicom.MustTag("PersonName")); got != "NOBODY" {
		t.Errorf("**.PersonName at depth 3 = %q", got)
	}
	rs := ds.Get(dicom.MustTag("ReferencedStudySequence"))
	if rs == nil || len(rs.Items) != 1 || rs.Items[0].String(dicom.MustTag("ReferencedSOPInstanceUID")) != "2.25.1" {
		t.Error("sequence Replace not applied")
	}
	if !strings.HasPrefix(o.Report.Folder, "PRJ.PRJ-"+pid+".") {
		t.Errorf("session folder %s", o.Report.Folder)
	}
}

func TestSafePrivate(t *testing.T) {
	e := testEngine(t, profileWith(t, `{"Name":"p","Options":["CleanStructuredContent","RetainSafePrivate"],
		"SafePrivate":[{"Creator":"ACME NUM","Group":"0041","Elements":"*","NumericOnly":true},
		               {"Creator":"Philips PET Private Group","Group":"7053","Elements":["00"],"VR":"DS"}]}`))
	o, ds, _ := deidSynth(t, e, func(ds *dicom.Dataset) {
		ds.SetString(0x00410010, dicom.LO, "ACME NUM")
		ds.SetString(0x00411001, dicom.DS, "3.5")
		ds.SetString(0x00411002, dicom.IS, "12 Main St") // not numeric: removed
		ds.SetUint16(0x00411003, 7)
		ds.SetString(0x00411004, dicom.LO, "42") // text VR: never by NumericOnly
	})
	if o.Quarantined() {
		t.Fatalf("quarantined: %v", o.Reasons)
	}
	for tag, want := range map[dicom.Tag]bool{0x00410010: true, 0x00411001: true, 0x00411002: false, 0x00411003: true, 0x00411004: false,
		0x70530010: true, 0x70531000: true, 0x70531009: false, 0x00291010: false, 0x00290010: false} {
		if ds.Has(tag) != want {
			t.Errorf("%s present %v, want %v", tag, ds.Has(tag), want)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	dir := t.TempDir()
	trunc := filepath.Join(sharedDir(t), "pydicom_MR_truncated.dcm")
	notDICOM := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDICOM, []byte("Doeberg, Johnathan: MRN8675309"), 0o644)
	_, outs := processAll(t, e, []string{trunc, notDICOM})
	for i, o := range outs {
		if !o.Quarantined() || o.Reasons[0].Code != "parse-failed" {
			t.Errorf("input %d: %v", i, o.Reasons)
		}
		rj, _ := json.Marshal(struct {
			Reasons []Reason
			Report  *Report
		}{o.Reasons, o.Report})
		if bytes.Contains(rj, []byte("Doeberg")) || bytes.Contains(rj, []byte("MRN")) {
			t.Error("the quarantine record holds input content")
		}
	}
	if _, err := e.ProcessFile(context.Background(), filepath.Join(dir, "missing.dcm"), dir); err == nil || !IsTransient(err) {
		t.Errorf("missing input: %v, want a transient error", err)
	}
	if _, err := New(Config{Profile: MustBuiltin("research-default"), Keys: testKeys(t), Site: "a b", ProjectCode: "P"}); err == nil {
		t.Error("a site id with a space was accepted")
	}
	if _, err := New(Config{Profile: MustBuiltin("research-default"), Keys: testKeys(t), Site: "S", ProjectCode: "P.Q"}); err == nil {
		t.Error("a project code with a dot was accepted")
	}
}

// TestConcurrentAndLogs: one engine serves many goroutines (run with
// -race), and nothing it logs holds an original value (docs/deid.md,
// "Scope and promises").
func TestConcurrentAndLogs(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	h := slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug})
	e, err := New(Config{Profile: MustBuiltin("research-default"), Keys: testKeys(t), Site: "SITE1", ProjectCode: "PRJ", Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	all := &canaries{}
	var ins []string
	for i := range 6 {
		v := variants[i%len(variants)]
		f, c := synthMR(t, v, newSynthStudy(10+i), i+1)
		if i == 5 {
			f.Dataset.SetString(tagBurnedInAnnotation, dicom.CS, "YES") // one quarantined
		}
		all.merge(c)
		p := filepath.Join(dir, fmt.Sprintf("in%d.dcm", i))
		writeSynth(t, f, p)
		ins = append(ins, p)
	}
	out := filepath.Join(dir, "out")
	var wg sync.WaitGroup
	results := make([]*Outcome, len(ins))
	for i, p := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := e.ProcessFile(context.Background(), p, out)
			if err != nil {
				t.Error(err)
			}
			results[i] = o
		}()
	}
	wg.Wait()
	for i, o := range results {
		if o == nil {
			continue
		}
		if (i == 5) != o.Quarantined() {
			t.Errorf("input %d: quarantined %v %v", i, o.Quarantined(), o.Reasons)
		}
		if o.Report != nil {
			assertValueFree(t, "report", o.Report.JSON(), all)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	assertValueFree(t, "logs", logs.Bytes(), all)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestExplainReport: --explain keeps one entry per element with item
// indices, and no values.
func TestExplainReport(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	f, c := synthMR(t, variants[1], newSynthStudy(6), 1)
	var buf bytes.Buffer
	dicom.WriteFile(&buf, f)
	f, _ = dicom.ReadFileBytes(buf.Bytes(), nil)
	res, err := e.Deidentify(f, Options{Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	j := res.Report.JSON()
	assertValueFree(t, "explain report", j, c)
	if !bytes.Contains(j, []byte(`"(5200,9229)[0].(0008,9124)[0].(0008,2112)[0].(0040,A170)[0].(0040,A123)"`)) {
		t.Error("explain report lacks the depth-4 element path")
	}
}

// TestFreeTextNotInTable: free text PS3.15 does not list is cleaned (names
// of people the input does not list included), issuer identifiers removed.
func TestFreeTextNotInTable(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	o, ds, _ := deidSynth(t, e, func(ds *dicom.Dataset) {
		ds.SetString(dicom.MustTag("CommentsOnTheScheduledProcedureStep"), dicom.LT, "called Mrs Janet Doeberg on 5550199 about the contrast.")
		ds.SetString(dicom.MustTag("UniversalEntityID"), dicom.UT, "1.2.36.1.2001.1003.0.8003611234567890")
		ds.SetString(dicom.MustTag("ContentDescription"), dicom.LO, "seg by Mrs Janet Doeberg 5550199 LIVER")
	})
	if o.Quarantined() {
		t.Fatalf("quarantined: %v", o.Reasons)
	}
	// Free text outside Table E.1-1 and outside the allowlist is removed
	// and counted; an allowlisted descriptor is cleaned.
	if ds.Has(dicom.MustTag("CommentsOnTheScheduledProcedureStep")) {
		t.Errorf("comment outside the allowlist kept: %q", ds.String(dicom.MustTag("CommentsOnTheScheduledProcedureStep")))
	}
	if o.Report.NotAllowed == 0 {
		t.Error("report counts no element outside the allowlist")
	}
	if got := ds.String(dicom.MustTag("ContentDescription")); got != "seg by LIVER" {
		t.Errorf("cleaned description %q", got)
	}
	if ds.Has(dicom.MustTag("UniversalEntityID")) {
		t.Error("issuer identifier kept")
	}
}

// TestSafePrivateImplicitVR: in an Implicit VR input a private element has
// no VR; the safe-private entry's VR is adopted, so a kept private date is
// shifted like a public one (docs/deid.md, "Private elements").
func TestSafePrivateImplicitVR(t *testing.T) {
	e := testEngine(t, profileWith(t, `{"Name":"p","Options":["CleanStructuredContent","RetainSafePrivate","RetainLongitudinalModifiedDates"],
		"SafePrivate":[{"Creator":"ACME DATES","Group":"0041","Elements":["10"],"VR":"DA"}]}`))
	f, _ := synthMR(t, variants[0], newSynthStudy(12), 1)
	f.Dataset.SetString(0x00410010, dicom.LO, "ACME DATES")
	f.Dataset.SetString(0x00411010, dicom.DA, "20190304")
	ts, _ := dicom.LookupTransferSyntax(dicom.ImplicitVRLittleEndian)
	f.TransferSyntax = ts
	f.Meta.SetString(dicom.TagTransferSyntaxUID, dicom.UI, ts.UID)
	in := filepath.Join(t.TempDir(), "implicit.dcm")
	writeSynth(t, f, in)
	_, outs := processAll(t, e, []string{in})
	requireDeidentified(t, "implicit MR", outs[0])
	of, err := dicom.Open(outs[0].OutputPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	got := of.Dataset.String(0x00411010)
	if got == "" || got == "20190304" {
		t.Errorf("safe private date %q, want shifted", got)
	}
}

// TestReplaceSequenceCharset: items of a Replace sequence are encoded in
// the data set's character set.
func TestReplaceSequenceCharset(t *testing.T) {
	e := testEngine(t, profileWith(t, `{"Name":"r","Options":["CleanStructuredContent"],
		"Replace":{"ClinicalTrialSiteName":"Site Zürich","ReferencedStudySequence":[{"ReferencedSOPClassUID":"1.2.840.10008.3.1.2.3.1","ReferencedSOPInstanceUID":"2.25.7"}],
		"ContributingEquipmentSequence":[{"Manufacturer":"Gerät München"}]}}`))
	f, _ := synthMR(t, variants[1], newSynthStudy(13), 1) // UTF-8
	in := filepath.Join(t.TempDir(), "utf8.dcm")
	writeSynth(t, f, in)
	_, outs := processAll(t, e, []string{in})
	requireDeidentified(t, "UTF-8 MR", outs[0])
	of, _ := dicom.Open(outs[0].OutputPath, nil)
	defer of.Close()
	it := of.Dataset.Get(dicom.MustTag("ContributingEquipmentSequence")).Items[0]
	if got, _ := it.Text(dicom.MustTag("Manufacturer")); got != "Gerät München" {
		t.Errorf("sequence Replace value %q", got)
	}
	if got, _ := of.Dataset.Text(dicom.MustTag("ClinicalTrialSiteName")); got != "Site Zürich" {
		t.Errorf("Replace value %q", got)
	}
}
