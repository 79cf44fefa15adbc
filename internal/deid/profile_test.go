package deid

import (
	"errors"
	"strings"
	"testing"
)

func findings(t *testing.T, js string) ([]Finding, *Profile) {
	t.Helper()
	p, err := LoadProfile([]byte(js))
	if err != nil {
		var pe *ProfileError
		if !errors.As(err, &pe) {
			t.Fatalf("error is not a *ProfileError: %v", err)
		}
		if !errors.Is(err, ErrInvalidInput) {
			t.Error("profile error does not wrap ErrInvalidInput")
		}
		return pe.Findings, nil
	}
	return p.Findings, p
}

func count(fs []Finding, sev Severity, waived bool) int {
	n := 0
	for _, f := range fs {
		if f.Severity == sev && f.Waived == waived {
			n++
		}
	}
	return n
}

// TestLegacyTemplateLint: docs/deid.md, "Profile lint" — the upstream
// template gives exactly
// 4 UID-retention errors, 1 birth-year error and 1 private-tags warning;
// acknowledged, it loads.
func TestLegacyTemplateLint(t *testing.T) {
	raw, err := BuiltinProfile("ais-legacy-template")
	if err != nil {
		t.Fatal(err)
	}
	fs, p := findings(t, string(raw))
	if p != nil {
		t.Fatal("the unacknowledged template loaded")
	}
	var uidErrs, birthErrs, privWarn, other int
	for _, f := range fs {
		switch {
		case f.Severity == SevError && f.Field == "Keep" && strings.Contains(f.Message, "UID"):
			uidErrs++
		case f.Severity == SevError && f.Ack == AckBirthYearOnly:
			birthErrs++
		case f.Severity == SevWarning && f.Field == "RemovePrivateTags":
			privWarn++
		case f.Severity == SevInfo:
		default:
			other++
			t.Errorf("unexpected finding: %s", f)
		}
	}
	if uidErrs != 4 || birthErrs != 1 || privWarn != 1 || other != 0 {
		t.Errorf("got %d UID errors, %d birth-year errors, %d private-tags warnings, %d other; want 4, 1, 1, 0", uidErrs, birthErrs, privWarn, other)
	}
	// Every error names its field and a fix.
	for _, f := range fs {
		if f.Severity == SevError && (f.Field == "" || f.Fix == "") {
			t.Errorf("error without field or fix: %s", f)
		}
	}
	// Acknowledged (without legacy-djb2): loads, the baseline still applies.
	ack := strings.Replace(string(raw), `"Force": true,`, `"Force": true,
  "AcknowledgeRisk": ["StudyInstanceUID", "(0020,000E)", "SOPInstanceUID", "0020-0052", "BirthYearOnly"],`, 1)
	fs, p = findings(t, ack)
	if p == nil {
		t.Fatalf("acknowledged template rejected: %v", fs)
	}
	if n := count(fs, SevError, true); n != 5 {
		t.Errorf("%d waived errors, want 5", n)
	}
	if p.Baseline != BaselinePS315 || p.KeepPrivateTags {
		t.Error("acknowledged template does not apply the baseline / keeps private tags")
	}
	MustBuiltin("ais-legacy-migration")
	MustBuiltin("research-default")
}

