package xnattest

// sopScanTypes is XNAT 1.9's table of SOP Class UIDs per scan type (its
// series-scans properties, read by the session builder): the scan type a
// header pull gives a series (docs/xnat.md, "Session and scan types").
var sopScanTypes = map[string][]string{
	"petScanData":              {"1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.130"},
	"mrScanData":               {"1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.3"},
	"ctScanData":               {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"},
	"xaScanData":               {"1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.13.1.1"},
	"usScanData":               {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1"},
	"rtImageScanData":          {"1.2.840.10008.5.1.4.1.1.481.1", "1.2.840.10008.5.1.4.1.1.481.2", "1.2.840.10008.5.1.4.1.1.481.3", "1.2.840.10008.5.1.4.1.1.481.4", "1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.6", "1.2.840.10008.5.1.4.1.1.481.7", "1.2.840.10008.5.1.4.1.1.481.8", "1.2.840.10008.5.1.4.1.1.481.9"},
	"crScanData":               {"1.2.840.10008.5.1.4.1.1.1"},
	"optScanData":              {"1.2.840.10008.5.1.4.1.1.77.1.5.4"},
	"dx3DCraniofacialScanData": {"1.2.840.10008.5.1.4.1.1.13.1.2"},
	"ecgScanData":              {"1.2.840.10008.5.1.4.1.1.9.1.1", "1.2.840.10008.5.1.4.1.1.9.1.3"},
	"epsScanData":              {"1.2.840.10008.5.1.4.1.1.9.3.1"},
	"esvScanData":              {"1.2.840.10008.5.1.4.1.1.77.1.1.1"},
	"gmvScanData":              {"1.2.840.10008.5.1.4.1.1.77.1.2.1"},
	"hdScanData":               {"1.2.840.10008.5.1.4.1.1.9.2.1"},
	"ioScanData":               {"1.2.840.10008.5.1.4.1.1.1.3", "1.2.840.10008.5.1.4.1.1.1.3.1"},
	"mgScanData":               {"1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1"},
	"dxScanData":               {"1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1"},
	"nmScanData":               {"1.2.840.10008.5.1.4.1.1.20"},
	"opScanData":               {"1.2.840.10008.5.1.4.1.1.77.1.5.1", "1.2.840.10008.5.1.4.1.1.77.1.5.2"},
	"rfScanData":               {"1.2.840.10008.5.1.4.1.1.12.2"},
	"xcvScanData":              {"1.2.840.10008.5.1.4.1.1.77.1.4.1"},
	"scScanData":               {"1.2.840.10008.5.1.4.1.1.7"},
	"segScanData":              {"1.2.840.10008.5.1.4.1.1.66.4"},
	"srScanData":               {"1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.50", "1.2.840.10008.5.1.4.1.1.88.65", "1.2.840.10008.5.1.4.1.1.88.67", "1.2.840.10008.5.1.4.1.1.88.69", "1.2.840.10008.5.1.4.1.1.88.70"},
	"otherDicomScanData":       {"1.3.12.2.1107.5.9.1"},
	"smScanData":               {"1.2.840.10008.5.1.4.1.1.77.1.6"},
	"gmScanData":               {"1.2.840.10008.5.1.4.1.1.77.1.2"},
	"dmsScanData":              {"1.2.840.10008.5.1.4.1.1.77.1.7"},
	"cfmScanData":              {"1.2.840.10008.5.1.4.1.1.77.1.8"},
	"paScanData":               {"1.2.840.10008.5.1.4.1.1.6.3"},
	"annScanData":              {"1.2.840.10008.5.1.4.1.1.91.1"},
	"emgScanData":              {"1.2.840.10008.5.1.4.1.1.9.7.2"},
	"eogScanData":              {"1.2.840.10008.5.1.4.1.1.9.7.3"},
	"respScanData":             {"1.2.840.10008.5.1.4.1.1.9.6.1", "1.2.840.10008.5.1.4.1.1.9.6.2"},
	"posScanData":              {"1.2.840.10008.5.1.4.1.1.9.8.1"},
	"objScanData":              {"1.2.840.10008.5.1.4.1.1.104.4"},
	"mtlScanData":              {"1.2.840.10008.5.1.4.1.1.104.5"},
	"eegScanData":              {"1.2.840.10008.5.1.4.1.1.9.7.1"},
}

// scanTypePrecedence decides a series holding several SOP classes; types
// not listed fall back to otherDicomScanData.
var scanTypePrecedence = []string{"petScanData", "mrScanData", "ctScanData", "xaScanData", "usScanData",
	"rtImageScanData", "crScanData", "optScanData", "mgScanData", "dxScanData", "nmScanData", "srScanData",
	"segScanData", "scScanData", "smScanData", "gmScanData", "rfScanData", "esScanData", "rgScanData",
	"dmsScanData", "cfmScanData", "paScanData", "ecgScanData", "annScanData", "emgScanData", "eogScanData",
	"respScanData", "posScanData", "objScanData", "mtlScanData", "eegScanData", "otherDicomScanData"}

var scanTypeBySOP = func() map[string]string {
	m := map[string]string{}
	for t, uids := range sopScanTypes {
		for _, u := range uids {
			m[u] = t
		}
	}
	return m
}()

// ScanTypeForSOPClasses is the xsiType XNAT's session builder gives a
// series with these SOP classes (xnat:otherDicomScanData for none known).
func ScanTypeForSOPClasses(uids ...string) string {
	have := map[string]bool{}
	for _, u := range uids {
		if t, ok := scanTypeBySOP[u]; ok {
			have[t] = true
		}
	}
	for _, t := range scanTypePrecedence {
		if have[t] {
			return "xnat:" + t
		}
	}
	return "xnat:otherDicomScanData"
}
