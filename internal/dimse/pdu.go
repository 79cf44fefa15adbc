package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

// ---------------------------------------------------------------------------
// Encoding

func appendHeader(b []byte, t PDUType, length uint32) []byte {
	b = append(b, byte(t), 0)
	return binary.BigEndian.AppendUint32(b, length)
}

// patchLen16 writes at b[at:] the 16-bit big-endian length of b[at+2:].
func patchLen16(b []byte, at int) error {
	n := len(b) - at - 2
	if n > 0xFFFF {
		return fmt.Errorf("dimse: item too long (%d bytes)", n)
	}
	binary.BigEndian.PutUint16(b[at:], uint16(n))
	return nil
}

func appendItem(b []byte, typ byte, value string) ([]byte, error) {
	if len(value) > 0xFFFF {
		return b, fmt.Errorf("dimse: item 0x%02X too long", typ)
	}
	b = append(b, typ, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...), nil
}

func appendAET(b []byte, aet string) []byte {
	var f [16]byte
	for i := range f {
		f[i] = ' '
	}
	copy(f[:], aet)
	return append(b, f[:]...)
}

func appendAssocHeader(b []byte, t PDUType, version uint16, called, calling, appCtx string) ([]byte, error) {
	if len(called) > 16 || len(calling) > 16 {
		return b, fmt.Errorf("dimse: AE title longer than 16 characters")
	}
	b = appendHeader(b, t, 0)
	b = binary.BigEndian.AppendUint16(b, version)
	b = append(b, 0, 0)
	b = appendAET(b, called)
	b = appendAET(b, calling)
	b = append(b, make([]byte, 32)...)
	return appendItem(b, itemApplicationContext, appCtx)
}

func finishPDU(b []byte, start int) ([]byte, error) {
	n := len(b) - start - pduHeaderLen
	if uint64(n) > HardMaxPDULength {
		return b, fmt.Errorf("dimse: PDU too long (%d bytes)", n)
	}
	binary.BigEndian.PutUint32(b[start+2:], uint32(n))
	return b, nil
}

// appendAssoc writes an A-ASSOCIATE-RQ or -AC: the fixed fields, n
// presentation context items of type pcItem (ID, then result, reserved in
// an RQ), each with the sub-items subs appends, and the user information.
func appendAssoc(b []byte, t PDUType, version uint16, called, calling, appCtx string, u *UserInfo,
	pcItem byte, n int, pc func(i int) (id, result byte), subs func(b []byte, i int) ([]byte, error)) ([]byte, error) {
	start := len(b)
	b, err := appendAssocHeader(b, t, version, called, calling, appCtx)
	if err != nil {
		return b, err
	}
	for i := range n {
		at := len(b) + 2
		id, result := pc(i)
		b = append(b, pcItem, 0, 0, 0, id, 0, result, 0)
		if b, err = subs(b, i); err != nil {
			return b, err
		}
		if err := patchLen16(b, at); err != nil {
			return b, err
		}
	}
	if b, err = u.appendTo(b); err != nil {
		return b, err
	}
	return finishPDU(b, start)
}

// AppendBinary implements PDU.
func (p *AssociateRQ) AppendBinary(b []byte) ([]byte, error) {
	pcs := p.PresentationContexts
	return appendAssoc(b, TypeAssociateRQ, p.ProtocolVersion, p.CalledAET, p.CallingAET, p.ApplicationContext, &p.UserInfo,
		itemPresentationRQ, len(pcs), func(i int) (byte, byte) { return pcs[i].ID, 0 },
		func(b []byte, i int) ([]byte, error) {
			b, err := appendItem(b, itemAbstractSyntax, pcs[i].AbstractSyntax)
			for _, ts := range pcs[i].TransferSyntaxes {
				if err != nil {
					break
				}
				b, err = appendItem(b, itemTransferSyntax, ts)
			}
			return b, err
		})
}

