package phicorpus

// The seventh round: the patient's name with letters that have no
// canonical decomposition (Polish ł, Nordic ø, South Slavic đ, Turkish
// ı), written in plain ASCII the way a keyboard without them does; and
// text after the last frame of native Pixel Data (a value longer than
// Rows × Columns × samples × bits × frames needs).

import (
	"github.com/aisedge/aisedge/internal/dicom"
)

func init() {
	corpusCases = append(corpusCases, casesRound7)
}

func casesRound7(g *gen) {
	for _, c := range []struct {
		name, family, given, series string
	}{
		{"polish-l-stroke", "Przybyłowska", "Jadwigna", "T1 SAG PRZYBYLOWSKA"},
		{"nordic-o-slash", "Bjørnstadvik", "Sølvrunn", "Bjornstadvik kontroll"},
		{"slavic-d-stroke", "Đurđevačić", "Milenka", "DURDEVACIC CT"},
		{"turkish-dotless-i", "Kırılmazoğlu", "Nurşenay", "KIRILMAZOGLU MR"},
	} {
		pt := g.newPatient(c.family, c.given)
		pt.nameNeedles = []string{c.family, c.given}
		fc := g.synthetic("names/"+c.name+".dcm", "ISO_IR 192", pt)
		fc.put(cCharset, "the known family name with a letter that has no decomposition, written in plain ASCII in SeriesDescription", "family-name",
			"SeriesDescription", dicom.LO, true, c.series, c.family)
		fc.write()
	}
}

func init() {
	corpusCases = append(corpusCases, casesPixelTail)
}

func casesPixelTail(g *gen) {
	g.file("pixel", "native-pixel-data-tail-text", "", nil, func(fc *fileCtx) {
		n := g.third()
		pix, err := fc.ds.Get(dicom.TagPixelData).Bytes()
		if err != nil {
			g.tb.Fatal(err)
		}
		tail := "Patient " + fc.pt.family + " MRN " + fc.pt.mrn + " ref " + n
		if len(tail)%2 == 1 {
			tail += " "
		}
		fc.ds.SetBytes(dicom.TagPixelData, dicom.OW, append(append([]byte(nil), pix...), tail...))
		fc.plant(cPixel, "text after the last frame of native Pixel Data (the patient's name and ID)", "patient-name", "(7FE0,0010)", true, []string{tail}, fc.pt.family)
		fc.plant(cPixel, "text after the last frame of native Pixel Data (the patient's ID)", "mrn", "(7FE0,0010)", true, []string{tail}, fc.pt.mrn)
		fc.plant(cPixel, "text after the last frame of native Pixel Data (a third party)", "third-party-name", "(7FE0,0010)", false, []string{tail}, n)
	})
}

func init() {
	corpusCases = append(corpusCases, casesOffsetTables)
}

// casesOffsetTables: text in the Basic Offset Table item of encapsulated
// pixel data (the first item, which holds frame offsets), and in an
// Extended Offset Table (OV) and its lengths.
func casesOffsetTables(g *gen) {
	const jpeg = "pydicom_SC_rgb_jpeg_dcmtk.dcm"
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/basic-offset-table-text.dcm", jpeg, sopCT, "CT", pt)
		n := g.third()
		text := "Patient " + pt.family + " MRN " + pt.mrn + " ref " + n
		for len(text)%4 != 0 {
			text += " "
		}
		fc.ds.Get(dicom.TagPixelData).Fragments[0] = dicom.NewFragment([]byte(text))
		fc.info.Codestream = "jpeg"
		fc.plant(cPixel, "text in the Basic Offset Table item of encapsulated Pixel Data", "patient-name", "(7FE0,0010)", true, []string{text}, pt.family)
		fc.plant(cPixel, "text in the Basic Offset Table item of encapsulated Pixel Data", "mrn", "(7FE0,0010)", true, []string{text}, pt.mrn)
		fc.plant(cPixel, "text in the Basic Offset Table item of encapsulated Pixel Data", "third-party-name", "(7FE0,0010)", false, []string{text}, n)
		fc.write()
	}
	{
		pt := g.newPatient("", "")
		fc := g.fromSample("pixel/extended-offset-table-text.dcm", jpeg, sopCT, "CT", pt)
		n := g.third()
		text := "ref " + n + " MRN " + pt.mrn
		for len(text)%8 != 0 {
			text += " "
		}
		fc.ds.SetBytes(dicom.NewTag(0x7FE0, 0x0001), dicom.OV, []byte(text))
		fc.ds.SetBytes(dicom.NewTag(0x7FE0, 0x0002), dicom.OV, []byte(text))
		fc.info.Codestream = "jpeg"
		fc.plant(cPixel, "text in the Extended Offset Table (OV)", "mrn", "(7FE0,0001)", true, []string{text}, pt.mrn)
		fc.plant(cPixel, "text in the Extended Offset Table (OV)", "third-party-name", "(7FE0,0001)", false, []string{text}, n)
		fc.write()
	}
}

