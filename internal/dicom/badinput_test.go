package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// explicitLE encodes one explicit VR little endian element header and value.
func explicitLE(tag Tag, vr VR, length uint32, value []byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint16(b, tag.Group())
	b = binary.LittleEndian.AppendUint16(b, tag.Element())
	b = append(b, byte(vr>>8), byte(vr))
	if vr.LongHeader() {
		b = append(b, 0, 0)
		b = binary.LittleEndian.AppendUint32(b, length)
	} else {
		b = binary.LittleEndian.AppendUint16(b, uint16(length))
	}
	return append(b, value...)
}

func itemHeader(tag Tag, length uint32) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint16(b, tag.Group())
	b = binary.LittleEndian.AppendUint16(b, tag.Element())
	return binary.LittleEndian.AppendUint32(b, length)
}

// nestedSequences builds depth sequences of undefined length, each holding
// one item with the next.
func nestedSequences(depth int) []byte {
	var b []byte
	sq := NewTag(0x0040, 0xA730) // ContentSequence
	for range depth {
		b = append(b, explicitLE(sq, SQ, UndefinedLength, nil)...)
		b = append(b, itemHeader(TagItem, UndefinedLength)...)
	}
	b = append(b, explicitLE(NewTag(0x0040, 0xA040), CS, 4, []byte("TEXT"))...)
	for range depth {
		b = append(b, itemHeader(TagItemDelimitationItem, 0)...)
		b = append(b, itemHeader(TagSequenceDelimitationItem, 0)...)
	}
	return b
}

func part10(ts string, body []byte) []byte {
	var buf bytes.Buffer
	meta := NewFileMeta("1.2.840.10008.5.1.4.1.1.7", "1.2.3.4", ts)
	if err := WriteFileHeader(&buf, meta); err != nil {
		panic(err)
	}
	buf.Write(body)
	return buf.Bytes()
}

// onlyReader hides every interface but io.Reader (a network stream).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestBadInput(t *testing.T) {
	dir := sharedTestData(t)
	truncated, err := os.ReadFile(filepath.Join(dir, "pydicom_MR_truncated.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 300)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	garbage[128], garbage[129], garbage[130], garbage[131] = 'X', 'Y', 'Z', 'W'
	patientName := NewTag(0x0010, 0x0010)
	pastEnd := explicitLE(patientName, LO, 0x1000, []byte("Doe^"))
	bigValue := explicitLE(NewTag(0x0009, 0x1010), OB, 2048, make([]byte, 2048))
	badItem := append(explicitLE(NewTag(0x0008, 0x1115), SQ, UndefinedLength, nil), explicitLE(patientName, PN, 4, []byte("Doe^"))...)

	tests := []struct {
		name  string
		data  []byte
		opts  *ParseOptions
		kind  error
		plain bool // a bare data set, not wrapped in Part 10
	}{
		{"pydicom truncated file", truncated, nil, ErrTruncated, true},
		{"garbage instead of DICM", garbage, nil, ErrNotDICOM, true},
		{"empty input", nil, nil, ErrNotDICOM, true},
		{"DICM then garbage", append(make([]byte, 128), append([]byte("DICM"), garbage[:64]...)...), nil, ErrMalformed, true},
		{"length past the end", pastEnd, nil, ErrTruncated, false},
		{"nesting deeper than 64", nestedSequences(70), nil, ErrLimit, false},
		{"value over the length cap", bigValue, &ParseOptions{Limits: Limits{MaxValueLength: 1024}}, ErrLimit, false},
		{"values over the memory cap", bigValue, &ParseOptions{Limits: Limits{MaxMemory: 1024}, BulkThreshold: -1}, ErrLimit, false},
		{"element where an item belongs", badItem, nil, ErrMalformed, false},
		{"unterminated undefined-length sequence", nestedSequences(3)[:60], nil, ErrTruncated, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			if !tc.plain {
				data = part10(ExplicitVRLittleEndian, data)
			}
			for _, src := range []struct {
				name string
				r    io.Reader
			}{{"file-like", bytes.NewReader(data)}, {"stream", onlyReader{bytes.NewReader(data)}}} {
				_, err := ParseFile(src.r, tc.opts)
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("%s: got %v, want a *ParseError", src.name, err)
				}
				if !errors.Is(err, tc.kind) {
					t.Errorf("%s: got %v, want kind %v", src.name, err, tc.kind)
				}
				if pe.Offset < 0 || pe.Offset > int64(len(data)) {
					t.Errorf("%s: offset %d outside the input (%d bytes)", src.name, pe.Offset, len(data))
				}
				t.Logf("%s: %v", src.name, err)
			}
		})
	}
}

