package deid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// GateResult is the value-free result of the verification gate
// (docs/deid.md, "Verification gate").
type GateResult struct {
	Passed bool          `json:"passed"`
	Checks []CheckResult `json:"checks"`
}

// CheckResult is one check of the gate. Failures name tag paths and
// categories of values, never values.
type CheckResult struct {
	Name     string   `json:"name"`
	Passed   bool     `json:"passed"`
	Failures []string `json:"failures,omitempty"`
}

// gatePlan is what the gate needs to know about one instance. It holds
// original values (the deny-list) only in memory.
type gatePlan struct {
	canon, raw *matcher
	whole      map[string]string
	rec        map[string]string
	inputUIDs  map[string]bool
	retained   map[string]bool
	origDates  map[string]bool
	opts       OptionSet
	prof       *Profile
	eng        *Engine
	method     []string
	codes      []string
	longitud   string
	names      []string
	pixelOK    bool
	// pixelReleased: an operator released the instance's pixel risk
	// (Options.PixelRiskOverride; never Burned In Annotation = YES).
	pixelReleased bool
}

// gatePlan builds the gate's view of the instance after the walk.
func (s *state) gatePlan(out *dicom.File) *gatePlan {
	method := out.Dataset.Strings(tagDeidentificationMethod)
	safe := append([]string(nil), s.safeStr...)
	safe = append(safe, method...)
	safe = append(safe, s.p.Hash[:32])
	// UIDs the profile retains stay as they are, dates embedded by the
	// scanner included: an accepted consequence of retaining UIDs, noted
	// in the report.
	for u := range s.retained {
		if !isStructuralValue(u) {
			safe = append(safe, u)
			for _, t := range s.deny.tokens {
				if t.kind == tkDate && strings.Contains(u, t.squashed) {
					s.report.warn("retained-uid-contains-date", "", "")
					break
				}
			}
		}
	}
	canon, raw := s.deny.buildMatchers(safe)
	gp := &gatePlan{
		canon: canon, raw: raw, whole: s.deny.whole, rec: map[string]string{},
		inputUIDs: s.inputUIDs, retained: s.retained, origDates: s.origDates,
		opts: s.opts, prof: s.p, eng: s.e, method: method, longitud: out.Dataset.String(tagLongitudinalModified),
		pixelOK: true, pixelReleased: s.pixelOverride != "",
	}
	for _, c := range s.report.OptionsHonoured {
		gp.codes = append(gp.codes, c)
	}
	for _, r := range s.reasons {
		if r.Code == "pixel-risk" {
			gp.pixelOK = false
		}
	}
	var walk func(ds *dicom.Dataset, prefix []byte)
	walk = func(ds *dicom.Dataset, prefix []byte) {
		for _, e := range ds.Elements() {
			p := appendTag(prefix, e.Tag)
			gp.rec[string(p)] = s.rec[e]
			for i, it := range e.Items {
				walk(it, itemPrefix(p, i))
			}
		}
	}
	walk(out.Dataset, make([]byte, 0, 128))
	return gp
}

// itemPrefix returns path + "[i]." in a new slice.
func itemPrefix(path []byte, i int) []byte {
	b := make([]byte, 0, len(path)+24)
	b = append(b, path...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, ']', '.')
}

// gateFailure collects failures per check.
type gateFailure struct {
	checks map[string][]string
	order  []string
}

func (g *gateFailure) fail(check, msg string) {
	if g.checks == nil {
		g.checks = map[string][]string{}
	}
	if _, ok := g.checks[check]; !ok {
		g.order = append(g.order, check)
	}
	if len(g.checks[check]) < 20 {
		for _, m := range g.checks[check] {
			if m == msg {
				return
			}
		}
		g.checks[check] = append(g.checks[check], msg)
	}
}

var gateChecks = []string{"strings", "raw-bytes", "justification", "private", "uids", "dates", "markers-meta", "pixels", "codestream", "names"}

