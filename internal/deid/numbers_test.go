package deid

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// A kept number (binary or DS/IS) whose digits are the birth date or
// another identifier of the input is removed; other large whole numbers
// stay (docs/deid.md, "Numbers that spell an identifier").
func TestNumberSpellingIdentifierRemoved(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	f, _ := synthMR(t, variants[0], newSynthStudy(3), 1)
	ds := f.Dataset
	fd := func(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }
	bval := dicom.MustTag("DiffusionBValue")
	acq := dicom.MustTag("AcquisitionNumber")
	loc := dicom.MustTag("SliceLocation")
	ds.SetBytes(bval, dicom.FD, fd(19580512)) // the birth date as a number
	ds.SetString(acq, dicom.IS, "19580512")   // and as an IS
	ds.SetString(loc, dicom.DS, "123456")     // a large number that is nobody's
	var buf bytes.Buffer
	dicom.WriteFile(&buf, f)
	f, err := dicom.ReadFileBytes(buf.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, out := runFile(t, e, f)
	if res.Quarantined() {
		t.Fatalf("quarantined: %v", res.Reasons)
	}
	if !res.Report.Gate.Passed {
		t.Fatalf("gate: %+v", res.Report.Gate)
	}
	o := res.File.Dataset
	if o.Has(bval) || o.Has(acq) {
		t.Errorf("a number spelling the birth date was kept (FD %v, IS %v)", o.Has(bval), o.Has(acq))
	}
	if o.String(loc) != "123456" {
		t.Errorf("SliceLocation = %q, want it kept", o.String(loc))
	}
	if bytes.Contains(out, fd(19580512)) {
		t.Error("the FD spelling of the birth date is in the output")
	}
}

func TestWholeNumberSpellings(t *testing.T) {
	fl := func(vr dicom.VR, b []byte) *dicom.Element {
		e := &dicom.Element{Tag: dicom.NewTag(0x0018, 0x9087), VR: vr}
		e.SetBytes(b)
		return e
	}
	collect := func(e *dicom.Element, vr dicom.VR) []string {
		var got []string
		wholeNumberSpellings(e, vr, func(d string) bool { got = append(got, d); return false })
		return got
	}
	for _, c := range []struct {
		name string
		e    *dicom.Element
		vr   dicom.VR
		want []string
	}{
		{"FD", fl(dicom.FD, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(45637200)), math.Float64bits(2.5))), dicom.FD, []string{"45637200"}},
		{"UL", fl(dicom.UL, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 19600102), 512)), dicom.UL, []string{"19600102"}},
		{"SL negative", fl(dicom.SL, binary.LittleEndian.AppendUint32(nil, uint32(0xFFFFFFFF-4857321+1))), dicom.SL, []string{"4857321"}},
		{"FD fraction", fl(dicom.FD, binary.LittleEndian.AppendUint64(nil, math.Float64bits(456372.5))), dicom.FD, nil},
		{"IS zeros", fl(dicom.IS, []byte("0004857321")), dicom.IS, []string{"4857321"}},
		{"DS small", fl(dicom.DS, []byte("1000.5\\12")), dicom.DS, nil},
	} {
		got := collect(c.e, c.vr)
		if len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// Bytes past the last frame of native pixel data are cut by the engine
// and, when they reach the output anyway, read by the gate
// (docs/deid.md, "Pixel data past the last frame").
func TestPixelDataTail(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	sur, _ := variants[0].names()
	build := func() *dicom.File {
		f, _ := synthMR(t, variants[0], newSynthStudy(4), 1)
		pix, err := f.Dataset.Get(dicom.TagPixelData).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		f.Dataset.SetBytes(dicom.TagPixelData, dicom.OW, append(append([]byte(nil), pix...), []byte("ref Kelbrunova "+sur+" ")...))
		var buf bytes.Buffer
		dicom.WriteFile(&buf, f)
		f, err = dicom.ReadFileBytes(buf.Bytes(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := build()
	want, ok := nativePixelLength(f.Dataset, dicom.TagPixelData)
	if !ok {
		t.Fatal("no expected length")
	}
	res, out := runFile(t, e, f)
	if res.Quarantined() {
		t.Fatalf("quarantined: %v", res.Reasons)
	}
	if got, _ := res.File.Dataset.Get(dicom.TagPixelData).Bytes(); int64(len(got)) != want {
		t.Errorf("pixel data %d bytes, want %d", len(got), want)
	}
	if bytes.Contains(out, []byte("Kelbrunova")) {
		t.Error("the tail reached the output")
	}
	// The gate, given a tail the engine did not cut.
	g := gateAfter(t, e, false, variants[0], func(r *Result) {
		pd := r.File.Dataset.Get(dicom.TagPixelData)
		pix, _ := pd.Bytes()
		pd.SetBytes(append(append([]byte(nil), pix...), []byte("ref "+sur+" ")...))
	})
	if g.Passed {
		t.Error("gate passed a known name past the last frame")
	}
}

// Waveform Data and LUT Data are cut to the size their headers declare.
func TestSizedBulkLength(t *testing.T) {
	w := dicom.NewDataset()
	w.SetUint16(dicom.MustTag("NumberOfWaveformChannels"), 2)
	w.SetUint32(dicom.MustTag("NumberOfWaveformSamples"), 3)
	w.SetUint16(dicom.MustTag("WaveformBitsAllocated"), 16)
	if n, ok := sizedBulkLength(w, tagWaveformData); !ok || n != 12 {
		t.Errorf("waveform: %d %v, want 12", n, ok)
	}
	l := dicom.NewDataset()
	l.SetUint16(tagLUTDescriptor, 5, 0, 8)
	if n, ok := sizedBulkLength(l, tagLUTData); !ok || n != 10 {
		t.Errorf("LUT: %d %v, want 10", n, ok)
	}
	l.SetUint16(tagLUTDescriptor, 0, 0, 16)
	if n, ok := sizedBulkLength(l, tagLUTData); !ok || n != 131072 {
		t.Errorf("LUT of 65536 entries: %d %v", n, ok)
	}
	if _, ok := sizedBulkLength(dicom.NewDataset(), tagLUTData); ok {
		t.Error("LUT without a descriptor has a size")
	}
	// Through the engine: a third party's name after the samples goes.
	e := testEngine(t, MustBuiltin("research-default"))
	f, _ := synthMR(t, variants[0], newSynthStudy(5), 1)
	ws := dicom.NewDataset()
	ws.SetUint16(dicom.MustTag("NumberOfWaveformChannels"), 1)
	ws.SetUint32(dicom.MustTag("NumberOfWaveformSamples"), 4)
	ws.SetUint16(dicom.MustTag("WaveformBitsAllocated"), 16)
	ws.SetString(dicom.MustTag("WaveformSampleInterpretation"), dicom.CS, "SS")
	ws.SetBytes(tagWaveformData, dicom.OW, append([]byte{1, 0, 2, 0, 3, 0, 4, 0}, "reviewed by Kelbrunova"...))
	f.Dataset.SetSequence(dicom.MustTag("WaveformSequence"), ws)
	var buf bytes.Buffer
	dicom.WriteFile(&buf, f)
	f, err := dicom.ReadFileBytes(buf.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, out := runFile(t, e, f)
	if res.Quarantined() {
		t.Fatalf("quarantined: %v", res.Reasons)
	}
	if bytes.Contains(out, []byte("Kelbrunova")) {
		t.Error("text after the waveform samples reached the output")
	}
	if !bytes.Contains(out, []byte{1, 0, 2, 0, 3, 0, 4, 0}) {
		t.Error("the waveform samples are gone")
	}
}
