package deid

import (
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// IOD types for the attributes whose Table E.1-1 code is conditional
// (X/D, X/Z, Z/D, X/Z/D, X/Z/U*). This is a small hand-kept extract of the
// PS3.3 module tables (facts from the standard, not code), by IOD family:
// when an IOD or attribute is not listed the engine uses the leftmost
// code and reports iod-type-unknown (docs/deid.md, "Conditional codes").
//
// Sources, PS3.3: Patient (C.7.1.1), General Study (C.7.2.1), General
// Series (C.7.3.1), General Equipment (C.7.5.1), Enhanced General
// Equipment (C.7.5.2: Device Serial Number type 1), General Image
// (C.7.6.1: Content Date/Time 2C), General Acquisition (C.7.10.1),
// General Reference (C.12.4), SOP Common (C.12.1), Multi-frame Functional
// Groups (C.7.6.16: Content Date/Time 1), Enhanced MR/CT Image
// (Acquisition DateTime 1C), Acquisition Context (C.7.6.14: sequence type
// 2), Contrast/Bolus (C.7.6.4: agent type 2), Content Identification
// macro (C.10.9: Content Creator's Name type 2), SR Document General
// (C.17.2: Content Date/Time 1), SR / Key Object Document Series
// (Referenced Performed Procedure Step Sequence type 2), Waveform
// Identification (C.10.8: Content Date/Time and Acquisition DateTime 1),
// RT General Plan (C.8.8.9: RT Plan Date/Time 2), RT Beams / RT Ion Beams
// (Treatment Machine Name 2), Derivation Image macro (C.7.6.16.2.6:
// Source Image Sequence 2), Referenced Image macro (C.7.6.16.2.5: 1).

type iodFamily uint8

const (
	famUnknown iodFamily = iota
	famImage
	famEnhanced
	famSR
	famWaveform
	famRTPlan
	famRTDose
	famRTOther
)

func kw(k string) dicom.Tag { return dicom.MustTag(k) }

// commonTypes hold for every IOD built from the general composite modules.
var commonTypes = map[dicom.Tag]int{
	kw("InstitutionName"): 3, kw("InstitutionCodeSequence"): 3, kw("StationName"): 3,
	kw("DeviceSerialNumber"): 3, kw("OperatorsName"): 3, kw("OperatorIdentificationSequence"): 3,
	kw("ReferencedStudySequence"): 3, kw("ReferencedPerformedProcedureStepSequence"): 3,
	kw("ReferencedImageSequence"): 3, kw("SourceImageSequence"): 3,
	kw("InstanceCreationDate"): 3, kw("InstanceCreationTime"): 3,
	kw("SeriesDate"): 3, kw("SeriesTime"): 3, kw("ProtocolName"): 3,
	kw("AcquisitionDate"): 3, kw("AcquisitionTime"): 3, kw("AcquisitionDateTime"): 3,
	kw("PatientSexNeutered"): 3, kw("ObservationDateTime"): 3,
	kw("AcquisitionDeviceProcessingDescription"): 3, kw("DetectorID"): 3,
	kw("DateOfLastDetectorCalibration"): 3, kw("TimeOfLastDetectorCalibration"): 3,
	kw("ContrastBolusAgent"): 2, kw("RequestedProcedureDescription"): 3,
}

var familyTypes = map[iodFamily]map[dicom.Tag]int{
	famImage: {kw("ContentDate"): 2, kw("ContentTime"): 2},
	famEnhanced: {
		kw("ContentDate"): 1, kw("ContentTime"): 1, kw("AcquisitionDateTime"): 1, kw("DeviceSerialNumber"): 1,
		kw("ContentCreatorName"): 2, kw("AcquisitionContextSequence"): 2,
	},
	famSR: {
		kw("ContentDate"): 1, kw("ContentTime"): 1, kw("ReferencedPerformedProcedureStepSequence"): 2,
	},
	famWaveform: {
		kw("ContentDate"): 1, kw("ContentTime"): 1, kw("AcquisitionDateTime"): 1,
		kw("AcquisitionContextSequence"): 2, kw("WaveformAnnotationSequence"): 3,
	},
	famRTPlan:  {kw("RTPlanDate"): 2, kw("RTPlanTime"): 2},
	famRTDose:  {kw("ContentDate"): 2, kw("ContentTime"): 2},
	famRTOther: {},
}

// nestedTypes hold inside a given sequence, whatever the IOD.
var nestedTypes = map[[2]dicom.Tag]int{
	{kw("DerivationImageSequence"), kw("SourceImageSequence")}:              2,
	{kw("SharedFunctionalGroupsSequence"), kw("ReferencedImageSequence")}:   1,
	{kw("PerFrameFunctionalGroupsSequence"), kw("ReferencedImageSequence")}: 1,
	{kw("BeamSequence"), kw("TreatmentMachineName")}:                        2,
	{kw("IonBeamSequence"), kw("TreatmentMachineName")}:                     2,
	{kw("ContentSequence"), kw("ObservationDateTime")}:                      3,
	{kw("AcquisitionContextSequence"), kw("ObservationDateTime")}:           3,
	{kw("WaveformAnnotationSequence"), kw("ObservationDateTime")}:           3,
	{kw("ReferencedImageSequence"), kw("ReferencedImageSequence")}:          3,
}

func familyOf(sop string) iodFamily {
	e, ok := dicom.LookupUID(sop)
	if !ok || e.Type != "SOP Class" {
		return famUnknown
	}
	n := e.Name
	switch {
	case strings.Contains(n, "RT Plan") || strings.Contains(n, "RT Ion Plan"):
		return famRTPlan
	case strings.Contains(n, "RT Dose"):
		return famRTDose
	case strings.HasPrefix(n, "RT "):
		return famRTOther
	case strings.Contains(n, "SR Storage") || strings.Contains(n, "Key Object Selection") || strings.Contains(n, "Procedure Log"):
		return famSR
	case strings.Contains(n, "Waveform") || strings.Contains(n, "ECG") || strings.Contains(n, "Audio"):
		return famWaveform
	case strings.Contains(n, "Enhanced") || strings.Contains(n, "Legacy Converted") || strings.Contains(n, "Segmentation") ||
		strings.Contains(n, "Parametric Map") || strings.Contains(n, "Tomosynthesis") || strings.Contains(n, "Spectroscopy"):
		return famEnhanced
	case strings.Contains(n, "Image Storage"):
		return famImage
	}
	return famUnknown
}

// iodType returns the PS3.3 type (1, 2 or 3) of attribute t in the IOD of
// SOP class sop, inside the sequence parentSeq (0 at top level). known is
// false when this extract has no data for it.
func iodType(sop string, parentSeq, t dicom.Tag) (typ int, known bool) {
	if parentSeq != 0 {
		typ, known = nestedTypes[[2]dicom.Tag{parentSeq, t}]
		return typ, known
	}
	fam := familyOf(sop)
	if fam == famUnknown {
		return 0, false
	}
	if typ, ok := familyTypes[fam][t]; ok {
		return typ, true
	}
	typ, known = commonTypes[t]
	return typ, known
}
