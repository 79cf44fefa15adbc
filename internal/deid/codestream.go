package deid

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Compressed pixel data can carry text beside the image: JPEG and JPEG-LS
// comment (COM) and application (APPn) segments, JPEG 2000 comment (COM)
// marker segments. A scanner or a viewer writes there what it likes ("Patient:
// <name> MRN <id>"). The codestream filter keeps only what a decoder needs
// and removes the rest; a codestream it cannot read, or a compression whose
// side channels it does not know (MPEG, HEVC), quarantines the instance
// (docs/deid.md, "Pixel codestreams").

// codestreamFamily is the kind of bit stream a transfer syntax carries.
type codestreamFamily uint8

const (
	csNone    codestreamFamily = iota // native pixels: nothing to filter
	csJPEG                            // ISO 10918 (baseline, extended, lossless)
	csJPEGLS                          // ISO 14495
	csJ2K                             // ISO 15444 (JPEG 2000, HTJ2K)
	csRLE                             // DICOM RLE: a header of offsets and raw segments
	csUnknown                         // video and anything newer: not filtered
)

func codestreamFamilyOf(ts dicom.TransferSyntax) codestreamFamily {
	if !ts.Encapsulated {
		return csNone
	}
	u := ts.UID
	switch {
	case u == "1.2.840.10008.1.2.5":
		return csRLE
	case u == "1.2.840.10008.1.2.4.80" || u == "1.2.840.10008.1.2.4.81":
		return csJPEGLS
	case strings.HasPrefix(u, "1.2.840.10008.1.2.4.5") || strings.HasPrefix(u, "1.2.840.10008.1.2.4.6") || u == "1.2.840.10008.1.2.4.70":
		return csJPEG
	case u == "1.2.840.10008.1.2.4.90" || u == "1.2.840.10008.1.2.4.91" || u == "1.2.840.10008.1.2.4.92" || u == "1.2.840.10008.1.2.4.93" ||
		u == "1.2.840.10008.1.2.4.201" || u == "1.2.840.10008.1.2.4.202" || u == "1.2.840.10008.1.2.4.203":
		return csJ2K
	case u == dicom.EncapsulatedUncompressedLE:
		return csRLE // raw pixels in fragments: no markers, nothing to strip
	}
	return csUnknown
}

// errCodestream is a codestream the filter cannot read.
var errCodestream = errors.New("unreadable codestream")

// filterPixelCodestreams rewrites the fragments of encapsulated Pixel Data
// without text segments. It returns the number of segments removed; an
// error means the codestream could not be filtered (the caller
// quarantines).
func filterPixelCodestreams(e *dicom.Element, ts dicom.TransferSyntax, frames int) (int, error) {
	fam := codestreamFamilyOf(ts)
	switch {
	case ts.UID == rleUID:
		return rleHeaders(e, true)
	case fam == csNone, fam == csRLE:
		return 0, nil
	case fam == csUnknown:
		return 0, fmt.Errorf("%w: %s streams may carry user data the filter cannot remove", errCodestream, ts.Name)
	}
	streams, trailing, err := codestreams(e, fam, frames)
	if err != nil {
		return 0, err
	}
	filter := filterJPEG
	if fam == csJ2K {
		filter = filterJ2K
	}
	removed := 0
	if trailing {
		removed++ // bytes after the last frame's codestream: dropped
	}
	out := make([][]byte, len(streams))
	for i, cs := range streams {
		o, n, err := filter(cs, fam == csJPEGLS)
		if err != nil {
			return 0, err
		}
		out[i], removed = o, removed+n
	}
	if removed == 0 {
		return 0, nil // untouched: the input's fragments stay byte for byte
	}
	// One fragment per frame, padded to even length; the Basic Offset
	// Table is rewritten when the input had one.
	bot, _ := e.Fragments[0].Bytes()
	frags := make([]*dicom.Fragment, 0, len(out)+1)
	var table []byte
	off := uint32(0)
	for _, b := range out {
		if len(b)%2 == 1 {
			b = append(b, 0)
		}
		table = binary.LittleEndian.AppendUint32(table, off)
		off += uint32(len(b)) + 8
		frags = append(frags, dicom.NewFragment(b))
	}
	if len(bot) == 0 {
		table = nil
	}
	e.Fragments = append([]*dicom.Fragment{dicom.NewFragment(table)}, frags...)
	return removed, nil
}