// TestToleratedOverrun: an item whose declared length runs past its
// sequence ends with the sequence, with a warning (as dcmtk reads it).
func TestToleratedOverrun(t *testing.T) {
	body := append(explicitLE(NewTag(0x0008, 0x1115), SQ, 20, nil), itemHeader(TagItem, 100)...)
	body = append(body, explicitLE(NewTag(0x0008, 0x1150), UI, 4, []byte("1.2\x00"))...)
	body = append(body, explicitLE(NewTag(0x0010, 0x0020), LO, 2, []byte("ID"))...)
	for _, r := range []io.Reader{bytes.NewReader(part10(ExplicitVRLittleEndian, body)), onlyReader{bytes.NewReader(part10(ExplicitVRLittleEndian, body))}} {
		f, err := ParseFile(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Warnings) != 1 {
			t.Errorf("warnings %v", f.Warnings)
		}
		sq := f.Dataset.Get(NewTag(0x0008, 0x1115))
		if sq == nil || len(sq.Items) != 1 || sq.Items[0].String(NewTag(0x0008, 0x1150)) != "1.2" || f.Dataset.String(NewTag(0x0010, 0x0020)) != "ID" {
			t.Errorf("wrong structure")
		}
	}
}

// TestNestingWithinLimit: 64 levels are fine.
func TestNestingWithinLimit(t *testing.T) {
	f, err := ParseFile(bytes.NewReader(part10(ExplicitVRLittleEndian, nestedSequences(64))), nil)
	if err != nil {
		t.Fatal(err)
	}
	depth := 0
	for ds := f.Dataset; ds.Len() > 0 && ds.Elements()[0].Items != nil; ds = ds.Elements()[0].Items[0] {
		depth++
	}
	if depth != 64 {
		t.Fatalf("depth %d", depth)
	}
}

// TestLyingLengthOnStream: a stream that claims a 3 GB value must fail as
// truncated without allocating anything like that.
func TestLyingLengthOnStream(t *testing.T) {
	data := part10(ExplicitVRLittleEndian, explicitLE(TagPixelData, OB, 3<<30, make([]byte, 100)))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ParseFile(onlyReader{bytes.NewReader(data)}, &ParseOptions{BulkThreshold: -1, Limits: Limits{MaxMemory: 4 << 30}})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want truncated", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("allocated %d bytes for a 3 GB claim", grew)
	}
}

// TestTruncatedEverywhere cuts a file at many points: each cut either
// parses (a cut between top-level elements) or fails with a ParseError;
// nothing panics.
func TestTruncatedEverywhere(t *testing.T) {
	for _, name := range []string{"pydicom_JPEG2000.dcm", "pydicom_test-SR.dcm", "pydicom_UN_sequence.dcm", "pydicom_MR_small_bigendian.dcm", "pydicom_image_dfl.dcm"} {
		data, err := os.ReadFile(filepath.Join(sharedTestData(t), name))
		if err != nil {
			t.Fatal(err)
		}
		fails := 0
		for cut := 0; cut < len(data); cut += 7 {
			_, err := ParseFile(bytes.NewReader(data[:cut]), nil)
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("%s cut at %d: %T %v is not a ParseError", name, cut, err, err)
				}
				fails++
			}
		}
		if fails == 0 {
			t.Errorf("%s: no cut failed", name)
		}
	}
}

// TestWriteFileHeaderOnly: the header of a deflated file is the meta group
// and nothing else (the caller streams the deflated data set after it).
func TestWriteFileHeaderOnly(t *testing.T) {
	var buf bytes.Buffer
	meta := NewFileMeta("1.2.840.10008.5.1.4.1.1.7", "1.2.3", DeflatedExplicitVRLittleEndian)
	if err := WriteFileHeader(&buf, meta); err != nil {
		t.Fatal(err)
	}
	gl := binary.LittleEndian.Uint32(buf.Bytes()[140:144]) // (0002,0000) value as written
	if want := 132 + 12 + int(gl); buf.Len() != want {
		t.Fatalf("header is %d bytes, want %d (meta only)", buf.Len(), want)
	}
}

// TestErrorsShowNoValueBytes: a length field read from a misaligned or
// mislabelled element may be four bytes of a value ("SMIT" reads as
// 1414090067). Errors reach logs and C-STORE responses, so they name tag,
// offset and kind, never that number.
func TestErrorsShowNoValueBytes(t *testing.T) {
	var b []byte
	b = append(b, make([]byte, 128)...)
	b = append(b, "DICM"...)
	meta := func(tag uint32, vr, v string) {
		b = append(b, byte(tag>>16), byte(tag>>24), byte(tag), byte(tag>>8), vr[0], vr[1], byte(len(v)), byte(len(v)>>8))
		b = append(b, v...)
	}
	tsUID := "1.2.840.10008.1.2.1\x00"
	meta(0x00020010, "UI", tsUID)
	// Group length first: build the group without it, then prepend.
	group := b[132:]
	gl := append([]byte{2, 0, 0, 0, 'U', 'L', 4, 0}, byte(len(group)), byte(len(group)>>8), 0, 0)
	b = append(append(append([]byte(nil), b[:132]...), gl...), group...)
	// (0010,0010) labelled OB: its 4-byte length is read from the name.
	b = append(b, 0x10, 0x00, 0x10, 0x00, 'O', 'B', 0, 0)
	b = append(b, "SMITH^JOHN"...)
	_, err := ReadFileBytes(b, nil)
	if err == nil {
		t.Fatal("a length past the end of the data was accepted")
	}
	for _, bad := range []string{"1414090067", "54494d53", "SMIT"} {
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(bad)) {
			t.Errorf("error shows value bytes (%s): %v", bad, err)
		}
	}
	if !strings.Contains(err.Error(), "(0010,0010)") {
		t.Errorf("error does not name the tag: %v", err)
	}
}
