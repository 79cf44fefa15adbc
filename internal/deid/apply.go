package deid

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/aisedge/aisedge/internal/dicom"
)

var (
	cleanDateRE = regexp.MustCompile(`\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b|\b(19|20)\d{6}\b`)
	// Dates with a month name: "2 January 1960", "2nd Jan. 1960",
	// "January 2, 1960", "Jan 1960".
	cleanMonthDateRE = regexp.MustCompile(`(?i)\b(\d{1,2}(st|nd|rd|th)?\.?\s+)?(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?(\s+\d{1,2}(st|nd|rd|th)?)?,?\s+\d{2,4}\b`)
	// Postcodes: UK (SW1A 1AA), Canadian (K1A 0B1), Dutch (1234 AB).
	cleanPostcodeRE = regexp.MustCompile(`\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b|\b[A-Z]\d[A-Z] ?\d[A-Z]\d\b|\b\d{4} ?[A-Z]{2}\b`)
	cleanPhoneRE    = regexp.MustCompile(`\+?\(?\d[\d ().-]{6,}\d`)
	cleanEmailRE    = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	cleanNumberRE   = regexp.MustCompile(`\d{6,}`)
	cleanSpaceRE    = regexp.MustCompile(`\s+`)
)

// applyDataset is pass 2: carry out the planned actions.
func (s *state) applyDataset(ds *dicom.Dataset, parent []locStep, c walkCtx) error {
	elems := append([]*dicom.Element(nil), ds.Elements()...)
	keptBlocks := map[dicom.Tag]bool{}
	for _, e := range elems {
		if e.Tag.IsPrivateCreator() {
			continue
		}
		a, ok := s.plan[e]
		if !ok {
			return permanent("apply", fmt.Errorf("element %s has no plan", e.Tag))
		}
		loc := append(parent[:len(parent):len(parent)], locStep{tag: e.Tag, item: -1})
		if e.Tag.IsPrivate() {
			loc[len(loc)-1].creator = s.creatorOf(ds, e.Tag)
		}
		kept, err := s.apply(ds, e, a, loc, c)
		if err != nil {
			return err
		}
		if kept && e.Tag.IsPrivate() {
			if ct, ok := e.Tag.PrivateBlock(); ok {
				keptBlocks[ct] = true
			}
		}
	}
	// An overlay (or curve) whose data was removed is removed whole: the
	// other attributes of its group alone make an invalid module.
	for _, e := range elems {
		g := e.Tag.Group()
		repeating := g%2 == 0 && ((g >= 0x6000 && g <= 0x601E && e.Tag.Element() == 0x3000) || (g >= 0x5000 && g <= 0x501E && e.Tag.Element() == 0x3000))
		if repeating && !ds.Has(e.Tag) {
			ds.DeleteFunc(func(x *dicom.Element) bool {
				if x.Tag.Group() == g {
					s.report.add(formatLoc(append(parent[:len(parent):len(parent)], locStep{tag: x.Tag}), !s.explain), "X", "overlay/curve without its data")
					return true
				}
				return false
			})
		}
	}
	for _, e := range elems {
		if !e.Tag.IsPrivateCreator() {
			continue
		}
		if keptBlocks[e.Tag] {
			s.rec[e] = "private creator of kept elements"
			s.report.add(formatLoc(append(parent[:len(parent):len(parent)], locStep{tag: e.Tag}), !s.explain), "K", "private creator")
		} else {
			ds.Delete(e.Tag)
		}
	}
	return nil
}

// record notes the action for the report and the justification of the
// (possibly new) output element.
func (s *state) record(ds *dicom.Dataset, t dicom.Tag, loc []locStep, code, rule string) {
	s.report.add(formatLoc(loc, !s.explain), code, rule)
	if out := ds.Get(t); out != nil {
		s.rec[out] = rule
	}
}