func TestProfileErrors(t *testing.T) {
	cases := []struct {
		name, js, field, msg string
	}{
		{"unknown field", `{"Name":"x","Replce":{}}`, "Replce", `did you mean "Replace"`},
		{"unknown nested", `{"Name":"x","Pseudonyms":{"PatientID":{"Lenght":16}}}`, "Pseudonyms.PatientID.Lenght", "unknown field"},
		{"duplicate key", `{"Name":"x","Name":"y"}`, "(file)", "duplicate key"},
		{"not json", `{"Name":`, "(file)", "not valid JSON"},
		{"both date options", `{"Name":"x","Options":["RetainLongitudinalFullDates","RetainLongitudinalModifiedDates"]}`, "Options", "mutually exclusive"},
		{"unknown option", `{"Name":"x","Options":["RetainUID"]}`, "Options", `did you mean "RetainUIDs"`},
		{"unsupported option", `{"Name":"x","Options":["CleanPixelData"]}`, "Options", "cannot be honoured"},
		{"clean graphics", `{"Name":"x","Options":["CleanGraphics"]}`, "Options", "cannot be honoured"},
		{"no baseline", `{"Name":"x","Baseline":"none"}`, "Baseline", "AllowNoBaseline"},
		{"keep and remove private", `{"Name":"x","KeepPrivateTags":true,"RemovePrivateTags":true,"AcknowledgeRisk":["KeepPrivateTags"]}`, "KeepPrivateTags", "both true"},
		{"keep private unacknowledged", `{"Name":"x","KeepPrivateTags":true}`, "KeepPrivateTags", "keeps every private element"},
		{"keep PN", `{"Name":"x","Keep":["PatientName"]}`, "Keep", "person name"},
		{"keep date", `{"Name":"x","Keep":["StudyDate"]}`, "Keep", "date"},
		{"keep ID", `{"Name":"x","Keep":["OtherPatientIDs"]}`, "Keep", "ID"},
		{"replace without force", `{"Name":"x","Replace":{"PatientID":"X"}}`, "Replace", "Force"},
		{"remove SOP UID", `{"Name":"x","Force":true,"Remove":["SOPInstanceUID"]}`, "Remove", "cannot be removed"},
		{"unknown template", `{"Name":"x","Replace":{"PatientComments":"${Nope}"}}`, "Replace.PatientComments", "unknown template"},
		{"birth year", `{"Name":"x","Replace":{"PatientBirthDate":"${BirthYearOnly}0101"}}`, "Replace.PatientBirthDate", "birth year"},
		{"bad date cast", `{"Name":"x","Replace":{"PatientBirthDate":"May 1980"}}`, "Replace.PatientBirthDate", "YYYYMMDD"},
		{"bad number cast", `{"Name":"x","Replace":{"Rows":"abc"}}`, "Replace.Rows", "cannot be cast"},
		{"too long SH", `{"Name":"x","Replace":{"StationName":"ABCDEFGHIJKLMNOPQ"}}`, "Replace.StationName", "longer than 16"},
		{"conflict", `{"Name":"x","Keep":["SeriesDescription"],"Remove":["SeriesDescription"]}`, "Keep", "appears in"},
		{"conflict spelled twice", `{"Name":"x","Remove":["(0008,103E)"],"Keep":["SeriesDescription"]}`, "Keep", "appears in"},
		{"private fixed block", `{"Name":"x","Remove":["(0029,1010)"]}`, "Remove", "must name their creator"},
		{"lower-case keyword", `{"Name":"x","Remove":["patientname"]}`, "Remove", "not a DICOM keyword"},
		{"index on leaf", `{"Name":"x","Remove":["PatientName[0]"]}`, "Remove", "names an element"},
		{"strict false", `{"Name":"x","Strict":false}`, "Strict", "non-strict"},
		{"global namespace", `{"Name":"x","Pseudonyms":{"Namespace":"global"}}`, "Pseudonyms.Namespace", "links patients"},
		{"legacy mode", `{"Name":"x","Pseudonyms":{"Mode":"legacy-djb2"}}`, "Pseudonyms.Mode", "48-bit"},
		{"accession too long", `{"Name":"x","Pseudonyms":{"AccessionNumber":{"Length":20}}}`, "Pseudonyms.AccessionNumber", "must not exceed 16"},
		{"bad prefix", `{"Name":"x","Pseudonyms":{"PatientID":{"Prefix":"a-b"}}}`, "Pseudonyms.PatientID.Prefix", "A-Z"},
		{"min days zero", `{"Name":"x","Dates":{"MinDays":0}}`, "Dates.MinDays", "1 ≤ MinDays"},
		{"week aligned min", `{"Name":"x","Dates":{"MinDays":3,"MaxDays":10}}`, "Dates.MinDays", "at least 7"},
		{"birth shift needs option", `{"Name":"x","Dates":{"BirthDate":"shift"}}`, "Dates.BirthDate", "RetainLongitudinalModifiedDates"},
		{"safe private without option", `{"Name":"x","SafePrivate":[{"Creator":"A","Group":"0019","Elements":["10"]}]}`, "SafePrivate", "RetainSafePrivate"},
		{"safe private even group", `{"Name":"x","Options":["RetainSafePrivate"],"SafePrivate":[{"Creator":"A","Group":"0018","Elements":["10"]}]}`, "SafePrivate[0].Group", "odd group"},
		{"safe private star", `{"Name":"x","Options":["RetainSafePrivate"],"SafePrivate":[{"Creator":"A","Group":"0019","Elements":"*"}]}`, "SafePrivate[0].Elements", "NumericOnly"},
		{"masks", `{"Name":"x","Pixels":{"Masks":[{"Regions":[[0,0,1,1]]}]}}`, "Pixels.Masks", "not supported"},
		{"orthanc masks", `{"Name":"x","MaskPixelData":{}}`, "MaskPixelData", "not supported"},
		{"pixels clear unacknowledged", `{"Name":"x","Pixels":{"Clear":[{"When":{"Modality":"^OT$"},"Reason":"r"}]}}`, "Pixels.Clear", "burned-in"},
		{"transcode", `{"Name":"x","Transcode":"1.2.840.10008.1.2.4.50"}`, "Transcode", "only Explicit"},
		{"sequence needs items", `{"Name":"x","Replace":{"ReferencedImageSequence":"x"}}`, "Replace.ReferencedImageSequence", "sequence"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, p := findings(t, tc.js)
			if p != nil {
				t.Fatalf("profile accepted; findings %v", fs)
			}
			for _, f := range fs {
				if f.Severity == SevError && !f.Waived && f.Field == tc.field && strings.Contains(f.Message+" "+f.Fix, tc.msg) {
					return
				}
			}
			t.Errorf("no error on %q mentioning %q; got:", tc.field, tc.msg)
			for _, f := range fs {
				t.Logf("  %s", f)
			}
		})
	}
}

