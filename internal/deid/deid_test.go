package deid

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

var update = flag.Bool("update", false, "rewrite golden files")

// pyCheck runs the independent pydicom reader on outputs and fails the
// test on any unreadable file or planted value found.
func pyCheck(t *testing.T, c *canaries, files ...string) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import pydicom").Run(); err != nil {
		t.Skip("pydicom not importable by /usr/bin/python3")
	}
	cj, _ := json.Marshal(c)
	cf := filepath.Join(t.TempDir(), "canaries.json")
	os.WriteFile(cf, cj, 0o644)
	out, err := exec.Command("/usr/bin/python3", append([]string{"testdata/check_phi.py", cf}, files...)...).Output()
	if err != nil {
		t.Fatalf("check_phi.py: %v", err)
	}
	var res struct {
		Files map[string]struct {
			Error *string  `json:"error"`
			Hits  []string `json:"hits"`
		} `json:"files"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("check_phi.py output: %v", err)
	}
	if len(res.Files) != len(files) {
		t.Fatalf("pydicom checked %d of %d files", len(res.Files), len(files))
	}
	for _, f := range files {
		r := res.Files[f]
		if r.Error != nil {
			t.Errorf("pydicom cannot read %s: %s", filepath.Base(f), *r.Error)
		}
		for _, h := range r.Hits {
			t.Errorf("pydicom found planted PHI in %s: %s", filepath.Base(f), h)
		}
	}
}

// dcmdumpCheck fails if dcmtk's dcmdump reports a problem reading f.
func dcmdumpCheck(t *testing.T, f string) {
	t.Helper()
	if _, err := exec.LookPath("dcmdump"); err != nil {
		t.Skip("no dcmdump")
	}
	out, err := exec.Command("dcmdump", "-q", "-dc", f).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("E: ")) || bytes.Contains(out, []byte("W: ")) {
		t.Errorf("dcmdump %s: %v\n%s", filepath.Base(f), err, firstLines(out, 10))
	}
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

var (
	uidLikeRE = regexp.MustCompile(`[0-9]+(\.[0-9]+){2,}`)
	angleRE   = regexp.MustCompile(`<[^>]*>`)
	numRE     = regexp.MustCompile(`[0-9]+`)
)

// dciodvfyErrors returns the normalised error lines of dciodvfy, or nil
// and false when the file cannot be read by it at all.
func dciodvfyErrors(path string) (map[string]bool, bool) {
	out, _ := exec.Command("dciodvfy", path).CombinedOutput()
	if bytes.Contains(out, []byte("Dicom dataset read failed")) {
		return nil, false
	}
	errs := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.Contains(l, "Error") {
			continue
		}
		l = uidLikeRE.ReplaceAllString(l, "<uid>")
		l = angleRE.ReplaceAllString(l, "<v>")
		l = numRE.ReplaceAllString(l, "N")
		errs[l] = true
	}
	return errs, true
}

// dciodvfyNoNewErrors fails on dciodvfy errors in the output that the
// input did not have. allowed lists normalised messages expected from
// de-identification itself.
func dciodvfyNoNewErrors(t *testing.T, in, out string, allowed ...string) {
	t.Helper()
	if _, err := exec.LookPath("dciodvfy"); err != nil {
		t.Skip("no dciodvfy")
	}
	before, ok := dciodvfyErrors(in)
	if !ok {
		return // the input itself is unreadable to dciodvfy (e.g. deflated)
	}
	after, ok := dciodvfyErrors(out)
	if !ok {
		t.Errorf("dciodvfy cannot read the output %s", filepath.Base(out))
		return
	}
next:
	for e := range after {
		if before[e] {
			continue
		}
		for _, a := range allowed {
			if strings.Contains(e, a) {
				continue next
			}
		}
		t.Errorf("dciodvfy: new error in %s: %s", filepath.Base(out), e)
		if os.Getenv("DEID_KEEP") != "" {
			raw, _ := exec.Command("dciodvfy", out).CombinedOutput()
			t.Logf("%s", raw)
		}
	}
}

// dump renders a file as a value-free-of-PHI golden text: every element
// at every depth with its VR and output value (outputs carry no original
// values, so they can be shown); bulk values as length and hash.
func dump(f *dicom.File) string {
	var b strings.Builder
	var walk func(ds *dicom.Dataset, indent string)
	walk = func(ds *dicom.Dataset, indent string) {
		for _, e := range ds.Elements() {
			fmt.Fprintf(&b, "%s%s %s", indent, e.Tag, e.VR)
			switch {
			case e.IsSequence():
				fmt.Fprintf(&b, " (%d items)\n", len(e.Items))
				for i, it := range e.Items {
					if len(e.Items) > 4 && i >= 2 && i < len(e.Items)-1 {
						if i == 2 {
							// Long sequences (per-frame groups): the middle
							// items as a hash of their dump.
							h := sha256.New()
							for _, mid := range e.Items[2 : len(e.Items)-1] {
								h.Write([]byte(dump(&dicom.File{Meta: dicom.NewDataset(), Dataset: mid})))
							}
							fmt.Fprintf(&b, "%s  [2..%d] sha256:%x\n", indent, len(e.Items)-2, h.Sum(nil)[:6])
						}
						continue
					}
					fmt.Fprintf(&b, "%s  [%d]\n", indent, i)
					walk(it, indent+"    ")
				}
				continue
			case e.IsEncapsulated():
				fmt.Fprintf(&b, " (%d fragments)\n", len(e.Fragments))
				continue
			case e.VR.IsText():
				v, _ := ds.Text(e.Tag)
				if len(v) > 100 {
					v = v[:100] + "…"
				}
				fmt.Fprintf(&b, " [%s]\n", v)
				continue
			}
			raw, _ := e.Bytes()
			sum := sha256.Sum256(raw)
			if len(raw) <= 16 {
				fmt.Fprintf(&b, " %x\n", raw)
			} else {
				fmt.Fprintf(&b, " <%d bytes sha256:%s>\n", len(raw), hex.EncodeToString(sum[:6]))
			}
		}
	}
	b.WriteString("# meta\n")
	walk(f.Meta, "")
	b.WriteString("# data set\n")
	walk(f.Dataset, "")
	return b.String()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update)", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("golden %s differs (run go test -run %s -update and review the diff)\n%s", name, t.Name(), diffLines(string(want), string(got)))
	}
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

// processDir runs ProcessFile on each input and returns the outcomes.
func processAll(t *testing.T, e *Engine, inputs []string) (outDir string, outs []*Outcome) {
	t.Helper()
	outDir = filepath.Join(t.TempDir(), "out")
	for _, in := range inputs {
		o, err := e.ProcessFile(context.Background(), in, outDir)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(in), err)
		}
		outs = append(outs, o)
	}
	return outDir, outs
}

func requireDeidentified(t *testing.T, name string, o *Outcome) {
	t.Helper()
	if o.Quarantined() {
		var rs []string
		for _, r := range o.Reasons {
			rs = append(rs, r.String())
		}
		t.Fatalf("%s quarantined:\n  %s", name, strings.Join(rs, "\n  "))
	}
}

// TestSyntheticPHI is the main acceptance test: synthetic instances with
// PHI planted everywhere, in three character sets, go through the default
// profile; the outputs must pass the gate, be readable by pydicom and
// dcmdump with none of the planted values, add no dciodvfy errors, and
// match their golden dumps.
func TestSyntheticPHI(t *testing.T) {
	for _, prof := range []string{"research-default", "basic"} {
		t.Run(prof, func(t *testing.T) { testSynthetic(t, prof) })
	}
}

// basicProfile is the PS3.15 basic profile with only Clean Structured
// Content (so that SR documents are not quarantined).
const basicProfile = `{"Name": "basic", "Options": ["CleanStructuredContent"]}`

func testSynthetic(t *testing.T, prof string) {
	var p *Profile
	if prof == "basic" {
		var err error
		if p, err = LoadProfile([]byte(basicProfile)); err != nil {
			t.Fatal(err)
		}
	} else {
		p = MustBuiltin(prof)
	}
	e := testEngine(t, p)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			st := newSynthStudy(1)
			mr, c := synthMR(t, v, st, 1)
			sr, c2 := synthSR(t, v, st)
			c.merge(c2)
			if !p.Options.Has(OptRetainDeviceIdentity) {
				c.Words = append(c.Words, c.Device...)
			}
			inMR, inSR := filepath.Join(dir, "mr.dcm"), filepath.Join(dir, "sr.dcm")
			writeSynth(t, mr, inMR)
			writeSynth(t, sr, inSR)
			_, outs := processAll(t, e, []string{inMR, inSR})
			requireDeidentified(t, "MR", outs[0])
			requireDeidentified(t, "SR", outs[1])
			files := []string{outs[0].OutputPath, outs[1].OutputPath}
			pyCheck(t, c, files...)
			for i, f := range files {
				dcmdumpCheck(t, f)
				dciodvfyNoNewErrors(t, []string{inMR, inSR}[i], f)
				of, err := dicom.Open(f, nil)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, fmt.Sprintf("synth-%s-%s-%s.txt", prof, v.name, []string{"mr", "sr"}[i]), []byte(dump(of)))
				of.Close()
				golden(t, fmt.Sprintf("synth-%s-%s-%s.report.json", prof, v.name, []string{"mr", "sr"}[i]), outs[i].Report.JSON())
				assertValueFree(t, "report", outs[i].Report.JSON(), c)
			}
			// Same study ⇒ same new Study Instance UID and pseudonyms.
			a, _ := dicom.Open(files[0], nil)
			b, _ := dicom.Open(files[1], nil)
			defer a.Close()
			defer b.Close()
			for _, tag := range []dicom.Tag{dicom.TagStudyInstanceUID, tagPatientID, tagAccessionNumber} {
				if x, y := a.Dataset.String(tag), b.Dataset.String(tag); x != y || x == "" {
					t.Errorf("%s differs between instances of one study: %q vs %q", tag, x, y)
				}
			}
		})
	}
}

// TestDeterministic: the same input twice gives byte-identical output, and
// two instances of one study keep one Study Instance UID.
func TestDeterministic(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	dir := t.TempDir()
	st := newSynthStudy(2)
	var ins []string
	for i := 1; i <= 2; i++ {
		f, _ := synthMR(t, variants[0], st, i)
		p := filepath.Join(dir, fmt.Sprintf("mr%d.dcm", i))
		writeSynth(t, f, p)
		ins = append(ins, p)
	}
	_, o1 := processAll(t, e, []string{ins[0], ins[1]})
	_, o2 := processAll(t, testEngine(t, MustBuiltin("research-default")), []string{ins[0]})
	for _, o := range append(o1, o2...) {
		requireDeidentified(t, "MR", o)
	}
	b1, _ := os.ReadFile(o1[0].OutputPath)
	b2, _ := os.ReadFile(o2[0].OutputPath)
	if !bytes.Equal(b1, b2) {
		t.Error("same input, profile and key gave different bytes")
	}
	f1, _ := dicom.Open(o1[0].OutputPath, nil)
	f2, _ := dicom.Open(o1[1].OutputPath, nil)
	defer f1.Close()
	defer f2.Close()
	if f1.Dataset.String(dicom.TagStudyInstanceUID) != f2.Dataset.String(dicom.TagStudyInstanceUID) {
		t.Error("two instances of one study got different Study Instance UIDs")
	}
	if f1.Dataset.String(dicom.TagSeriesInstanceUID) != f2.Dataset.String(dicom.TagSeriesInstanceUID) {
		t.Error("two instances of one series got different Series Instance UIDs")
	}
	if f1.Dataset.String(dicom.TagSOPInstanceUID) == f2.Dataset.String(dicom.TagSOPInstanceUID) {
		t.Error("two instances got the same SOP Instance UID")
	}
	if filepath.Dir(o1[0].OutputPath) != filepath.Dir(o1[1].OutputPath) {
		t.Error("two instances of one study landed in different session folders")
	}
	// A different key changes everything.
	k2, _ := NewKeys(strings.Repeat("ab", 32))
	e2, _ := New(Config{Profile: MustBuiltin("research-default"), Keys: k2, Site: "SITE1", ProjectCode: "PRJ"})
	_, o3 := processAll(t, e2, []string{ins[0]})
	f3, _ := dicom.Open(o3[0].OutputPath, nil)
	defer f3.Close()
	if f3.Dataset.String(dicom.TagStudyInstanceUID) == f1.Dataset.String(dicom.TagStudyInstanceUID) {
		t.Error("rotating the key did not change the UIDs")
	}
}

// plantPHI adds identifying values to a shared test file (many of which
// are phantoms without any) so that every file exercises the gate.
func plantPHI(t *testing.T, ds *dicom.Dataset) *canaries {
	t.Helper()
	c := &canaries{}
	set := func(kw string, vr dicom.VR, v string) {
		if err := ds.SetText(dicom.MustTag(kw), vr, v); err != nil {
			t.Fatalf("%s: %v", kw, err)
		}
	}
	if cs, _ := ds.CharacterSet(); true {
		_ = cs
		c.Charsets = append(c.Charsets, strings.Join(ds.Strings(dicom.TagSpecificCharacterSet), `\`))
	}
	set("PatientName", dicom.PN, "Plantedfamily^Plantedgiven")
	set("PatientID", dicom.LO, "PLANTMRN4455")
	set("ReferringPhysicianName", dicom.PN, "Plantreferrer^Doc")
	set("InstitutionName", dicom.LO, "Planted Canary Infirmary")
	set("PatientAddress", dicom.LO, "7 Plantedroad Canaryburg")
	ds.SetString(dicom.MustTag("PatientBirthDate"), dicom.DA, "19470211")
	ds.SetString(dicom.MustTag("AccessionNumber"), dicom.SH, "PLANTACC889")
	ops := dicom.NewDataset()
	ds.SetSequence(dicom.MustTag("OtherPatientIDsSequence"), ops)
	ds.Get(dicom.MustTag("OtherPatientIDsSequence")).Items[0].SetString(tagPatientID, dicom.LO, "PLANTOTHER777")
	ds.SetString(dicom.NewTag(0x0033, 0x0010), dicom.LO, "PLANT PRIVATE")
	ds.SetString(dicom.NewTag(0x0033, 0x1001), dicom.LO, "Plantedfamily^Plantedgiven")
	c.Names = []string{"Plantedfamily^Plantedgiven", "Plantreferrer^Doc"}
	c.Words = []string{"PLANTMRN4455", "Planted Canary Infirmary", "Plantedroad", "Canaryburg", "PLANTACC889", "PLANTOTHER777", "Plantreferrer"}
	c.Dates = []string{"19470211"}
	return c
}

// TestSharedFiles runs every shared test file (with PHI planted) through
// the default profile (pixel risk cleared for the test: most are
// secondary captures) and checks outputs like TestSyntheticPHI.
func TestSharedFiles(t *testing.T) {
	e := testEngine(t, testProfile(t, ""))
	src := sharedDir(t)
	ents, _ := os.ReadDir(src)
	tmp := t.TempDir()
	var inputs, names []string
	all := &canaries{}
	for _, ent := range ents {
		n := ent.Name()
		if !strings.HasSuffix(n, ".dcm") && !strings.HasSuffix(n, ".dcm.gz") {
			continue
		}
		p := filepath.Join(src, n)
		if strings.HasSuffix(n, ".gz") {
			if testing.Short() {
				continue
			}
			p = mprage(t)
			n = strings.TrimSuffix(n, ".gz")
		}
		f, err := dicom.Open(p, nil)
		if err != nil {
			continue // the truncated file: covered by TestInvalidInput
		}
		if f.Dataset.String(dicom.TagSOPInstanceUID) == "" {
			f.Close()
			continue // not an instance (bare test data sets)
		}
		c := plantPHI(t, f.Dataset)
		all.merge(c)
		in := filepath.Join(tmp, n)
		out, err := os.Create(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := dicom.WriteFile(out, f); err != nil {
			t.Fatal(err)
		}
		out.Close()
		f.Close()
		inputs = append(inputs, in)
		names = append(names, n)
	}
	var outs []*Outcome
	for _, in := range inputs { // one output folder each: some share a SOP Instance UID
		_, o := processAll(t, e, []string{in})
		outs = append(outs, o[0])
	}
	var files []string
	keep := t.TempDir()
	for i, o := range outs {
		requireDeidentified(t, names[i], o)
		// The three MR_small files share one SOP Instance UID, so their
		// outputs share a name: keep a copy of each for the batch check.
		b, err := os.ReadFile(o.OutputPath)
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(keep, names[i])
		os.WriteFile(cp, b, 0o644)
		files = append(files, cp)
		dcmdumpCheck(t, o.OutputPath)
		dciodvfyNoNewErrors(t, inputs[i], o.OutputPath)
		of, err := dicom.Open(o.OutputPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "shared-"+strings.TrimSuffix(names[i], ".dcm")+".txt", []byte(dump(of)))
		of.Close()
	}
	pyCheck(t, all, files...)
}

// TestQuarantineReasons: policy decisions quarantine with value-free
// reasons, and nothing is written to the output directory.
func TestQuarantineReasons(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	dir := t.TempDir()
	cases := []struct {
		name   string
		mutate func(*dicom.Dataset)
		code   string
	}{
		{"empty patient id", func(ds *dicom.Dataset) { ds.SetString(tagPatientID, dicom.LO) }, "empty-patient-id"},
		{"burned in", func(ds *dicom.Dataset) { ds.SetString(tagBurnedInAnnotation, dicom.CS, "YES") }, "pixel-risk"},
		{"secondary capture", func(ds *dicom.Dataset) { ds.SetString(tagModality, dicom.CS, "OT") }, "pixel-risk"},
		{"already processed", func(ds *dicom.Dataset) {
			ds.SetString(tagPatientIdentityRemoved, dicom.CS, "YES")
			ds.SetString(tagDeidentificationMethod, dicom.LO, "AIS-Edge deid 0.1.0")
		}, "already-deidentified"},
		{"encapsulated document", func(ds *dicom.Dataset) { ds.SetBytes(tagEncapsulatedDocument, dicom.OB, []byte("%PDF-1.4 Doeberg")) }, "encapsulated-document"},
		{"graphic annotation", func(ds *dicom.Dataset) { ds.SetSequence(tagGraphicAnnotationSequence, dicom.NewDataset()) }, "graphic-annotation-without-clean-graphics"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, c := synthMR(t, variants[0], newSynthStudy(3), 1)
			tc.mutate(f.Dataset)
			in := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".dcm")
			writeSynth(t, f, in)
			outDir, outs := processAll(t, e, []string{in})
			o := outs[0]
			if !o.Quarantined() {
				t.Fatal("not quarantined")
			}
			found := false
			for _, r := range o.Reasons {
				if r.Code == tc.code {
					found = true
				}
			}
			if !found {
				t.Errorf("reasons %v lack %s", o.Reasons, tc.code)
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Errorf("output directory not empty: %v", ents)
			}
			// What the quarantine records is value-free.
			rj, err := json.Marshal(struct {
				Reasons []Reason
				Report  *Report
			}{o.Reasons, o.Report})
			if err != nil {
				t.Fatal(err)
			}
			assertValueFree(t, "quarantine record", rj, c)
		})
	}
}

// assertValueFree fails if b contains any canary value.
func assertValueFree(t *testing.T, what string, b []byte, c *canaries) {
	t.Helper()
	low := bytes.ToLower(b)
	var all []string
	all = append(all, c.Words...)
	all = append(all, c.UIDs...)
	all = append(all, c.Dates...)
	for _, n := range c.Names {
		all = append(all, strings.Split(n, "^")...)
	}
	sort.Strings(all)
	for _, v := range all {
		if len(v) >= 5 && bytes.Contains(low, bytes.ToLower([]byte(v))) {
			t.Errorf("%s contains an original value (%d chars)", what, len(v))
		}
	}
}
