package dimse

import (
	"errors"
	"fmt"
	"strings"
)

// PDUType is the first byte of every upper layer PDU (PS3.8 §9.3.1).
type PDUType byte

// The seven PDU types of PS3.8 §9.3.
const (
	TypeAssociateRQ PDUType = 0x01
	TypeAssociateAC PDUType = 0x02
	TypeAssociateRJ PDUType = 0x03
	TypePDataTF     PDUType = 0x04
	TypeReleaseRQ   PDUType = 0x05
	TypeReleaseRP   PDUType = 0x06
	TypeAbort       PDUType = 0x07
)

func (t PDUType) String() string {
	switch t {
	case TypeAssociateRQ:
		return "A-ASSOCIATE-RQ"
	case TypeAssociateAC:
		return "A-ASSOCIATE-AC"
	case TypeAssociateRJ:
		return "A-ASSOCIATE-RJ"
	case TypePDataTF:
		return "P-DATA-TF"
	case TypeReleaseRQ:
		return "A-RELEASE-RQ"
	case TypeReleaseRP:
		return "A-RELEASE-RP"
	case TypeAbort:
		return "A-ABORT"
	}
	return fmt.Sprintf("PDU(0x%02X)", byte(t))
}

// Item types of the variable part of A-ASSOCIATE-RQ/AC (PS3.8 §9.3.2-9.3.3,
// PS3.7 Annex D.3.3).
const (
	itemApplicationContext  = 0x10
	itemPresentationRQ      = 0x20
	itemPresentationAC      = 0x21
	itemAbstractSyntax      = 0x30
	itemTransferSyntax      = 0x40
	itemUserInformation     = 0x50
	itemMaxLength           = 0x51
	itemImplementationClass = 0x52
	itemAsyncOps            = 0x53
	itemRoleSelection       = 0x54
	itemImplementationVer   = 0x55
	itemExtendedNeg         = 0x56
	itemCommonExtendedNeg   = 0x57
	itemUserIdentityRQ      = 0x58
	itemUserIdentityAC      = 0x59
)

// ApplicationContextName is the only DICOM application context (PS3.7 A.2.1).
const ApplicationContextName = "1.2.840.10008.3.1.1.1"

// Size limits enforced by the decoder. A length field is always checked
// against these before anything is allocated for it.
const (
	// MinMaxPDULength is the smallest max PDU length this package offers or
	// honours when it sends; peers asking for less get this much anyway
	// only if they asked for 0 (unlimited).
	MinMaxPDULength = 4096
	// DefaultMaxPDULength is what the receiver offers by default (256 KiB).
	DefaultMaxPDULength = 256 << 10
	// MaxAssociatePDULength caps A-ASSOCIATE-RQ/AC PDUs. 108 presentation
	// contexts with three transfer syntaxes each take about 12 KiB.
	MaxAssociatePDULength = 256 << 10
	// HardMaxPDULength caps every PDU whatever was negotiated.
	HardMaxPDULength = 16 << 20
	pduHeaderLen     = 6
)

// PDU is one decoded protocol data unit: *AssociateRQ, *AssociateAC,
// *AssociateRJ, *PDataTF, *ReleaseRQ, *ReleaseRP or *Abort.
type PDU interface {
	Type() PDUType
	// AppendBinary appends the complete encoded PDU (header included).
	AppendBinary(b []byte) ([]byte, error)
}

// PDUError reports a malformed or unacceptable PDU. Reason is the A-ABORT
// reason a service provider sends back for it (PS3.8 Table 9-26).
type PDUError struct {
	Type   PDUType
	Reason AbortReason
	Msg    string
}

func (e *PDUError) Error() string {
	return fmt.Sprintf("dimse: bad %v PDU: %s", e.Type, e.Msg)
}

