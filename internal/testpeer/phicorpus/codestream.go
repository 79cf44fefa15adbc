package phicorpus

// Text in compressed pixel data, planted so that the codestream stays
// valid: JPEG and JPEG-LS COM and APPn segments after SOI and bytes after
// EOI; JPEG 2000 COM marker segments in the main header and in a tile-part
// header (with Psot adjusted); a JP2 file (signature, ftyp, jp2h, xml,
// uuid, jp2c boxes) around the codestream.

import (
	"encoding/binary"
	"fmt"

	"github.com/aisedge/aisedge/internal/dicom"
)

// frame returns the first frame's fragment of encapsulated pixel data.
func (fc *fileCtx) frame() []byte {
	e := fc.ds.Get(dicom.TagPixelData)
	if e == nil || len(e.Fragments) < 2 {
		fc.g.tb.Fatalf("%s: no encapsulated pixel data", fc.name)
	}
	b, err := e.Fragments[1].Bytes()
	if err != nil {
		fc.g.tb.Fatal(err)
	}
	return append([]byte(nil), b...)
}

// setFrame replaces the first frame's fragment (padded to even length)
// and records the codestream kind.
func (fc *fileCtx) setFrame(b []byte, kind string) {
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	e := fc.ds.Get(dicom.TagPixelData)
	e.Fragments[1] = dicom.NewFragment(b)
	// A single-frame Basic Offset Table holds 0 (or is empty): still right.
	fc.info.Codestream = kind
}

// jpegSegment is a marker segment: FF marker, length, payload.
func jpegSegment(marker byte, payload []byte) []byte {
	if len(payload)+2 > 0xFFFF {
		panic("jpeg segment too long")
	}
	out := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(out[2:], uint16(len(payload)+2))
	return append(out, payload...)
}

// jpegAfterSOI inserts segments right after SOI (valid for JPEG and
// JPEG-LS: COM and APPn may appear there).
func jpegAfterSOI(b []byte, segs ...[]byte) []byte {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		panic("not a JPEG stream")
	}
	out := append([]byte(nil), b[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, b[2:]...)
}

// jpegAfterEOI appends bytes after the EOI marker (and drops padding after
// it): decoders stop at EOI.
func jpegAfterEOI(b, trailer []byte) []byte {
	end := len(b)
	for end > 2 && !(b[end-2] == 0xFF && b[end-1] == 0xD9) {
		end--
	}
	out := append([]byte(nil), b[:end]...)
	return append(out, trailer...)
}

// xmpAPP1 is an APP1 XMP packet.
func xmpAPP1(xml string) []byte {
	return jpegSegment(0xE1, append([]byte("http://ns.adobe.com/xap/1.0/\x00"), xml...))
}

// exifAPP1 is an APP1 Exif block whose IFD0 holds ImageDescription,
// Artist and Copyright (ASCII) — a well-formed little-endian TIFF.
func exifAPP1(desc, artist string) []byte {
	type ent struct {
		tag uint16
		val string
	}
	ents := []ent{{0x010E, desc}, {0x013B, artist}}
	le := binary.LittleEndian
	tiff := []byte("II*\x00\x08\x00\x00\x00")
	n := len(ents)
	ifd := make([]byte, 2+12*n+4)
	le.PutUint16(ifd, uint16(n))
	dataOff := 8 + len(ifd)
	var data []byte
	for i, e := range ents {
		v := append([]byte(e.val), 0)
		p := ifd[2+12*i:]
		le.PutUint16(p, e.tag)
		le.PutUint16(p[2:], 2) // ASCII
		le.PutUint32(p[4:], uint32(len(v)))
		if len(v) <= 4 {
			copy(p[8:], v)
			continue
		}
		le.PutUint32(p[8:], uint32(dataOff+len(data)))
		data = append(data, v...)
		if len(data)%2 == 1 {
			data = append(data, 0)
		}
	}
	tiff = append(tiff, ifd...)
	tiff = append(tiff, data...)
	return jpegSegment(0xE1, append([]byte("Exif\x00\x00"), tiff...))
}

