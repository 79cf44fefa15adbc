package dicom

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestLargeCopyStaysOutOfMemory: parsing the 23 MB enhanced MR from a file
// and writing it out keeps Pixel Data in the file: far less memory is
// allocated than the file's size, and the output is identical.
func TestLargeCopyStaysOutOfMemory(t *testing.T) {
	path := gunzipped(t, filepath.Join(sharedTestData(t), "nibabel_philips_mprage.dcm.gz"))
	st, _ := os.Stat(path)
	out := filepath.Join(t.TempDir(), "out.dcm")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(w, f); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f.Close()
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	if pd := f.Dataset.Get(TagPixelData); pd == nil || !pd.IsBulk() {
		t.Fatal("Pixel Data was loaded into memory")
	}
	if allocated > uint64(st.Size())/4 {
		t.Errorf("allocated %d bytes to copy a %d-byte file", allocated, st.Size())
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(out)
	if !bytes.Equal(a, b) {
		t.Fatal("copy differs")
	}
	t.Logf("copied %d bytes with %d bytes allocated", st.Size(), allocated)
}

// TestDecoderStreamsValues walks a file token by token, streaming every
// value through ValueReader from a plain stream (no random access), and
// checks Pixel Data against the parsed tree.
func TestDecoderStreamsValues(t *testing.T) {
	path := filepath.Join(sharedTestData(t), "suyashkumar_4_CR_TCIA.dcm")
	f, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := f.Dataset.Get(TagPixelData).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	// Skip preamble + meta by parsing the meta from a reader first.
	metaLen := int64(132 + 12) // preamble, DICM, (0002,0000): 8-byte header + 4-byte value
	gl, _ := f.Meta.Uint32(TagFileMetaInformationGroupLength)
	metaLen += int64(gl)
	d := NewDecoder(onlyReader{bytes.NewReader(raw[metaLen:])}, f.TransferSyntax, Limits{})
	var got []byte
	n := 0
	for {
		h, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Kind != KindElement {
			continue
		}
		n++
		hash := sha256.New()
		var sink io.Writer = hash
		var buf bytes.Buffer
		if h.Tag == TagPixelData {
			sink = io.MultiWriter(hash, &buf)
		}
		m, err := io.Copy(sink, d.ValueReader())
		if err != nil || m != int64(h.Length) {
			t.Fatalf("%s: streamed %d of %d bytes: %v", h.Tag, m, h.Length, err)
		}
		if h.Tag == TagPixelData {
			got = buf.Bytes()
		}
	}
	plain := 0
	f.Dataset.Walk(func(_ *Dataset, e *Element) bool {
		if !e.IsSequence() && !e.IsEncapsulated() {
			plain++
		}
		return true
	})
	if n != plain {
		t.Errorf("%d element tokens, %d plain elements in the tree", n, plain)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("streamed Pixel Data differs")
	}
}

// TestBareDatasetGuess writes data sets without preamble and meta in each
// uncompressed syntax; ParseFile must guess the syntax (as dcmtk does) and
// read back the same elements.
func TestBareDatasetGuess(t *testing.T) {
	f, err := Open(filepath.Join(sharedTestData(t), "pydicom_CT_small.dcm"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, uid := range []string{ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian} {
		var buf bytes.Buffer
		if err := WriteDataset(&buf, f.Dataset, uid); err != nil {
			t.Fatal(err)
		}
		back, err := ParseFile(bytes.NewReader(buf.Bytes()), nil)
		if err != nil {
			t.Fatalf("%s: %v", uid, err)
		}
		if back.TransferSyntax.UID != uid {
			t.Errorf("guessed %s for %s", back.TransferSyntax.UID, uid)
		}
		if back.Meta != nil || back.Preamble != nil {
			t.Errorf("%s: invented a meta group", uid)
		}
		if d := compareDatasets(f.Dataset, back.Dataset, uid != ImplicitVRLittleEndian); d != "" {
			t.Errorf("%s: %s", uid, d)
		}
	}
}

// TestToleratedLengthsOnStream: the DICOMDIR whose last item claims more
// bytes than the file holds reads the same from a stream as from a file,
// with a warning.
func TestToleratedLengthsOnStream(t *testing.T) {
	var path string
	for _, p := range untarred(t, filepath.Join(sharedTestData(t), "pydicom_dicomdirtests.tar.gz")) {
		if filepath.Base(p) == "DICOMDIR-nooffset" {
			path = p
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseFile(bytes.NewReader(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseFile(onlyReader{bytes.NewReader(raw)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) == 0 || len(b.Warnings) == 0 {
		t.Fatalf("no warnings: %v / %v", a.Warnings, b.Warnings)
	}
	if d := compareDatasets(a.Dataset, b.Dataset, true); d != "" {
		t.Fatal(d)
	}
}
