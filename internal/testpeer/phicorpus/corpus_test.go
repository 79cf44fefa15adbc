package phicorpus

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
)

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCorpusShape: enough identifiers of enough kinds in every class,
// deterministic for a seed, every file readable by our codec.
func TestCorpusShape(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	m := Generate(t, a, DefaultSeed)
	m2 := Generate(t, b, DefaultSeed)
	t.Log(m.Summary())
	if len(m.Planted) < 300 || len(m.Kinds()) < 30 {
		t.Errorf("%d planted identifiers of %d kinds; want at least 300 of 30", len(m.Planted), len(m.Kinds()))
	}
	perClass := map[string]int{}
	for _, p := range m.Planted {
		perClass[p.Class]++
	}
	for _, c := range Classes {
		if perClass[c.Name] == 0 {
			t.Errorf("class %s has no planted identifier", c.Name)
		}
	}
	if !bytes.Equal(m.JSON(), m2.JSON()) {
		t.Error("two generations with one seed differ in their manifests")
	}
	for _, f := range m.Files {
		x, y := readFile(t, a, f.Name), readFile(t, b, f.Name)
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two generations with one seed", f.Name)
		}
		df, err := dicom.ReadFileBytes(x, nil)
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		if got := df.Dataset.String(dicom.TagSOPInstanceUID); got != f.SOPInstanceUID {
			t.Errorf("%s: SOP Instance UID %s, manifest %s", f.Name, got, f.SOPInstanceUID)
		}
	}
	seen := map[string]string{}
	for _, f := range m.Files {
		if o, dup := seen[f.SOPInstanceUID]; dup {
			t.Errorf("%s and %s share SOP Instance UID %s", o, f.Name, f.SOPInstanceUID)
		}
		seen[f.SOPInstanceUID] = f.Name
	}
	if m3 := Generate(t, t.TempDir(), DefaultSeed+1); bytes.Equal(m3.JSON(), m.JSON()) {
		t.Error("another seed gives the same corpus")
	}
}

// TestCorpusSelfCheck proves the scanner on the corpus itself: every
// identifier planted in a file is found in that file's bytes, in the
// element it was planted in; and nothing is found in the untouched sample
// files the corpus starts from (no needle occurs there by chance).
func TestCorpusSelfCheck(t *testing.T) {
	dir := t.TempDir()
	m := Generate(t, dir, DefaultSeed)
	s := mustScanner(t, m)
	byFile := map[string][]Hit{}
	for _, f := range m.Files {
		byFile[f.Name] = s.ScanBytes("input", f.Name, readFile(t, dir, f.Name))
	}
	missing := 0
	for _, p := range m.Planted {
		if !p.InFile() {
			continue
		}
		found := false
		for _, h := range byFile[p.File] {
			for _, id := range h.Planted {
				if id == p.ID && (p.Scope == ScopeLabels || LocationMatches(p.Path, h.Location)) {
					found = true
				}
			}
		}
		if p.Scope == ScopeLabels {
			// Label-scope values are searched in labels only: check the
			// value is in the file at least.
			for _, h := range s.ScanLabel("input", p.File, readFile(t, dir, p.File)) {
				for _, id := range h.Planted {
					found = found || id == p.ID
				}
			}
		}
		if !found {
			missing++
			t.Errorf("#%d %s %s (%s at %s in %s, %q) is not found in its own file at its location", p.ID, p.Class, p.Kind, p.Route, p.Path, p.File, p.Needles)
		}
	}
	if missing == 0 {
		t.Logf("every in-file planted identifier (of %d) found in its file at its location", len(m.Planted))
	}

	// The pristine samples the corpus starts from hold none of the needles.
	samples := sampledata.Dir(t)
	bases := map[string]bool{}
	for _, f := range m.Files {
		if f.Base != "synthetic" {
			bases[f.Base] = true
		}
	}
	for name := range bases {
		for _, h := range s.ScanBytes("sample", name, readFile(t, samples, name)) {
			t.Errorf("a needle occurs in the untouched sample: %s", h)
		}
	}
}

// TestCorpusCodestreamsDecode: the codestreams with planted text still
// decode (dcmtk for JPEG and JPEG-LS, GDCM/OpenJPEG for JPEG 2000 and
// JP2), so a de-identifier that strips the text keeps a valid image.
func TestCorpusCodestreamsDecode(t *testing.T) {
	dir := t.TempDir()
	m := Generate(t, dir, DefaultSeed)
	tools := map[string][]string{"jpeg": {"dcmdjpeg"}, "jpeg-ls": {"dcmdjpls"}, "j2k": {"gdcmconv", "--raw"}, "jp2": {"gdcmconv", "--raw"}}
	n := 0
	for _, f := range m.Files {
		if f.Codestream == "" {
			continue
		}
		tool := tools[f.Codestream]
		if _, err := exec.LookPath(tool[0]); err != nil {
			t.Logf("%s not installed: %s not decoded", tool[0], f.Name)
			continue
		}
		out := filepath.Join(t.TempDir(), "out.dcm")
		args := append(append([]string(nil), tool[1:]...), filepath.Join(dir, filepath.FromSlash(f.Name)), out)
		if b, err := exec.Command(tool[0], args...).CombinedOutput(); err != nil {
			t.Errorf("%s: %s %v: %v\n%s", f.Name, tool[0], args, err, b)
			continue
		}
		df, err := dicom.Open(out, nil)
		if err != nil {
			t.Errorf("%s: decoded output unreadable: %v", f.Name, err)
			continue
		}
		if df.TransferSyntax.Encapsulated {
			t.Errorf("%s: %s left it encapsulated", f.Name, tool[0])
		}
		df.Close()
		n++
	}
	t.Logf("%d codestreams decoded", n)
}
