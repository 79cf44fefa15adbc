package deid

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
)

const plantedPixelText = "Patient: Okonkwo^Adaeze MRN 4471902"

// plantJPEG puts a COM, an APP1 (Exif-like) and an APP13 segment with text
// right after SOI, and a second COM before the first SOS.
func plantJPEG(cs []byte) []byte {
	seg := func(m byte, payload string) []byte {
		b := []byte{0xFF, m, 0, 0}
		binary.BigEndian.PutUint16(b[2:], uint16(len(payload)+2))
		return append(b, payload...)
	}
	out := append([]byte(nil), cs[:2]...)
	out = append(out, seg(0xFE, plantedPixelText)...)
	out = append(out, seg(0xE1, "Exif\x00\x00"+plantedPixelText)...)
	out = append(out, seg(0xED, "Photoshop 3.0\x00"+plantedPixelText)...)
	rest := cs[2:]
	sos := bytes.Index(rest, []byte{0xFF, 0xDA})
	out = append(out, rest[:sos]...)
	out = append(out, seg(0xFE, plantedPixelText)...)
	return append(out, rest[sos:]...)
}

// plantJ2K puts a COM segment in the main header (after SIZ) and one in
// the first tile-part header, fixing that tile-part's length.
func plantJ2K(cs []byte) []byte {
	com := []byte{0xFF, 0x64, 0, 0, 0, 1}
	com = append(com, plantedPixelText...)
	binary.BigEndian.PutUint16(com[2:], uint16(len(com)-2))
	sizLen := int(binary.BigEndian.Uint16(cs[4:]))
	mainEnd := 4 + sizLen
	out := append([]byte(nil), cs[:mainEnd]...)
	out = append(out, com...)
	rest := cs[mainEnd:]
	sot := bytes.Index(rest, []byte{0xFF, 0x90})
	out = append(out, rest[:sot]...)
	tp := append([]byte(nil), rest[sot:sot+12]...)
	psot := binary.BigEndian.Uint32(tp[6:])
	if psot != 0 {
		binary.BigEndian.PutUint32(tp[6:], psot+uint32(len(com)))
	}
	out = append(out, tp...)
	out = append(out, com...)
	return append(out, rest[sot+12:]...)
}

