package deid

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// idKeywords are the attributes whose original values are identifiers
// searched for as substrings (docs/deid.md, "Deny-list"), beyond person names, dates
// and UIDs which are recognised by VR.
var idKeywords = func() map[dicom.Tag]string {
	m := map[dicom.Tag]string{}
	add := func(cat string, kws ...string) {
		for _, kw := range kws {
			if e, ok := dicom.LookupKeyword(kw); ok {
				m[e.Tag] = cat
			}
		}
	}
	add("patient-id", "PatientID", "OtherPatientIDs", "IssuerOfPatientID", "MedicalRecordLocator")
	add("id", "AccessionNumber", "StudyID", "RequestedProcedureID", "ScheduledProcedureStepID", "PerformedProcedureStepID",
		"AdmissionID", "IssuerOfAdmissionID", "ServiceEpisodeID", "FillerOrderNumberImagingServiceRequest",
		"PlacerOrderNumberImagingServiceRequest", "StudyIDIssuer", "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID",
		"InsurancePlanIdentification", "InterpretationID", "ResultsID", "ContainerIdentifier", "SpecimenIdentifier",
		"SpecimenAccessionNumber", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName")
	add("institution", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "ResponsibleOrganization",
		"PatientInstitutionResidence", "ScheduledPatientInstitutionResidence")
	add("address", "PatientAddress", "PatientTelephoneNumbers", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
		"PersonAddress", "PersonTelephoneNumbers", "CountryOfResidence", "RegionOfResidence", "OrderCallbackPhoneNumber",
		"MilitaryRank", "BranchOfService", "CurrentPatientLocation", "PerformedLocation", "ScheduledStudyLocation",
		"RequestedProcedureLocation", "ScheduledProcedureStepLocation")
	add("device", "StationName", "DeviceSerialNumber", "PerformedStationName", "ScheduledStationName", "DetectorID",
		"GantryID", "PlateID", "CassetteID", "GeneratorID", "SecondaryCaptureDeviceID", "SourceSerialNumber",
		"HardcopyCreationDeviceID", "ModifyingDeviceID", "XRayDetectorID")
	return m
}()

// collect adds the identifying values of an element whose action is not
// K to the deny-list (docs/deid.md, "Deny-list"), and notes kept values.
func (s *state) collect(ds *dicom.Dataset, e *dicom.Element, a action, loc []locStep) {
	if e.IsSequence() {
		return
	}
	vr := effectiveVR(e)
	if vr == dicom.UI {
		for _, u := range e.Strings() {
			if u != "" {
				s.inputUIDs[u] = true
			}
		}
	}
	if a.code == CodeK && a.kind != akQuarantine {
		if vr == dicom.UI {
			for _, u := range e.Strings() {
				s.retainedIn[u] = true
			}
		}
		if a.kind == akUser && vr.IsText() && vr != dicom.UI {
			if sq, _ := canonicalFast(text(ds, e.Tag)); sq != "" {
				s.kept[sq] = true
			}
		}
		if a.kind == akAllow && vr.IsText() && vr != dicom.UI && vr != dicom.IS && vr != dicom.DS {
			for _, v := range texts(ds, e.Tag) {
				if v != "" {
					s.keptCoded = append(s.keptCoded, keptValue{v: v, e: e, loc: formatLoc(loc, false)})
				}
			}
		}
		return
	}
	s.tokens(ds, e, vr, a.code == CodeC)
}

func effectiveVR(e *dicom.Element) dicom.VR {
	if (e.VR == dicom.UN || e.VR == 0) && !e.Tag.IsPrivate() {
		if de, ok := dicom.LookupTag(e.Tag); ok && de.VR().IsText() {
			return de.VR()
		}
	}
	return e.VR
}

func tagSet(kws ...string) map[dicom.Tag]bool {
	m := map[dicom.Tag]bool{}
	for _, kw := range kws {
		if e, ok := dicom.LookupKeyword(kw); ok {
			m[e.Tag] = true
		}
	}
	return m
}

// codeKeywords hold the coded part of code items (never cleaned, never
// free text).
var codeKeywords = tagSet("CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "LongCodeValue",
	"URNCodeValue", "ContextIdentifier", "MappingResource", "ContextGroupVersion")

// equipmentKeywords are kept LO/SH attributes that name equipment, not
// people or places (PS3.15 does not list them), plus the code attributes.
var equipmentKeywords = func() map[dicom.Tag]bool {
	m := tagSet("Manufacturer", "ManufacturerModelName", "SoftwareVersions", "SequenceName",
		"ReceiveCoilName", "TransmitCoilName", "ConvolutionKernel", "FilterType", "CollimatorType")
	for t := range codeKeywords {
		m[t] = true
	}
	return m
}()

// keptValue is the value of a text element the allowlist keeps, checked
// against the deny-list once it is complete.
type keptValue struct {
	v   string
	e   *dicom.Element
	loc string
}

// collectSubtree adds every value of a removed or replaced sequence.
func (s *state) collectSubtree(e *dicom.Element) {
	for _, it := range e.Items {
		s.collectItem(it)
	}
}

func (s *state) collectItem(ds *dicom.Dataset) {
	for _, e := range ds.Elements() {
		if e.IsSequence() {
			s.collectSubtree(e)
			continue
		}
		vr := effectiveVR(e)
		if vr == dicom.UI {
			for _, u := range e.Strings() {
				if u != "" {
					s.inputUIDs[u] = true
				}
			}
		}
		s.tokens(ds, e, vr, false)
	}
}

// tokens adds the deny tokens of one element's original value.
func (s *state) tokens(ds *dicom.Dataset, e *dicom.Element, vr dicom.VR, cleaned bool) {
	if e.Tag.IsPrivate() || e.IsEncapsulated() || e.IsBulk() {
		return
	}
	t := e.Tag
	raw, _ := e.Bytes()
	switch vr {
	case dicom.PN:
		for _, v := range texts(ds, t) {
			s.nameTokens(v, raw)
		}
	case dicom.DA:
		for _, v := range e.Strings() {
			for _, part := range strings.Split(v, "-") {
				if d, ok := parseDA(part); ok {
					ymd, _ := fmtDA(d)
					s.origDates[ymd] = true
					if t == tagPatientBirthDate {
						for _, f := range dateFormats(d) {
							s.deny.add(f, tkDate, "birth-date", nil)
						}
					} else {
						s.deny.add(ymd, tkDate, "date", nil)
					}
				}
			}
		}
	case dicom.DT:
		for _, v := range e.Strings() {
			if len(v) >= 8 && allDigits(v[:8]) {
				if d, ok := parseDA(v[:8]); ok {
					ymd, _ := fmtDA(d)
					s.origDates[ymd] = true
					s.deny.add(ymd, tkDate, "date", nil)
				}
			}
		}
	case dicom.UI:
		if structuralUIDs[t] {
			return
		}
		for _, u := range e.Strings() {
			if u != "" && !isStructuralValue(u) {
				s.deny.add(u, tkUID, "uid", nil)
			}
		}
	case dicom.AE:
		for _, v := range e.Strings() {
			s.deny.add(v, tkID, "ae-title", nil)
		}
	case dicom.LO, dicom.SH, dicom.UC, dicom.ST, dicom.LT, dicom.UT, dicom.CS:
		if cat, ok := idKeywords[t]; ok {
			vals := texts(ds, t)
			for _, v := range vals {
				s.deny.add(v, tkID, cat, nil)
				// A zero-padded number is also searched without its padding.
				if tv := strings.TrimSpace(v); allDigits(tv) && tv[0] == '0' {
					if stripped := strings.TrimLeft(tv, "0"); len(stripped) >= 6 {
						s.deny.add(stripped, tkID, cat, nil)
					}
				}
			}
			if len(vals) == 1 && len(raw) > 0 {
				s.deny.add(vals[0], tkID, cat, []byte(strings.Trim(string(raw), " \x00")))
			}
			return
		}
		if cleaned || vr == dicom.CS {
			return
		}
		if _, inTable := lookupRow(t); !inTable {
			return
		}
		v := text(ds, t)
		if sq, _ := canonicalFast(v); len(sq) >= 8 {
			s.deny.add(v, tkText, "free-text", nil)
		}
	}
}

// nameTokens adds a person name: the whole value, each component group
// and each of the family, given and middle name components.
func (s *state) nameTokens(v string, raw []byte) {
	v = strings.Trim(v, " \x00")
	if v == "" {
		return
	}
	s.deny.add(v, tkName, "person-name", raw)
	for _, group := range strings.Split(v, "=") {
		if group == "" {
			continue
		}
		s.deny.add(group, tkName, "person-name", nil)
		comps := strings.Split(group, "^")
		// Initial glued to the family name (JDOE, DOEJ): user names and
		// file names are built that way.
		if len(comps) >= 2 && comps[0] != "" && comps[1] != "" {
			fam := strings.ReplaceAll(comps[0], " ", "")
			ini := string([]rune(comps[1])[:1])
			s.deny.add(ini+fam, tkComponent, "person-name", nil)
			s.deny.add(fam+ini, tkComponent, "person-name", nil)
		}
		for i, c := range comps {
			if i >= 3 {
				break // prefix and suffix are titles, not identifying
			}
			// A component may hold several words ("Mary Ann"). CJK
			// components are searched as substrings: the text around
			// them has no spaces.
			kind := tkComponent
			if hasCJK(c) {
				kind = tkName
			}
			s.deny.add(c, kind, "person-name", nil)
			for _, w := range strings.Fields(c) {
				s.deny.add(w, kind, "person-name", nil)
			}
		}
	}
}

// addOrthancIDs adds the Orthanc identifiers of the original instance
// (unsalted SHA-1 of PatientID and UIDs; docs/deid.md, "Deny-list").
func (s *state) addOrthancIDs() {
	ds := s.root
	pid := strings.TrimSpace(text(ds, tagPatientID))
	study := ds.String(dicom.TagStudyInstanceUID)
	series := ds.String(dicom.TagSeriesInstanceUID)
	sop := ds.String(dicom.TagSOPInstanceUID)
	for _, key := range []string{pid, pid + "|" + study, pid + "|" + study + "|" + series, pid + "|" + study + "|" + series + "|" + sop} {
		if key == "" {
			continue
		}
		sum := sha1.Sum([]byte(key))
		h := hex.EncodeToString(sum[:])
		dashed := h[0:8] + "-" + h[8:16] + "-" + h[16:24] + "-" + h[24:32] + "-" + h[32:40]
		s.deny.add(dashed, tkOrthanc, "orthanc-id", nil)
	}
}

// encodeNumbers encodes binary numeric values.
func encodeNumbers(vr dicom.VR, vals []string) ([]byte, error) {
	var b []byte
	for _, v := range vals {
		switch vr {
		case dicom.US:
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, err
			}
			b = binary.LittleEndian.AppendUint16(b, uint16(n))
		case dicom.SS:
			n, err := strconv.ParseInt(v, 10, 16)
			if err != nil {
				return nil, err
			}
			b = binary.LittleEndian.AppendUint16(b, uint16(n))
		case dicom.UL:
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, err
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(n))
		case dicom.SL:
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return nil, err
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(n))
		case dicom.UV:
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, err
			}
			b = binary.LittleEndian.AppendUint64(b, n)
		case dicom.SV:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, err
			}
			b = binary.LittleEndian.AppendUint64(b, uint64(n))
		case dicom.FL:
			f, err := strconv.ParseFloat(v, 32)
			if err != nil {
				return nil, err
			}
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f)))
		case dicom.FD:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, err
			}
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		default:
			return nil, fmt.Errorf("not a binary numeric VR: %s", vr)
		}
	}
	return b, nil
}