// apply carries out one action; kept reports whether the element remains.
func (s *state) apply(ds *dicom.Dataset, e *dicom.Element, a action, loc []locStep, c walkCtx) (bool, error) {
	t := e.Tag
	if a.kind == akQuarantine {
		ds.Delete(t)
		s.report.add(formatLoc(loc, !s.explain), "Q", a.rule)
		return false, nil
	}
	if a.kind == akUser && a.repl != nil {
		if err := s.setReplace(ds, t, a.repl.Value); err != nil {
			s.quarantine("replace-failed", formatLoc(loc, false), err.Error())
			ds.Delete(t)
			return false, nil
		}
		s.record(ds, t, loc, "R", a.rule)
		return true, nil
	}
	if a.kind == akPseudo {
		s.applyPseudonym(ds, e, loc)
		return true, nil
	}
	if a.kind == akBirthYear {
		v := ""
		if b := strings.TrimSpace(e.First()); len(b) >= 4 && allDigits(b[:4]) {
			v = b[:4] + "0101"
		}
		ds.SetString(t, dicom.DA, v)
		s.record(ds, t, loc, "D", a.rule)
		return true, nil
	}
	if a.vr != 0 && !e.IsSequence() {
		e.VR = a.vr
	}
	vr := e.VR
	if vr == dicom.UN && !e.IsSequence() && !t.IsPrivate() {
		if de, ok := dicom.LookupTag(t); ok && de.VR().IsText() && de.VR() != dicom.SQ {
			e.VR = de.VR() // reinterpret text sent as UN
			vr = e.VR
		}
	}
	switch a.code {
	case CodeX:
		ds.Delete(t)
		s.report.add(formatLoc(loc, !s.explain), "X", a.rule)
		return false, nil
	case CodeZ:
		if e.IsSequence() {
			e.Items = []*dicom.Dataset{}
		} else {
			e.SetBytes(nil)
		}
		s.record(ds, t, loc, "Z", a.rule)
		return true, nil
	case CodeD:
		if e.IsSequence() {
			return s.dummySequence(ds, e, loc, a)
		}
		if err := s.dummy(ds, e, vr, loc); err != nil {
			return false, err
		}
		s.record(ds, t, loc, "D", a.rule)
		return true, nil
	case CodeU:
		if e.IsSequence() {
			return s.keepSequence(ds, e, loc, c, "U", a.rule)
		}
		if vr != dicom.UI {
			ds.Delete(t)
			s.report.add(formatLoc(loc, !s.explain), "X", a.rule+" (not UI)")
			return false, nil
		}
		s.remapElement(ds, e)
		s.record(ds, t, loc, "U", a.rule)
		return true, nil
	case CodeC:
		if e.IsSequence() {
			return s.keepSequence(ds, e, loc, c, "C", a.rule)
		}
		ok, err := s.clean(ds, e, vr, loc, a)
		if err != nil || !ok {
			return false, err
		}
		s.record(ds, t, loc, "C", a.rule)
		return true, nil
	case CodeK:
		if e.IsSequence() {
			return s.keepSequence(ds, e, loc, c, "K", a.rule)
		}
		if a.kind != akUser && (numberVRs[vr] || vr == dicom.DS || vr == dicom.IS) && s.numberSpellsIdentifier(e, vr) {
			// A kept number whose digits are an identifier of the input
			// (the birth date, the record number) is removed.
			ds.Delete(t)
			s.report.add(formatLoc(loc, !s.explain), "X", a.rule+" (number spells an identifier)")
			return false, nil
		}
		if c.top && (t == dicom.TagPixelData || t == dicom.TagFloatPixelData || t == dicom.TagDoubleFloatPixelData) {
			s.trimPixelTail(e)
		}
		if t == tagWaveformData || t == tagLUTData || isPaletteData(t) {
			s.trimSized(ds, e)
		}
		if vr == dicom.UI {
			for _, u := range e.Strings() {
				if u != "" {
					s.retained[u] = true
				}
			}
			if a.kind == akUser && !isStructuralValue(e.First()) {
				s.uidKept = true
			}
		}
		s.record(ds, t, loc, "K", a.rule)
		return true, nil
	}
	return false, permanent("apply", fmt.Errorf("no action for %s", t))
}

// numberSpellsIdentifier reports a kept number (binary, DS or IS) one of
// whose whole values has the digits of a deny-list value.
func (s *state) numberSpellsIdentifier(e *dicom.Element, vr dicom.VR) bool {
	if len(s.deny.whole) == 0 {
		return false
	}
	return wholeNumberSpellings(e, vr, func(d string) bool {
		_, ok := s.deny.whole[d]
		return ok
	})
}

