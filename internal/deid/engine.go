package deid

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/aisedge/aisedge/internal/dicom"
)

// EngineVersion is recorded in De-identification Method and in reports.
const EngineVersion = "0.1.0"

// Config configures an Engine.
type Config struct {
	Profile *Profile
	Keys    *Keys
	// Site is the routing site id: the pseudonym namespace "site:<Site>"
	// (deid.md §6.2). Required.
	Site string
	// ProjectCode is the routing project code (${ProjectCode}, the first
	// part of the session label). Required.
	ProjectCode string
	// Logger receives value-free diagnostics; nil discards them.
	Logger *slog.Logger
}

// Engine de-identifies instances with one profile and one key. It is
// immutable and safe for concurrent use.
type Engine struct {
	cfg       Config
	prof      *Profile
	keys      *Keys
	log       *slog.Logger
	safe      map[safeKey][]*SafePrivateEntry
	constants []string // constant Replace values (dropped from deny lists)
}

type safeKey struct {
	group   uint16
	creator string
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// New validates cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Profile == nil {
		return nil, invalidf("config", "no profile")
	}
	if cfg.Keys == nil {
		return nil, invalidf("config", "no keys (set %s)", SaltEnv)
	}
	if cfg.Site == "" || !labelRE.MatchString(cfg.Site) {
		return nil, invalidf("config", "site id must be set and match [A-Za-z0-9_.-]+")
	}
	if cfg.ProjectCode == "" || !labelRE.MatchString(cfg.ProjectCode) || strings.Contains(cfg.ProjectCode, ".") {
		return nil, invalidf("config", "project code must be set and match [A-Za-z0-9_-]+")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, prof: cfg.Profile, keys: cfg.Keys, log: log.With("component", "deid"), safe: map[safeKey][]*SafePrivateEntry{}}
	for i := range e.prof.SafePrivate {
		sp := &e.prof.SafePrivate[i]
		k := safeKey{sp.Group, sp.Creator}
		e.safe[k] = append(e.safe[k], sp)
	}
	for _, r := range e.prof.Replace {
		for _, v := range r.Value.Values {
			if !templateRE.MatchString(v) {
				e.constants = append(e.constants, v)
			}
		}
	}
	return e, nil
}

// Profile returns the engine's profile.
func (e *Engine) Profile() *Profile { return e.prof }

// KeyID returns the key id recorded in outputs.
func (e *Engine) KeyID() string { return e.keys.KeyID() }

