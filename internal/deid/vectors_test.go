package deid

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// python runs testdata/vectors.py (an independent implementation from the
// specifications) and decodes its JSON output.
func python(t *testing.T, v any, args ...string) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "pass").Run(); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	out, err := exec.Command("/usr/bin/python3", append([]string{"testdata/vectors.py"}, args...)...).Output()
	if err != nil {
		t.Fatalf("vectors.py %v: %v", args, err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("vectors.py output: %v", err)
	}
}

// legacyVectors were produced by testdata/vectors.py (run by hand once,
// never by the Go code) so that the test also runs without Python.
var legacyVectors = map[[2]string]string{
	{testSalt, ""}:                 "A33DE3F55FDD",
	{testSalt, "MRN8675309"}:       "45BCDF58F624",
	{testSalt, "MRN8675309|1.2.3"}: "387D74465768",
	{testSalt, "Müller"}:           "730A8790A16F",
}

func TestLegacyDJB2Vectors(t *testing.T) {
	for k, want := range legacyVectors {
		if got := legacyDJB2(k[0], k[1]); got != want {
			t.Errorf("H(%q) = %s, want %s", k[1], got, want)
		}
	}
	// And against the Python reference at test time, on more inputs
	// (UTF-8, long values, a different salt, PatientID|StudyUID form).
	salts := []string{testSalt, "deadbeef", "AIS"}
	values := []string{"", "1", "MRN8675309", "MRN8675309|1.2.826.0.1.3680043.9.7777.1.1.20190304101500",
		"Müller^Jürgen", "山田", strings.Repeat("x", 500), "a b\tc"}
	for _, salt := range salts {
		var want map[string]string
		python(t, &want, append([]string{"legacy", salt}, values...)...)
		for _, v := range values {
			if got := legacyDJB2(salt, v); got != want[v] {
				t.Errorf("salt %q H(%q) = %s, Python says %s", salt, v, got, want[v])
			}
		}
	}
}

func TestKeyedVectors(t *testing.T) {
	var want struct {
		KeyID      string            `json:"keyId"`
		Pseudonyms map[string]string `json:"pseudonyms"`
		UIDs       map[string]string `json:"uids"`
		Shifts     map[string]int    `json:"shifts"`
		AE         map[string]string `json:"ae"`
	}
	python(t, &want, "hmac", testSalt)
	k := testKeys(t)
	if k.KeyID() != want.KeyID {
		t.Errorf("KeyID %s, want %s", k.KeyID(), want.KeyID)
	}
	spec := IDSpec{Length: 16}
	for key, w := range want.Pseudonyms {
		field, v, _ := strings.Cut(key, "/")
		var got string
		switch field {
		case "PatientID":
			got = k.PatientPseudonym("site:SITE1", v, spec)
		case "AccessionNumber":
			got = k.AccessionPseudonym("site:SITE1", v, spec)
		case "accession-from-study":
			got = k.AccessionFromStudy("site:SITE1", v, spec)
		}
		if got != w {
			t.Errorf("%s = %s, want %s", key, got, w)
		}
	}
	for u, w := range want.UIDs {
		if got := k.RemapUID(u); got != w {
			t.Errorf("RemapUID(%s) = %s, want %s", u, got, w)
		}
		if got := k.RemapUID(u + "\x00"); got != w {
			t.Errorf("RemapUID ignores padding: %s", got)
		}
	}
	for key, w := range want.Shifts {
		var pid string
		var dc DateConfig
		var week, dir string
		parts := strings.Split(key, "/")
		pid = parts[0]
		fmt.Sscanf(parts[1], "%d-%d", &dc.MinDays, &dc.MaxDays)
		week, dir = parts[2], parts[3]
		dc.WeekAligned = week == "True"
		dc.Direction = dir
		if got := k.DateShiftDays("site:SITE1", pid, dc); got != w {
			t.Errorf("shift %s = %d, want %d", key, got, w)
		}
	}
	for v, w := range want.AE {
		if got := k.AETitle(v); got != w {
			t.Errorf("AETitle(%s) = %s, want %s", v, got, w)
		}
	}
	// Key material never shows in String.
	if s := fmt.Sprint(k); strings.Contains(s, "0001020304") {
		t.Error("Keys.String leaks key material")
	}
	if _, err := NewKeys("abcd"); err == nil {
		t.Error("a 2-byte secret was accepted")
	}
	if _, err := NewKeys("not hex at all, not hex at all, not hex at all, not hex at all!"); err == nil {
		t.Error("a non-hex secret was accepted")
	}
}

