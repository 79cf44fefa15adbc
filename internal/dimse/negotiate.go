package dimse

import (
	"fmt"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// VerificationSOPClass is the abstract syntax of C-ECHO.
const VerificationSOPClass = "1.2.840.10008.1.1"

// dicomRoot prefixes every UID defined by the standard; standard Storage SOP
// classes live under storageBranch.
const (
	dicomRoot     = "1.2.840.10008."
	storageBranch = "1.2.840.10008.5.1.4.1.1."
)

// SOPClassPolicy decides which abstract syntaxes the receiver accepts. The
// zero value accepts Verification, every standard Storage SOP class
// (current and retired) and every private (non-1.2.840.10008) abstract
// syntax, which is how vendors name their private storage classes (Siemens
// CSA Non-Image 1.3.12.2.1107.5.9.1, ...).
type SOPClassPolicy struct {
	// Extra lists further abstract syntaxes to accept as storage.
	Extra []string
	// RejectPrivate refuses private abstract syntaxes unless listed in Extra.
	RejectPrivate bool
	// Reject lists abstract syntaxes refused even if they look like storage.
	Reject []string
}

// Accepts reports whether uid is accepted as an abstract syntax.
func (p *SOPClassPolicy) Accepts(uid string) bool {
	if uid == "" {
		return false
	}
	for _, r := range p.Reject {
		if r == uid {
			return false
		}
	}
	if uid == VerificationSOPClass {
		return true
	}
	for _, e := range p.Extra {
		if e == uid {
			return true
		}
	}
	if dicom.IsStorageSOPClass(uid) || strings.HasPrefix(uid, storageBranch) {
		return true
	}
	if !strings.HasPrefix(uid, dicomRoot) {
		return !p.RejectPrivate && validUID(uid)
	}
	return false
}

// validUID checks the UID syntax of PS3.5 §9.1 (digits and dots, no empty
// or zero-led components, at most 64 characters).
func validUID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range strings.Split(s, ".") {
		if c == "" || (len(c) > 1 && c[0] == '0') {
			return false
		}
		for i := 0; i < len(c); i++ {
			if c[i] < '0' || c[i] > '9' {
				return false
			}
		}
	}
	return true
}

// canReceive reports whether the codec can read data sets in this transfer
// syntax (every registered syntax: native, deflated and encapsulated).
func canReceive(ts string) bool {
	_, ok := dicom.LookupTransferSyntax(ts)
	return ok
}

// chooseTransferSyntax picks the syntax to accept among those proposed for
// one context: the proposer's first encapsulated (compressed) or deflated
// syntax, so that nothing is ever transcoded; else Explicit VR Little
// Endian; else Implicit VR Little Endian; else the first other readable one
// (Explicit VR Big Endian). "" means none can be read.
func chooseTransferSyntax(proposed []string) string {
	var explicitLE, implicitLE, other string
	for _, uid := range proposed {
		ts, ok := dicom.LookupTransferSyntax(uid)
		if !ok {
			continue
		}
		switch {
		case ts.Encapsulated || ts.Deflated:
			return uid
		case uid == dicom.ExplicitVRLittleEndian:
			explicitLE = uid
		case uid == dicom.ImplicitVRLittleEndian:
			implicitLE = uid
		case other == "":
			other = uid
		}
	}
	switch {
	case explicitLE != "":
		return explicitLE
	case implicitLE != "":
		return implicitLE
	}
	return other
}

// PresentationContext is a negotiated presentation context.
type PresentationContext struct {
	ID             byte
	AbstractSyntax string
	TransferSyntax string
	Result         byte
}

// Rejection is an A-ASSOCIATE-RJ to send; it is also the error Dial returns
// when the peer rejects the association.
type Rejection struct {
	Result, Source, Reason byte
}

// Standard rejections (PS3.8 §9.3.4).
var (
	RejectNoReason            = &Rejection{Result: 1, Source: 1, Reason: 1}
	RejectAppContext          = &Rejection{Result: 1, Source: 1, Reason: 2}
	RejectCallingAET          = &Rejection{Result: 1, Source: 1, Reason: 3}
	RejectCalledAET           = &Rejection{Result: 1, Source: 1, Reason: 7}
	RejectProtocolVersion     = &Rejection{Result: 1, Source: 2, Reason: 2}
	RejectProviderNoReason    = &Rejection{Result: 1, Source: 2, Reason: 1}
	RejectTemporaryCongestion = &Rejection{Result: 2, Source: 3, Reason: 1}
	RejectLocalLimitExceeded  = &Rejection{Result: 2, Source: 3, Reason: 2}
)

func (r *Rejection) Error() string {
	res := "permanent"
	if r.Result == 2 {
		res = "transient"
	}
	return fmt.Sprintf("association rejected (%s): %s", res, r.reasonText())
}