// AppendBinary implements PDU.
func (p *AssociateAC) AppendBinary(b []byte) ([]byte, error) {
	pcs := p.PresentationContexts
	return appendAssoc(b, TypeAssociateAC, p.ProtocolVersion, p.CalledAET, p.CallingAET, p.ApplicationContext, &p.UserInfo,
		itemPresentationAC, len(pcs), func(i int) (byte, byte) { return pcs[i].ID, pcs[i].Result },
		func(b []byte, i int) ([]byte, error) {
			// PS3.8 §9.3.3.2: the transfer syntax sub-item is always
			// present; its value is not significant when the context is
			// rejected.
			return appendItem(b, itemTransferSyntax, pcs[i].TransferSyntax)
		})
}

func (u *UserInfo) appendTo(b []byte) ([]byte, error) {
	at := len(b) + 2
	b = append(b, itemUserInformation, 0, 0, 0)
	b = append(b, itemMaxLength, 0, 0, 4)
	b = binary.BigEndian.AppendUint32(b, u.MaxPDULength)
	var err error
	if u.ImplementationClassUID != "" {
		if b, err = appendItem(b, itemImplementationClass, u.ImplementationClassUID); err != nil {
			return b, err
		}
	}
	if u.AsyncOps != nil {
		b = append(b, itemAsyncOps, 0, 0, 4)
		b = binary.BigEndian.AppendUint16(b, u.AsyncOps[0])
		b = binary.BigEndian.AppendUint16(b, u.AsyncOps[1])
	}
	for _, r := range u.RoleSelections {
		if len(r.SOPClassUID) > 0xFFFF-4 {
			return b, errors.New("dimse: role selection UID too long")
		}
		b = append(b, itemRoleSelection, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.SOPClassUID)+4))
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.SOPClassUID)))
		b = append(b, r.SOPClassUID...)
		b = append(b, boolByte(r.SCU), boolByte(r.SCP))
	}
	if u.ImplementationVersionName != "" {
		if b, err = appendItem(b, itemImplementationVer, u.ImplementationVersionName); err != nil {
			return b, err
		}
	}
	for _, e := range u.ExtendedNeg {
		if len(e.SOPClassUID)+len(e.Info) > 0xFFFF-2 {
			return b, errors.New("dimse: extended negotiation item too long")
		}
		b = append(b, itemExtendedNeg, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(2+len(e.SOPClassUID)+len(e.Info)))
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.SOPClassUID)))
		b = append(b, e.SOPClassUID...)
		b = append(b, e.Info...)
	}
	for _, raw := range u.CommonExtendedNeg {
		if b, err = appendItem(b, itemCommonExtendedNeg, string(raw)); err != nil {
			return b, err
		}
	}
	if id := u.UserIdentity; id != nil {
		if len(id.Primary)+len(id.Secondary) > 0xFFFF-6 {
			return b, errors.New("dimse: user identity item too long")
		}
		b = append(b, itemUserIdentityRQ, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(id.Primary)+len(id.Secondary)))
		b = append(b, id.Type, boolByte(id.ResponseWanted))
		b = binary.BigEndian.AppendUint16(b, uint16(len(id.Primary)))
		b = append(b, id.Primary...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(id.Secondary)))
		b = append(b, id.Secondary...)
	}
	if u.UserIdentityResponse != nil {
		if len(u.UserIdentityResponse) > 0xFFFF-2 {
			return b, errors.New("dimse: user identity response too long")
		}
		b = append(b, itemUserIdentityAC, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(2+len(u.UserIdentityResponse)))
		b = binary.BigEndian.AppendUint16(b, uint16(len(u.UserIdentityResponse)))
		b = append(b, u.UserIdentityResponse...)
	}
	return b, patchLen16(b, at)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// AppendBinary implements PDU.
func (p *AssociateRJ) AppendBinary(b []byte) ([]byte, error) {
	b = appendHeader(b, TypeAssociateRJ, 4)
	return append(b, 0, p.Result, p.Source, p.Reason), nil
}