// keepSequence keeps a sequence and applies the plan to its items. A
// sequence whose every item was removed (code items of local schemes, SR
// items) is removed too, unless its module makes it Type 2 (present, may
// be empty): an empty sequence where items are required is invalid.
func (s *state) keepSequence(ds *dicom.Dataset, e *dicom.Element, loc []locStep, c walkCtx, code, rule string) (bool, error) {
	had := len(e.Items)
	s.record(ds, e.Tag, loc, code, rule)
	if err := s.recurse(e, loc, c); err != nil {
		return false, err
	}
	if had > 0 && len(e.Items) == 0 {
		if typ, known := iodType(s.sop, c.parentSeq, e.Tag); !known || typ != 2 {
			ds.Delete(e.Tag)
			s.report.add(formatLoc(loc, !s.explain), "X", rule+" (every item removed)")
			return false, nil
		}
	}
	return true, nil
}

func (s *state) recurse(e *dicom.Element, loc []locStep, c walkCtx) error {
	var items []*dicom.Dataset
	n := 0
	for _, it := range e.Items {
		if s.dropItem[it] {
			continue
		}
		loc[len(loc)-1].item = n
		ic, ok := s.itemCtx[it]
		if !ok {
			ic = walkCtx{parentSeq: e.Tag}
		}
		if err := s.applyDataset(it, loc, ic); err != nil {
			return err
		}
		items = append(items, it)
		n++
	}
	loc[len(loc)-1].item = -1
	if len(items) != len(e.Items) {
		if items == nil {
			items = []*dicom.Dataset{}
		}
		e.Items = items
	}
	return nil
}

// applyPseudonym writes the keyed pseudonym (docs/deid.md, "Pseudonyms").
func (s *state) applyPseudonym(ds *dicom.Dataset, e *dicom.Element, loc []locStep) {
	t := e.Tag
	var v string
	switch t {
	case tagPatientID:
		if ds == s.root {
			v = s.ps.patientID
		} else {
			v = s.e.keys.PatientPseudonym(s.ns, text(ds, t), s.p.Pseudonyms.PatientID)
			s.safeStr = append(s.safeStr, v)
		}
	case tagAccessionNumber:
		if ds == s.root {
			v = s.ps.accession
		} else if orig := text(ds, t); orig != "" {
			v = s.e.keys.AccessionPseudonym("site:"+s.e.cfg.Site, orig, s.p.Pseudonyms.AccessionNumber)
			s.safeStr = append(s.safeStr, v)
		}
	case tagPatientName:
		v = s.ps.patientName
	case tagStudyID:
		v = s.ps.studyID
	}
	ds.SetString(t, e.VR, v)
	if e.VR == 0 || e.VR == dicom.UN {
		de, _ := dicom.LookupTag(t)
		ds.SetString(t, de.VR(), v)
	}
	s.record(ds, t, loc, "P", "pseudonym (keyed)")
}

// dummyText is the dummy value of a text VR (docs/deid.md, "Dummy values").
func dummyText(vr dicom.VR) (string, bool) {
	switch vr {
	case dicom.PN, dicom.LO, dicom.SH, dicom.LT, dicom.ST, dicom.UT, dicom.UC, dicom.CS:
		return "ANONYMIZED", true
	case dicom.AE:
		return "ANONYMOUS", true
	case dicom.DA:
		return "19000101", true
	case dicom.TM:
		return "000000", true
	case dicom.DT:
		return "19000101000000", true
	case dicom.IS, dicom.DS:
		return "0", true
	case dicom.AS:
		return "000Y", true
	case dicom.UR:
		return "", true
	}
	return "", false
}

func (s *state) dummy(ds *dicom.Dataset, e *dicom.Element, vr dicom.VR, loc []locStep) error {
	t := e.Tag
	switch vr {
	case dicom.UI:
		s.remapElement(ds, e)
		return nil
	case dicom.DA, dicom.DT:
		if s.shift {
			s.shiftElement(ds, e, loc)
			return nil
		}
	case dicom.TM:
		if s.shift {
			return nil // whole-day shifts keep times
		}
	}
	if v, ok := dummyText(vr); ok {
		if err := ds.SetText(t, vr, v); err != nil {
			ds.SetString(t, vr, v)
		}
		return nil
	}
	switch vr {
	case dicom.US, dicom.SS:
		ds.SetBytes(t, vr, []byte{0, 0})
	case dicom.UL, dicom.SL, dicom.FL, dicom.AT:
		ds.SetBytes(t, vr, make([]byte, 4))
	case dicom.FD, dicom.SV, dicom.UV:
		ds.SetBytes(t, vr, make([]byte, 8))
	default:
		e.SetBytes(nil)
	}
	return nil
}

