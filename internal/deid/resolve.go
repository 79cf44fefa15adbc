package deid

import (
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// institutionIDs identify the issuing organisation (HL7 v2 hierarchic
// designators), not in Table E.1-1.
var institutionIDs = tagSet("LocalNamespaceEntityID", "UniversalEntityID")

// datePolicy is the treatment of DA/DT/TM outside the table
// (docs/deid.md, "Attributes the table does not list").
func (s *state) datePolicy() Code {
	switch {
	case s.opts.Has(OptRetainLongitudinalFullDates):
		return CodeK
	case s.opts.Has(OptRetainLongitudinalModifiedDates):
		return CodeC
	}
	return CodeX
}

func (s *state) creatorOf(ds *dicom.Dataset, t dicom.Tag) string {
	ct, ok := t.PrivateBlock()
	if !ok {
		return ""
	}
	return strings.TrimRight(ds.String(ct), " ")
}

// resolve decides the action for one element (docs/deid.md, "Order of
// precedence").
func (s *state) resolve(ds *dicom.Dataset, e *dicom.Element, loc []locStep, c walkCtx) action {
	t := e.Tag
	g := t.Group()
	// 1. Engine invariants.
	if g == 0x0000 || g == 0x0002 || g == 0x0004 || t.IsGroupLength() || t == digitalSignaturesSequence || t == dataSetTrailingPadding {
		return action{code: CodeX, kind: akInvariant, rule: "invariant"}
	}
	if t == tagOriginalAttributesSequence || t == tagModifiedAttributesSequence || t == tagEncryptedAttributesSequence {
		return action{code: CodeX, kind: akInvariant, rule: "invariant"}
	}
	if c.top && (t == tagPatientIdentityRemoved || t == tagDeidentificationMethod || t == tagDeidentificationMethodCodes || t == tagLongitudinalModified) {
		return action{code: CodeX, kind: akMarker, rule: "marker (rewritten)"}
	}
	// 2. User rules. With Strict a path is in one list only; otherwise
	// Orthanc's order applies: Keep beats Replace beats Remove.
	for _, kp := range s.p.Keep {
		if kp.match(loc) {
			return action{code: CodeK, kind: akUser, rule: "user Keep"}
		}
	}
	for i := range s.p.Replace {
		if s.p.Replace[i].Path.match(loc) {
			return action{code: CodeD, kind: akUser, rule: "user Replace", repl: &s.p.Replace[i]}
		}
	}
	for _, rp := range s.p.Remove {
		if rp.match(loc) {
			return action{code: CodeX, kind: akUser, rule: "user Remove"}
		}
	}
	// SR content item value attributes (Clean Structured Content).
	if o, ok := c.override[t]; ok {
		return action{code: o.code, kind: akSR, rule: o.rule}
	}
	if t == tagEncapsulatedDocument {
		return action{kind: akQuarantine, special: "encapsulated-document", rule: "special: encapsulated document"}
	}
	if t == tagIconImageSequence {
		return action{code: CodeX, kind: akTable, rule: "special: icon image"}
	}
	if t == tagExtendedOffsetTable || t == tagExtendedOffsetTableLengths {
		// Offsets into fragments the codestream filter may rewrite, and
		// 64-bit words nothing checks: an empty Basic Offset Table does
		// the same job.
		return action{code: CodeX, kind: akTable, rule: "special: extended offset table"}
	}
	if t.IsPrivate() {
		return s.resolvePrivate(ds, e, loc)
	}
	if !vrMatchesDictionary(e) {
		s.report.warn("vr-mismatch", formatLoc(loc, true), "the element's VR differs from the data dictionary's")
		return action{code: CodeX, kind: akVR, rule: "VR rule: VR differs from the data dictionary"}
	}
	if s.p.Baseline == "none" {
		return action{code: CodeK, kind: akDefault, rule: "no baseline"}
	}
	// 3/4. Table E.1-1 with options.
	if row, ok := lookupRow(t); ok {
		if c.top {
			switch t {
			case tagPatientID, tagAccessionNumber, tagPatientName, tagStudyID:
				return action{code: CodeD, kind: akPseudo, rule: "pseudonym (keyed)"}
			case tagPatientBirthDate:
				switch s.p.Dates.BirthDate {
				case "shift":
					if s.shift {
						return action{code: CodeC, kind: akTable, rule: "Dates.BirthDate shift"}
					}
				case "year":
					return action{code: CodeD, kind: akBirthYear, rule: "Dates.BirthDate year (acknowledged)"}
				}
			}
		}
		cs, opt, byOpt := row.resolve(s.opts)
		code := s.pickConditional(cs, t, loc, c)
		rule := "E.1-1 " + cs.String()
		if byOpt {
			rule = "E.1-1 " + opt.String() + " " + cs.String()
		} else if cs.conditional() {
			rule += "→" + code.String()
		}
		if t == tagPatientID || t == tagAccessionNumber {
			// Nested copies get the same keyed pseudonym of their own value.
			if code != CodeX {
				return action{code: CodeD, kind: akPseudo, rule: "pseudonym (keyed)"}
			}
		}
		if t == tagContentSequence && code == CodeD {
			return action{kind: akQuarantine, special: "content-sequence-without-clean-structured-content", rule: rule}
		}
		if t == tagGraphicAnnotationSequence && code == CodeD {
			return action{kind: akQuarantine, special: "graphic-annotation-without-clean-graphics", rule: rule}
		}
		return action{code: code, kind: akTable, rule: rule}
	}
	// 5. VR rules for attributes not in the table.
	de, known := dicom.LookupTag(t)
	vr := e.VR
	if vr == dicom.UN && known && de.VR() != dicom.SQ && !e.IsSequence() && de.VR().IsText() {
		vr = de.VR() // reinterpreted on apply
	}
	switch {
	case !known:
		return action{code: CodeX, kind: akVR, rule: "VR rule: unknown public tag"}
	case de.Retired:
		return action{code: CodeX, kind: akVR, rule: "VR rule: retired attribute"}
	case vr == dicom.UN && !e.IsSequence():
		return action{code: CodeX, kind: akVR, rule: "VR rule: public element with VR UN"}
	case vr == dicom.UI:
		if structuralUIDs[t] {
			for _, u := range e.Strings() {
				if hasLongComponent(u) && !registeredUID(u) {
					// A structural slot carrying a number (a phone in a
					// Referenced SOP Class UID): remapped like any UID.
					return action{code: CodeU, kind: akVR, rule: "VR rule: structural UID with an identifier-like component"}
				}
			}
			return action{code: CodeK, kind: akVR, rule: "VR rule: structural UID"}
		}
		if t == tagRetrieveLocationUID || t == tagRepositoryUniqueID || t == tagHomeCommunityID {
			if s.opts.Has(OptRetainInstitutionIdentity) {
				return action{code: CodeK, kind: akVR, rule: "VR rule: location UID (institution identity)"}
			}
			return action{code: CodeX, kind: akVR, rule: "VR rule: location UID"}
		}
		if s.opts.Has(OptRetainUIDs) {
			return action{code: CodeK, kind: akVR, rule: "VR rule: UID (RetainUIDs)"}
		}
		return action{code: CodeU, kind: akVR, rule: "VR rule: UID"}
	case vr == dicom.DA || vr == dicom.DT || vr == dicom.TM:
		return action{code: s.datePolicy(), kind: akVR, rule: "VR rule: date/time"}
	case vr == dicom.PN:
		return action{code: CodeX, kind: akVR, rule: "VR rule: person name"}
	}
	if c.cleanText && vr.IsText() && vr.UsesCharset() && !equipmentKeywords[t] {
		return action{code: CodeC, kind: akVR, rule: "clean (in cleaned sequence)"}
	}
	// Beyond the baseline (docs/deid.md, "Attributes the table does not
	// list"): issuer identifiers name the institution.
	if institutionIDs[t] {
		if s.opts.Has(OptRetainInstitutionIdentity) {
			return action{code: CodeK, kind: akVR, rule: "VR rule: issuer identifier (institution identity)"}
		}
		return action{code: CodeX, kind: akVR, rule: "VR rule: issuer identifier"}
	}
	// 6. Everything else: only what the allowlist names leaves.
	return s.resolveAllowed(e, vr, loc, c)
}

// pickConditional chooses among the alternatives of a conditional code
// from the IOD type of the attribute (docs/deid.md, "Conditional codes").
func (s *state) pickConditional(cs codeSet, t dicom.Tag, loc []locStep, c walkCtx) Code {
	if !cs.conditional() {
		return cs.alts[0]
	}
	// A reference sequence the table lets keep with its UIDs remapped
	// (U*) is kept: a segmentation, structure set or presentation state
	// must still find its images. Its other elements are judged as usual.
	if cs.uStar {
		return CodeU
	}
	typ, known := iodType(s.sop, c.parentSeq, t)
	if !known {
		s.report.warn("iod-type-unknown", formatLoc(loc, true), "")
		return cs.alts[0]
	}
	prefer := func(order ...Code) Code {
		for _, o := range order {
			if cs.has(o) {
				return o
			}
		}
		return cs.alts[0]
	}
	if cs.uStar && typ <= 2 {
		return CodeU // keep the sequence, remap the UIDs inside
	}
	switch typ {
	case 1:
		return prefer(CodeD, CodeU, CodeZ)
	case 2:
		return prefer(CodeZ, CodeU, CodeD)
	}
	return cs.alts[0]
}

func (s *state) resolvePrivate(ds *dicom.Dataset, e *dicom.Element, loc []locStep) action {
	t := e.Tag
	if s.p.KeepPrivateTags {
		// Kept private dates and UIDs are shifted and remapped like public
		// ones (docs/deid.md, "Private elements"); the rest is kept as is,
		// for the gate to judge.
		switch e.VR {
		case dicom.DA, dicom.DT, dicom.UI:
			return action{code: CodeC, kind: akPrivate, rule: "KeepPrivateTags"}
		}
		return action{code: CodeK, kind: akPrivate, rule: "KeepPrivateTags"}
	}
	if !s.opts.Has(OptRetainSafePrivate) || t.Element() < 0x1000 {
		return action{code: CodeX, kind: akPrivate, rule: "E.1-1 private X"}
	}
	creator := loc[len(loc)-1].creator
	for _, sp := range s.e.safe[safeKey{t.Group(), creator}] {
		if sp.Elements != nil {
			found := false
			for _, b := range sp.Elements {
				if uint16(b) == t.Element()&0xFF {
					found = true
				}
			}
			if !found {
				continue
			}
		}
		vr := e.VR
		if sp.NumericOnly {
			if numericPrivateOK(e) {
				return action{code: CodeC, kind: akPrivate, rule: "safe private (numeric)"}
			}
			continue
		}
		if len(sp.VRs) > 0 {
			ok := false
			for _, v := range sp.VRs {
				if v == vr || ((vr == dicom.UN || vr == 0) && !e.IsSequence()) {
					ok = true
				}
			}
			if !ok {
				continue
			}
		} else if vr == dicom.UN || vr == 0 {
			s.report.warn("private-vr-unknown", formatLoc(loc, true), "")
			continue
		}
		a := action{code: CodeC, kind: akPrivate, rule: "safe private"}
		if (vr == dicom.UN || vr == 0) && len(sp.VRs) == 1 {
			a.vr = sp.VRs[0] // implicit VR input: the list knows the VR
		}
		// The value must have the form of the slot's VR: a number slot
		// written as UN or implicit VR, or mislabelled, can carry text.
		if form := a.vr; form != 0 || (vr != dicom.UN && vr != 0) {
			if form == 0 {
				form = vr
			}
			if !privateFormOK(e, form) {
				s.report.warn("value-form", formatLoc(loc, true), "safe private value does not have the form of its VR")
				continue
			}
		} else if len(sp.VRs) > 1 {
			continue // UN with several possible VRs: the form cannot be checked
		}
		return a
	}
	return action{code: CodeX, kind: akPrivate, rule: "E.1-1 private X"}
}

func numericPrivateOK(e *dicom.Element) bool {
	switch e.VR {
	case dicom.US, dicom.SS, dicom.UL, dicom.SL, dicom.FL, dicom.FD, dicom.SV, dicom.UV:
		return true
	case dicom.IS, dicom.DS:
		for _, v := range e.Strings() {
			if v == "" {
				continue
			}
			if !isDSForm(v) {
				return false
			}
		}
		return true
	}
	return false
}

// planDataset is pass 1: resolve every element and collect deny tokens.
func (s *state) planDataset(ds *dicom.Dataset, parent []locStep, c walkCtx) {
	for _, e := range ds.Elements() {
		if e.Tag.IsPrivateCreator() {
			continue
		}
		loc := append(parent[:len(parent):len(parent)], locStep{tag: e.Tag, item: -1})
		if e.Tag.IsPrivate() {
			loc[len(loc)-1].creator = s.creatorOf(ds, e.Tag)
		}
		a := s.resolve(ds, e, loc, c)
		if a.kind == akQuarantine {
			s.quarantine(a.special, formatLoc(loc, false), "")
		}
		s.plan[e] = a
		s.collect(ds, e, a, loc)
		if !e.IsSequence() {
			continue
		}
		switch {
		case a.kind == akQuarantine || a.code == CodeX || a.code == CodeZ || (a.code == CodeD && a.kind != akUser):
			s.collectSubtree(e)
		case a.kind == akUser && a.code == CodeD: // replaced wholesale
			s.collectSubtree(e)
		case e.Tag == tagContentSequence && a.code == CodeC:
			s.planSR(e, loc, c)
		default:
			cc := walkCtx{parentSeq: e.Tag, cleanText: c.cleanText || a.code == CodeC}
			for i, it := range e.Items {
				loc[len(loc)-1].item = i
				// A code item, at any depth: only a registered coding
				// scheme's codes leave (local 99... and L schemes are the
				// site's own and may encode anything), and their meanings
				// are cleaned.
				// The concept name of an SR content item is kept whatever its
				// scheme (the document's structure needs it); its value and
				// meaning are still checked and cleaned.
				if isCodeItem(it) {
					local := !registeredScheme(it.String(tagCodingSchemeDesignator))
					if (local && e.Tag != tagConceptNameCodeSequence) || (!local && !codeItemFormOK(it)) {
						s.dropItem[it] = true
						s.collectItem(it)
						continue
					}
					ic := cc
					ic.override = map[dicom.Tag]srOverride{tagCodeMeaning: {CodeC, "clean code meaning"}}
					s.itemCtx[it] = ic
					s.planDataset(it, loc, ic)
					continue
				}
				s.itemCtx[it] = cc
				s.planDataset(it, loc, cc)
			}
			loc[len(loc)-1].item = -1
		}
	}
}

func isCodeItem(ds *dicom.Dataset) bool {
	return ds.Has(tagCodingSchemeDesignator) && (ds.Has(tagCodeValue) || ds.Has(tagLongCodeValue) || ds.Has(tagURNCodeValue))
}

// registeredScheme reports whether a coding scheme designator is one of
// the PS3.16 Table 8-1 schemes commonly used in images; local schemes
// (99…, L…) and unknown ones are not.
func registeredScheme(csd string) bool {
	switch csd {
	case "DCM", "SCT", "SRT", "SNM3", "LN", "UCUM", "RADLEX", "NCIt", "FMA", "UMLS", "MSH", "ICD10", "I10", "I10P",
		"I9", "I9C", "ICD10PCS", "ACR", "BI", "HPC", "RFC5646", "ISO639_1", "ISO639_2", "ISO3166_1", "NEU", "MDC",
		"NCDR", "PUBCHEM_CID", "RXNORM", "ATC", "NDC", "FDA", "MA", "MAYO", "ITIS_TSN", "NYUMCCG", "UPC", "UMD",
		"BARI", "IBSI", "ICDO3", "ICD11", "CD2", "CPT4", "C4", "C5", "HCPCS", "DC", "UNS", "ASTM-sigpurpose",
		"ISO_OID", "IEC61217", "POS", "CAPECC", "NICIP", "NCI", "SCPECG", "RO", "ISO3166":
		return true
	}
	return false
}

// planSR handles a Content Sequence under Clean Structured Content: each
// content item is looked up in Table E.3.4-1 (docs/deid.md, "Structured
// reports").
func (s *state) planSR(e *dicom.Element, loc []locStep, c walkCtx) {
	for i, it := range e.Items {
		loc[len(loc)-1].item = i
		vt := it.String(tagValueType)
		var value, scheme string
		if cn := it.Get(tagConceptNameCodeSequence); cn != nil && len(cn.Items) > 0 {
			ci := cn.Items[0]
			value = ci.String(tagCodeValue)
			if value == "" {
				value = ci.String(tagLongCodeValue)
			}
			if value == "" {
				value = ci.String(tagURNCodeValue)
			}
			scheme = ci.String(tagCodingSchemeDesignator)
		}
		valueTag := srValueTag(vt)
		row, ok := lookupSRRow(value, scheme, vt)
		var code Code
		rule := "E.3.4-1 "
		if ok {
			cs, _, _ := row.Row.resolve(s.opts)
			code = cs.alts[0] // no IOD type for content items: leftmost
			rule += cs.String()
		} else {
			switch vt {
			case "TEXT", "PNAME", "DATE", "DATETIME":
				code, rule = CodeX, "SR: unknown "+vt+" item removed"
			case "UIDREF":
				code, rule = CodeU, "SR: unknown UIDREF remapped"
			default:
				code, rule = CodeK, "SR: "+vt+" item kept"
			}
		}
		if code == CodeX {
			s.dropItem[it] = true
			s.collectItem(it)
			s.report.add(formatLoc(loc, !s.explain)+"[item]", "X", rule)
			continue
		}
		ic := walkCtx{parentSeq: e.Tag}
		if valueTag != 0 {
			ic.override = map[dicom.Tag]srOverride{valueTag: {code, rule}}
		}
		s.itemCtx[it] = ic
		s.planDataset(it, loc, ic)
	}
	loc[len(loc)-1].item = -1
}

func srValueTag(vt string) dicom.Tag {
	switch vt {
	case "TEXT":
		return dicom.MustTag("TextValue")
	case "PNAME":
		return dicom.MustTag("PersonName")
	case "DATE":
		return dicom.MustTag("Date")
	case "TIME":
		return dicom.MustTag("Time")
	case "DATETIME":
		return dicom.MustTag("DateTime")
	case "UIDREF":
		return dicom.MustTag("UID")
	}
	return 0
}

// vrMatchesDictionary checks an explicit VR against the data dictionary.
// A text attribute sent with another text VR or as OB (ProtocolName as
// OB, to slip past text checks) is read as the dictionary's VR from here
// on; any other mismatch fails, and the element is removed. UN is handled
// by the VR rules.
func vrMatchesDictionary(e *dicom.Element) bool {
	if e.VR == dicom.UN || e.VR == 0 {
		return true
	}
	de, ok := dicom.LookupTag(e.Tag)
	if !ok || len(de.VRs) == 0 {
		return true // unknown tags have their own rule
	}
	for _, v := range de.VRs {
		if v == e.VR {
			return true
		}
	}
	dv := de.VR()
	if dv.IsText() && dv != dicom.SQ && !e.IsSequence() && (e.VR.IsText() || e.VR == dicom.OB) {
		e.VR = dv
		return true
	}
	return false
}

func registeredUID(u string) bool {
	_, ok := dicom.LookupUID(u)
	return ok
}