func init() {
	corpusCases = append(corpusCases, casesSizedBulk)
}

// casesSizedBulk: text after the samples of Waveform Data and after the
// entries of a VOI LUT's LUT Data (values whose size the header fixes).
func casesSizedBulk(g *gen) {
	tailOf := func(fc *fileCtx, n string) string {
		t := "reviewed by " + n
		if len(t)%2 == 1 {
			t += " "
		}
		return t
	}
	g.file("bulk", "waveform-data-tail-text", "", nil, func(fc *fileCtx) {
		n := g.third()
		tail := tailOf(fc, n)
		w := fc.x.Seq("WaveformSequence", 1)[0]
		w.DS.SetUint16(dicom.MustTag("NumberOfWaveformChannels"), 1)
		w.DS.SetUint32(dicom.MustTag("NumberOfWaveformSamples"), 4)
		w.DS.SetUint16(dicom.MustTag("WaveformBitsAllocated"), 16)
		w.Str("WaveformSampleInterpretation", dicom.CS, "SS")
		w.DS.SetBytes(dicom.MustTag("WaveformData"), dicom.OW, append([]byte{1, 0, 2, 0, 3, 0, 4, 0}, tail...))
		fc.plant(cStruct, "text after the samples of Waveform Data", "third-party-name", "(5400,0100)/(5400,1010)", false, []string{tail}, n)
	})
	g.file("bulk", "voi-lut-data-tail-text", "", nil, func(fc *fileCtx) {
		n := g.third()
		tail := tailOf(fc, n)
		l := fc.x.Seq("VOILUTSequence", 1)[0]
		l.DS.SetUint16(dicom.MustTag("LUTDescriptor"), 4, 0, 16)
		l.DS.SetBytes(dicom.MustTag("LUTData"), dicom.OW, append([]byte{0, 0, 0, 1, 0, 2, 0, 3}, tail...))
		fc.plant(cStruct, "text after the entries of a VOI LUT's LUT Data", "third-party-name", "(0028,3010)/(0028,3006)", false, []string{tail}, n)
	})
}

func init() {
	corpusCases = append(corpusCases, casesRLEHeader)
}

// casesRLEHeader: text in the unused offset slots of an RLE frame header
// (16 32-bit words: the segment count, then up to 15 offsets; the slots
// past the count must be 0).
func casesRLEHeader(g *gen) {
	g.file("pixel", "rle-header-unused-offsets-text", "", nil, func(fc *fileCtx) {
		n := g.third()
		pix, err := fc.ds.Get(dicom.TagPixelData).Bytes()
		if err != nil {
			g.tb.Fatal(err)
		}
		// 8x8 at 16 bits: two segments, high bytes then low bytes, each a
		// literal run of 64 (control byte 63).
		var hi, lo []byte
		for i := 0; i+1 < len(pix); i += 2 {
			lo, hi = append(lo, pix[i]), append(hi, pix[i+1])
		}
		seg1 := append([]byte{63}, hi...)
		seg2 := append([]byte{63}, lo...)
		header := make([]byte, 64)
		header[0] = 2
		header[4] = 64
		header[8] = byte(64 + len(seg1))
		text := "by " + n
		copy(header[12:], text)
		frame := append(append(header, seg1...), seg2...)
		if len(frame)%2 == 1 {
			frame = append(frame, 0)
		}
		ts, _ := dicom.LookupTransferSyntax("1.2.840.10008.1.2.5")
		fc.f.TransferSyntax = ts
		fc.info.TransferSyntax = ts.UID
		fc.ds.Delete(dicom.TagPixelData)
		fc.ds.Put(&dicom.Element{Tag: dicom.TagPixelData, VR: dicom.OB, Fragments: []*dicom.Fragment{dicom.NewFragment(nil), dicom.NewFragment(frame)}})
		fc.plant(cPixel, "text in the unused offset slots of an RLE frame header", "third-party-name", "(7FE0,0010)", false, []string{text}, n)
	})
}

func init() {
	corpusCases = append(corpusCases, casesATText)
}

// casesATText: text written as the 32-bit tag values of an AT element
// (Frame Increment Pointer), which the @AT allowlist entry keeps.
func casesATText(g *gen) {
	g.file("kept", "at-frame-increment-pointer-text", "", nil, func(fc *fileCtx) {
		n := g.third()
		text := "by " + n
		for len(text)%4 != 0 {
			text += " "
		}
		fc.ds.SetBytes(dicom.MustTag("FrameIncrementPointer"), dicom.AT, []byte(text))
		fc.plant(cStruct, "text written as the tag values of an AT element (FrameIncrementPointer)", "third-party-name", "(0028,0009)", false, []string{text}, n)
	})
}
