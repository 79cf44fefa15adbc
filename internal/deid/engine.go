package deid

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/session"
)

// EngineVersion is recorded in De-identification Method and in reports.
const EngineVersion = "0.1.0"

// Config configures an Engine.
type Config struct {
	Profile *Profile
	Keys    *Keys
	// Site is the routing site id: the pseudonym namespace "site:<Site>"
	// (docs/deid.md, "Pseudonyms"). Required.
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
	// it. Session is the session the instance belongs to (project and
	// pseudonyms); Session.Folder() is its folder name,
	// PROJECT.SUBJECT.VISIT.
	SOPInstanceUID string
	FileName       string
	Session        session.ID
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
	// PixelRiskOverride, when not empty, is an operator's recorded reason
	// for releasing an instance held for pixel risk (they looked at the
	// pixels): the instance is de-identified as if a Pixels.Clear rule had
	// matched, reported as pixel-risk-released with the reason. Never for
	// Burned In Annotation = YES; every other check and the gate apply.
	PixelRiskOverride string
}

// action is the resolved treatment of one element.
type action struct {
	vr      dicom.VR // VR to adopt for a UN element (safe private list)
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
	akAllow // kept by the allowlist of attributes outside Table E.1-1
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
	// pixelOverride is Options.PixelRiskOverride.
	pixelOverride string
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
	tagNumberOfFrames              = dicom.MustTag("NumberOfFrames")
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
	tagExtendedOffsetTable         = dicom.MustTag("ExtendedOffsetTable")
	tagExtendedOffsetTableLengths  = dicom.MustTag("ExtendedOffsetTableLengths")
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

// dicomdirClass is Media Storage Directory Storage.
const dicomdirClass = "1.2.840.10008.1.3.10"

const digitalSignaturesSequence dicom.Tag = 0xFFFAFFFA

// structuralUIDs are never remapped (docs/deid.md, "UID remapping").
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

// isStructuralValue reports a UID of the DICOM standard (SOP classes,
// transfer syntaxes, coding schemes): kept as it is. A value under the
// standard's root with a component of nine or more digits is not one (no
// registered UID has such a component; a phone or record number does).
func isStructuralValue(u string) bool {
	return strings.HasPrefix(u, "1.2.840.10008.") && !hasLongComponent(u)
}

// hasLongComponent reports a UID component of nine or more digits.
func hasLongComponent(u string) bool {
	for _, c := range strings.Split(u, ".") {
		if len(c) >= 9 {
			return true
		}
	}
	return false
}

// Deidentify de-identifies f in place (the caller hands over ownership)
// and returns the result. Quarantine decisions are in Result.Reasons; an
// error means the input could not be processed at all (classified with
// ErrInvalidInput / ErrPermanent).
func (e *Engine) Deidentify(f *dicom.File, o Options) (*Result, error) {
	if f == nil || f.Dataset == nil {
		return nil, invalidf("deidentify", "no data set")
	}
	s := &state{
		e: e, p: e.prof, opts: e.prof.Options, root: f.Dataset, explain: o.Explain, pixelOverride: o.PixelRiskOverride,
		plan: map[*dicom.Element]action{}, dropItem: map[*dicom.Dataset]bool{}, itemCtx: map[*dicom.Dataset]walkCtx{},
		rec: map[*dicom.Element]string{}, uidMap: map[string]string{}, inputUIDs: map[string]bool{},
		retained: map[string]bool{}, retainedIn: map[string]bool{}, origDates: map[string]bool{}, kept: map[string]bool{}, deny: newDenyList(),
	}
	s.report = newReport(e, o.Explain)
	if cs, err := f.Dataset.CharacterSet(); err == nil && len(f.Dataset.Strings(dicom.TagSpecificCharacterSet)) > 0 {
		s.deny.charsets = append(s.deny.charsets, cs) // the output keeps the input's
	}
	res := &Result{Report: s.report}
	if f.Meta != nil && f.Meta.String(dicom.TagMediaStorageSOPClassUID) == dicomdirClass {
		s.quarantine("dicomdir-not-an-instance", "", "a DICOMDIR describes a file set; it is not de-identified")
	}
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
	s.removeCoincidences()
	for u := range s.retainedIn {
		sq, _ := canonicalFast(u)
		s.deny.drop(sq)
	}
	s.deny.compact()
	// Pass 2: apply.
	if err := s.applyDataset(s.root, nil, walkCtx{top: true}); err != nil {
		return nil, err
	}
	s.filterCodestreams(f.TransferSyntax)
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
	res.Session = session.ID{Project: e.cfg.ProjectCode, Subject: s.root.String(tagPatientID), Visit: s.root.String(tagAccessionNumber)}
	s.report.NewSOPInstanceUID = newSOP
	s.report.NewStudyInstanceUID = s.root.String(dicom.TagStudyInstanceUID)
	s.report.PseudoPatientID = s.root.String(tagPatientID)
	s.report.Folder = res.Session.Folder()
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
	// about their elements (docs/deid.md, "Deny-list"): the Orthanc IDs of
	// the original.
	s.addOrthancIDs()
	return nil
}

// filterCodestreams removes text segments from encapsulated Pixel Data
// (docs/deid.md, "Pixel codestreams"); a codestream that cannot be read
// quarantines the instance.
func (s *state) filterCodestreams(ts dicom.TransferSyntax) {
	e := s.root.Get(dicom.TagPixelData)
	if e == nil || !e.IsEncapsulated() {
		return
	}
	if fixBasicOffsetTable(e, numberOfFrames(s.root)) {
		s.report.warn("offset-table-emptied", dicom.TagPixelData.String(), "the first item was not a Basic Offset Table")
	}
	n, err := filterPixelCodestreams(e, ts, numberOfFrames(s.root))
	switch {
	case err != nil:
		s.quarantine("codestream-unfilterable", dicom.TagPixelData.String(), err.Error())
	case n > 0:
		s.report.warn("codestream-text-removed", dicom.TagPixelData.String(), fmt.Sprintf("%d text segment(s) removed from the pixel codestream", n))
	}
}

// numberOfFrames is Number of Frames, or 1 when absent or not a number.
func numberOfFrames(ds *dicom.Dataset) int {
	if n, err := strconv.Atoi(strings.TrimSpace(ds.String(tagNumberOfFrames))); err == nil && n > 0 {
		return n
	}
	return 1
}