// dummySequence handles D on a sequence (docs/deid.md, "Carrying out an
// action"): one item with the
// Type 1 attributes of the few sequences whose items we know, otherwise
// quarantine.
func (s *state) dummySequence(ds *dicom.Dataset, e *dicom.Element, loc []locStep, a action) (bool, error) {
	item := dicom.NewDataset()
	switch e.Tag {
	case tagVerifyingObserverSequence:
		item.SetString(tagVerifyingObserverName, dicom.PN, "ANONYMIZED")
		item.SetSequence(tagVerifyingObserverIDCodes)
		item.SetString(tagVerifyingOrganization, dicom.LO, "ANONYMIZED")
		vdt := "19000101000000"
		if s.shift && len(e.Items) > 0 {
			if sh, ok := shiftDT(e.Items[0].String(tagVerificationDateTime), s.days); ok {
				vdt = sh
			}
		}
		item.SetString(tagVerificationDateTime, dicom.DT, vdt)
	case tagPersonIDCodeSequence:
		item.SetString(tagCodeValue, dicom.SH, "ANONYMIZED")
		item.SetString(tagCodingSchemeDesignator, dicom.SH, "99AISEDGE")
		item.SetString(tagCodeMeaning, dicom.LO, "ANONYMIZED")
	default:
		s.quarantine("dummy-sequence-unsupported", formatLoc(loc, false), "cannot synthesise a dummy item for this sequence")
		ds.Delete(e.Tag)
		s.report.add(formatLoc(loc, !s.explain), "Q", a.rule)
		return false, nil
	}
	ds.SetSequence(e.Tag, item)
	s.record(ds, e.Tag, loc, "D", a.rule)
	for _, el := range item.Elements() {
		s.rec[el] = "dummy item"
	}
	return true, nil
}

// remapElement maps every non-structural value of a UI element
// (docs/deid.md, "UID remapping").
func (s *state) remapElement(ds *dicom.Dataset, e *dicom.Element) {
	vals := e.Strings()
	changed := false
	for i, u := range vals {
		if u == "" || isStructuralValue(u) {
			continue
		}
		vals[i] = s.remap(u)
		changed = true
	}
	if changed {
		ds.SetString(e.Tag, dicom.UI, vals...)
	}
}

func (s *state) remap(u string) string {
	if n, ok := s.uidMap[u]; ok {
		return n
	}
	n := s.e.keys.RemapUID(u)
	s.uidMap[u] = n
	s.safeStr = append(s.safeStr, n)
	return n
}

// shiftElement shifts every value of a DA or DT element by the subject's
// offset; unparseable values are emptied and reported.
func (s *state) shiftElement(ds *dicom.Dataset, e *dicom.Element, loc []locStep) {
	vals := e.Strings()
	for i, v := range vals {
		if v == "" {
			continue
		}
		var out string
		var ok bool
		if e.VR == dicom.DA {
			out, ok = shiftDA(v, s.days)
		} else {
			out, ok = shiftDT(v, s.days)
		}
		if !ok {
			s.report.warn("invalid-date-emptied", formatLoc(loc, true), "")
			out = ""
		}
		vals[i] = out
	}
	ds.SetString(e.Tag, e.VR, vals...)
}