// Verify runs the verification gate on the serialised output of res (the
// bytes in ra, size bytes long) and on the derived names (the result's
// file name and session folder name plus any extra, e.g. the output path). It
// sets res.Report.Gate and adds a quarantine reason per failed check.
// Errors are transient (the output could not be read).
func (e *Engine) Verify(res *Result, ra io.ReaderAt, size int64, extraNames ...string) (*GateResult, error) {
	gp := res.plan
	if gp == nil {
		return nil, permanent("verify", fmt.Errorf("result has no gate plan"))
	}
	var gf gateFailure
	if size <= verifyInMemory {
		// One read of a small output serves the parse, the pixel ranges
		// and the raw scan.
		b := make([]byte, size)
		if _, err := ra.ReadAt(b, 0); err != nil && !(err == io.EOF && size == 0) {
			return nil, transient("verify", err)
		}
		ra = dicom.NewBytesReader(b)
	}
	f, err := dicom.ParseFile(sectionOf(ra, 0, size), nil)
	if err != nil {
		gf.fail("markers-meta", "output does not parse: "+err.Error())
	} else {
		gp.checkFile(f, &gf)
		if err := gp.scanRaw(ra, size, f, &gf); err != nil {
			return nil, transient("verify", err)
		}
	}
	names := append([]string{res.FileName, res.Session.Folder()}, extraNames...)
	for _, n := range names {
		gp.checkName(n, &gf)
	}
	if !gp.pixelOK {
		gf.fail("pixels", "pixel risk class does not allow forwarding")
	}
	g := &GateResult{Passed: len(gf.checks) == 0}
	for _, c := range gateChecks {
		cr := CheckResult{Name: c, Passed: len(gf.checks[c]) == 0, Failures: gf.checks[c]}
		g.Checks = append(g.Checks, cr)
		if !cr.Passed && c != "pixels" { // pixel risk is already a reason
			res.Reasons = append(res.Reasons, Reason{Code: "gate:" + c, Detail: strings.Join(cr.Failures, "; ")})
		}
	}
	res.Report.setGate(g, res.Reasons)
	return g, nil
}

// sectionOf reads n bytes of ra from off; without a copy when ra is in
// memory.
func sectionOf(ra io.ReaderAt, off, n int64) io.Reader {
	if br, ok := ra.(*dicom.BytesReader); ok {
		b := br.Bytes()
		off = min(max(off, 0), int64(len(b)))
		end := min(max(off+n, off), int64(len(b)))
		return dicom.NewBytesReader(b[off:end])
	}
	return io.NewSectionReader(ra, off, n)
}

// verifyInMemory: outputs up to this size are read into memory once.
const verifyInMemory = 4 << 20

// textVRsScanned are the VRs whose decoded values check 1 searches;
// numbers, times and UIDs are covered by checks 2, 5 and 6.
func scannedVR(vr dicom.VR) bool {
	switch vr {
	case dicom.LO, dicom.SH, dicom.ST, dicom.LT, dicom.UT, dicom.UC, dicom.PN, dicom.CS, dicom.AE, dicom.UR:
		return true
	}
	return false
}

