package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
)

// TestTemplatesAndCopies makes the C-STORE benchmark's templates and a few
// copies and checks their sizes, geometry and UIDs.
func TestTemplatesAndCopies(t *testing.T) {
	dir := t.TempDir()
	if err := Templates(sampledata.Dir(t), dir); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string][2]int64{"small_MR.dcm": {9000, 10500}, "ct512.dcm": {525000, 540000}} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() < size[0] || st.Size() > size[1] {
			t.Errorf("%s: %d bytes, want %d-%d", name, st.Size(), size[0], size[1])
		}
	}
	f, err := dicom.Open(filepath.Join(dir, "ct512.dcm"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := f.Dataset.Uint16(dicom.MustTag("Rows"))
	cols, _ := f.Dataset.Uint16(dicom.MustTag("Columns"))
	px := f.Dataset.Get(dicom.TagPixelData)
	if rows != 512 || cols != 512 || px == nil || px.Len() != 512*512*2 {
		t.Errorf("ct512: %dx%d, pixel data %v", rows, cols, px)
	}
	f.Close()

	for _, tpl := range []string{"small_MR.dcm", "ct512.dcm"} {
		out := filepath.Join(dir, "copies-"+tpl)
		if err := Copies(filepath.Join(dir, tpl), out, 12); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		st, _ := os.Stat(filepath.Join(dir, tpl))
		for i := range 12 {
			p := filepath.Join(out, fmt.Sprintf("%06d.dcm", i))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(b)) != st.Size() {
				t.Errorf("%s: %d bytes, template %d", p, len(b), st.Size())
			}
			c, err := dicom.Open(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			uid := c.Dataset.String(dicom.TagSOPInstanceUID)
			if seen[uid] || uid != c.Meta.String(dicom.TagMediaStorageSOPInstanceUID) {
				t.Errorf("%s: SOP Instance UID %s (meta %s) repeated or inconsistent", p, uid, c.Meta.String(dicom.TagMediaStorageSOPInstanceUID))
			}
			seen[uid] = true
			c.Close()
		}
	}
}

// TestTemplatesPassDeidentification: both templates go through the
// built-in research-default profile (what aisedge run applies in the
// benchmark) without being quarantined, so "run" times the full path.
func TestTemplatesPassDeidentification(t *testing.T) {
	dir := t.TempDir()
	if err := Templates(sampledata.Dir(t), dir); err != nil {
		t.Fatal(err)
	}
	raw, err := deid.BuiltinProfile("research-default")
	if err != nil {
		t.Fatal(err)
	}
	p, err := deid.LoadProfile(raw)
	if err != nil {
		t.Fatal(err)
	}
	k, err := deid.NewKeys("5be0c3a1d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f")
	if err != nil {
		t.Fatal(err)
	}
	e, err := deid.New(deid.Config{Profile: p, Keys: k, Site: "BENCH", ProjectCode: "BENCH"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"small_MR.dcm", "ct512.dcm"} {
		f, err := dicom.Open(filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Deidentify(f, deid.Options{})
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Quarantined() {
			t.Errorf("%s is quarantined: %v", name, res.Reasons)
		}
	}
}

// TestCreateCost: the probe creates its files in the folder (made if
// missing), measures a cost and leaves the folder empty.
func TestCreateCost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "probe")
	us, err := CreateCost(dir, 50)
	if err != nil {
		t.Fatal(err)
	}
	if us < 0 {
		t.Errorf("cost %v µs", us)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("left %v (%v)", ents, err)
	}
	if _, err := CreateCost(filepath.Join(dir, "missing", "\x00"), 1); err == nil {
		t.Error("an impossible folder gave no error")
	}
}