// JPEG and JPEG-LS markers.
const (
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mCOM  = 0xFE
	mAPP0 = 0xE0
	mAP14 = 0xEE
	mAP15 = 0xEF
)

func standalone(m byte) bool { return m == mSOI || m == mEOI || m == 0x01 || (m >= 0xD0 && m <= 0xD7) }

// scanEnd returns the index of the marker that ends the entropy-coded
// data starting at i. In JPEG, FF 00 is a stuffed FF and RSTn markers
// belong to the scan; in JPEG-LS, FF followed by a byte below 0x80 is
// bit stuffing.
func scanEnd(b []byte, i int, ls bool) (int, error) {
	for ; i+1 < len(b); i++ {
		if b[i] != 0xFF {
			continue
		}
		n := b[i+1]
		switch {
		case ls && n < 0x80, !ls && n == 0x00, n >= 0xD0 && n <= 0xD7, n == 0xFF:
			continue
		}
		return i, nil
	}
	return 0, fmt.Errorf("%w: scan without an end", errCodestream)
}

// jpegSegments walks one JPEG codestream from SOI to EOI and calls fn with
// each marker and its segment bytes (marker included; for SOS, the header
// and the entropy-coded data after it). It returns the codestream's length.
func jpegSegments(b []byte, ls bool, fn func(m byte, seg []byte)) (int, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != mSOI {
		return 0, fmt.Errorf("%w: no SOI", errCodestream)
	}
	fn(mSOI, b[:2])
	i := 2
	for i < len(b) {
		if b[i] != 0xFF {
			return 0, fmt.Errorf("%w: marker expected at %d", errCodestream, i)
		}
		for i+1 < len(b) && b[i+1] == 0xFF {
			i++ // fill bytes
		}
		if i+1 >= len(b) {
			break
		}
		m := b[i+1]
		if m == mEOI {
			fn(m, b[i:i+2])
			return i + 2, nil
		}
		if standalone(m) {
			fn(m, b[i:i+2])
			i += 2
			continue
		}
		if i+4 > len(b) {
			break
		}
		l := int(binary.BigEndian.Uint16(b[i+2:]))
		end := i + 2 + l
		if l < 2 || end > len(b) {
			return 0, fmt.Errorf("%w: segment length", errCodestream)
		}
		if m == mSOS {
			se, err := scanEnd(b, end, ls)
			if err != nil {
				return 0, err
			}
			end = se
		}
		fn(m, b[i:end])
		i = end
	}
	return 0, fmt.Errorf("%w: no EOI", errCodestream)
}

// filterJPEG drops COM and APPn segments; APP14 "Adobe" (it says how the
// colour components are coded) is kept, and APP0 "JFIF" is kept without
// its thumbnail (a small picture of the image, text included).
func filterJPEG(cs []byte, ls bool) ([]byte, int, error) {
	out := make([]byte, 0, len(cs))
	removed := 0
	_, err := jpegSegments(cs, ls, func(m byte, seg []byte) {
		switch {
		case m == mCOM:
			removed++
		case m == mAPP0 && len(seg) >= 18 && string(seg[4:9]) == "JFIF\x00":
			if len(seg) > 18 {
				removed++ // thumbnail or trailing bytes
			}
			j := append([]byte(nil), seg[:18]...)
			binary.BigEndian.PutUint16(j[2:], 16)
			j[16], j[17] = 0, 0 // no thumbnail
			out = append(out, j...)
		case m == mAP14 && len(seg) == 16 && string(seg[4:9]) == "Adobe":
			out = append(out, seg...)
		case m >= mAPP0 && m <= mAP15:
			removed++
		default:
			out = append(out, seg...)
		}
	})
	return out, removed, err
}