func (gp *gatePlan) checkFile(f *dicom.File, gf *gateFailure) {
	// Check 7: preamble, meta, markers.
	for _, b := range f.Preamble {
		if b != 0 {
			gf.fail("markers-meta", "preamble is not all zero")
			break
		}
	}
	if f.Preamble == nil || f.Meta == nil {
		gf.fail("markers-meta", "no preamble or file meta")
		return
	}
	want := map[dicom.Tag]bool{
		dicom.TagFileMetaInformationGroupLength: true, dicom.TagFileMetaInformationVersion: true,
		dicom.TagMediaStorageSOPClassUID: true, dicom.TagMediaStorageSOPInstanceUID: true,
		dicom.TagTransferSyntaxUID: true, dicom.TagImplementationClassUID: true, dicom.TagImplementationVersionName: true,
	}
	for _, e := range f.Meta.Elements() {
		if !want[e.Tag] {
			gf.fail("markers-meta", "unexpected file meta element "+e.Tag.String())
		}
		delete(want, e.Tag)
	}
	for t := range want {
		gf.fail("markers-meta", "missing file meta element "+t.String())
	}
	ds := f.Dataset
	if f.Meta.String(dicom.TagMediaStorageSOPInstanceUID) != ds.String(dicom.TagSOPInstanceUID) {
		gf.fail("markers-meta", "(0002,0003) differs from (0008,0018)")
	}
	if f.Meta.String(dicom.TagMediaStorageSOPClassUID) != ds.String(dicom.TagSOPClassUID) {
		gf.fail("markers-meta", "(0002,0002) differs from (0008,0016)")
	}
	if f.Meta.String(dicom.TagImplementationClassUID) != dicom.ImplementationClassUID {
		gf.fail("markers-meta", "(0002,0012) is not the engine's implementation UID")
	}
	if ds.String(tagPatientIdentityRemoved) != "YES" {
		gf.fail("markers-meta", "Patient Identity Removed is not YES")
	}
	m := ds.Strings(tagDeidentificationMethod)
	if len(m) == 0 || !strings.HasPrefix(m[0], "AIS-Edge deid") || strings.Join(m, `\`) != strings.Join(gp.method, `\`) {
		gf.fail("markers-meta", "De-identification Method missing or altered")
	}
	var codes []string
	if cs := ds.Get(tagDeidentificationMethodCodes); cs != nil {
		for _, it := range cs.Items {
			if it.String(tagCodingSchemeDesignator) == "DCM" {
				codes = append(codes, it.String(tagCodeValue))
			}
		}
	}
	sort.Strings(codes)
	wantCodes := append([]string(nil), gp.codes...)
	sort.Strings(wantCodes)
	if strings.Join(codes, ",") != strings.Join(wantCodes, ",") {
		gf.fail("markers-meta", "De-identification Method Code Sequence does not match the options honoured")
	}
	lt := "REMOVED"
	switch {
	case gp.opts.Has(OptRetainLongitudinalFullDates):
		lt = "UNMODIFIED"
	case gp.opts.Has(OptRetainLongitudinalModifiedDates):
		lt = "MODIFIED"
	}
	if ds.String(tagLongitudinalModified) != lt {
		gf.fail("markers-meta", "Longitudinal Temporal Information Modified is inconsistent with the date option")
	}
	// Check 8 again from the output header.
	if why, burned := pixelRisk(ds); why != "" {
		cleared := false
		if !burned {
			for _, r := range gp.prof.Pixels.Clear {
				if clearMatches(ds, r) {
					cleared = true
				}
			}
			cleared = cleared || gp.pixelReleased
		}
		if !cleared {
			gf.fail("pixels", "high pixel risk ("+why+")")
		}
	}
	for _, e := range f.Meta.Elements() {
		if e.VR == dicom.UI {
			gp.checkUIDs(e, "(meta)"+e.Tag.String(), "meta", gf)
		}
	}
	// Pixel codestreams: no comment or application segment may remain.
	if pd := ds.Get(dicom.TagPixelData); pd != nil && pd.IsEncapsulated() {
		if !basicOffsetTableOK(pd, numberOfFrames(ds)) {
			gf.fail("codestream", "the first pixel data item is not a Basic Offset Table")
		}
		n, err := codestreamTextSegments(pd, f.TransferSyntax, numberOfFrames(ds))
		switch {
		case err != nil:
			gf.fail("codestream", "pixel codestream cannot be read: "+err.Error())
		case n > 0:
			gf.fail("codestream", fmt.Sprintf("%d text segment(s) left in the pixel codestream", n))
		}
	}
	gp.walk(ds, nil, gf)
}

// walk runs checks 1, 3, 4, 5 and 6 on every element at every depth.
func (gp *gatePlan) walk(ds *dicom.Dataset, prefix []byte, gf *gateFailure) {
	members := map[dicom.Tag]bool{}
	for _, e := range ds.Elements() {
		if ct, ok := e.Tag.PrivateBlock(); ok {
			members[ct] = true
		}
	}
	for _, e := range ds.Elements() {
		pb := appendTag(prefix, e.Tag)
		path := string(pb)
		rule, justified := gp.rec[path]
		g := e.Tag.Group()
		if g == 0x0000 || g == 0x0002 || g == 0x0004 || e.Tag.IsGroupLength() {
			gf.fail("markers-meta", "forbidden element "+path)
		}
		// Check 3.
		if !justified || rule == "" {
			gf.fail("justification", "no rule produced "+path)
		}
		// Check 4.
		if e.Tag.IsPrivate() {
			switch {
			case e.Tag.IsPrivateCreator():
				if !members[e.Tag] {
					gf.fail("private", "orphan private creator "+path)
				}
			case !strings.HasPrefix(rule, "safe private") && !strings.HasPrefix(rule, "user ") && rule != "KeepPrivateTags":
				gf.fail("private", "private element outside the safe-private list "+path)
			case e.Tag.Element() < 0x1000 && !gp.prof.KeepPrivateTags:
				gf.fail("private", "private element without a creator block "+path)
			}
		}
		vr := e.VR
		if vr == dicom.UN || vr == 0 {
			vr = effectiveVR(e)
		}
		switch {
		case e.IsSequence():
			for i, it := range e.Items {
				gp.walk(it, itemPrefix(pb, i), gf)
			}
			continue
		case vr == dicom.UI:
			gp.checkUIDs(e, path, rule, gf)
		case vr == dicom.DA || vr == dicom.DT:
			gp.checkDates(e, path, rule, gf)
		case numberVRs[vr] && !e.IsBulk() && len(gp.whole) > 0:
			// Binary numbers are read as the decimal numbers they spell
			// (the raw scan sees their bytes only).
			wholeNumberSpellings(e, vr, func(d string) bool {
				if cat, ok := gp.whole[d]; ok {
					gf.fail("strings", fmt.Sprintf("%s holds an original %s value as a number", path, cat))
					return true
				}
				return false
			})
		}
		if scannedVR(vr) && !e.IsBulk() {
			vals, _ := ds.Texts(e.Tag)
			for _, v := range vals {
				gp.checkString(v, path, gf)
			}
		}
	}
}

func (gp *gatePlan) checkString(v, where string, gf *gateFailure) {
	if v == "" {
		return
	}
	sq, sp := canonicalFast(v)
	if cat, ok := gp.whole[sq]; ok {
		gf.fail("strings", fmt.Sprintf("%s equals an original %s value", where, cat))
		return
	}
	hit := func(t *token, _ int) bool {
		gf.fail("strings", fmt.Sprintf("%s contains an original %s value", where, t.category))
		return false
	}
	gp.canon.scan([]byte(sq), hit)
	if sp != sq {
		gp.canon.scan([]byte(sp), hit)
	}
}

func (gp *gatePlan) checkUIDs(e *dicom.Element, path, rule string, gf *gateFailure) {
	for _, u := range e.Strings() {
		if u == "" {
			continue
		}
		if len(u) > 64 || !isUIForm(u) {
			gf.fail("uids", "invalid UID syntax at "+path)
		}
		if gp.inputUIDs[u] && !isStructuralValue(u) && !structuralUIDs[e.Tag] && !gp.retained[u] {
			gf.fail("uids", "original UID kept at "+path)
		}
	}
}

func (gp *gatePlan) checkDates(e *dicom.Element, path, rule string, gf *gateFailure) {
	// Dates kept on purpose: by the user, by the birth-date option, or by
	// a table option that keeps them (calibration dates under Retain
	// Device Identity).
	keptByOption := strings.HasPrefix(rule, "E.1-1 Retain") && strings.HasSuffix(rule, " K")
	if strings.HasPrefix(rule, "user ") || strings.HasPrefix(rule, "Dates.BirthDate") || keptByOption || gp.opts.Has(OptRetainLongitudinalFullDates) {
		return
	}
	for _, v := range e.Strings() {
		if v == "" {
			continue
		}
		if gp.opts.Has(OptRetainLongitudinalModifiedDates) {
			for _, part := range strings.Split(v, "-") {
				if len(part) >= 8 && gp.origDates[part[:8]] {
					gf.fail("dates", "unshifted original date at "+path)
				}
			}
			continue
		}
		if v != "19000101" && v != "19000101000000" {
			gf.fail("dates", "date value retained without a date option at "+path)
		}
	}
}

func (gp *gatePlan) checkName(n string, gf *gateFailure) {
	if n == "" {
		return
	}
	for _, part := range strings.Split(filepath.ToSlash(n), "/") {
		if !labelRE.MatchString(part) || part == "." || part == ".." {
			gf.fail("names", "derived name has characters outside [A-Za-z0-9_.-]")
		}
		before := len(gf.checks["strings"])
		gp.checkString(part, "derived name", gf)
		if len(gf.checks["strings"]) > before {
			// Move the finding to the names check.
			gf.checks["strings"] = gf.checks["strings"][:before]
			if len(gf.checks["strings"]) == 0 {
				delete(gf.checks, "strings")
				for i, o := range gf.order {
					if o == "strings" {
						gf.order = append(gf.order[:i], gf.order[i+1:]...)
						break
					}
				}
			}
			gf.fail("names", "derived name contains an original value")
		}
		lower := []byte(asciiLower(part))
		gp.raw.scan(lower, func(t *token, _ int) bool {
			gf.fail("names", "derived name contains an original "+t.category+" value")
			return false
		})
	}
}

// scanRaw is check 2: the output bytes, except pixel data values, must not
// contain a deny token in any byte spelling.
func (gp *gatePlan) scanRaw(ra io.ReaderAt, size int64, f *dicom.File, gf *gateFailure) error {
	skips, err := pixelRanges(ra, size, f.TransferSyntax, f.Dataset)
	if err != nil {
		gf.fail("raw-bytes", "cannot locate pixel data: "+err.Error())
		skips = nil
	}
	var start int64
	scanSeg := func(a, b int64) error {
		for a < b {
			// Segments are scanned in windows with an overlap that covers
			// the longest pattern.
			const window = 4 << 20
			end := min(b, a+window)
			overlap := int64(256)
			readEnd := min(b, end+overlap)
			buf := make([]byte, readEnd-a)
			if _, err := ra.ReadAt(buf, a); err != nil && err != io.EOF {
				return err
			}
			lowerInPlace(buf)
			limit := int(end - a)
			gp.raw.scan(buf, func(t *token, pos int) bool {
				if pos < limit {
					gf.fail("raw-bytes", fmt.Sprintf("original %s value found in the output bytes at offset %d", t.category, a+int64(pos)))
				}
				return true
			})
			a = end
		}
		return nil
	}
	for _, sk := range skips {
		if sk[0] > start {
			if err := scanSeg(start, sk[0]); err != nil {
				return err
			}
		}
		start = max(start, sk[1])
	}
	if start < size {
		return scanSeg(start, size)
	}
	return nil
}

func lowerInPlace(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// pixelRanges returns the byte ranges of top-level pixel data values
// (native or fragments) in the output file. A native value is skipped
// only as far as its frames need (ds, the parsed output, says how far):
// bytes past the last frame are scanned like any other.
func pixelRanges(ra io.ReaderAt, size int64, ts dicom.TransferSyntax, ds *dicom.Dataset) ([][2]int64, error) {
	head := make([]byte, 144)
	if _, err := ra.ReadAt(head, 0); err != nil {
		return nil, err
	}
	if string(head[128:132]) != "DICM" || !bytes.Equal(head[132:136], []byte{2, 0, 0, 0}) {
		return nil, fmt.Errorf("no file meta group length")
	}
	metaEnd := int64(144) + int64(binary.LittleEndian.Uint32(head[140:144]))
	d := dicom.NewDecoder(sectionOf(ra, metaEnd, size-metaEnd), ts, dicom.Limits{})
	var out [][2]int64
	inPixel := false
	for {
		h, err := d.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		isPix := h.Tag == dicom.TagPixelData || h.Tag == dicom.TagFloatPixelData || h.Tag == dicom.TagDoubleFloatPixelData
		switch h.Kind {
		case dicom.KindElement:
			if isPix && d.Depth() == 0 {
				off := metaEnd + d.Offset()
				n := int64(h.Length)
				if need, ok := nativePixelLength(ds, h.Tag); ok && need < n {
					n = need
				}
				out = append(out, [2]int64{off, off + n})
			}
		case dicom.KindEncapsulated:
			inPixel = d.Depth() <= 1 && isPix
		case dicom.KindFragment:
			if inPixel {
				off := metaEnd + d.Offset()
				out = append(out, [2]int64{off, off + int64(h.Length)})
			}
		case dicom.KindSequenceEnd:
			inPixel = false
		}
	}
}
