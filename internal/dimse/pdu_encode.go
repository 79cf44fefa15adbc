package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Encoding PDUs.

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
