package xnat

import "strings"

// sessionTypes maps a DICOM modality to XNAT's session and scan types.
// MR, PT and CT are what xnat-ingest uses (docs/xnat.md, "Session and scan
// types"); the others are XNAT's
// own types for those modalities; anything else is "other DICOM".
var sessionTypes = map[string][2]string{
	"MR": {"xnat:mrSessionData", "xnat:mrScanData"},
	"PT": {"xnat:petSessionData", "xnat:petScanData"},
	"CT": {"xnat:ctSessionData", "xnat:ctScanData"},
	"CR": {"xnat:crSessionData", "xnat:crScanData"},
	"DX": {"xnat:dxSessionData", "xnat:dxScanData"},
	"US": {"xnat:usSessionData", "xnat:usScanData"},
	"MG": {"xnat:mgSessionData", "xnat:mgScanData"},
	"NM": {"xnat:nmSessionData", "xnat:nmScanData"},
	"XA": {"xnat:xaSessionData", "xnat:xaScanData"},
	"RF": {"xnat:rfSessionData", "xnat:rfScanData"},
}

const (
	otherSession = "xnat:otherDicomSessionData"
	otherScan    = "xnat:otherDicomScanData"
	// SecondaryScanXSIType is the scan type of derived/secondary images.
	SecondaryScanXSIType = "xnat:scScanData"
	// SecondaryResourceLabel is the resource xnat-ingest puts their files
	// in (DICOMResourceLabel for every other scan).
	SecondaryResourceLabel = "secondary"
	// DICOMResourceLabel is the resource label (and format) of DICOM files.
	DICOMResourceLabel = "DICOM"
)

// SessionXSIType picks the experiment xsiType from a session's modalities,
// as xnat-ingest does: any MR makes it an MR session; else any PT a PET
// session; else any CT a CT session; else the first modality XNAT has a
// session type for (CR, DX, US, MG, NM, XA, RF); else
// xnat:otherDicomSessionData.
func SessionXSIType(modalities ...string) string {
	has := map[string]bool{}
	for _, m := range modalities {
		has[strings.ToUpper(strings.TrimSpace(m))] = true
	}
	for _, m := range []string{"MR", "PT", "CT"} {
		if has[m] {
			return sessionTypes[m][0]
		}
	}
	for _, m := range modalities {
		if t, ok := sessionTypes[strings.ToUpper(strings.TrimSpace(m))]; ok {
			return t[0]
		}
	}
	return otherSession
}

// ScanXSIType picks a scan's xsiType: an ImageType starting
// DERIVED\SECONDARY gives xnat:scScanData; a modality with an XNAT scan
// type gives that type; otherwise the scan type that goes with the
// session's type (e.g. xnat:mrScanData in an MR session).
func ScanXSIType(modality, imageType, sessionXSIType string) string {
	it := strings.ToUpper(strings.ReplaceAll(imageType, " ", ""))
	if strings.HasPrefix(it, `DERIVED\SECONDARY`) {
		return SecondaryScanXSIType
	}
	if t, ok := sessionTypes[strings.ToUpper(strings.TrimSpace(modality))]; ok {
		return t[1]
	}
	for _, t := range sessionTypes {
		if strings.EqualFold(t[0], sessionXSIType) {
			return t[1]
		}
	}
	return otherScan
}