// setReplace writes a user Replace value with templates substituted.
func (s *state) setReplace(ds *dicom.Dataset, t dicom.Tag, v ReplaceValue) error {
	switch v.kind {
	case 'b':
		ds.SetBytes(t, v.VR, v.Binary)
		return nil
	case 'q':
		// Attach the items first so that their text is encoded in the
		// character set in force.
		items := make([]*dicom.Dataset, len(v.Items))
		for i := range items {
			items[i] = dicom.NewDataset()
		}
		ds.SetSequence(t, items...)
		for i, it := range ds.Get(t).Items {
			for _, f := range v.Items[i] {
				if err := s.setReplace(it, f.Tag, f.Value); err != nil {
					return err
				}
			}
			for _, el := range it.Elements() {
				if s.rec[el] == "" {
					s.rec[el] = "user Replace (item)"
				}
			}
		}
		return nil
	}
	vals := make([]string, len(v.Values))
	for i, raw := range v.Values {
		vals[i] = templateRE.ReplaceAllStringFunc(raw, func(m string) string {
			return s.tmpl[m[2:len(m)-1]]
		})
		if err := checkCast(v.VR, vals[i]); err != nil {
			return fmt.Errorf("value after templates cannot be cast to %s: %v", v.VR, err)
		}
	}
	switch v.VR {
	case dicom.US, dicom.SS, dicom.UL, dicom.SL, dicom.FL, dicom.FD, dicom.SV, dicom.UV:
		b, err := encodeNumbers(v.VR, vals)
		if err != nil {
			return err
		}
		ds.SetBytes(t, v.VR, b)
		return nil
	}
	if len(vals) == 1 && vals[0] == "" {
		ds.SetString(t, v.VR)
		return nil
	}
	return ds.SetText(t, v.VR, vals...)
}

// insertReplacements inserts Replace values whose element is absent
// (Orthanc behaviour), for paths that name one place.
func (s *state) insertReplacements() error {
	for i := range s.p.Replace {
		r := &s.p.Replace[i]
		if r.Path.anyDepth || isMarker(r.Path) {
			continue
		}
		ds := s.root
		ok := true
		for _, st := range r.Path.steps[:len(r.Path.steps)-1] {
			if st.private || st.item < 0 {
				ok = false
				break
			}
			e := ds.Get(st.tag)
			if e == nil || st.item >= len(e.Items) {
				ok = false
				break
			}
			ds = e.Items[st.item]
		}
		if !ok {
			continue
		}
		leaf := r.Path.leaf()
		var t dicom.Tag
		if leaf.private {
			var err error
			if t, err = reservePrivate(ds, leaf); err != nil {
				return err
			}
			if ct, ok := t.PrivateBlock(); ok {
				if ce := ds.Get(ct); ce != nil && s.rec[ce] == "" {
					s.rec[ce] = "private creator of kept elements"
				}
			}
		} else {
			t = leaf.tag
		}
		if ds.Has(t) {
			continue
		}
		if err := s.setReplace(ds, t, r.Value); err != nil {
			return err
		}
		if out := ds.Get(t); out != nil {
			s.rec[out] = "user Replace (inserted)"
		}
		s.report.add(r.Path.Canonical(), "R", "user Replace (inserted)")
	}
	return nil
}

// reservePrivate finds or reserves the block of a private creator and
// returns the tag of the element.
func reservePrivate(ds *dicom.Dataset, st pathStep) (dicom.Tag, error) {
	g := st.tag.Group()
	free := -1
	for b := 0x10; b <= 0xFF; b++ {
		ct := dicom.NewTag(g, uint16(b))
		e := ds.Get(ct)
		if e == nil {
			if free < 0 {
				free = b
			}
			continue
		}
		if strings.TrimRight(e.First(), " ") == st.creator {
			return dicom.NewTag(g, uint16(b)<<8|st.tag.Element()&0xFF), nil
		}
	}
	if free < 0 {
		return 0, errors.New("no free private block")
	}
	ct := dicom.NewTag(g, uint16(free))
	ds.SetString(ct, dicom.LO, st.creator)
	return dicom.NewTag(g, uint16(free)<<8|st.tag.Element()&0xFF), nil
}

// computeAge writes Patient's Age from the original birth and study dates
// when absent (RetainPatientCharacteristics + Dates.ComputeAge), and caps
// retained ages (docs/deid.md, "Date shifting").
func (s *state) computeAge() {
	if !s.opts.Has(OptRetainPatientCharacteristics) {
		return
	}
	capY := s.p.Dates.AgeCapYears
	if e := s.root.Get(tagPatientAge); e != nil {
		if capped, ok := capAge(e.First(), capY); ok && capped != e.First() {
			s.root.SetString(tagPatientAge, dicom.AS, capped)
			s.rec[s.root.Get(tagPatientAge)] = "age capped"
			s.report.warn("age-capped", tagPatientAge.String(), "")
		}
		return
	}
	if !s.p.Dates.ComputeAge || s.orig.age != "" {
		return
	}
	b, ok1 := parseDA(s.orig.birth)
	d, ok2 := parseDA(s.orig.studyDate)
	if !ok1 || !ok2 {
		return
	}
	if age, ok := ageString(b, d, capY); ok {
		s.root.SetString(tagPatientAge, dicom.AS, age)
		s.rec[s.root.Get(tagPatientAge)] = "age computed"
		s.report.add(tagPatientAge.String(), "A", "age computed from original dates")
	}
}