// jpegTextSegments counts what filterJPEG would remove (the gate's check).
func jpegTextSegments(cs []byte, ls bool) (int, error) {
	_, n, err := filterJPEG(cs, ls)
	return n, err
}

// JPEG 2000 codestream markers (ISO 15444-1 Annex A).
const (
	jSOC = 0xFF4F
	jSOT = 0xFF90
	jSOD = 0xFF93
	jEOC = 0xFFD9
	jCOM = 0xFF64
	jTLM = 0xFF55
)

// j2kLength walks the codestream's marker segments and tile-parts and
// returns its length up to and including EOC.
func j2kLength(b []byte) (int, error) {
	_, n, err := j2kRewriteFn(b, nil, false)
	return n, err
}

// filterJ2K drops COM marker segments from the main and tile-part headers
// (fixing each tile-part's length) and, when it drops any, TLM segments
// (tile-part lengths that would no longer hold).
func filterJ2K(cs []byte, _ bool) ([]byte, int, error) {
	_, n, err := j2kCount(cs)
	if err != nil || n == 0 {
		return cs, 0, err
	}
	out, _, err := j2kRewrite(cs, true)
	if err != nil {
		return nil, 0, err
	}
	return out, n, nil
}

// j2kCount counts COM segments (the gate's check).
func j2kCount(cs []byte) (int, int, error) {
	n := 0
	_, _, err := j2kRewriteFn(cs, func(m uint16, _ []byte) {
		if m == jCOM {
			n++
		}
	}, false)
	return 0, n, err
}

func j2kRewrite(b []byte, drop bool) ([]byte, int, error) {
	return j2kRewriteFn(b, nil, drop)
}

// j2kRewriteFn walks a codestream; with drop it returns a copy without COM
// and TLM segments.
func j2kRewriteFn(b []byte, fn func(m uint16, seg []byte), drop bool) ([]byte, int, error) {
	if len(b) < 4 || binary.BigEndian.Uint16(b) != jSOC {
		return nil, 0, fmt.Errorf("%w: no SOC (a JP2 file, not a codestream?)", errCodestream)
	}
	var out []byte
	if drop {
		out = make([]byte, 0, len(b))
		out = append(out, b[:2]...)
	}
	i := 2
	// Main header: marker segments until the first SOT.
	for {
		if i+4 > len(b) {
			return nil, 0, fmt.Errorf("%w: main header", errCodestream)
		}
		m := binary.BigEndian.Uint16(b[i:])
		if m == jSOT || m == jEOC {
			break
		}
		if m < 0xFF30 {
			return nil, 0, fmt.Errorf("%w: marker expected", errCodestream)
		}
		l := int(binary.BigEndian.Uint16(b[i+2:]))
		if l < 2 || i+2+l > len(b) {
			return nil, 0, fmt.Errorf("%w: segment length", errCodestream)
		}
		seg := b[i : i+2+l]
		if fn != nil {
			fn(m, seg)
		}
		if drop && m != jCOM && m != jTLM {
			out = append(out, seg...)
		}
		i += 2 + l
	}
	// Tile-parts.
	for {
		if i+2 > len(b) {
			return nil, 0, fmt.Errorf("%w: no EOC", errCodestream)
		}
		m := binary.BigEndian.Uint16(b[i:])
		if m == jEOC {
			if drop {
				out = append(out, b[i:i+2]...)
			}
			return out, i + 2, nil
		}
		if m != jSOT || i+12 > len(b) {
			return nil, 0, fmt.Errorf("%w: SOT expected", errCodestream)
		}
		psot := int(binary.BigEndian.Uint32(b[i+6:]))
		tpEnd := i + psot
		if psot == 0 { // the last tile-part runs to EOC
			tpEnd = len(b) - 2
			if binary.BigEndian.Uint16(b[tpEnd:]) != jEOC {
				return nil, 0, fmt.Errorf("%w: no EOC", errCodestream)
			}
		}
		if psot != 0 && (psot < 14 || tpEnd > len(b)) {
			return nil, 0, fmt.Errorf("%w: tile-part length", errCodestream)
		}
		sotStart := len(out)
		if drop {
			out = append(out, b[i:i+12]...)
		}
		if fn != nil {
			fn(jSOT, b[i:i+12])
		}
		j := i + 12
		for {
			if j+2 > tpEnd {
				return nil, 0, fmt.Errorf("%w: tile-part header", errCodestream)
			}
			tm := binary.BigEndian.Uint16(b[j:])
			if tm == jSOD {
				break
			}
			if j+4 > tpEnd {
				return nil, 0, fmt.Errorf("%w: tile-part header", errCodestream)
			}
			l := int(binary.BigEndian.Uint16(b[j+2:]))
			if l < 2 || j+2+l > tpEnd {
				return nil, 0, fmt.Errorf("%w: segment length", errCodestream)
			}
			seg := b[j : j+2+l]
			if fn != nil {
				fn(tm, seg)
			}
			if drop && tm != jCOM {
				out = append(out, seg...)
			}
			j += 2 + l
		}
		if drop {
			out = append(out, b[j:tpEnd]...) // SOD and the tile data
			if psot != 0 {
				binary.BigEndian.PutUint32(out[sotStart+6:], uint32(len(out)-sotStart))
			}
		}
		i = tpEnd
	}
}

