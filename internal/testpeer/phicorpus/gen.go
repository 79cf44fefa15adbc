package phicorpus

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
	"github.com/aisedge/aisedge/internal/testpeer/synth"
)

// DefaultSeed is the seed the harness tests use.
const DefaultSeed = 20260512

// uidRoot is the root of the corpus's own UIDs (a test root; the UIDs
// that encode an MRN use another, see labels cases).
const uidRoot = "1.2.826.0.1.3680043.10.917"

// Storage SOP classes the corpus uses.
const (
	sopCT         = "1.2.840.10008.5.1.4.1.1.2"
	sopMR         = "1.2.840.10008.5.1.4.1.1.4"
	sopEnhancedCT = "1.2.840.10008.5.1.4.1.1.2.1"
	sopCompSR     = "1.2.840.10008.5.1.4.1.1.88.33"
	sopPET        = "1.2.840.10008.5.1.4.1.1.128"
)

// PathInputName marks identifiers carried by the input file's name (only
// the offline command sees file names).
const PathInputName = "input-file-name"

// gen is one generation run.
type gen struct {
	tb      testing.TB
	dir     string
	rng     *rand.Rand
	samples string
	m       *Manifest
	names   map[string]bool // folded name parts in use
	n       int             // files written
	used    map[string]bool // numbers in use
}

// patient is the identity of one corpus file.
type patient struct {
	family, given string // alphabetic group components
	ideo, phon    string // PN ideographic and phonetic groups ("" = none)
	mrn, dob, acc string
	// needles of the name (components long enough and not common words).
	nameNeedles []string
}

// pn is the Patient's Name value with its component groups.
func (p *patient) pn() string {
	s := p.family + "^" + p.given
	if p.ideo != "" || p.phon != "" {
		s += "=" + p.ideo
	}
	if p.phon != "" {
		s += "=" + p.phon
	}
	return s
}

// full is "Given Family".
func (p *patient) full() string { return p.given + " " + p.family }

// Generate writes the corpus into dir (created if missing) with a
// deterministic generator seeded by seed, and returns its manifest.
func Generate(tb testing.TB, dir string, seed int64) *Manifest {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	g := &gen{tb: tb, dir: dir, rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), samples: sampledata.Dir(tb),
		m: &Manifest{Seed: seed, Dir: dir}, names: map[string]bool{}, used: map[string]bool{}}
	for _, c := range corpusCases {
		c(g)
	}
	for i := range g.m.Planted {
		g.m.Planted[i].ID = i
	}
	return g.m
}

// ---- deterministic identities ----