// writeMarkers writes the markers (docs/deid.md, "Markers and file meta").
func (s *state) writeMarkers() {
	ds := s.root
	ds.SetString(tagPatientIdentityRemoved, dicom.CS, "YES")
	method := []string{"AIS-Edge deid " + EngineVersion, BaselinePS315, "profile " + s.p.Hash[:32], "key " + s.e.keys.KeyID()}
	if s.p.Baseline == "none" {
		method[1] = "no baseline"
	}
	ds.SetString(tagDeidentificationMethod, dicom.LO, method...)
	codes := []optionInfo{{Code: "113100", Meaning: "Basic Application Confidentiality Profile"}}
	claimed := s.opts
	if s.uidKept {
		claimed.add(OptRetainUIDs)
	}
	if s.p.Baseline != "none" {
		for _, o := range claimed.List() {
			codes = append(codes, optionInfos[o])
		}
	} else {
		codes = nil
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i].Code < codes[j].Code })
	var items []*dicom.Dataset
	for _, c := range codes {
		it := dicom.NewDataset()
		it.SetString(tagCodeValue, dicom.SH, c.Code)
		it.SetString(tagCodingSchemeDesignator, dicom.SH, "DCM")
		it.SetString(tagCodeMeaning, dicom.LO, c.Meaning)
		items = append(items, it)
		s.report.OptionsHonoured = append(s.report.OptionsHonoured, c.Code)
	}
	ds.SetSequence(tagDeidentificationMethodCodes, items...)
	lt := "REMOVED"
	switch {
	case s.opts.Has(OptRetainLongitudinalFullDates):
		lt = "UNMODIFIED"
	case s.opts.Has(OptRetainLongitudinalModifiedDates):
		lt = "MODIFIED"
	}
	ds.SetString(tagLongitudinalModified, dicom.CS, lt)
	for _, t := range []dicom.Tag{tagPatientIdentityRemoved, tagDeidentificationMethod, tagDeidentificationMethodCodes, tagLongitudinalModified} {
		e := ds.Get(t)
		s.rec[e] = "marker"
		for _, it := range e.Items {
			for _, el := range it.Elements() {
				s.rec[el] = "marker"
			}
		}
	}
	// Accession synthesised when absent altogether.
	if !ds.Has(tagAccessionNumber) && s.ps.accession != "" && s.p.Baseline != "none" {
		ds.SetString(tagAccessionNumber, dicom.SH, s.ps.accession)
		s.rec[ds.Get(tagAccessionNumber)] = "pseudonym (keyed)"
	}
	if s.ps.accessionSynth {
		s.report.warn("accession-synthesized", tagAccessionNumber.String(), "")
	}
}

// stripFormat removes invisible format characters (zero-width space and
// joiners, soft hyphen, byte order mark, bidi controls) that split a word
// for the eye but not for a reader.
func stripFormat(v string) string {
	if !strings.ContainsFunc(v, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) {
		return v
	}
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, v)
}

// looksLikeDate reports whether a match of cleanDateRE is a calendar date
// in one of its usual orders (day-month-year, month-day-year,
// year-month-day) with a two- or four-digit year, or a YYYYMMDD date.
func looksLikeDate(m string) bool {
	parts := strings.FieldsFunc(m, func(r rune) bool { return r == '-' || r == '/' || r == '.' })
	if len(parts) == 1 {
		_, ok := parseDA(m)
		return ok
	}
	if len(parts) != 3 {
		return false
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	valid := func(y string, mo, d int) bool {
		if len(y) != 2 && len(y) != 4 {
			return false
		}
		yy := num(y)
		if len(y) == 2 {
			yy += 1900
		}
		_, ok := mkDate(yy, mo, d)
		return ok
	}
	a, b, c := parts[0], parts[1], parts[2]
	return valid(c, num(b), num(a)) || valid(c, num(a), num(b)) || valid(a, num(b), num(c))
}
