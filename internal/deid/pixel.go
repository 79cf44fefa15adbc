package deid

import (
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// riskyModalities may carry burned-in text (docs/deid.md, "Pixel risk").
var riskyModalities = map[string]bool{"US": true, "SC": true, "OT": true, "XC": true, "ES": true, "GM": true, "SM": true, "DOC": true}

// pixelRisk classifies an instance from its header only. why is empty for
// low risk.
func pixelRisk(ds *dicom.Dataset) (why string, burnedIn bool) {
	if strings.EqualFold(ds.String(tagBurnedInAnnotation), "YES") {
		return "burned-in-annotation", true
	}
	if e, ok := dicom.LookupUID(ds.String(dicom.TagSOPClassUID)); ok {
		n := e.Name
		for _, k := range []string{"Ultrasound", "Secondary Capture", "VL ", "Video", "Endoscop", "Photograph", "Microscop", "Slide"} {
			if strings.Contains(n, k) {
				return "sop-class", false
			}
		}
	}
	if riskyModalities[strings.ToUpper(ds.String(tagModality))] {
		return "modality", false
	}
	for _, v := range ds.Strings(tagImageType) {
		u := strings.ToUpper(v)
		if u == "SCREEN SAVE" || u == "SECONDARY" {
			return "image-type", false
		}
	}
	return "", false
}

// pixelPolicy quarantines high-risk instances unless a Clear rule of the
// profile matches (never for Burned In Annotation = YES).
func (s *state) pixelPolicy() {
	why, burned := pixelRisk(s.root)
	if why == "" {
		return
	}
	s.report.PixelRisk = why
	if !burned {
		for _, r := range s.p.Pixels.Clear {
			if clearMatches(s.root, r) {
				s.report.warn("pixel-risk-cleared", "", r.Reason)
				return
			}
		}
		if s.pixelOverride != "" {
			s.report.warn("pixel-risk-released", "", "operator: "+s.pixelOverride)
			return
		}
	}
	s.quarantine("pixel-risk", "", why+": the pixel data may carry burned-in identifying text")
}

func clearMatches(ds *dicom.Dataset, r ClearRule) bool {
	for _, c := range r.When {
		v := text(ds, c.Path.leaf().tag)
		if !c.Re.MatchString(v) {
			return false
		}
	}
	return len(r.When) > 0
}