// photoshopAPP13 is an APP13 Photoshop IRB holding an IPTC-NAA record with
// a caption (2:120) and a by-line (2:80).
func photoshopAPP13(caption, byline string) []byte {
	var iptc []byte
	for _, ds := range []struct {
		id  byte
		val string
	}{{120, caption}, {80, byline}} {
		iptc = append(iptc, 0x1C, 0x02, ds.id, byte(len(ds.val)>>8), byte(len(ds.val)))
		iptc = append(iptc, ds.val...)
	}
	irb := []byte("8BIM\x04\x04\x00\x00")
	irb = binary.BigEndian.AppendUint32(irb, uint32(len(iptc)))
	irb = append(irb, iptc...)
	if len(iptc)%2 == 1 {
		irb = append(irb, 0)
	}
	return jpegSegment(0xED, append([]byte("Photoshop 3.0\x00"), irb...))
}

// j2kCOM is a JPEG 2000 COM marker segment with Latin-1 text (Rcom 1).
func j2kCOM(text string) []byte {
	out := []byte{0xFF, 0x64, 0, 0, 0, 1}
	binary.BigEndian.PutUint16(out[2:], uint16(4+len(text)))
	return append(out, text...)
}

// j2kMainHeaderEnd returns the offset of the first SOT marker.
func j2kMainHeaderEnd(cs []byte) (int, error) {
	if len(cs) < 4 || cs[0] != 0xFF || cs[1] != 0x4F {
		return 0, fmt.Errorf("not a JPEG 2000 codestream")
	}
	p := 2
	for p+4 <= len(cs) {
		if cs[p] != 0xFF {
			return 0, fmt.Errorf("no marker at %d", p)
		}
		if cs[p+1] == 0x90 {
			return p, nil
		}
		p += 2 + int(binary.BigEndian.Uint16(cs[p+2:]))
	}
	return 0, fmt.Errorf("no SOT marker")
}

// j2kMainCOM inserts COM segments at the end of the main header.
func j2kMainCOM(cs []byte, texts ...string) []byte {
	p, err := j2kMainHeaderEnd(cs)
	if err != nil {
		panic(err)
	}
	out := append([]byte(nil), cs[:p]...)
	for _, t := range texts {
		out = append(out, j2kCOM(t)...)
	}
	return append(out, cs[p:]...)
}

// j2kTileCOM inserts a COM segment in the first tile-part header, right
// after SOT, adding its length to Psot.
func j2kTileCOM(cs []byte, text string) []byte {
	p, err := j2kMainHeaderEnd(cs)
	if err != nil {
		panic(err)
	}
	com := j2kCOM(text)
	out := append([]byte(nil), cs[:p+12]...)
	if psot := binary.BigEndian.Uint32(out[p+6:]); psot != 0 {
		binary.BigEndian.PutUint32(out[p+6:], psot+uint32(len(com)))
	}
	out = append(out, com...)
	return append(out, cs[p+12:]...)
}

// box is a JP2 box.
func box(typ string, payload ...[]byte) []byte {
	n := 8
	for _, p := range payload {
		n += len(p)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(n))
	out = append(out, typ...)
	for _, p := range payload {
		out = append(out, p...)
	}
	return out
}

