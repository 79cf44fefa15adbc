package deid

import (
	"encoding/binary"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

var (
	tagRows                      = dicom.MustTag("Rows")
	tagColumns                   = dicom.MustTag("Columns")
	tagSamplesPerPixel           = dicom.MustTag("SamplesPerPixel")
	tagPhotometricInterpretation = dicom.MustTag("PhotometricInterpretation")
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

// nativePixelLength is the length the native (not encapsulated) pixel
// data element t of ds needs: rows × columns × samples × frames at Bits
// Allocated (bit-packed for 1 bit; two samples a pixel for YBR_FULL_422),
// rounded up to even, and false when the header does not say. Bytes past
// it belong to no frame: nothing reads them, and anything can hide there
// (docs/deid.md, "Pixel data past the last frame").
func nativePixelLength(ds *dicom.Dataset, t dicom.Tag) (int64, bool) {
	rows, ok1 := ds.Uint16(tagRows)
	cols, ok2 := ds.Uint16(tagColumns)
	if !ok1 || !ok2 {
		return 0, false
	}
	var bits int64
	switch t {
	case dicom.TagPixelData:
		b, ok := ds.Uint16(dicom.TagBitsAllocated)
		if !ok || b == 0 {
			return 0, false
		}
		bits = int64(b)
	case dicom.TagFloatPixelData:
		bits = 32
	case dicom.TagDoubleFloatPixelData:
		bits = 64
	default:
		return 0, false
	}
	samples := int64(1)
	if sp, ok := ds.Uint16(tagSamplesPerPixel); ok && sp > 0 {
		samples = int64(sp)
	}
	if strings.EqualFold(strings.TrimSpace(ds.String(tagPhotometricInterpretation)), "YBR_FULL_422") {
		samples = 2
	}
	n := int64(rows) * int64(cols) * samples * int64(numberOfFrames(ds)) * bits
	n = (n + 7) / 8
	return n + n%2, true
}

// trimPixelTail cuts a top-level native pixel data value to the length
// its frames need.
func (s *state) trimPixelTail(e *dicom.Element) {
	if e.IsEncapsulated() || e.IsSequence() {
		return
	}
	n, ok := nativePixelLength(s.root, e.Tag)
	if !ok {
		return
	}
	b, err := e.Bytes()
	if err != nil || int64(len(b)) <= n {
		return
	}
	e.SetBytes(b[:n])
	s.report.warn("pixel-data-tail", e.Tag.String(), "bytes past the last frame removed")
}

var (
	tagWaveformData             = dicom.MustTag("WaveformData")
	tagNumberOfWaveformChannels = dicom.MustTag("NumberOfWaveformChannels")
	tagNumberOfWaveformSamples  = dicom.MustTag("NumberOfWaveformSamples")
	tagWaveformBitsAllocated    = dicom.MustTag("WaveformBitsAllocated")
	tagLUTData                  = dicom.MustTag("LUTData")
	tagLUTDescriptor            = dicom.MustTag("LUTDescriptor")
	// paletteDescriptors: each palette colour table's data and the
	// descriptor that sizes it.
	paletteDescriptors = map[dicom.Tag]dicom.Tag{
		dicom.MustTag("RedPaletteColorLookupTableData"):   dicom.MustTag("RedPaletteColorLookupTableDescriptor"),
		dicom.MustTag("GreenPaletteColorLookupTableData"): dicom.MustTag("GreenPaletteColorLookupTableDescriptor"),
		dicom.MustTag("BluePaletteColorLookupTableData"):  dicom.MustTag("BluePaletteColorLookupTableDescriptor"),
		dicom.MustTag("AlphaPaletteColorLookupTableData"): dicom.MustTag("AlphaPaletteColorLookupTableDescriptor"),
	}
)

// sizedBulkLength is the most bytes a bulk value whose size its data set
// fixes can need: Waveform Data (channels × samples at Waveform Bits
// Allocated), LUT Data and palette colour tables (entries of the
// descriptor's first value, 0 meaning 65536, at most 16 bits each),
// rounded up to even; false when t is none of those or the header does
// not say (docs/deid.md, "Pixel data past the last frame").
func sizedBulkLength(ds *dicom.Dataset, t dicom.Tag) (int64, bool) {
	var n int64
	switch {
	case t == tagWaveformData:
		ch, ok1 := ds.Uint16(tagNumberOfWaveformChannels)
		smp, ok2 := ds.Uint32(tagNumberOfWaveformSamples)
		bits, ok3 := ds.Uint16(tagWaveformBitsAllocated)
		if !ok1 || !ok2 || !ok3 || bits == 0 {
			return 0, false
		}
		n = (int64(ch)*int64(smp)*int64(bits) + 7) / 8
	default:
		desc := tagLUTDescriptor
		if t != tagLUTData {
			d, ok := paletteDescriptors[t]
			if !ok {
				return 0, false
			}
			desc = d
		}
		e := ds.Get(desc)
		if e == nil {
			return 0, false
		}
		b, err := e.Bytes()
		if err != nil || len(b) < 2 {
			return 0, false
		}
		entries := int64(binary.LittleEndian.Uint16(b))
		if entries == 0 {
			entries = 65536
		}
		n = entries * 2
	}
	return n + n%2, true
}

// trimSized cuts a kept bulk value to the size its data set fixes.
func (s *state) trimSized(ds *dicom.Dataset, e *dicom.Element) {
	n, ok := sizedBulkLength(ds, e.Tag)
	if !ok || e.IsSequence() {
		return
	}
	b, err := e.Bytes()
	if err != nil || int64(len(b)) <= n {
		return
	}
	e.SetBytes(b[:n])
	s.report.warn("bulk-data-tail", e.Tag.String(), "bytes past the values the header declares removed")
}

func isPaletteData(t dicom.Tag) bool { _, ok := paletteDescriptors[t]; return ok }