func TestDateShift(t *testing.T) {
	cases := []struct {
		in   string
		days int
		da   bool
		want string
		ok   bool
	}{
		{"20190304", -182, true, "20180903", true},
		{"2019.03.04", -182, true, "20180903", true}, // legacy form normalised
		{"20200301", -1, true, "20200229", true},     // leap day
		{"20000229", 366, true, "20010301", true},    // leap year 2000
		{"19000301", -1, true, "19000228", true},     // 1900 is not a leap year
		{"20190101-20190201", -7, true, "20181225-20190125", true},
		{"-20190201", 7, true, "-20190208", true},
		{"20190101-", 7, true, "20190108-", true},
		{"00000000", -7, true, "", false},
		{"20190230", -7, true, "", false},
		{"2019", -7, true, "", false},
		{"20190304101530.123456+1000", -182, false, "20180903101530.123456+1000", true},
		{"20190304101530", -182, false, "20180903101530", true},
		{"201903041015", -182, false, "201809031015", true},
		{"2019030410", -182, false, "2018090310", true},
		{"20190304", -182, false, "20180903", true},
		{"201903", -182, false, "201808", true}, // month precision: 2019-03-01 shifted, truncated
		{"2019", -182, false, "2018", true},     // year precision
		{"20190304-0500", 7, false, "20190311-0500", true},
		{"20190304101530-20190305", 7, false, "20190311101530-20190312", true},
		{"20191304", 7, false, "", false},
		{"2019030425", 7, false, "", false},
	}
	for _, tc := range cases {
		var got string
		var ok bool
		if tc.da {
			got, ok = shiftDA(tc.in, tc.days)
		} else {
			got, ok = shiftDT(tc.in, tc.days)
		}
		if ok != tc.ok || got != tc.want {
			t.Errorf("shift(%q, %d) = %q, %v; want %q, %v", tc.in, tc.days, got, ok, tc.want, tc.ok)
		}
	}
	// Property: every shift lies inside [MinDays, MaxDays] (in the
	// configured direction), never zero, and is a multiple of 7 when
	// week-aligned and the range holds one.
	k := testKeys(t)
	for _, dc := range []DateConfig{
		DefaultDates,
		{MinDays: 180, MaxDays: 1825, Direction: "future", WeekAligned: true},
		{MinDays: 1, MaxDays: 3, Direction: "past"},
		{MinDays: 7, MaxDays: 13, Direction: "past", WeekAligned: true},
		{MinDays: 8, MaxDays: 12, Direction: "past", WeekAligned: true}, // no multiple of 7 inside
		{MinDays: 365, MaxDays: 366, Direction: "future", WeekAligned: true},
		{MinDays: 100, MaxDays: 1823, Direction: "past", WeekAligned: true},
	} {
		hasWeek := (dc.MaxDays/7)*7 >= dc.MinDays
		for i := range 5000 {
			d := k.DateShiftDays("site:S", fmt.Sprint(i), dc)
			mag := d
			if dc.Direction != "future" {
				mag = -d
			}
			if mag < dc.MinDays || mag > dc.MaxDays {
				t.Fatalf("%+v: shift %d outside [%d, %d]", dc, d, dc.MinDays, dc.MaxDays)
			}
			if dc.WeekAligned && hasWeek && d%7 != 0 {
				t.Fatalf("%+v: shift %d is not week-aligned", dc, d)
			}
		}
	}
	ages := []struct{ birth, at, want string }{
		{"19580512", "20190304", "060Y"},
		{"19580304", "20190304", "061Y"},
		{"19200101", "20190304", "090Y"}, // capped
		{"20180101", "20190304", "014M"},
		{"20190201", "20190304", "001M"},
		{"20190220", "20190304", "001W"},
		{"20190302", "20190304", "002D"},
	}
	for _, a := range ages {
		b, _ := parseDA(a.birth)
		d, _ := parseDA(a.at)
		if got, _ := ageString(b, d, 90); got != a.want {
			t.Errorf("age %s→%s = %s, want %s", a.birth, a.at, got, a.want)
		}
	}
	if got, _ := capAge("095Y", 90); got != "090Y" {
		t.Errorf("capAge = %s", got)
	}
}