func (r *Rejection) reasonText() string {
	switch r.Source {
	case 1:
		switch r.Reason {
		case 1:
			return "service user: no reason given"
		case 2:
			return "service user: application context name not supported"
		case 3:
			return "service user: calling AE title not recognized"
		case 7:
			return "service user: called AE title not recognized"
		}
	case 2:
		switch r.Reason {
		case 1:
			return "service provider (ACSE): no reason given"
		case 2:
			return "service provider (ACSE): protocol version not supported"
		}
	case 3:
		switch r.Reason {
		case 1:
			return "service provider (presentation): temporary congestion"
		case 2:
			return "service provider (presentation): local limit exceeded"
		}
	}
	return fmt.Sprintf("source %d reason %d", r.Source, r.Reason)
}

func (r *Rejection) pdu() *AssociateRJ {
	return &AssociateRJ{Result: r.Result, Source: r.Source, Reason: r.Reason}
}

// ValidAETitle reports whether aet, as received with its space padding
// removed, is an AE value of PS3.5 §6.2: at most 16 characters of the
// default character repertoire (ISO 646 G0, 0x20-0x7E) without backslash
// and without control characters (NUL, ESC, LF, ...). Trailing NULs are
// taken as padding by the decoder (C implementations that zero-fill the
// field); a NUL anywhere else makes the title invalid. An empty title is
// not refused here.
func ValidAETitle(aet string) bool {
	if len(aet) > 16 {
		return false
	}
	for i := 0; i < len(aet); i++ {
		if c := aet[i]; c < 0x20 || c > 0x7E || c == '\\' {
			return false
		}
	}
	return true
}

// negotiateAccept builds the A-ASSOCIATE-AC for rq. It returns a rejection
// when the request as a whole is unacceptable: wrong application context
// or protocol version, or two presentation contexts with the same ID.
//
// Duplicate IDs: PS3.8 §7.1.1.13-14 and §9.3.3.2 have the acceptor return
// one result for each proposed context, identified by its ID, and every
// PDV names its context by that ID; two proposals under one ID cannot
// both be answered, and answering one silently drops the other from a
// requestor that believes it proposed it. No conformant requestor sends
// them, so the request is refused whole (rejected-permanent, ACSE
// service-provider, no reason given) rather than half understood.
func negotiateAccept(rq *AssociateRQ, policy *SOPClassPolicy, maxRecv uint32) (*AssociateAC, []PresentationContext, *Rejection) {
	if rq.ProtocolVersion&1 == 0 {
		return nil, nil, RejectProtocolVersion
	}
	if rq.ApplicationContext != ApplicationContextName {
		return nil, nil, RejectAppContext
	}
	ac := &AssociateAC{
		ProtocolVersion:    1,
		CalledAET:          rq.CalledAET,
		CallingAET:         rq.CallingAET,
		ApplicationContext: ApplicationContextName,
		UserInfo: UserInfo{
			MaxPDULength:              maxRecv,
			ImplementationClassUID:    dicom.ImplementationClassUID,
			ImplementationVersionName: dicom.ImplementationVersionName,
		},
	}
	if rq.UserInfo.AsyncOps != nil {
		// Operations are performed one at a time (PS3.7 D.3.3.3).
		ac.UserInfo.AsyncOps = &[2]uint16{1, 1}
	}
	for _, rs := range rq.UserInfo.RoleSelections {
		// The requester may be SCU as asked; this side never acts as SCP
		// towards it for anything but its own services.
		ac.UserInfo.RoleSelections = append(ac.UserInfo.RoleSelections, RoleSelection{SOPClassUID: rs.SOPClassUID, SCU: rs.SCU})
	}
	var seen [256]bool
	for _, pc := range rq.PresentationContexts {
		if seen[pc.ID] {
			return nil, nil, RejectProviderNoReason
		}
		seen[pc.ID] = true
	}
	var accepted []PresentationContext
	for _, pc := range rq.PresentationContexts {
		r := PresentationContextAC{ID: pc.ID}
		if len(pc.TransferSyntaxes) > 0 {
			r.TransferSyntax = pc.TransferSyntaxes[0]
		}
		switch {
		case pc.ID%2 == 0:
			r.Result = ResultNoReason
		case !policy.Accepts(pc.AbstractSyntax):
			r.Result = ResultAbstractSyntaxNotSupported
		default:
			if ts := chooseTransferSyntax(pc.TransferSyntaxes); ts != "" {
				r.Result = ResultAcceptance
				r.TransferSyntax = ts
				accepted = append(accepted, PresentationContext{ID: pc.ID, AbstractSyntax: pc.AbstractSyntax, TransferSyntax: ts})
			} else {
				r.Result = ResultTransferSyntaxesNotSupported
			}
		}
		ac.PresentationContexts = append(ac.PresentationContexts, r)
	}
	return ac, accepted, nil
}