// AppendBinary implements PDU.
func (p *PDataTF) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = appendHeader(b, TypePDataTF, 0)
	for _, v := range p.PDVs {
		if uint64(len(v.Data)) > HardMaxPDULength {
			return b, errors.New("dimse: PDV too long")
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(v.Data)+2))
		b = append(b, v.ContextID, pdvFlags(v.Command, v.Last))
		b = append(b, v.Data...)
	}
	return finishPDU(b, start)
}

func pdvFlags(command, last bool) byte {
	var f byte
	if command {
		f |= 1
	}
	if last {
		f |= 2
	}
	return f
}

// AppendBinary implements PDU.
func (*ReleaseRQ) AppendBinary(b []byte) ([]byte, error) {
	return append(appendHeader(b, TypeReleaseRQ, 4), 0, 0, 0, 0), nil
}

// AppendBinary implements PDU.
func (*ReleaseRP) AppendBinary(b []byte) ([]byte, error) {
	return append(appendHeader(b, TypeReleaseRP, 4), 0, 0, 0, 0), nil
}

// AppendBinary implements PDU.
func (p *Abort) AppendBinary(b []byte) ([]byte, error) {
	return append(appendHeader(b, TypeAbort, 4), 0, 0, byte(p.Source), byte(p.Reason)), nil
}

// ---------------------------------------------------------------------------
// Decoding

// ReadPDU reads one PDU from r. maxPDataLen caps the length field of a
// P-DATA-TF PDU (normally the max length this side offered; 0 means
// DefaultMaxPDULength); association PDUs are capped at
// MaxAssociatePDULength and the fixed-size PDUs must have length 4. Nothing
// is allocated before the length has been checked. The returned PDU owns
// its memory.
func ReadPDU(r io.Reader, maxPDataLen uint32) (PDU, error) {
	var pr pduReader
	pr.r = r
	pr.maxPData = maxPDataLen
	p, err := pr.next()
	if err != nil {
		return nil, err
	}
	// pr is discarded, so the P-DATA-TF aliasing its buffer is not reused.
	return p, nil
}

// pduReader reads PDUs from a stream, reusing one body buffer. A read that
// fails with a timeout can be retried: partial progress is kept.
type pduReader struct {
	r        io.Reader
	maxPData uint32
	hdr      [pduHeaderLen]byte
	hn       int // header bytes read so far
	body     []byte
	need     int // body length of the current PDU
	bn       int // body bytes read so far
	pdata    PDataTF
}

// midPDU reports whether some but not all of a PDU has been read.
func (pr *pduReader) midPDU() bool { return pr.hn > 0 }

func (pr *pduReader) limitFor(t PDUType) (uint32, error) {
	switch t {
	case TypeAssociateRQ, TypeAssociateAC:
		return MaxAssociatePDULength, nil
	case TypeAssociateRJ, TypeReleaseRQ, TypeReleaseRP, TypeAbort:
		return 4, nil
	case TypePDataTF:
		m := pr.maxPData
		if m == 0 {
			m = DefaultMaxPDULength
		}
		if m > HardMaxPDULength {
			m = HardMaxPDULength
		}
		return m, nil
	}
	return 0, pduErr(t, AbortReasonUnrecognizedPDU, "unknown PDU type 0x%02X", byte(t))
}

