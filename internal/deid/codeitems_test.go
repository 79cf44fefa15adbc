package deid

import (
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Code items of registered schemes: the long and URN forms of the code,
// and codes of schemes with a known form, are checked as codes; a name in
// any of them makes the item go (docs/deid.md, "Allowlist").
func TestCodeItemForms(t *testing.T) {
	item := func(kv ...string) *dicom.Dataset {
		ds := dicom.NewDataset()
		for i := 0; i+1 < len(kv); i += 2 {
			de, _ := dicom.LookupKeyword(kv[i])
			ds.SetString(de.Tag, de.VR(), kv[i+1])
		}
		return ds
	}
	for _, c := range []struct {
		name string
		it   *dicom.Dataset
		ok   bool
	}{
		{"SCT", item("CodeValue", "12738006", "CodingSchemeDesignator", "SCT"), true},
		{"UMLS CUI", item("CodeValue", "C0006104", "CodingSchemeDesignator", "UMLS"), true},
		{"UMLS name", item("CodeValue", "KELBRUN", "CodingSchemeDesignator", "UMLS"), false},
		{"UMLS long code with a glued name", item("LongCodeValue", "C0006104_Kelbrun", "CodingSchemeDesignator", "UMLS"), false},
		{"long code with a space", item("LongCodeValue", "C0006104 Kelbrun", "CodingSchemeDesignator", "ACR"), false},
		{"long code and code value", item("CodeValue", "C0006104", "LongCodeValue", "C0006104", "CodingSchemeDesignator", "UMLS"), false},
		{"long code of a free-form scheme", item("LongCodeValue", "1.2.3.4.5.6.7.8.9-ABC", "CodingSchemeDesignator", "ACR"), true},
		{"URN OID", item("URNCodeValue", "urn:oid:1.2.840.10008.6.1.2", "CodingSchemeDesignator", "UMLS"), true},
		{"URN with a name", item("URNCodeValue", "urn:x-hospital:staff:Kelbrun", "CodingSchemeDesignator", "UMLS"), false},
		{"UCUM mm", item("CodeValue", "mm", "CodingSchemeDesignator", "UCUM"), true},
		{"UCUM kBq/mL", item("CodeValue", "kBq/mL", "CodingSchemeDesignator", "UCUM"), true},
		{"UCUM mmHg", item("CodeValue", "mmHg", "CodingSchemeDesignator", "UCUM"), true},
		{"UCUM {ratio}", item("CodeValue", "{ratio}", "CodingSchemeDesignator", "UCUM"), true},
		{"UCUM name", item("CodeValue", "Kelb", "CodingSchemeDesignator", "UCUM"), false},
		{"UCUM annotation name", item("CodeValue", "{Kelbrun}", "CodingSchemeDesignator", "UCUM"), false},
		{"MDC number", item("CodeValue", "131329", "CodingSchemeDesignator", "MDC"), true},
		{"MDC name", item("CodeValue", "KELBRUN", "CodingSchemeDesignator", "MDC"), false},
		{"ACR letters", item("CodeValue", "KELBRUNA", "CodingSchemeDesignator", "ACR"), false},
		{"ACR code", item("CodeValue", "1.2.3", "CodingSchemeDesignator", "ACR"), true},
	} {
		if got := codeItemFormOK(c.it); got != c.ok {
			t.Errorf("%s: codeItemFormOK = %v, want %v", c.name, got, c.ok)
		}
	}
}

// A kept AT value must name attributes of the dictionary: text written as
// tag values is not a pointer.
func TestATValues(t *testing.T) {
	at := func(tags ...dicom.Tag) []byte {
		var b []byte
		for _, t := range tags {
			b = append(b, byte(t.Group()), byte(t.Group()>>8), byte(t.Element()), byte(t.Element()>>8))
		}
		return b
	}
	if !atValuesOK(at(dicom.MustTag("FrameTime"), dicom.MustTag("SliceLocation"))) {
		t.Error("dictionary tags refused")
	}
	if atValuesOK([]byte("by Kelbrunova   ")) {
		t.Error("text accepted as tags")
	}
	if atValuesOK(at(dicom.NewTag(0x0019, 0x1001))) {
		t.Error("a private tag accepted")
	}
}