var (
	onsets = []string{"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "tr", "vl", "zh", "kh", "sk", "qu"}
	vowels = []string{"a", "e", "i", "o", "u", "ai", "ou", "ei", "ia", "uo"}
	codas  = []string{"", "", "", "n", "r", "l", "s", "k", "m", "x"}
)

// word invents a pronounceable word of syllables syllables that is not in
// use, not a common word and not a part of (nor containing) any word in
// use.
func (g *gen) word(syllables, minLen int) string {
	for {
		var b strings.Builder
		for i := 0; i < syllables; i++ {
			b.WriteString(onsets[g.rng.IntN(len(onsets))])
			b.WriteString(vowels[g.rng.IntN(len(vowels))])
			if i == syllables-1 || g.rng.IntN(3) == 0 {
				b.WriteString(codas[g.rng.IntN(len(codas))])
			}
		}
		w := b.String()
		if len(w) < minLen || stopWords[w] || !g.reserve(w) {
			continue
		}
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		return string(r)
	}
}

// reserve claims a name part; false if it collides with one in use.
func (g *gen) reserve(w string) bool {
	f := Fold(w)
	for u := range g.names {
		if strings.Contains(u, f) || strings.Contains(f, u) {
			return false
		}
	}
	g.names[f] = true
	return true
}

// number invents a unique digit string of n digits whose first digit is
// 4-9 (no leading 0, 1 or 2: those start dates and UIDs).
func (g *gen) number(n int) string {
	for {
		var b strings.Builder
		b.WriteByte(byte('4' + g.rng.IntN(6)))
		for i := 1; i < n; i++ {
			b.WriteByte(byte('0' + g.rng.IntN(10)))
		}
		s := b.String()
		if !g.used[s] {
			g.used[s] = true
			return s
		}
	}
}

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// date invents a unique date between 1926 and 1979 (before every date the
// outputs legitimately hold, shifted ones included) as YYYYMMDD.
func (g *gen) date() string {
	for {
		s := fmt.Sprintf("%04d%02d%02d", 1926+g.rng.IntN(54), 1+g.rng.IntN(12), 1+g.rng.IntN(28))
		if !g.used[s] {
			g.used[s] = true
			return s
		}
	}
}

// dateForms spells YYYYMMDD the ways people write it.
func dateForms(d string) (iso, dmy, mdy, long, us string) {
	y, m, day := d[:4], d[4:6], d[6:]
	mi := int(m[0]-'0')*10 + int(m[1]-'0')
	dn := strings.TrimLeft(day, "0")
	return y + "-" + m + "-" + day, day + "/" + m + "/" + y, m + "/" + day + "/" + y,
		dn + " " + monthNames[mi-1] + " " + y, monthNames[mi-1] + " " + dn + ", " + y
}

// dateNeedles are the needles of a date in every spelling.
func dateNeedles(d string) []string {
	iso, dmy, mdy, long, us := dateForms(d)
	_ = iso // same digits as d
	return []string{d, dmy, mdy, long, us}
}

// newPatient invents an identity; family or given may be imposed.
func (g *gen) newPatient(family, given string) *patient {
	p := &patient{family: family, given: given}
	for _, imposed := range []string{family, given} {
		if imposed != "" {
			g.reserve(imposed)
		}
	}
	if p.family == "" {
		p.family = g.word(3, 7)
	}
	if p.given == "" {
		p.given = g.word(2, 5)
	}
	p.mrn = g.number(10)
	p.dob = g.date()
	p.acc = "RA" + g.number(8)
	for _, part := range []string{p.family, p.given} {
		for _, w := range strings.FieldsFunc(part, func(r rune) bool { return r == ' ' || r == '-' || r == '^' }) {
			if checkNeedle(w, ScopeAll) == nil {
				p.nameNeedles = append(p.nameNeedles, w)
			}
		}
	}
	return p
}

// ---- files ----

// fileCtx is one corpus file being built.
type fileCtx struct {
	g    *gen
	name string
	f    *dicom.File
	ds   *dicom.Dataset
	x    synth.Builder
	pt   *patient
	info File
	n    int
	// metaExtra: elements added to the file meta; preamble: the first
	// 128 bytes.
	metaExtra *dicom.Dataset
	preamble  []byte
}

// uid returns the file's k-th own UID.
func (fc *fileCtx) uid(k int) string { return fmt.Sprintf("%s.%d.%d", uidRoot, fc.n, k) }

// synthetic starts a synthetic MR image (Explicit VR Little Endian unless
// ts says otherwise) with charset as its Specific Character Set.
func (g *gen) synthetic(name, charset string, pt *patient) *fileCtx {
	g.n++
	ds := dicom.NewDataset()
	fc := &fileCtx{g: g, name: name, ds: ds, x: synth.Builder{T: g.tb, DS: ds}, pt: pt, n: g.n}
	ts, _ := dicom.LookupTransferSyntax(dicom.ExplicitVRLittleEndian)
	fc.f = &dicom.File{Preamble: make([]byte, 128), Dataset: ds, TransferSyntax: ts}
	fc.info = File{Name: name, Base: "synthetic", SOPClassUID: sopMR, TransferSyntax: ts.UID}
	if charset != "" {
		fc.x.Str("SpecificCharacterSet", dicom.CS, strings.Split(charset, `\`)...)
	}
	x := fc.x
	x.Str("ImageType", dicom.CS, "ORIGINAL", "PRIMARY", "M", "ND")
	x.Str("SOPClassUID", dicom.UI, sopMR)
	x.Str("StudyDate", dicom.DA, "20240611").Str("SeriesDate", dicom.DA, "20240611").Str("StudyTime", dicom.TM, "093015")
	x.Str("Modality", dicom.CS, "MR").Text("Manufacturer", dicom.LO, "ACME Medical").Text("ManufacturerModelName", dicom.LO, "Magnetron 3T")
	x.Text("SeriesDescription", dicom.LO, fmt.Sprintf("CORPUS SERIES %d", fc.n))
	x.Str("PatientSex", dicom.CS, "F")
	x.Str("SeriesNumber", dicom.IS, fmt.Sprint(fc.n)).Str("InstanceNumber", dicom.IS, "1")
	x.Str("SliceThickness", dicom.DS, "1.0").Str("RepetitionTime", dicom.DS, "2300")
	x.Pixels8x8(func(i int) byte { return byte(i * 5) })
	fc.setUIDs()
	fc.identity()
	return fc
}

// fromSample starts a file from a repository sample, made an original
// primary image of class sop (so that the pixel-risk policy lets it
// through and the planted routes are exercised), with pt's identity.
func (g *gen) fromSample(name, sample, sop, modality string, pt *patient) *fileCtx {
	g.n++
	f, err := dicom.Open(filepath.Join(g.samples, sample), &dicom.ParseOptions{BulkThreshold: -1})
	if err != nil {
		g.tb.Fatalf("%s: %v", sample, err)
	}
	f.Close()
	ds := f.Dataset
	fc := &fileCtx{g: g, name: name, f: f, ds: ds, x: synth.Builder{T: g.tb, DS: ds}, pt: pt, n: g.n}
	if sop == "" {
		sop = ds.String(dicom.TagSOPClassUID)
	}
	fc.info = File{Name: name, Base: sample, SOPClassUID: sop, TransferSyntax: f.TransferSyntax.UID}
	if f.Preamble == nil {
		f.Preamble = make([]byte, 128)
	}
	x := fc.x
	x.Str("SOPClassUID", dicom.UI, sop)
	if modality != "" {
		x.Str("Modality", dicom.CS, modality)
	}
	if ds.Has(dicom.MustTag("ImageType")) {
		x.Str("ImageType", dicom.CS, "ORIGINAL", "PRIMARY", "AXIAL")
	}
	ds.Delete(dicom.MustTag("BurnedInAnnotation"))
	// A neutral description (the sample's own could collide with label
	// needles).
	x.Str("SeriesDescription", dicom.LO, fmt.Sprintf("CORPUS SERIES %d", fc.n))
	x.Str("SeriesNumber", dicom.IS, fmt.Sprint(fc.n))
	x.Str("StudyDate", dicom.DA, "20240611")
	fc.setUIDs()
	fc.identity()
	return fc
}

func (fc *fileCtx) setUIDs() {
	fc.x.Str("StudyInstanceUID", dicom.UI, fc.uid(1)).Str("SeriesInstanceUID", dicom.UI, fc.uid(2)).Str("SOPInstanceUID", dicom.UI, fc.uid(3))
	fc.x.Str("FrameOfReferenceUID", dicom.UI, fc.uid(4))
}

// identity writes the patient's identifying attributes and records them.
func (fc *fileCtx) identity() {
	p := fc.pt
	fc.x.Text("PatientName", dicom.PN, p.pn())
	fc.x.Text("PatientID", dicom.LO, p.mrn)
	fc.x.Str("PatientBirthDate", dicom.DA, p.dob)
	if p.acc != "" {
		fc.x.Text("AccessionNumber", dicom.SH, p.acc)
		fc.x.Text("StudyID", dicom.SH, "S"+p.acc[len(p.acc)-6:])
	}
	nn := append([]string(nil), p.nameNeedles...)
	for _, grp := range []string{p.ideo, p.phon} {
		for _, w := range strings.Split(grp, "^") {
			if w != "" && checkNeedle(w, ScopeAll) == nil {
				nn = append(nn, w)
			}
		}
	}
	if len(nn) > 0 {
		fc.plant("identity", "Patient's Name", "patient-name", "(0010,0010)", true, []string{p.pn()}, nn...)
	}
	fc.plant("identity", "Patient ID", "mrn", "(0010,0020)", true, []string{p.mrn}, p.mrn)
	fc.plant("identity", "Patient's Birth Date", "birth-date", "(0010,0030)", true, []string{p.dob}, dateNeedles(p.dob)...)
	if p.acc != "" {
		fc.plant("identity", "Accession Number", "accession", "(0008,0050)", true, []string{p.acc}, p.acc)
	}
}

// plant records a planted identifier of this file.
func (fc *fileCtx) plant(class, route, kind, path string, known bool, strs []string, needles ...string) {
	fc.plantScoped(class, route, kind, path, known, ScopeAll, strs, needles...)
}

func (fc *fileCtx) plantScoped(class, route, kind, path string, known bool, scope Scope, strs []string, needles ...string) {
	if len(needles) == 0 {
		fc.g.tb.Fatalf("%s: planted %s %s without needles", fc.name, class, kind)
	}
	for _, n := range needles {
		if err := checkNeedle(n, scope); err != nil {
			fc.g.tb.Fatalf("%s: %s %s: %v", fc.name, class, kind, err)
		}
	}
	fc.g.m.Planted = append(fc.g.m.Planted, Planted{Class: class, Route: route, Kind: kind, File: fc.name, Path: path,
		Strings: strs, Needles: needles, Scope: scope, Known: known})
}

// set writes a text attribute (by keyword or "(gggg,eeee)") through the
// data set's character set.
func (fc *fileCtx) set(ds *dicom.Dataset, kw string, vr dicom.VR, v ...string) {
	t := tagOf(kw)
	if err := ds.SetText(t, vr, v...); err != nil {
		fc.g.tb.Fatalf("%s: %s: %v", fc.name, kw, err)
	}
}

// put writes a text attribute and plants what it holds.
func (fc *fileCtx) put(class, route, kind, kw string, vr dicom.VR, known bool, value string, needles ...string) {
	fc.set(fc.ds, kw, vr, value)
	fc.plant(class, route, kind, tagOf(kw).String(), known, []string{value}, needles...)
}

func tagOf(kw string) dicom.Tag {
	if strings.HasPrefix(kw, "(") {
		t, err := dicom.ParseTag(kw)
		if err != nil {
			panic(err)
		}
		return t
	}
	return dicom.MustTag(kw)
}

// control records a clean utility value.
func (fc *fileCtx) control(kw, value string) {
	fc.g.m.Controls = append(fc.g.m.Controls, Control{File: fc.name, Path: tagOf(kw).String(), Value: value})
}

// write serialises the file into the corpus folder.
func (fc *fileCtx) write() {
	ds := fc.ds
	sop := ds.String(dicom.TagSOPInstanceUID)
	class := ds.String(dicom.TagSOPClassUID)
	meta := dicom.NewFileMeta(class, sop, fc.f.TransferSyntax.UID)
	fc.f.Meta = meta
	if fc.metaExtra != nil {
		for _, e := range fc.metaExtra.Elements() {
			meta.Put(e)
		}
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, fc.f); err != nil {
		fc.g.tb.Fatalf("%s: %v", fc.name, err)
	}
	b := buf.Bytes()
	if fc.preamble != nil {
		copy(b[:128], fc.preamble)
	}
	p := filepath.Join(fc.g.dir, filepath.FromSlash(fc.name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		fc.g.tb.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		fc.g.tb.Fatal(err)
	}
	fc.info.SOPInstanceUID = sop
	fc.info.SOPClassUID = class
	fc.g.m.Files = append(fc.g.m.Files, fc.info)
}
