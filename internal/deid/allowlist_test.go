package deid

import (
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// TestAllowlistEntries reviews allowlist.tsv mechanically: every keyword
// exists, its VR fits its treatment, no entry repeats a Table E.1-1
// attribute, and every entry gives a reason.
func TestAllowlistEntries(t *testing.T) {
	textVR := map[dicom.VR]bool{dicom.CS: true, dicom.SH: true, dicom.LO: true, dicom.ST: true, dicom.LT: true, dicom.UT: true, dicom.UC: true, dicom.UR: true}
	binaryVR := map[dicom.VR]bool{dicom.OB: true, dicom.OW: true, dicom.OF: true, dicom.OD: true, dicom.OL: true, dicom.OV: true,
		dicom.US: true, dicom.SS: true, dicom.UL: true, dicom.SL: true, dicom.FL: true, dicom.FD: true, dicom.SV: true, dicom.UV: true}
	for tag, e := range allowed.byTag {
		de, ok := dicom.LookupTag(tag)
		if !ok {
			t.Errorf("line %d: %s is not in the dictionary", e.line, tag)
			continue
		}
		if strings.TrimSpace(e.reason) == "" {
			t.Errorf("line %d: %s has no reason", e.line, de.Keyword)
		}
		if de.Retired {
			t.Errorf("line %d: %s is retired (retired attributes are removed)", e.line, de.Keyword)
		}
		if _, inTable := lookupRow(tag); inTable {
			t.Errorf("line %d: %s is in Table E.1-1, which decides for it: the entry is dead", e.line, de.Keyword)
		}
		vr := de.VR()
		switch e.treatment {
		case allowItems:
			if vr != dicom.SQ {
				t.Errorf("line %d: %s is %s, items is for sequences", e.line, de.Keyword, vr)
			}
		case allowClean:
			if !textVR[vr] {
				t.Errorf("line %d: %s is %s, clean is for text", e.line, de.Keyword, vr)
			}
		case allowKeep:
			switch {
			case vr == dicom.SQ:
				t.Errorf("line %d: %s is a sequence: use items", e.line, de.Keyword)
			case vr == dicom.PN || vr == dicom.DA || vr == dicom.DT || vr == dicom.TM || vr == dicom.UI || vr == dicom.AE:
				t.Errorf("line %d: %s is %s, which the VR rules decide (names, dates, UIDs, AE titles)", e.line, de.Keyword, vr)
			case !textVR[vr] && !binaryVR[vr] && vr != dicom.DS && vr != dicom.IS && vr != dicom.AT:
				t.Errorf("line %d: %s has VR %s", e.line, de.Keyword, vr)
			}
		}
	}
	for vr, e := range allowed.byVR {
		if e.treatment != allowKeep {
			t.Errorf("line %d: @%s: a VR class can only be kept", e.line, vr)
		}
		if vr.IsText() && vr != dicom.CS && vr != dicom.DS && vr != dicom.IS {
			t.Errorf("line %d: @%s: free text VRs are allowed by keyword only", e.line, vr)
		}
		switch vr {
		case dicom.SQ, dicom.UN, dicom.OB, dicom.OW, dicom.PN, dicom.UI, dicom.DA, dicom.DT, dicom.TM, dicom.AE, dicom.AS:
			t.Errorf("line %d: @%s cannot be allowed as a class", e.line, vr)
		}
	}
	if len(allowed.byTag) < 100 {
		t.Errorf("only %d keyword entries", len(allowed.byTag))
	}
	// A malformed file names every problem with its line.
	_, err := parseAllowlist("Nope\tkeep\tx\nManufacturer\tsometimes\tx\nManufacturer\tkeep\n@ZZ\tkeep\tx\n")
	if err == nil {
		t.Fatal("a malformed allowlist parsed")
	}
	for _, want := range []string{"line 1", "line 2", "line 3", "line 4"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// TestValueForm: a number or code slot carrying text is not kept.
func TestValueForm(t *testing.T) {
	for _, c := range []struct {
		vr   dicom.VR
		v    string
		want bool
	}{
		{dicom.DS, "1.5\\-2e3", true},
		{dicom.DS, "SMITH", false},
		{dicom.DS, "5550376199", false},   // a phone number
		{dicom.DS, "6.48171172E8", false}, // an account number in scientific notation
		{dicom.DS, "370000000", true},     // 370 MBq in Bq
		{dicom.DS, "0.48828125", true},
		{dicom.IS, "730840372", false},
		{dicom.IS, "42", true},
		{dicom.IS, "4 2", false},
		{dicom.CS, "ORIGINAL\\PRIMARY", true},
		{dicom.CS, "Smith", false},
		{dicom.CS, "SEVENTEEN LETTERS", false},
		{dicom.CS, "ÄRZTIN", false},
	} {
		ds := dicom.NewDataset()
		ds.SetString(0x00189999, c.vr, strings.Split(c.v, "\\")...)
		if got := valueFormOK(ds.Get(0x00189999), c.vr); got != c.want {
			t.Errorf("%s %q: form ok %v, want %v", c.vr, c.v, got, c.want)
		}
	}
}

// TestOutsideTableRemoved plants text in public attributes that Table
// E.1-1 does not list (the classes an adversarial corpus got through
// before the allowlist): each is removed, or cleaned where the allowlist
// keeps a cleaned descriptor; local codes go at any depth.
func TestOutsideTableRemoved(t *testing.T) {
	const secret = "Zyxwvut Qponml"
	e := testEngine(t, MustBuiltin("research-default"))
	code := func(ds *dicom.Dataset, seq, scheme, value, meaning string) *dicom.Dataset {
		it := dicom.NewDataset()
		it.SetString(tagCodeValue, dicom.SH, value)
		it.SetString(tagCodingSchemeDesignator, dicom.SH, scheme)
		it.SetString(tagCodeMeaning, dicom.LO, meaning)
		ds.SetSequence(dicom.MustTag(seq), it)
		return ds.Get(dicom.MustTag(seq)).Items[0]
	}
	removed := []string{"PatientBirthDateInAlternativeCalendar", "PatientDeathDateInAlternativeCalendar", "ContactDisplayName",
		"PerformedProcedureTypeDescription", "HangingProtocolCreator", "ImageID", "ConfidentialityCode", "PotentialReasonsForProcedure",
		"AcquisitionDeviceProcessingCode"}
	_, ds, _ := deidSynth(t, e, func(ds *dicom.Dataset) {
		for _, kw := range removed {
			de, _ := dicom.LookupKeyword(kw)
			ds.SetString(de.Tag, de.VR(), secret)
		}
		// Overlay text without its data.
		ds.SetString(0x60020022, dicom.LO, secret) // Overlay Description
		ds.SetString(0x60021500, dicom.LO, secret) // Overlay Label
		// A registered code whose meaning carries a name, a local code one
		// level down, and a local code in a kept sequence.
		ar := code(ds, "AnatomicRegionSequence", "SCT", "12738006", "Brain of Dr "+secret)
		code(ar, "AnatomicRegionModifierSequence", "99LOCAL", "4471902", secret)
		code(ds, "PerformedProtocolCodeSequence", "99SITE", "MRN4471902", "protocol of "+secret)
		// Text in a functional group.
		sf := dicom.NewDataset()
		ds.SetSequence(dicom.MustTag("SharedFunctionalGroupsSequence"), sf)
		sf = ds.Get(dicom.MustTag("SharedFunctionalGroupsSequence")).Items[0]
		fc := dicom.NewDataset()
		fc.SetString(dicom.MustTag("FrameComments"), dicom.LT, secret)
		fc.SetString(dicom.MustTag("FrameLabel"), dicom.LO, secret)
		sf.SetSequence(dicom.MustTag("FrameContentSequence"), fc)
	})
	if ds == nil {
		t.Fatal("quarantined")
	}
	var walk func(ds *dicom.Dataset, path string)
	walk = func(ds *dicom.Dataset, path string) {
		for _, el := range ds.Elements() {
			p := path + el.Tag.String()
			for i, it := range el.Items {
				walk(it, p+"["+string(rune('0'+i))+"].")
			}
			if el.IsSequence() || el.IsBulk() {
				continue
			}
			v, _ := ds.Text(el.Tag)
			if strings.Contains(strings.ToLower(v), "zyxwvut") || strings.Contains(strings.ToLower(v), "qponml") || strings.Contains(v, "4471902") {
				t.Errorf("%s kept %q", p, v)
			}
		}
	}
	walk(ds, "")
	ar := ds.Get(dicom.MustTag("AnatomicRegionSequence"))
	if ar == nil || len(ar.Items) != 1 {
		t.Fatal("a registered anatomy code was removed")
	}
	if got := ar.Items[0].String(tagCodeMeaning); got != "Brain of" {
		t.Errorf("code meaning %q, want the name cleaned out", got)
	}
	if ar.Items[0].Has(dicom.MustTag("AnatomicRegionModifierSequence")) {
		t.Error("a local code one level down was kept")
	}
	if ds.Has(dicom.MustTag("PerformedProtocolCodeSequence")) {
		t.Error("a sequence holding only a local code was kept")
	}
	if ds.Has(0x60020022) || ds.Has(0x60021500) {
		t.Error("overlay text without overlay data kept")
	}
}

// TestSafePrivateForm: a safe private number slot (GEMS_ACQU_01 Table
// Speed, DS) keeps a number and loses text, whether the text comes as DS,
// as UN or in an implicit VR file.
func TestSafePrivateForm(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	for _, c := range []struct {
		name string
		vr   dicom.VR
		val  string
		kept bool
	}{
		{"number DS", dicom.DS, "12.5", true},
		{"text DS", dicom.DS, "OKONKWO^ADAEZE", false},
		{"number UN", dicom.UN, "12.5", true},
		{"text UN", dicom.UN, "OKONKWO^ADAEZE", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, ds, _ := deidSynth(t, e, func(ds *dicom.Dataset) {
				ds.SetString(0x00190010, dicom.LO, "GEMS_ACQU_01")
				ds.SetString(0x00191023, c.vr, c.val)
			})
			if ds == nil {
				t.Fatal("quarantined")
			}
			got := ds.Get(0x00191023)
			if (got != nil) != c.kept {
				t.Fatalf("kept %v, want %v", got != nil, c.kept)
			}
			if got != nil && (got.VR != dicom.DS || ds.String(0x00191023) != c.val) {
				t.Errorf("kept as %s %q", got.VR, ds.String(0x00191023))
			}
		})
	}
}