// TestCodestreamFilter plants text in the codestreams of the JPEG
// baseline, JPEG-LS and JPEG 2000 samples: the filter removes every text
// segment, the gate's count finds none left, the planted text is gone
// from the bytes, and the result still decodes with dcmtk or GDCM.
func TestCodestreamFilter(t *testing.T) {
	cases := []struct {
		file    string
		plant   func([]byte) []byte
		removed int
		already int      // text segments the sample carries itself
		decode  []string // command and flags; the input and output paths follow
	}{
		{"pydicom_SC_rgb_jpeg_dcmtk.dcm", plantJPEG, 4, 0, []string{"dcmdjpeg"}},
		{"pydicom_MR_small_jpeg_ls_lossless.dcm", plantJPEG, 4, 0, []string{"dcmdjpls"}},
		{"pydicom_JPEG2000.dcm", plantJ2K, 3, 1, []string{"gdcmconv", "--raw"}}, // the encoder's own COM
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f, err := dicom.Open(sampledata.Path(t, c.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pd := f.Dataset.Get(dicom.TagPixelData)
			if pd == nil || len(pd.Fragments) < 2 {
				t.Fatal("no encapsulated pixel data")
			}
			var all []byte
			for _, fr := range pd.Fragments[1:] {
				b, _ := fr.Bytes()
				all = append(all, b...)
			}
			all = bytes.TrimRight(all, "\x00")
			planted := c.plant(all)
			if len(planted)%2 == 1 {
				planted = append(planted, 0)
			}
			pd.Fragments = []*dicom.Fragment{dicom.NewFragment(nil), dicom.NewFragment(planted)}
			if n, err := codestreamTextSegments(pd, f.TransferSyntax, 1); err != nil || n != c.removed {
				t.Fatalf("before: %d text segments (%v), want %d", n, err, c.removed)
			}
			n, err := filterPixelCodestreams(pd, f.TransferSyntax, 1)
			if err != nil || n != c.removed {
				t.Fatalf("filter removed %d (%v), want %d", n, err, c.removed)
			}
			if left, err := codestreamTextSegments(pd, f.TransferSyntax, 1); err != nil || left != 0 {
				t.Fatalf("after: %d text segments left (%v)", left, err)
			}
			dir := t.TempDir()
			in := filepath.Join(dir, "filtered.dcm")
			var buf bytes.Buffer
			if err := dicom.WriteFile(&buf, f); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(bytes.ToLower(buf.Bytes()), []byte("okonkwo")) || bytes.Contains(buf.Bytes(), []byte("4471902")) {
				t.Fatal("planted text still in the written file")
			}
			if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := exec.LookPath(c.decode[0]); err != nil {
				t.Fatalf("%s not installed (scripts/test installs dcmtk and libgdcm-tools)", c.decode[0])
			}
			args := append(append([]string(nil), c.decode[1:]...), in, filepath.Join(dir, "decoded.dcm"))
			if out, err := exec.Command(c.decode[0], args...).CombinedOutput(); err != nil || strings.Contains(strings.ToLower(string(out)), "error") {
				t.Fatalf("%s cannot decode the filtered file: %v\n%s", c.decode[0], err, out)
			}
			// The untouched sample loses only its own text segments; one
			// without any keeps its fragments byte for byte.
			g, err := dicom.Open(sampledata.Path(t, c.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			gp := g.Dataset.Get(dicom.TagPixelData)
			before := len(gp.Fragments)
			if n, err := filterPixelCodestreams(gp, g.TransferSyntax, 0); err != nil || n != c.already || (n == 0 && len(gp.Fragments) != before) {
				t.Errorf("clean sample: removed %d, err %v, fragments %d → %d", n, err, before, len(gp.Fragments))
			}
		})
	}
	// Text after the last frame's codestream is dropped (counted); the
	// frames themselves stay.
	{
		f, err := dicom.Open(sampledata.Path(t, "pydicom_SC_rgb_jpeg_dcmtk.dcm"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		pd := f.Dataset.Get(dicom.TagPixelData)
		var all []byte
		for _, fr := range pd.Fragments[1:] {
			b, _ := fr.Bytes()
			all = append(all, b...)
		}
		all = append(bytes.TrimRight(all, "\x00"), []byte(plantedPixelText+" ")...)
		pd.Fragments = []*dicom.Fragment{dicom.NewFragment(nil), dicom.NewFragment(all)}
		if n, err := filterPixelCodestreams(pd, f.TransferSyntax, 1); err != nil || n != 1 {
			t.Fatalf("trailing text: removed %d (%v), want 1", n, err)
		}
		b, _ := pd.Fragments[1].Bytes()
		if bytes.Contains(b, []byte("Okonkwo")) || !bytes.HasSuffix(bytes.TrimRight(b, "\x00"), []byte{0xFF, 0xD9}) {
			t.Error("trailing text kept, or the codestream cut")
		}
	}
	// Garbage is refused, not passed through.
	pd := &dicom.Element{Tag: dicom.TagPixelData, Fragments: []*dicom.Fragment{dicom.NewFragment(nil), dicom.NewFragment([]byte("Patient: Okonkwo"))}}
	ts, _ := dicom.LookupTransferSyntax(dicom.JPEGBaseline8Bit)
	if _, err := filterPixelCodestreams(pd, ts, 1); err == nil {
		t.Error("a fragment that is no codestream was accepted")
	}
	mpeg, _ := dicom.LookupTransferSyntax("1.2.840.10008.1.2.4.100")
	if _, err := filterPixelCodestreams(pd, mpeg, 1); err == nil {
		t.Error("an MPEG stream was accepted")
	}
}

// The first item of encapsulated pixel data must be a Basic Offset Table
// or empty: text there is emptied by the engine and fails the gate.
func TestBasicOffsetTable(t *testing.T) {
	frag := func(n int) *dicom.Fragment { return dicom.NewFragment(make([]byte, n)) }
	u32 := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, x)
		}
		return b
	}
	for _, c := range []struct {
		name   string
		frags  []*dicom.Fragment
		frames int
		ok     bool
	}{
		{"empty", []*dicom.Fragment{dicom.NewFragment(nil), frag(10)}, 1, true},
		{"one frame", []*dicom.Fragment{dicom.NewFragment(u32(0)), frag(10)}, 1, true},
		{"two frames", []*dicom.Fragment{dicom.NewFragment(u32(0, 18)), frag(10), frag(12)}, 2, true},
		{"two frames, second fragment of a frame", []*dicom.Fragment{dicom.NewFragment(u32(0, 38)), frag(10), frag(12), frag(4)}, 2, true},
		{"text", []*dicom.Fragment{dicom.NewFragment([]byte("Patient Kelbrunova MRN 48573210  ")), frag(10)}, 1, false},
		{"text of frame length", []*dicom.Fragment{dicom.NewFragment([]byte("Kelb")), frag(10)}, 1, false},
		{"offset into a fragment", []*dicom.Fragment{dicom.NewFragment(u32(0, 12)), frag(10), frag(12)}, 2, false},
	} {
		e := &dicom.Element{Tag: dicom.TagPixelData, VR: dicom.OB, Fragments: c.frags}
		if got := basicOffsetTableOK(e, c.frames); got != c.ok {
			t.Errorf("%s: basicOffsetTableOK = %v, want %v", c.name, got, c.ok)
		}
		if fixed := fixBasicOffsetTable(e, c.frames); fixed == c.ok {
			t.Errorf("%s: fixBasicOffsetTable = %v", c.name, fixed)
		}
		if b, _ := e.Fragments[0].Bytes(); !c.ok && len(b) != 0 {
			t.Errorf("%s: first item not emptied", c.name)
		}
	}
}

// RLE frame headers: slots past the segment count must be zero; text there
// is zeroed by the filter and counted by the gate's reading.
func TestRLEHeaderJunk(t *testing.T) {
	frame := make([]byte, 64+8)
	binary.LittleEndian.PutUint32(frame, 2)
	binary.LittleEndian.PutUint32(frame[4:], 64)
	binary.LittleEndian.PutUint32(frame[8:], 68)
	if _, n, err := rleHeaderJunk(frame); err != nil || n != 0 {
		t.Fatalf("clean header: %d %v", n, err)
	}
	dirty := append([]byte(nil), frame...)
	copy(dirty[12:], "by Kelbrunova")
	out, n, err := rleHeaderJunk(dirty)
	if err != nil || n == 0 || bytes.Contains(out, []byte("Kelb")) || !bytes.Contains(dirty, []byte("Kelb")) {
		t.Fatalf("dirty header: n=%d err=%v", n, err)
	}
	bad := append([]byte(nil), frame...)
	binary.LittleEndian.PutUint32(bad, 99)
	if _, _, err := rleHeaderJunk(bad); err == nil {
		t.Error("segment count 99 accepted")
	}
	e := &dicom.Element{Tag: dicom.TagPixelData, VR: dicom.OB, Fragments: []*dicom.Fragment{dicom.NewFragment(nil), dicom.NewFragment(dirty)}}
	ts, _ := dicom.LookupTransferSyntax(rleUID)
	if n, err := codestreamTextSegments(e, ts, 1); err != nil || n == 0 {
		t.Errorf("gate reading: %d %v", n, err)
	}
	if n, err := filterPixelCodestreams(e, ts, 1); err != nil || n == 0 {
		t.Errorf("filter: %d %v", n, err)
	}
	if n, err := codestreamTextSegments(e, ts, 1); err != nil || n != 0 {
		t.Errorf("after the filter: %d %v", n, err)
	}
}