func TestProfileAccepted(t *testing.T) {
	cases := []struct{ name, js string }{
		{"minimal", `{"Name":"x"}`},
		{"no baseline acknowledged", `{"Name":"x","Baseline":"none","AllowNoBaseline":true}`},
		{"keep PN acknowledged in another spelling", `{"Name":"x","Keep":["PatientName"],"AcknowledgeRisk":["0010,0010"]}`},
		{"orthanc job fields", `{"Name":"x","KeepSource":true,"Priority":3,"Asynchronous":false,"Synchronous":true,"DeidMode":"modify"}`},
		{"private paths", `{"Name":"x","Remove":["(0019,{SIEMENS MR HEADER}0C)","**.PersonName","ReferencedImageSequence[*].ReferencedSOPInstanceUID","0008-103e","0008103E"]}`},
		{"replace forms", `{"Name":"x","Force":true,"Replace":{"PatientID":"${ProjectCode}-${PseudoPatientID}","Rows":512,"ImageType":["DERIVED","SECONDARY"],
			"ReferencedStudySequence":[{"ReferencedSOPClassUID":"1.2.3","ReferencedSOPInstanceUID":"1.2.3.4"}],"PatientComments":"",
			"(0029,{ACME}10)":"data:application/octet-stream;base64,AAEC"}}`},
		{"safe private", `{"Name":"x","Options":["RetainSafePrivate"],"SafePrivate":[{"Import":"PS3.15-2026c"},{"Creator":"ACME","Group":"0019","Elements":"*","NumericOnly":true}]}`},
		{"non-strict acknowledged", `{"Name":"x","Strict":false,"AcknowledgeRisk":["Strict:false"],"Keep":["PatientName"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, p := findings(t, tc.js)
			if p == nil {
				for _, f := range fs {
					t.Logf("  %s", f)
				}
				t.Fatal("rejected")
			}
		})
	}
}

func TestProfileHashCanonical(t *testing.T) {
	a, err := LoadProfile([]byte(`{"Name":"x","Options":["RetainUIDs"],"Force":true}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadProfile([]byte("{\n  \"Force\": true,\n  \"Options\": [ \"RetainUIDs\" ],\n  \"Name\": \"x\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := LoadProfile([]byte(`{"Name":"y","Options":["RetainUIDs"],"Force":true}`))
	if a.Hash != b.Hash || a.Hash == c.Hash || len(a.Hash) != 64 {
		t.Errorf("hashes %s %s %s", a.Hash, b.Hash, c.Hash)
	}
}

func TestTagPaths(t *testing.T) {
	loc := func(steps ...locStep) []locStep { return steps }
	ris := loc(locStep{tag: 0x00081140, item: 2}, locStep{tag: 0x00081155})
	priv := loc(locStep{tag: 0x0019100C, creator: "SIEMENS MR HEADER"})
	privOtherBlock := loc(locStep{tag: 0x0019110C, creator: "SIEMENS MR HEADER"})
	privOtherCreator := loc(locStep{tag: 0x0019100C, creator: "GEMS_ACQU_01"})
	deepPN := loc(locStep{tag: 0x00400275, item: 0}, locStep{tag: 0x0040A730, item: 1}, locStep{tag: 0x0040A123})
	topPN := loc(locStep{tag: 0x0040A123})
	cases := []struct {
		path string
		loc  []locStep
		want bool
	}{
		{"ReferencedImageSequence[2].ReferencedSOPInstanceUID", ris, true},
		{"ReferencedImageSequence[1].ReferencedSOPInstanceUID", ris, false},
		{"ReferencedImageSequence[*].ReferencedSOPInstanceUID", ris, true},
		{"(0008,1140)[*].0008-1155", ris, true},
		{"ReferencedSOPInstanceUID", ris, false},
		{"**.ReferencedSOPInstanceUID", ris, true},
		{"(0019,{SIEMENS MR HEADER}0C)", priv, true},
		{"(0019,{SIEMENS MR HEADER}0C)", privOtherBlock, true},
		{"(0019,{SIEMENS MR HEADER}0C)", privOtherCreator, false},
		{"**.PersonName", deepPN, true},
		{"**.PersonName", topPN, true},
		{"PersonName", deepPN, false},
	}
	for _, tc := range cases {
		p, err := ParseTagPath(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if got := p.match(tc.loc); got != tc.want {
			t.Errorf("%s matches %s: %v, want %v", tc.path, formatLoc(tc.loc, false), got, tc.want)
		}
	}
	for _, bad := range []string{"", "Foo", "(0029,1010)", "PatientName[0]", "Seq[x].A", "(0019,{}0C)", "(0018,{X}0C)", "**.", "a..b", "(0008,0005"} {
		if _, err := ParseTagPath(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	a, _ := ParseTagPath("(0008,103E)")
	b, _ := ParseTagPath("SeriesDescription")
	if a.Canonical() != b.Canonical() {
		t.Error("two spellings of one tag differ canonically")
	}
}