// Reason is a value-free quarantine reason.
type Reason struct {
	Code   string `json:"code"`
	Path   string `json:"path,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func (r Reason) String() string {
	s := r.Code
	if r.Path != "" {
		s += " at " + r.Path
	}
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// Result is the outcome of de-identifying one instance in memory. When
// Quarantined is true, File must not be written anywhere but the
// quarantine.
type Result struct {
	// File is the de-identified instance (bulk values still reference the
	// input, which must stay open until it is written).
	File *dicom.File
	// SOPInstanceUID is the new SOP Instance UID; FileName is derived from
	// it; SessionLabel is PROJECT.SUBJECT.VISIT from pseudonyms.
	SOPInstanceUID string
	FileName       string
	SessionLabel   string
	Report         *Report
	Reasons        []Reason

	plan *gatePlan
}

// Quarantined reports whether the instance must be quarantined.
func (r *Result) Quarantined() bool { return len(r.Reasons) > 0 }

// Options for one call of Deidentify.
type Options struct {
	// Explain keeps one report entry per element (item indices included)
	// instead of one per collapsed path.
	Explain bool
}

// action is the resolved treatment of one element.
type action struct {
	code    Code
	kind    actKind
	rule    string
	repl    *ReplaceRule
	special string // pseudonym field, quarantine reason, ...
}

type actKind uint8

const (
	akTable actKind = iota + 1
	akUser
	akPseudo
	akVR
	akPrivate
	akInvariant
	akDefault
	akSR
	akQuarantine
	akMarker
	akBirthYear
)

// walkCtx is the context of a data set during the walk.
type walkCtx struct {
	parentSeq dicom.Tag                // the sequence holding this item (0 at top)
	override  map[dicom.Tag]srOverride // SR content item value attribute
	cleanText bool                     // inside a cleaned (C) sequence
	top       bool
}

type srOverride struct {
	code Code
	rule string
}

// state is the per-instance working state.
type state struct {
	e     *Engine
	p     *Profile
	opts  OptionSet
	root  *dicom.Dataset
	sop   string // SOP Class UID
	ns    string // patient namespace
	days  int    // date shift (0 = dates are not shifted)
	shift bool

	orig struct {
		patientID, issuer, accession, studyUID, studyID, sopUID string
		birth, studyDate, age                                   string
		patientIDRaw                                            []byte
	}
	ps struct {
		patientID, patientName, accession, studyID string
		subjectHash, sessionHash                   string
		accessionSynth                             bool
	}
	tmpl map[string]string

	plan       map[*dicom.Element]action
	dropItem   map[*dicom.Dataset]bool
	itemCtx    map[*dicom.Dataset]walkCtx
	rec        map[*dicom.Element]string
	uidMap     map[string]string
	inputUIDs  map[string]bool
	retained   map[string]bool
	origDates  map[string]bool
	kept       map[string]bool // squashed values kept by user Keep
	keptCoded  []keptValue     // values of kept coded/equipment elements
	retainedIn map[string]bool // input UIDs whose element is kept (K)
	deny       *denyList
	safeStr    []string
	uidKept    bool // a UID was retained by user Keep (claims 113110)

	report  *Report
	reasons []Reason
	explain bool
}

var (
	tagPatientName                 = dicom.MustTag("PatientName")
	tagPatientID                   = dicom.MustTag("PatientID")
	tagIssuerOfPatientID           = dicom.MustTag("IssuerOfPatientID")
	tagAccessionNumber             = dicom.MustTag("AccessionNumber")
	tagStudyID                     = dicom.MustTag("StudyID")
	tagPatientBirthDate            = dicom.MustTag("PatientBirthDate")
	tagPatientAge                  = dicom.MustTag("PatientAge")
	tagStudyDate                   = dicom.MustTag("StudyDate")
	tagModality                    = dicom.MustTag("Modality")
	tagImageType                   = dicom.MustTag("ImageType")
	tagBurnedInAnnotation          = dicom.MustTag("BurnedInAnnotation")
	tagPatientIdentityRemoved      = dicom.MustTag("PatientIdentityRemoved")
	tagDeidentificationMethod      = dicom.MustTag("DeidentificationMethod")
	tagDeidentificationMethodCodes = dicom.MustTag("DeidentificationMethodCodeSequence")
	tagLongitudinalModified        = dicom.MustTag("LongitudinalTemporalInformationModified")
	tagContentSequence             = dicom.MustTag("ContentSequence")
	tagGraphicAnnotationSequence   = dicom.MustTag("GraphicAnnotationSequence")
	tagEncapsulatedDocument        = dicom.MustTag("EncapsulatedDocument")
	tagIconImageSequence           = dicom.MustTag("IconImageSequence")
	tagCodeValue                   = dicom.MustTag("CodeValue")
	tagCodingSchemeDesignator      = dicom.MustTag("CodingSchemeDesignator")
	tagCodeMeaning                 = dicom.MustTag("CodeMeaning")
	tagLongCodeValue               = dicom.MustTag("LongCodeValue")
	tagURNCodeValue                = dicom.MustTag("URNCodeValue")
	tagValueType                   = dicom.MustTag("ValueType")
	tagConceptNameCodeSequence     = dicom.MustTag("ConceptNameCodeSequence")
	tagOriginalAttributesSequence  = dicom.MustTag("OriginalAttributesSequence")
	tagModifiedAttributesSequence  = dicom.MustTag("ModifiedAttributesSequence")
	tagEncryptedAttributesSequence = dicom.MustTag("EncryptedAttributesSequence")
	tagVerifyingObserverSequence   = dicom.MustTag("VerifyingObserverSequence")
	tagVerifyingObserverName       = dicom.MustTag("VerifyingObserverName")
	tagVerifyingOrganization       = dicom.MustTag("VerifyingOrganization")
	tagVerificationDateTime        = dicom.MustTag("VerificationDateTime")
	tagVerifyingObserverIDCodes    = dicom.MustTag("VerifyingObserverIdentificationCodeSequence")
	tagPersonIDCodeSequence        = dicom.MustTag("PersonIdentificationCodeSequence")
	tagRetrieveLocationUID         = dicom.MustTag("RetrieveLocationUID")
	tagRepositoryUniqueID          = dicom.MustTag("RepositoryUniqueID")
	tagHomeCommunityID             = dicom.MustTag("HomeCommunityID")
)

const dataSetTrailingPadding dicom.Tag = 0xFFFCFFFC
const digitalSignaturesSequence dicom.Tag = 0xFFFAFFFA

// structuralUIDs are never remapped (deid.md §7.2).
var structuralUIDs = func() map[dicom.Tag]bool {
	m := map[dicom.Tag]bool{}
	for _, kw := range []string{
		"SOPClassUID", "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID", "SOPClassesInStudy",
		"CodingSchemeUID", "ContextUID", "MappingResourceUID", "ReferencedSOPClassUID", "SOPClassesSupported",
		"AvailableTransferSyntaxUID", "CreatorVersionUID", "MACCalculationTransferSyntaxUID",
		"EncryptedContentTransferSyntaxUID", "MediaStorageSOPClassUID", "TransferSyntaxUID",
	} {
		if e, ok := dicom.LookupKeyword(kw); ok {
			m[e.Tag] = true
		}
	}
	// Tags newer than the codec's dictionary.
	for _, t := range []dicom.Tag{0x00080404 /*Stored Instance TS*/, 0x0008040E, 0x00340003, 0x3010001F, 0x30100052, 0x30100053} {
		m[t] = true
	}
	return m
}()

func isMarker(p TagPath) bool {
	if !p.topLevel() {
		return false
	}
	switch p.leaf().tag {
	case tagPatientIdentityRemoved, tagDeidentificationMethod, tagDeidentificationMethodCodes, tagLongitudinalModified:
		return true
	}
	return false
}

func isStructuralValue(u string) bool { return strings.HasPrefix(u, "1.2.840.10008.") }

// Deidentify de-identifies f in place (the caller hands over ownership)
// and returns the result. Quarantine decisions are in Result.Reasons; an
// error means the input could not be processed at all (classified with
// ErrInvalidInput / ErrPermanent).
func (e *Engine) Deidentify(f *dicom.File, o Options) (*Result, error) {
	if f == nil || f.Dataset == nil {
		return nil, invalidf("deidentify", "no data set")
	}
	s := &state{
		e: e, p: e.prof, opts: e.prof.Options, root: f.Dataset, explain: o.Explain,
		plan: map[*dicom.Element]action{}, dropItem: map[*dicom.Dataset]bool{}, itemCtx: map[*dicom.Dataset]walkCtx{},
		rec: map[*dicom.Element]string{}, uidMap: map[string]string{}, inputUIDs: map[string]bool{},
		retained: map[string]bool{}, retainedIn: map[string]bool{}, origDates: map[string]bool{}, kept: map[string]bool{}, deny: newDenyList(),
	}
	s.report = newReport(e, o.Explain)
	res := &Result{Report: s.report}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if len(s.reasons) == 0 {
		s.pixelPolicy()
	}
	// Pass 1: resolve every element, build the deny-list from the input.
	s.planDataset(s.root, nil, walkCtx{top: true})
	// Values that are legitimately in the output are not deny tokens.
	for _, c := range e.constants {
		sq, _ := canonicalFast(c)
		s.deny.drop(sq)
	}
	for k := range s.kept {
		s.deny.drop(k)
	}
	// An acknowledged birth-year-only value equals the original date for
	// people born on 1 January: the profile chose to keep it.
	if y := s.tmpl["BirthYearOnly"]; s.p.acknowledged(AckBirthYearOnly) && y+"0101" == strings.TrimSpace(s.orig.birth) {
		s.deny.drop(y + "0101")
		s.deny.drop("0101" + y)
	}
	s.dropCoincidences()
	for u := range s.retainedIn {
		sq, _ := canonicalFast(u)
		s.deny.drop(sq)
	}
	s.deny.compact()
	// Pass 2: apply.
	if err := s.applyDataset(s.root, nil, walkCtx{top: true}); err != nil {
		return nil, err
	}
	if err := s.insertReplacements(); err != nil {
		s.quarantine("replace-failed", "", err.Error())
	}
	s.computeAge()
	s.writeMarkers()

	newSOP := s.root.String(dicom.TagSOPInstanceUID)
	sopClass := s.root.String(dicom.TagSOPClassUID)
	if newSOP == "" || sopClass == "" {
		s.quarantine("missing-sop-uids", "", "SOP Class UID and SOP Instance UID are required")
	}
	ts, err := outputSyntax(f.TransferSyntax, e.prof.Transcode)
	if err != nil {
		s.quarantine("transcode-unsupported", "", err.Error())
		ts = f.TransferSyntax
	}
	out := &dicom.File{Preamble: make([]byte, 128), Meta: dicom.NewFileMeta(sopClass, newSOP, ts.UID), Dataset: s.root, TransferSyntax: ts}
	res.File = out
	res.SOPInstanceUID = newSOP
	res.FileName = newSOP + ".dcm"
	res.SessionLabel = e.cfg.ProjectCode + "." + s.root.String(tagPatientID) + "." + s.root.String(tagAccessionNumber)
	s.report.NewSOPInstanceUID = newSOP
	s.report.NewStudyInstanceUID = s.root.String(dicom.TagStudyInstanceUID)
	s.report.PseudoPatientID = s.root.String(tagPatientID)
	s.report.SessionLabel = res.SessionLabel
	res.Reasons = s.reasons
	res.plan = s.gatePlan(out)
	s.report.finish(s.reasons)
	return res, nil
}

// outputSyntax picks the output transfer syntax: the input's, except that
// deflated and big-endian data sets are written as Explicit VR Little
// Endian (so that the gate reads the bytes as they are stored), or the
// profile's Transcode target for native pixel data.
func outputSyntax(in dicom.TransferSyntax, transcode string) (dicom.TransferSyntax, error) {
	target := in.UID
	if in.Deflated || in.BigEndian {
		target = dicom.ExplicitVRLittleEndian
	}
	if transcode != "" && transcode != in.UID {
		if in.Encapsulated {
			return in, errors.New("cannot transcode compressed pixel data")
		}
		target = transcode
	}
	ts, ok := dicom.LookupTransferSyntax(target)
	if !ok {
		return in, fmt.Errorf("unknown transfer syntax")
	}
	return ts, nil
}

func (s *state) quarantine(code, path, detail string) {
	for _, r := range s.reasons {
		if r.Code == code && r.Path == path {
			return
		}
	}
	s.reasons = append(s.reasons, Reason{Code: code, Path: path, Detail: detail})
}

// text decodes an element's value through its data set's character set
// (best effort on undecodable bytes).
func text(ds *dicom.Dataset, t dicom.Tag) string {
	v, _ := ds.Text(t)
	return v
}

func texts(ds *dicom.Dataset, t dicom.Tag) []string {
	v, _ := ds.Texts(t)
	return v
}

// prepare reads the originals the keyed functions need, refuses
// already-processed input and computes pseudonyms and the date shift.
func (s *state) prepare() error {
	ds := s.root
	s.sop = ds.String(dicom.TagSOPClassUID)
	if strings.EqualFold(ds.String(tagPatientIdentityRemoved), "YES") {
		for _, m := range ds.Strings(tagDeidentificationMethod) {
			if strings.Contains(m, "AIS-Edge deid") {
				s.quarantine("already-deidentified", "", "PatientIdentityRemoved is YES and De-identification Method names AIS-Edge deid")
			}
		}
	}
	s.orig.patientID = canonicalValue(text(ds, tagPatientID))
	if e := ds.Get(tagPatientID); e != nil {
		s.orig.patientIDRaw, _ = e.Bytes()
	}
	s.orig.issuer = canonicalValue(text(ds, tagIssuerOfPatientID))
	s.orig.accession = canonicalValue(text(ds, tagAccessionNumber))
	s.orig.studyUID = ds.String(dicom.TagStudyInstanceUID)
	s.orig.studyID = canonicalValue(text(ds, tagStudyID))
	s.orig.sopUID = ds.String(dicom.TagSOPInstanceUID)
	s.orig.birth = ds.String(tagPatientBirthDate)
	s.orig.studyDate = ds.String(tagStudyDate)
	s.orig.age = ds.String(tagPatientAge)

	if s.orig.patientID == "" {
		s.quarantine("empty-patient-id", tagPatientID.String(), "pseudonyms and date shifts need a Patient ID")
	}
	pc := s.p.Pseudonyms
	site := "site:" + s.e.cfg.Site
	switch pc.Namespace {
	case "global":
		s.ns = "global"
	case "issuer":
		s.ns = site
		if s.orig.issuer != "" {
			s.ns = "issuer:" + s.orig.issuer
		}
	default:
		s.ns = site
	}
	k := s.e.keys
	s.ps.patientID = k.PatientPseudonym(s.ns, s.orig.patientID, pc.PatientID)
	switch pc.PatientName {
	case "Empty":
	default:
		s.ps.patientName = s.ps.patientID
	}
	switch {
	case s.orig.accession != "":
		s.ps.accession = k.AccessionPseudonym(site, s.orig.accession, pc.AccessionNumber)
	case pc.AccessionIfEmpty == "FromStudyInstanceUID" && s.orig.studyUID != "":
		s.ps.accession = k.AccessionFromStudy(site, s.orig.studyUID, pc.AccessionNumber)
		s.ps.accessionSynth = true
	}
	switch pc.StudyID {
	case "SameAsAccessionNumber":
		s.ps.studyID = s.ps.accession
	case "Own":
		if s.orig.studyID != "" {
			s.ps.studyID = k.StudyIDPseudonym(site, s.orig.studyID, pc.StudyIDSpec)
		}
	}
	// Legacy hook hashes: over Orthanc's simplified (UTF-8, trimmed) tags.
	legacyPID := strings.TrimSpace(strings.Trim(text(ds, tagPatientID), "\x00"))
	if pc.Mode == ModeLegacyDJB2 {
		s.ps.subjectHash = k.LegacyHash(legacyPID)
		s.ps.sessionHash = k.LegacyHash(legacyPID + "|" + strings.TrimSpace(s.orig.studyUID))
	} else {
		s.ps.subjectHash, s.ps.sessionHash = s.ps.patientID, s.ps.accession
	}
	birthYear := "1900"
	if b := strings.TrimSpace(s.orig.birth); len(b) >= 4 {
		birthYear = b[:4]
	}
	s.tmpl = map[string]string{
		"ProjectCode": s.e.cfg.ProjectCode, "Site": s.e.cfg.Site,
		"PseudoPatientID": s.ps.patientID, "PseudoAccession": s.ps.accession, "PseudoStudyID": s.ps.studyID,
		"KeyID": k.KeyID(), "ProfileHash": s.p.Hash,
		"SubjectHash": s.ps.subjectHash, "SessionHash": s.ps.sessionHash, "BirthYearOnly": birthYear,
	}
	for _, v := range []string{s.ps.patientID, s.ps.accession, s.ps.studyID, s.ps.subjectHash, s.ps.sessionHash, k.KeyID(), s.p.Hash} {
		if v != "" {
			s.safeStr = append(s.safeStr, v)
		}
	}
	if s.opts.Has(OptRetainLongitudinalModifiedDates) && s.orig.patientID != "" {
		s.days = k.DateShiftDays(s.ns, s.orig.patientID, s.p.Dates)
		s.shift = true
	}
	// Identifiers that always go to the deny-list, whatever the rules say
	// about their elements (deid.md §10.1): the Orthanc IDs of the original.
	s.addOrthancIDs()
	return nil
}

// datePolicy is the treatment of DA/DT/TM outside the table (§5.2).
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

// resolve decides the action for one element (deid.md §4.3).
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
	if t.IsPrivate() {
		return s.resolvePrivate(ds, e, loc)
	}
	if s.p.Baseline == "none" {
		return action{code: CodeK, kind: akDefault, rule: "no baseline"}
	}
	// 3/4. Table E.1-1 with options.
	if row, ok := lookupRow(t); ok {
		if c.top {
			switch t {
			case tagPatientID, tagAccessionNumber, tagPatientName, tagStudyID:
				return action{code: CodeD, kind: akPseudo, rule: "pseudonym (§6)"}
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
				return action{code: CodeD, kind: akPseudo, rule: "pseudonym (§6)"}
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
	return action{code: CodeK, kind: akDefault, rule: "keep (not identifying per PS3.15)"}
}

// pickConditional chooses among the alternatives of a conditional code
// from the IOD type of the attribute (deid.md §5.1).
func (s *state) pickConditional(cs codeSet, t dicom.Tag, loc []locStep, c walkCtx) Code {
	if !cs.conditional() {
		return cs.alts[0]
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
		return action{code: CodeC, kind: akPrivate, rule: "safe private"}
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
			if !dsRE.MatchString(v) {
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
				if a.code == CodeC && isCodeItem(it) {
					if !registeredScheme(it.String(tagCodingSchemeDesignator)) {
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
// content item is looked up in Table E.3.4-1 (deid.md §5.4).
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
			s.record(ds, t, loc, "U", a.rule)
			return true, s.recurse(e, loc, c)
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
			s.record(ds, t, loc, "C", a.rule)
			return true, s.recurse(e, loc, c)
		}
		ok, err := s.clean(ds, e, vr, loc, a)
		if err != nil || !ok {
			return false, err
		}
		s.record(ds, t, loc, "C", a.rule)
		return true, nil
	case CodeK:
		if e.IsSequence() {
			s.record(ds, t, loc, "K", a.rule)
			return true, s.recurse(e, loc, c)
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

// applyPseudonym writes the keyed pseudonym of §6.
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
	s.record(ds, t, loc, "P", "pseudonym (§6)")
}

// dummyText is the dummy value of a text VR (deid.md §5.1).
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

// dummySequence handles D on a sequence (deid.md §5.1): one item with the
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
	out := ds.Get(e.Tag)
	for _, el := range item.Elements() {
		s.rec[el] = "dummy item"
		for _, it := range el.Items {
			_ = it
		}
	}
	_ = out
	return true, nil
}

// remapElement maps every non-structural value of a UI element (§7).
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

// clean implements C (deid.md §5.4). ok is false when the element was
// removed instead.
func (s *state) clean(ds *dicom.Dataset, e *dicom.Element, vr dicom.VR, loc []locStep, a action) (bool, error) {
	t := e.Tag
	switch vr {
	case dicom.DA, dicom.DT:
		switch {
		case s.shift:
			s.shiftElement(ds, e, loc)
		case s.opts.Has(OptRetainLongitudinalFullDates):
		default:
			ds.Delete(t)
			s.report.add(formatLoc(loc, !s.explain), "X", a.rule+" (no date option)")
			return false, nil
		}
		return true, nil
	case dicom.TM:
		if !s.shift && !s.opts.Has(OptRetainLongitudinalFullDates) {
			ds.Delete(t)
			s.report.add(formatLoc(loc, !s.explain), "X", a.rule+" (no date option)")
			return false, nil
		}
		return true, nil
	case dicom.UI:
		if s.opts.Has(OptRetainUIDs) {
			for _, u := range e.Strings() {
				s.retained[u] = true
			}
			return true, nil
		}
		s.remapElement(ds, e)
		return true, nil
	case dicom.AE:
		vals := e.Strings()
		for i, v := range vals {
			if v != "" {
				vals[i] = s.e.keys.AETitle(v)
				s.safeStr = append(s.safeStr, vals[i])
			}
		}
		ds.SetString(t, dicom.AE, vals...)
		return true, nil
	case dicom.PN:
		ds.SetString(t, dicom.PN, "ANONYMIZED")
		return true, nil
	case dicom.SH, dicom.LO, dicom.ST, dicom.LT, dicom.UT, dicom.UC, dicom.CS:
		vals := texts(ds, t)
		removed := 0
		narrative := vr == dicom.LT || vr == dicom.ST || vr == dicom.UT
		for i, v := range vals {
			out, n := s.cleanText(v, narrative)
			if out == "" && a.kind == akSR {
				out = "ANONYMIZED" // a content item's value is Type 1
			}
			vals[i] = out
			removed += n
		}
		if vr == dicom.CS {
			for i, v := range vals {
				vals[i] = strings.ToUpper(v)
			}
		}
		if err := ds.SetText(t, vr, vals...); err != nil {
			e.SetBytes(nil)
		}
		if removed > 0 {
			s.report.warn("text-cleaned", formatLoc(loc, true), fmt.Sprintf("%d match(es) removed", removed))
		}
		return true, nil
	}
	// Numbers, binary values: nothing to clean; the gate checks them.
	return true, nil
}

var (
	cleanDateRE   = regexp.MustCompile(`\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b|\b(19|20)\d{6}\b`)
	cleanPhoneRE  = regexp.MustCompile(`\+?\(?\d[\d ()-]{6,}\d`)
	cleanEmailRE  = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	cleanNumberRE = regexp.MustCompile(`\d{6,}`)
	cleanSpaceRE  = regexp.MustCompile(`\s+`)
)

// cleanText deletes deny-list matches, dates, phone numbers, e-mail
// addresses and long numbers from free text, then collapses white space.
// In narrative text (LT, ST, UT: mixed case prose) it also deletes every
// capitalised word that does not start a sentence: names of people the
// input does not list (relatives, staff) are proper nouns, and nothing
// else can find them. It returns the count of deletions (reported, never
// the text).
func (s *state) cleanText(v string, narrative bool) (string, int) {
	n := 0
	for _, re := range []*regexp.Regexp{cleanEmailRE, cleanDateRE, cleanPhoneRE, cleanNumberRE} {
		v = re.ReplaceAllStringFunc(v, func(string) string { n++; return " " })
	}
	words := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	drop := make([]bool, len(words))
	sq := make([]string, len(words))
	for i, w := range words {
		sq[i], _ = canonicalFast(w)
	}
	for i := range words {
		if drop[i] || sq[i] == "" {
			continue
		}
		if _, ok := s.deny.whole[sq[i]]; ok {
			drop[i] = true
			n++
			continue
		}
		// The shortest run of words starting here that holds a token
		// overlapping this word.
		run := ""
		for j := i; j < len(words) && j < i+6; j++ {
			run += sq[j]
			hit := false
			for _, t := range s.deny.tokens {
				switch t.kind {
				case tkUID:
					continue
				case tkComponent:
					hit = run == t.squashed
				default:
					k := strings.Index(run, t.squashed)
					hit = k >= 0 && k < len(sq[i])
				}
				if hit {
					break
				}
			}
			if hit {
				for k := i; k <= j; k++ {
					drop[k] = true
				}
				n++
				break
			}
		}
	}
	if narrative && strings.ToUpper(v) != v {
		start := true
		for i, w := range words {
			r := []rune(w)
			if !start && len(r) > 0 && unicode.IsUpper(r[0]) && !drop[i] {
				drop[i] = true
				n++
			}
			start = strings.ContainsAny(w[len(w)-1:], ".!?:;")
		}
	}
	var keep []string
	for i, w := range words {
		if !drop[i] {
			keep = append(keep, w)
		}
	}
	v = strings.Join(keep, " ")
	v = strings.TrimSpace(cleanSpaceRE.ReplaceAllString(v, " "))
	return v, n
}

func mustSquash(s string) string { sq, _ := canonicalFast(s); return sq }

// setReplace writes a user Replace value with templates substituted.
func (s *state) setReplace(ds *dicom.Dataset, t dicom.Tag, v ReplaceValue) error {
	switch v.kind {
	case 'b':
		ds.SetBytes(t, v.VR, v.Binary)
		return nil
	case 'q':
		var items []*dicom.Dataset
		for _, fields := range v.Items {
			it := dicom.NewDataset()
			ds.SetSequence(t) // parent link for the character set
			for _, f := range fields {
				if err := s.setReplace(it, f.Tag, f.Value); err != nil {
					return err
				}
			}
			items = append(items, it)
		}
		ds.SetSequence(t, items...)
		seq := ds.Get(t)
		for _, it := range seq.Items {
			for _, el := range it.Elements() {
				s.rec[el] = "user Replace (item)"
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
// retained ages (deid.md §8).
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

// writeMarkers writes the §9.1 markers.
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
		s.rec[ds.Get(tagAccessionNumber)] = "pseudonym (§6)"
	}
	if s.ps.accessionSynth {
		s.report.warn("accession-synthesized", tagAccessionNumber.String(), "")
	}
}