// TestLegacyTemplateValues: the original system's template in legacy mode
// gives, for the fields it lists, the values the Lua hook would (computed
// by the Python reference), while the baseline still applies.
func TestLegacyTemplateValues(t *testing.T) {
	e := testEngine(t, MustBuiltin("ais-legacy-migration"))
	dir := t.TempDir()
	st := newSynthStudy(5)
	f, c := synthMR(t, variants[0], st, 1)
	in := filepath.Join(dir, "mr.dcm")
	writeSynth(t, f, in)
	_, outs := processAll(t, e, []string{in})
	requireDeidentified(t, "MR", outs[0])
	of, err := dicom.Open(outs[0].OutputPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	ds := of.Dataset
	pid := "MRN8675309"
	var h map[string]string
	python(t, &h, "legacy", testSalt, pid, pid+"|"+st.studyUID)
	want := map[string]string{
		"PatientID":               "PRJ-" + h[pid],
		"AccessionNumber":         h[pid+"|"+st.studyUID],
		"StudyID":                 h[pid+"|"+st.studyUID],
		"PatientName":             "ANONYMOUS",
		"PatientBirthDate":        "19580101",
		"InstitutionName":         "AIS",
		"InstitutionAddress":      "",
		"ReferringPhysicianName":  "",
		"PerformingPhysicianName": "",
		"OperatorsName":           "",
		"PatientBirthName":        "",
		"PatientAddress":          "",
		"PatientTelephoneNumbers": "",
		"PatientComments":         "",
		"StudyDescription":        "",
		"PatientIdentityRemoved":  "YES",
		"StudyInstanceUID":        st.studyUID,
		"SeriesInstanceUID":       st.seriesUID,
		"FrameOfReferenceUID":     st.forUID,
		"SOPInstanceUID":          f.Dataset.String(dicom.TagSOPInstanceUID),
	}
	for kw, w := range want {
		tag := dicom.MustTag(kw)
		if !ds.Has(tag) {
			t.Errorf("%s missing", kw)
			continue
		}
		if got := text(ds, tag); got != w {
			t.Errorf("%s = %q, want %q (Lua hook)", kw, got, w)
		}
	}
	if !strings.HasPrefix(outs[0].Report.Folder, "PRJ.PRJ-"+h[pid]+"."+h[pid+"|"+st.studyUID]) {
		t.Errorf("session folder %s", outs[0].Report.Folder)
	}
	// Unlike the Lua hook: private tags, dates, descriptions are gone.
	for _, tag := range []dicom.Tag{0x00291010, dicom.MustTag("StudyDate"), dicom.MustTag("SeriesDescription")} {
		if v := ds.String(tag); v != "" {
			t.Errorf("%s kept: the baseline must still apply", tag)
		}
	}
	// UIDs kept by the template's Keep: claimed as Retain UIDs.
	found := false
	for _, it := range ds.Get(tagDeidentificationMethodCodes).Items {
		found = found || it.String(tagCodeValue) == "113110"
	}
	if !found {
		t.Error("113110 (Retain UIDs) not claimed for kept UIDs")
	}
	// Kept on purpose by this profile: the UIDs, and with them the date
	// the synthetic "scanner" embedded in them (reported as
	// retained-uid-contains-date).
	c.UIDs = nil
	c.Dates = removeString(c.Dates, "20190304")
	warned := false
	for _, w := range outs[0].Report.Warnings {
		warned = warned || w.Code == "retained-uid-contains-date"
	}
	if !warned {
		t.Error("no retained-uid-contains-date warning")
	}
	pyCheck(t, c, outs[0].OutputPath)
}

func removeString(l []string, s string) []string {
	var out []string
	for _, x := range l {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