func pduErr(t PDUType, reason AbortReason, format string, args ...any) *PDUError {
	return &PDUError{Type: t, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// ErrPDUTooLarge is wrapped by the PDUError returned for a PDU whose length
// field exceeds the limit in force.
var ErrPDUTooLarge = errors.New("PDU length exceeds limit")

// Is lets errors.Is(err, ErrPDUTooLarge) find too-large PDUs.
func (e *PDUError) Is(target error) bool {
	return target == ErrPDUTooLarge && strings.HasPrefix(e.Msg, ErrPDUTooLarge.Error())
}

// AbortSource and AbortReason are the fields of A-ABORT (PS3.8 §9.3.8).
type (
	AbortSource byte
	AbortReason byte
)

// A-ABORT sources and provider reasons.
const (
	AbortSourceServiceUser     AbortSource = 0
	AbortSourceServiceProvider AbortSource = 2

	AbortReasonNotSpecified          AbortReason = 0
	AbortReasonUnrecognizedPDU       AbortReason = 1
	AbortReasonUnexpectedPDU         AbortReason = 2
	AbortReasonUnrecognizedParameter AbortReason = 4
	AbortReasonUnexpectedParameter   AbortReason = 5
	AbortReasonInvalidParameter      AbortReason = 6
)

// PresentationContextRQ is one proposed presentation context.
type PresentationContextRQ struct {
	ID               byte
	AbstractSyntax   string
	TransferSyntaxes []string
}

// Presentation context results (PS3.8 Table 9-18).
const (
	ResultAcceptance                   byte = 0
	ResultUserRejection                byte = 1
	ResultNoReason                     byte = 2
	ResultAbstractSyntaxNotSupported   byte = 3
	ResultTransferSyntaxesNotSupported byte = 4
)

// PresentationContextAC is the acceptor's answer to one context.
type PresentationContextAC struct {
	ID             byte
	Result         byte
	TransferSyntax string
}

// RoleSelection is an SCP/SCU role selection sub-item (PS3.7 D.3.3.4).
type RoleSelection struct {
	SOPClassUID string
	SCU, SCP    bool
}

// ExtendedNegotiation is an SOP class extended negotiation sub-item
// (PS3.7 D.3.3.5); it is decoded and tolerated, never answered.
type ExtendedNegotiation struct {
	SOPClassUID string
	Info        []byte
}

// UserIdentity is a user identity negotiation sub-item (PS3.7 D.3.3.7).
type UserIdentity struct {
	Type               byte
	ResponseWanted     bool
	Primary, Secondary []byte
}

// UserInfo is the user information item of A-ASSOCIATE-RQ/AC.
type UserInfo struct {
	// MaxPDULength is the largest P-DATA-TF PDU (length field) the sender
	// of this item can receive; 0 means unlimited.
	MaxPDULength              uint32
	ImplementationClassUID    string
	ImplementationVersionName string
	// AsyncOps, when non-nil, is the asynchronous operations window
	// (max invoked, max performed).
	AsyncOps       *[2]uint16
	RoleSelections []RoleSelection
	ExtendedNeg    []ExtendedNegotiation
	// CommonExtendedNeg holds raw 0x57 sub-items (tolerated, not answered).
	CommonExtendedNeg [][]byte
	UserIdentity      *UserIdentity
	// UserIdentityResponse is the server response of a 0x59 sub-item.
	UserIdentityResponse []byte
}

// AssociateRQ is an A-ASSOCIATE-RQ PDU.
type AssociateRQ struct {
	ProtocolVersion      uint16
	CalledAET            string
	CallingAET           string
	ApplicationContext   string
	PresentationContexts []PresentationContextRQ
	UserInfo             UserInfo
}

// AssociateAC is an A-ASSOCIATE-AC PDU. The AE titles echo the request.
type AssociateAC struct {
	ProtocolVersion      uint16
	CalledAET            string
	CallingAET           string
	ApplicationContext   string
	PresentationContexts []PresentationContextAC
	UserInfo             UserInfo
}

// AssociateRJ is an A-ASSOCIATE-RJ PDU (PS3.8 §9.3.4).
type AssociateRJ struct {
	Result, Source, Reason byte
}

// PDV is one presentation data value item of a P-DATA-TF PDU.
type PDV struct {
	ContextID byte
	Command   bool // message control header bit 0
	Last      bool // message control header bit 1
	Data      []byte
}

// PDataTF is a P-DATA-TF PDU.
type PDataTF struct{ PDVs []PDV }

// ReleaseRQ, ReleaseRP are the A-RELEASE PDUs.
type (
	ReleaseRQ struct{}
	ReleaseRP struct{}
)

// Abort is an A-ABORT PDU.
type Abort struct {
	Source AbortSource
	Reason AbortReason
}

func (*AssociateRQ) Type() PDUType { return TypeAssociateRQ }
func (*AssociateAC) Type() PDUType { return TypeAssociateAC }
func (*AssociateRJ) Type() PDUType { return TypeAssociateRJ }
func (*PDataTF) Type() PDUType     { return TypePDataTF }
func (*ReleaseRQ) Type() PDUType   { return TypeReleaseRQ }
func (*ReleaseRP) Type() PDUType   { return TypeReleaseRP }
func (*Abort) Type() PDUType       { return TypeAbort }
