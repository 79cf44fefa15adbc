package dimse

import (
	"encoding/binary"
	"io"
	"strings"
)

// Decoding PDUs.

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