// jp2Wrap wraps a codestream into a JP2 file with an xml box and a uuid
// box before the codestream box.
func jp2Wrap(cs []byte, xml string, uuid [16]byte, uuidText string) []byte {
	// Image size, components and depth from SIZ.
	if len(cs) < 42 || cs[2] != 0xFF || cs[3] != 0x51 {
		panic("no SIZ after SOC")
	}
	siz := cs[4:]
	be := binary.BigEndian
	xs, ys := be.Uint32(siz[4:]), be.Uint32(siz[8:])
	xo, yo := be.Uint32(siz[12:]), be.Uint32(siz[16:])
	nc := be.Uint16(siz[36:])
	bpc := siz[38]
	ihdr := be.AppendUint32(nil, ys-yo)
	ihdr = be.AppendUint32(ihdr, xs-xo)
	ihdr = be.AppendUint16(ihdr, nc)
	ihdr = append(ihdr, bpc, 7, 0, 0)
	cs17 := uint32(17) // greyscale
	if nc == 3 {
		cs17 = 16 // sRGB
	}
	colr := be.AppendUint32([]byte{1, 0, 0}, cs17)
	var out []byte
	out = append(out, box("jP  ", []byte{0x0D, 0x0A, 0x87, 0x0A})...)
	out = append(out, box("ftyp", []byte("jp2 \x00\x00\x00\x00jp2 "))...)
	out = append(out, box("jp2h", box("ihdr", ihdr), box("colr", colr))...)
	out = append(out, box("xml ", []byte(xml))...)
	out = append(out, box("uuid", uuid[:], []byte(uuidText))...)
	return append(out, box("jp2c", cs)...)
}

// jpegBeforeSOS inserts segments right before the first SOS marker
// (after the tables: a COM there is as valid as after SOI).
func jpegBeforeSOS(b []byte, segs ...[]byte) []byte {
	p := 2
	for p+4 <= len(b) && b[p] == 0xFF && b[p+1] != 0xDA {
		p += 2 + int(binary.BigEndian.Uint16(b[p+2:]))
	}
	if p+4 > len(b) || b[p] != 0xFF || b[p+1] != 0xDA {
		panic("no SOS marker")
	}
	out := append([]byte(nil), b[:p]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, b[p:]...)
}

// setFrameFragments stores one frame as several fragments (a frame may
// span fragments; PS3.5 A.4), each padded to even length.
func (fc *fileCtx) setFrameFragments(kind string, parts ...[]byte) {
	e := fc.ds.Get(dicom.TagPixelData)
	frags := []*dicom.Fragment{e.Fragments[0]}
	for _, p := range parts {
		if len(p)%2 == 1 {
			p = append(p, 0)
		}
		frags = append(frags, dicom.NewFragment(p))
	}
	e.Fragments = frags
	fc.info.Codestream = kind
	// Readers need Number of Frames to know the fragments are one frame.
	fc.ds.SetString(dicom.MustTag("NumberOfFrames"), dicom.IS, "1")
}

// iccAPP2 is an APP2 ICC_PROFILE segment holding a minimal display
// profile whose 'desc' tag is text.
func iccAPP2(desc string) []byte {
	be := binary.BigEndian
	tag := []byte("desc\x00\x00\x00\x00")
	tag = be.AppendUint32(tag, uint32(len(desc)+1))
	tag = append(tag, desc...)
	tag = append(tag, 0)
	tag = append(tag, make([]byte, 4+4+2+1+67)...) // no Unicode, no ScriptCode
	for len(tag)%4 != 0 {
		tag = append(tag, 0)
	}
	hdr := make([]byte, 128)
	size := 128 + 4 + 12 + len(tag)
	be.PutUint32(hdr, uint32(size))
	be.PutUint32(hdr[8:], 0x02100000)
	copy(hdr[12:], "mntrRGB XYZ ")
	copy(hdr[36:], "acsp")
	prof := append(hdr, be.AppendUint32(nil, 1)...)
	prof = append(prof, "desc"...)
	prof = be.AppendUint32(prof, 128+4+12)
	prof = be.AppendUint32(prof, uint32(len(tag)))
	prof = append(prof, tag...)
	return jpegSegment(0xE2, append([]byte("ICC_PROFILE\x00\x01\x01"), prof...))
}

// j2kCOMBinary is a COM marker segment with Rcom 0 (binary data).
func j2kCOMBinary(data []byte) []byte {
	out := []byte{0xFF, 0x64, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(out[2:], uint16(4+len(data)))
	return append(out, data...)
}

// j2kAfterSIZ inserts marker segments right after SIZ.
func j2kAfterSIZ(cs []byte, segs ...[]byte) []byte {
	p := 4 + int(binary.BigEndian.Uint16(cs[4:]))
	out := append([]byte(nil), cs[:p]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, cs[p:]...)
}
