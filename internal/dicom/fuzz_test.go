package dicom

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// addSeeds adds the small sample files as seed inputs.
func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(sharedTestData(f), "*.dcm"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil && len(b) <= 64<<10 {
			f.Add(b)
		}
	}
	f.Add(part10(ExplicitVRLittleEndian, nestedSequences(5)))
}

// FuzzParseFile: any input either fails with a *ParseError or parses into
// a data set that we can write and read back to the same elements.
func FuzzParseFile(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := &ParseOptions{Limits: Limits{MaxMemory: 64 << 20}}
		file, err := ParseFile(bytes.NewReader(data), opts)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteFile(&buf, file); err != nil {
			t.Fatalf("parsed but cannot write: %v", err)
		}
		back, err := ParseFile(bytes.NewReader(buf.Bytes()), opts)
		if err != nil {
			t.Fatalf("cannot re-read our own output: %v", err)
		}
		if d := compareDatasets(file.Dataset, back.Dataset, false); d != "" {
			t.Fatalf("re-read differs: %s", d)
		}
		// Writing is a fixed point: what we wrote, read and written again
		// is the same bytes (group lengths included, now recomputed).
		var again bytes.Buffer
		if err := WriteFile(&again, back); err != nil {
			t.Fatalf("cannot write our own output again: %v", err)
		}
		if !bytes.Equal(buf.Bytes(), again.Bytes()) {
			t.Fatalf("second write differs from the first (%d vs %d bytes)", buf.Len(), again.Len())
		}
	})
}

// FuzzDecoder drives the token decoder directly in each uncompressed
// syntax, streaming every value: no panic, and it always terminates.
func FuzzDecoder(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, uid := range []string{ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian} {
			ts, _ := LookupTransferSyntax(uid)
			d := NewDecoder(bytes.NewReader(data), ts, Limits{})
			for n := 0; ; n++ {
				if n > len(data) {
					t.Fatalf("%s: more tokens (%d) than input bytes", uid, n)
				}
				h, err := d.Next()
				if err != nil {
					break
				}
				if h.Kind == KindElement || h.Kind == KindFragment {
					if _, err := io.Copy(io.Discard, d.ValueReader()); err != nil {
						break
					}
				}
			}
		}
	})
}