// next reads the next PDU. A *PDataTF result and its PDV data alias the
// reader's buffer and are valid until the following call.
func (pr *pduReader) next() (PDU, error) {
	for pr.hn < pduHeaderLen {
		n, err := pr.r.Read(pr.hdr[pr.hn:])
		pr.hn += n
		if pr.hn == pduHeaderLen {
			break
		}
		if err != nil {
			if err == io.EOF && pr.hn > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	t := PDUType(pr.hdr[0])
	length := binary.BigEndian.Uint32(pr.hdr[2:])
	if pr.need == 0 && pr.bn == 0 {
		limit, err := pr.limitFor(t)
		if err != nil {
			pr.hn = 0
			return nil, err
		}
		switch {
		case limit == 4 && length != 4:
			pr.hn = 0
			return nil, pduErr(t, AbortReasonInvalidParameter, "length %d, want 4", length)
		case length > limit:
			pr.hn = 0
			return nil, pduErr(t, AbortReasonInvalidParameter, "%v: %d > %d", ErrPDUTooLarge, length, limit)
		}
		pr.need = int(length)
		if cap(pr.body) < pr.need {
			pr.body = make([]byte, pr.need)
		}
		pr.body = pr.body[:pr.need]
	}
	for pr.bn < pr.need {
		n, err := pr.r.Read(pr.body[pr.bn:])
		pr.bn += n
		if pr.bn == pr.need {
			break
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	body := pr.body[:pr.need]
	pr.hn, pr.need, pr.bn = 0, 0, 0
	if t == TypePDataTF {
		if err := decodePData(body, &pr.pdata); err != nil {
			return nil, err
		}
		return &pr.pdata, nil
	}
	// Association PDUs are decoded into fresh memory (strings copy).
	return decodeBody(t, body)
}

func decodeBody(t PDUType, body []byte) (PDU, error) {
	switch t {
	case TypeAssociateRQ:
		return decodeAssociateRQ(body)
	case TypeAssociateAC:
		return decodeAssociateAC(body)
	case TypeAssociateRJ:
		return &AssociateRJ{Result: body[1], Source: body[2], Reason: body[3]}, nil
	case TypeReleaseRQ:
		return &ReleaseRQ{}, nil
	case TypeReleaseRP:
		return &ReleaseRP{}, nil
	case TypeAbort:
		return &Abort{Source: AbortSource(body[2]), Reason: AbortReason(body[3])}, nil
	}
	return nil, pduErr(t, AbortReasonUnrecognizedPDU, "unknown PDU type")
}

func decodePData(body []byte, out *PDataTF) error {
	out.PDVs = out.PDVs[:0]
	for len(body) > 0 {
		if len(body) < 6 {
			return pduErr(TypePDataTF, AbortReasonInvalidParameter, "truncated PDV item header")
		}
		n := binary.BigEndian.Uint32(body)
		if n < 2 || uint64(n) > uint64(len(body)-4) {
			return pduErr(TypePDataTF, AbortReasonInvalidParameter, "PDV item length %d does not fit (%d left)", n, len(body)-4)
		}
		ctx, mch := body[4], body[5]
		if ctx == 0 || ctx%2 == 0 {
			return pduErr(TypePDataTF, AbortReasonInvalidParameter, "invalid presentation context ID %d", ctx)
		}
		out.PDVs = append(out.PDVs, PDV{ContextID: ctx, Command: mch&1 != 0, Last: mch&2 != 0, Data: body[6 : 4+n]})
		body = body[4+n:]
	}
	if len(out.PDVs) == 0 {
		return pduErr(TypePDataTF, AbortReasonInvalidParameter, "no PDV item")
	}
	return nil
}

// trimUID removes the trailing NUL / space padding some peers leave on UIDs.
func trimUID(b []byte) string { return strings.TrimRight(string(b), "\x00 ") }

// trimAET removes the space padding of an AE title (leading and trailing
// spaces are not significant, PS3.5 AE) and trailing NULs (zero-filled
// fields); other bytes are kept for ValidAETitle to judge.
func trimAET(b []byte) string { return strings.TrimLeft(strings.TrimRight(string(b), " \x00"), " ") }

// item iterates over items "type(1) reserved(1) length(2) value".
type itemIter struct {
	t PDUType
	b []byte
}

func (it *itemIter) next() (typ byte, val []byte, ok bool, err error) {
	if len(it.b) == 0 {
		return 0, nil, false, nil
	}
	if len(it.b) < 4 {
		return 0, nil, false, pduErr(it.t, AbortReasonInvalidParameter, "truncated item header")
	}
	typ = it.b[0]
	n := int(binary.BigEndian.Uint16(it.b[2:]))
	if n > len(it.b)-4 {
		return 0, nil, false, pduErr(it.t, AbortReasonInvalidParameter, "item 0x%02X length %d exceeds %d remaining", typ, n, len(it.b)-4)
	}
	val = it.b[4 : 4+n]
	it.b = it.b[4+n:]
	return typ, val, true, nil
}

type assocFixed struct {
	version         uint16
	called, calling string
	items           []byte
}

func decodeAssocFixed(t PDUType, body []byte) (assocFixed, error) {
	if len(body) < 68 {
		return assocFixed{}, pduErr(t, AbortReasonInvalidParameter, "length %d shorter than the fixed fields", len(body))
	}
	return assocFixed{
		version: binary.BigEndian.Uint16(body),
		called:  trimAET(body[4:20]),
		calling: trimAET(body[20:36]),
		items:   body[68:],
	}, nil
}

// eachItem calls fn for each item "type(1) reserved(1) length(2) value"
// of b, in order, and stops at the first error.
func eachItem(t PDUType, b []byte, fn func(typ byte, val []byte) error) error {
	it := itemIter{t: t, b: b}
	for {
		typ, val, ok, err := it.next()
		if err != nil || !ok {
			return err
		}
		if err := fn(typ, val); err != nil {
			return err
		}
	}
}

// decodeAssocItems decodes the variable items of an A-ASSOCIATE-RQ or -AC:
// the application context into appCtx, the user information into u, and
// each presentation context item of type pcItem (its ID, its result byte,
// reserved in an RQ, and its sub-items) through pc. Items of unknown type
// are skipped (PS3.8 §9.3.1).
func decodeAssocItems(t PDUType, items []byte, pcItem byte, appCtx *string, u *UserInfo, pc func(id, result byte, sub []byte) error) error {
	var sawUser bool
	return eachItem(t, items, func(typ byte, val []byte) error {
		switch typ {
		case itemApplicationContext:
			*appCtx = trimUID(val)
		case pcItem:
			if len(val) < 4 {
				return pduErr(t, AbortReasonInvalidParameter, "presentation context item too short")
			}
			return pc(val[0], val[2], val[4:])
		case itemUserInformation:
			if sawUser {
				return pduErr(t, AbortReasonUnexpectedParameter, "two user information items")
			}
			sawUser = true
			return decodeUserInfo(t, val, u)
		}
		return nil
	})
}

func decodeAssociateRQ(body []byte) (*AssociateRQ, error) {
	const t = TypeAssociateRQ
	f, err := decodeAssocFixed(t, body)
	if err != nil {
		return nil, err
	}
	p := &AssociateRQ{ProtocolVersion: f.version, CalledAET: f.called, CallingAET: f.calling}
	err = decodeAssocItems(t, f.items, itemPresentationRQ, &p.ApplicationContext, &p.UserInfo, func(id, _ byte, sub []byte) error {
		pc := PresentationContextRQ{ID: id}
		err := eachItem(t, sub, func(st byte, sv []byte) error {
			switch st {
			case itemAbstractSyntax:
				pc.AbstractSyntax = trimUID(sv)
			case itemTransferSyntax:
				pc.TransferSyntaxes = append(pc.TransferSyntaxes, trimUID(sv))
			}
			return nil // unknown sub-items are skipped
		})
		p.PresentationContexts = append(p.PresentationContexts, pc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func decodeAssociateAC(body []byte) (*AssociateAC, error) {
	const t = TypeAssociateAC
	f, err := decodeAssocFixed(t, body)
	if err != nil {
		return nil, err
	}
	p := &AssociateAC{ProtocolVersion: f.version, CalledAET: f.called, CallingAET: f.calling}
	err = decodeAssocItems(t, f.items, itemPresentationAC, &p.ApplicationContext, &p.UserInfo, func(id, result byte, sub []byte) error {
		pc := PresentationContextAC{ID: id, Result: result}
		err := eachItem(t, sub, func(st byte, sv []byte) error {
			if st == itemTransferSyntax {
				pc.TransferSyntax = trimUID(sv)
			}
			return nil
		})
		p.PresentationContexts = append(p.PresentationContexts, pc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func decodeUserInfo(t PDUType, b []byte, u *UserInfo) error {
	it := itemIter{t: t, b: b}
	for {
		typ, v, ok, err := it.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		switch typ {
		case itemMaxLength:
			if len(v) != 4 {
				return pduErr(t, AbortReasonInvalidParameter, "maximum length sub-item of %d bytes", len(v))
			}
			u.MaxPDULength = binary.BigEndian.Uint32(v)
		case itemImplementationClass:
			u.ImplementationClassUID = trimUID(v)
		case itemImplementationVer:
			u.ImplementationVersionName = strings.TrimRight(string(v), " \x00")
		case itemAsyncOps:
			if len(v) != 4 {
				return pduErr(t, AbortReasonInvalidParameter, "asynchronous operations sub-item of %d bytes", len(v))
			}
			u.AsyncOps = &[2]uint16{binary.BigEndian.Uint16(v), binary.BigEndian.Uint16(v[2:])}
		case itemRoleSelection:
			if len(v) < 2 {
				return pduErr(t, AbortReasonInvalidParameter, "role selection sub-item too short")
			}
			n := int(binary.BigEndian.Uint16(v))
			if n+4 != len(v) {
				return pduErr(t, AbortReasonInvalidParameter, "role selection UID length %d in a %d-byte item", n, len(v))
			}
			u.RoleSelections = append(u.RoleSelections, RoleSelection{
				SOPClassUID: trimUID(v[2 : 2+n]), SCU: v[2+n] != 0, SCP: v[3+n] != 0,
			})
		case itemExtendedNeg:
			if len(v) < 2 {
				return pduErr(t, AbortReasonInvalidParameter, "extended negotiation sub-item too short")
			}
			n := int(binary.BigEndian.Uint16(v))
			if n+2 > len(v) {
				return pduErr(t, AbortReasonInvalidParameter, "extended negotiation UID length %d in a %d-byte item", n, len(v))
			}
			u.ExtendedNeg = append(u.ExtendedNeg, ExtendedNegotiation{
				SOPClassUID: trimUID(v[2 : 2+n]), Info: append([]byte(nil), v[2+n:]...),
			})
		case itemCommonExtendedNeg:
			u.CommonExtendedNeg = append(u.CommonExtendedNeg, append([]byte(nil), v...))
		case itemUserIdentityRQ:
			if len(v) < 6 {
				return pduErr(t, AbortReasonInvalidParameter, "user identity sub-item too short")
			}
			id := &UserIdentity{Type: v[0], ResponseWanted: v[1] != 0}
			n := int(binary.BigEndian.Uint16(v[2:]))
			if 4+n+2 > len(v) {
				return pduErr(t, AbortReasonInvalidParameter, "user identity primary field length %d too long", n)
			}
			id.Primary = append([]byte(nil), v[4:4+n]...)
			m := int(binary.BigEndian.Uint16(v[4+n:]))
			if 6+n+m != len(v) {
				return pduErr(t, AbortReasonInvalidParameter, "user identity secondary field length %d does not fit", m)
			}
			id.Secondary = append([]byte(nil), v[6+n:]...)
			u.UserIdentity = id
		case itemUserIdentityAC:
			if len(v) < 2 || int(binary.BigEndian.Uint16(v))+2 != len(v) {
				return pduErr(t, AbortReasonInvalidParameter, "malformed user identity response sub-item")
			}
			u.UserIdentityResponse = append([]byte{}, v[2:]...)
		default:
			// PS3.7 D.3.3: unknown user information sub-items are ignored.
		}
	}
}
