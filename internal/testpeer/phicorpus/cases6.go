package phicorpus

// The sixth round: the kept equipment and processing attributes the
// earlier rounds left out, the long and URN forms of a code value in an
// item of a registered scheme, a mapping resource name, and an SR
// numeric value that is the patient's record number.

import (
	"fmt"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

func init() {
	corpusCases = append(corpusCases, casesRound6)
}

func casesRound6(g *gen) {
	third := func(prefix, suffix string) func() (string, []string) {
		return func() (string, []string) { n := g.third(); return prefix + n + suffix, []string{n} }
	}
	short := func(prefix string) func() (string, []string) {
		return func() (string, []string) { n := g.word(2, 6); return prefix + n, []string{n} }
	}
	for _, k := range []struct {
		kw, kind string
		vr       dicom.VR
		make     func() (string, []string)
	}{
		{"Manufacturer", "third-party-name", dicom.LO, third("ACME for ", "")},
		{"ReceiveCoilManufacturerName", "third-party-name", dicom.LO, third("", " Coils")},
		{"TransmitCoilManufacturerName", "third-party-name", dicom.LO, third("built by ", "")},
		{"MultiCoilConfiguration", "operator-name", dicom.LO, third("set up by ", "")},
		{"ImagedNucleus", "third-party-name", dicom.SH, short("1H ")},
		{"PlateType", "third-party-name", dicom.SH, short("CR ")},
		{"AttenuationCorrectionMethod", "operator-name", dicom.LO, third("measured by ", "")},
		{"ScatterCorrectionMethod", "operator-name", dicom.LO, third("model of ", "")},
		{"LUTLabel", "third-party-name", dicom.SH, short("RWV ")},
		{"DimensionDescriptionLabel", "operator-name", dicom.LO, third("ordered by ", "")},
		{"RadiopharmaceuticalRoute", "relative-name", dicom.LO, third("IV given by ", "")},
		{"ContrastBolusRoute", "physician-name", dicom.LO, third("oral per ", "")},
		{"SoftwareVersions", "operator-name", dicom.LO, third("VE11C build ", "")},
	} {
		e, _ := dicom.LookupKeyword(k.kw)
		g.file("kept", "r6-"+strings.ToLower(k.kw), "", nil, func(fc *fileCtx) {
			v, needles := k.make()
			fc.put(cNonE1, fmt.Sprintf("%s %s (kept attribute, untitled third-party name)", e.Tag, k.kw), k.kind, k.kw, k.vr, false, v, needles...)
		})
	}
	g.file("kept", "long-code-value-name", "", nil, func(fc *fileCtx) {
		n := g.third()
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		ar.Text("LongCodeValue", dicom.UC, "C0006104 "+n).Str("CodingSchemeDesignator", dicom.SH, "UMLS").Text("CodeMeaning", dicom.LO, "Brain")
		fc.plant(cNonE1, "LongCodeValue (UC) of a registered scheme (UMLS) holding a name", "third-party-name", "(0008,2218)/(0008,0119)", false, []string{n}, n)
	})
	g.file("kept", "long-code-value-glued-name", "", nil, func(fc *fileCtx) {
		n := g.third()
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		ar.Text("LongCodeValue", dicom.UC, "C0006104_"+n).Str("CodingSchemeDesignator", dicom.SH, "UMLS").Text("CodeMeaning", dicom.LO, "Brain")
		fc.plant(cNonE1, "LongCodeValue (UC) of a registered scheme (UMLS) with a name glued by an underscore", "third-party-name", "(0008,2218)/(0008,0119)", false, []string{n}, n)
	})
	for _, c := range []struct{ name, seq, scheme string }{
		{"umls-code-value-name", "AnatomicRegionSequence", "UMLS"},
		{"ucum-code-value-name", "MeasurementUnitsCodeSequence", "UCUM"},
		{"mdc-code-value-name", "AnatomicRegionSequence", "MDC"},
	} {
		g.file("kept", c.name, "", nil, func(fc *fileCtx) {
			n := upper(g.word(3, 7))
			if len(n) > 16 {
				n = n[:16]
			}
			it := fc.x.Seq(c.seq, 1)[0]
			it.Str("CodeValue", dicom.SH, n).Str("CodingSchemeDesignator", dicom.SH, c.scheme).Text("CodeMeaning", dicom.LO, "Brain")
			fc.plant(cNonE1, "CodeValue of a registered scheme ("+c.scheme+") holding a name", "third-party-name", "(0008,0100)", false, []string{n}, n)
		})
	}
	g.file("kept", "urn-code-value-name", "", nil, func(fc *fileCtx) {
		n := g.third()
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		ar.Text("URNCodeValue", dicom.UR, "urn:x-hospital:staff:"+n).Str("CodingSchemeDesignator", dicom.SH, "UMLS").Text("CodeMeaning", dicom.LO, "Brain")
		fc.plant(cNonE1, "URNCodeValue (UR) of a registered scheme holding a name", "third-party-name", "(0008,2218)/(0008,0120)", false, []string{n}, n)
	})
	g.file("kept", "urn-code-value-mrn", "", nil, func(fc *fileCtx) {
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		v := "urn:x-hospital:mrn:" + fc.pt.mrn
		ar.Text("URNCodeValue", dicom.UR, v).Str("CodingSchemeDesignator", dicom.SH, "UMLS").Text("CodeMeaning", dicom.LO, "Brain")
		fc.plant(cNonE1, "URNCodeValue (UR) of a registered scheme holding the Patient ID", "mrn", "(0008,2218)/(0008,0120)", true, []string{v}, fc.pt.mrn)
	})
	g.file("kept", "mapping-resource-name", "", nil, func(fc *fileCtx) {
		n := g.third()
		ar := fc.x.Seq("AnatomicRegionSequence", 1)[0]
		ar.Str("CodeValue", dicom.SH, "12738006").Str("CodingSchemeDesignator", dicom.SH, "SCT").Text("CodeMeaning", dicom.LO, "Brain")
		ar.Str("MappingResource", dicom.CS, "DCMR").Text("MappingResourceName", dicom.LO, "DICOM Content Mapping Resource for "+n)
		fc.plant(cNonE1, "MappingResourceName (LO) of a registered code holding a name", "third-party-name", "(0008,2218)/(0008,0122)", false, []string{n}, n)
	})
}