// codestreamTextSegments counts the text segments left in the encapsulated
// Pixel Data of an output (the gate's pixel check); an error means the
// codestream cannot be read.
func codestreamTextSegments(e *dicom.Element, ts dicom.TransferSyntax, frames int) (int, error) {
	fam := codestreamFamilyOf(ts)
	switch {
	case ts.UID == rleUID:
		return rleHeaders(e, false)
	case fam == csNone, fam == csRLE:
		return 0, nil
	case fam == csUnknown:
		return 0, fmt.Errorf("%w: %s", errCodestream, ts.Name)
	}
	streams, trailing, err := codestreams(e, fam, frames)
	if err != nil {
		return 0, err
	}
	n := 0
	if trailing {
		n++
	}
	for _, cs := range streams {
		var k int
		if fam == csJ2K {
			_, k, err = j2kCount(cs)
		} else {
			k, err = jpegTextSegments(cs, fam == csJPEGLS)
		}
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

// codestreams joins the fragments of encapsulated Pixel Data and cuts
// them into one codestream per frame; zero padding between codestreams is
// skipped. When frames (if known, > 0) codestreams have been found, any
// other byte after them is trailing data (trailing reports it): it is no
// image, and may be text.
func codestreams(e *dicom.Element, fam codestreamFamily, frames int) (streams [][]byte, trailing bool, err error) {
	if len(e.Fragments) < 2 {
		return nil, false, fmt.Errorf("%w: no fragments", errCodestream)
	}
	var all []byte
	for _, f := range e.Fragments[1:] {
		b, err := f.Bytes()
		if err != nil {
			return nil, false, err
		}
		all = append(all, b...)
	}
	length := func(b []byte) (int, error) { return jpegSegments(b, fam == csJPEGLS, func(byte, []byte) {}) }
	if fam == csJ2K {
		length = j2kLength
	}
	for i := 0; i < len(all); {
		if all[i] == 0 {
			i++
			continue
		}
		if frames > 0 && len(streams) == frames {
			return streams, true, nil
		}
		n, err := length(all[i:])
		if err != nil {
			return nil, false, err
		}
		streams = append(streams, all[i:i+n])
		i += n
	}
	if len(streams) == 0 {
		return nil, false, fmt.Errorf("%w: empty", errCodestream)
	}
	return streams, false, nil
}

// basicOffsetTableOK reports whether the first item of encapsulated pixel
// data is what a Basic Offset Table may be: empty, or one 32-bit offset
// per frame, the first 0, rising, each the start of a fragment item. Any
// other content is not an offset table and can carry text
// (docs/deid.md, "Pixel codestreams").
func basicOffsetTableOK(e *dicom.Element, frames int) bool {
	if len(e.Fragments) == 0 {
		return true
	}
	bot, err := e.Fragments[0].Bytes()
	if err != nil {
		return false
	}
	if len(bot) == 0 {
		return true
	}
	if len(bot) != 4*frames {
		return false
	}
	starts := map[uint64]bool{}
	var off uint64
	for _, f := range e.Fragments[1:] {
		starts[off] = true
		b, err := f.Bytes()
		if err != nil {
			return false
		}
		off += 8 + uint64(len(b))
	}
	prev := int64(-1)
	for i := 0; i < frames; i++ {
		v := binary.LittleEndian.Uint32(bot[4*i:])
		if (i == 0 && v != 0) || int64(v) <= prev || !starts[uint64(v)] {
			return false
		}
		prev = int64(v)
	}
	return true
}

// fixBasicOffsetTable empties a first item that is not a Basic Offset
// Table (an empty table is always valid); it reports whether it did.
func fixBasicOffsetTable(e *dicom.Element, frames int) bool {
	if basicOffsetTableOK(e, frames) {
		return false
	}
	e.Fragments[0] = dicom.NewFragment(nil)
	return true
}

// rleUID is RLE Lossless: one fragment a frame, each starting with a
// header of 16 32-bit words (the segment count, then up to 15 offsets).
const rleUID = "1.2.840.10008.1.2.5"

// rleHeaderJunk checks the header of one RLE frame: a segment count of 1
// to 15, offsets rising from 64 within the frame, and every slot past the
// count zero, as PS3.5 has it. It returns the frame with those slots
// zeroed (a copy, only when something was there) and how many slots held
// something; a header that does not parse is an error.
func rleHeaderJunk(frame []byte) ([]byte, int, error) {
	if len(frame) < 64 {
		return nil, 0, fmt.Errorf("%w: RLE frame shorter than its header", errCodestream)
	}
	count := binary.LittleEndian.Uint32(frame)
	if count < 1 || count > 15 {
		return nil, 0, fmt.Errorf("%w: RLE segment count out of range", errCodestream)
	}
	prev := uint32(0)
	for i := uint32(1); i <= count; i++ {
		off := binary.LittleEndian.Uint32(frame[4*i:])
		if (i == 1 && off != 64) || off < prev || int(off) > len(frame) {
			return nil, 0, fmt.Errorf("%w: RLE segment offsets out of order", errCodestream)
		}
		prev = off
	}
	junk := 0
	out := frame
	for i := count + 1; i < 16; i++ {
		if binary.LittleEndian.Uint32(frame[4*i:]) != 0 {
			if junk == 0 {
				out = append([]byte(nil), frame...)
			}
			junk++
			binary.LittleEndian.PutUint32(out[4*i:], 0)
		}
	}
	return out, junk, nil
}

// rleHeaders checks (and with fix, cleans) the header of every RLE frame
// of e; it returns the count of non-zero unused slots.
func rleHeaders(e *dicom.Element, fix bool) (int, error) {
	n := 0
	for i, f := range e.Fragments {
		if i == 0 {
			continue // the Basic Offset Table
		}
		b, err := f.Bytes()
		if err != nil {
			return 0, err
		}
		out, k, err := rleHeaderJunk(b)
		if err != nil {
			return 0, err
		}
		if k > 0 && fix {
			e.Fragments[i] = dicom.NewFragment(out)
		}
		n += k
	}
	return n, nil
}
