package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Command field values (PS3.7 Table E.1-1, E.2-1).
const (
	CStoreRQ  uint16 = 0x0001
	CStoreRSP uint16 = 0x8001
	CGetRQ    uint16 = 0x0010
	CFindRQ   uint16 = 0x0020
	CMoveRQ   uint16 = 0x0021
	CEchoRQ   uint16 = 0x0030
	CEchoRSP  uint16 = 0x8030
	CCancelRQ uint16 = 0x0FFF
)

// noDataSet is the CommandDataSetType value meaning "no data set follows".
const noDataSet uint16 = 0x0101

// Priority values of C-STORE-RQ.
const (
	PriorityMedium uint16 = 0x0000
	PriorityHigh   uint16 = 0x0001
	PriorityLow    uint16 = 0x0002
)

// Command is a DIMSE command set (group 0000, always Implicit VR Little
// Endian, PS3.7 §6.3 and Annex E). Only the elements used by C-ECHO and
// C-STORE are kept; other group 0000 elements are skipped on decoding.
//
// The command set is a flat list of a dozen short elements, so it has its
// own small codec here instead of going through the general data set
// parser: it sits on the per-message hot path and never needs sequences,
// character sets or transfer syntax handling.
type Command struct {
	Field                     uint16
	MessageID                 uint16
	MessageIDBeingRespondedTo uint16
	AffectedSOPClassUID       string
	RequestedSOPClassUID      string
	AffectedSOPInstanceUID    string
	Priority                  uint16
	// HasDataSet is true when CommandDataSetType is not 0101H.
	HasDataSet   bool
	Status       uint16
	ErrorComment string
	// OffendingElements lists (0000,0901) tags, if any.
	OffendingElements         []uint32
	MoveOriginatorAET         string
	MoveOriginatorMessageID   uint16
	hasStatus, hasMoveOrigMID bool
}

// Command set element tags.
const (
	tagCommandGroupLength        = 0x00000000
	tagAffectedSOPClassUID       = 0x00000002
	tagRequestedSOPClassUID      = 0x00000003
	tagCommandField              = 0x00000100
	tagMessageID                 = 0x00000110
	tagMessageIDBeingRespondedTo = 0x00000120
	tagPriority                  = 0x00000700
	tagCommandDataSetType        = 0x00000800
	tagStatus                    = 0x00000900
	tagOffendingElement          = 0x00000901
	tagErrorComment              = 0x00000902
	tagAffectedSOPInstanceUID    = 0x00001000
	tagMoveOriginatorAET         = 0x00001030
	tagMoveOriginatorMessageID   = 0x00001031
)

// MaxCommandLength caps the size of a reassembled command set.
const MaxCommandLength = 64 << 10

// appendTag writes a tag as group then element, each little-endian.
func appendTag(b []byte, tag uint32) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(tag>>16))
	return binary.LittleEndian.AppendUint16(b, uint16(tag))
}

func readTag(b []byte) uint32 {
	return uint32(binary.LittleEndian.Uint16(b))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))
}

func appendElem(b []byte, tag uint32, val []byte) []byte {
	b = appendTag(b, tag)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(val)))
	return append(b, val...)
}

func appendUS(b []byte, tag uint32, v uint16) []byte {
	b = appendTag(b, tag)
	b = binary.LittleEndian.AppendUint32(b, 2)
	return binary.LittleEndian.AppendUint16(b, v)
}

// appendText appends a string element padded to even length with pad.
func appendText(b []byte, tag uint32, s string, pad byte) []byte {
	n := len(s)
	if n%2 == 1 {
		n++
	}
	b = appendTag(b, tag)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, s...)
	if n != len(s) {
		b = append(b, pad)
	}
	return b
}

// Encode appends the command set, group length first, to b.
func (c *Command) Encode(b []byte) []byte {
	start := len(b)
	b = appendElem(b, tagCommandGroupLength, []byte{0, 0, 0, 0})
	body := len(b)
	if c.AffectedSOPClassUID != "" {
		b = appendText(b, tagAffectedSOPClassUID, c.AffectedSOPClassUID, 0)
	}
	if c.RequestedSOPClassUID != "" {
		b = appendText(b, tagRequestedSOPClassUID, c.RequestedSOPClassUID, 0)
	}
	b = appendUS(b, tagCommandField, c.Field)
	if c.Field&0x8000 == 0 {
		b = appendUS(b, tagMessageID, c.MessageID)
	} else {
		b = appendUS(b, tagMessageIDBeingRespondedTo, c.MessageIDBeingRespondedTo)
	}
	if c.Field == CStoreRQ {
		b = appendUS(b, tagPriority, c.Priority)
	}
	dst := noDataSet
	if c.HasDataSet {
		dst = 0x0000
	}
	b = appendUS(b, tagCommandDataSetType, dst)
	if c.Field&0x8000 != 0 || c.hasStatus {
		b = appendUS(b, tagStatus, c.Status)
	}
	if len(c.OffendingElements) > 0 {
		v := make([]byte, 0, 4*len(c.OffendingElements))
		for _, t := range c.OffendingElements {
			v = binary.LittleEndian.AppendUint16(v, uint16(t>>16))
			v = binary.LittleEndian.AppendUint16(v, uint16(t))
		}
		b = appendElem(b, tagOffendingElement, v)
	}
	if c.ErrorComment != "" {
		s := c.ErrorComment
		if len(s) > 64 {
			s = s[:64]
		}
		b = appendText(b, tagErrorComment, s, ' ')
	}
	if c.AffectedSOPInstanceUID != "" {
		b = appendText(b, tagAffectedSOPInstanceUID, c.AffectedSOPInstanceUID, 0)
	}
	if c.MoveOriginatorAET != "" {
		b = appendText(b, tagMoveOriginatorAET, c.MoveOriginatorAET, ' ')
	}
	if c.MoveOriginatorAET != "" || c.hasMoveOrigMID {
		b = appendUS(b, tagMoveOriginatorMessageID, c.MoveOriginatorMessageID)
	}
	binary.LittleEndian.PutUint32(b[start+8:], uint32(len(b)-body))
	return b
}

// ErrBadCommand is wrapped by every command set decoding error.
var ErrBadCommand = errors.New("dimse: malformed command set")

func badCommand(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadCommand, fmt.Sprintf(format, args...))
}

// DecodeCommand parses a command set. Every element must belong to group
// 0000 and fit in b; CommandField is required.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) > MaxCommandLength {
		return nil, badCommand("%d bytes", len(b))
	}
	c := &Command{}
	var haveField, haveDST bool
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, badCommand("truncated element header")
		}
		tag := readTag(b)
		n := binary.LittleEndian.Uint32(b[4:])
		if tag>>16 != 0 {
			return nil, badCommand("element %08X outside group 0000", tag)
		}
		if uint64(n) > uint64(len(b)-8) {
			return nil, badCommand("element (0000,%04X) length %d exceeds %d remaining", tag&0xFFFF, n, len(b)-8)
		}
		v := b[8 : 8+n]
		b = b[8+n:]
		us := func() (uint16, error) {
			if len(v) != 2 {
				return 0, badCommand("element (0000,%04X) has %d bytes, want 2", tag&0xFFFF, len(v))
			}
			return binary.LittleEndian.Uint16(v), nil
		}
		var err error
		switch tag {
		case tagAffectedSOPClassUID:
			c.AffectedSOPClassUID = trimUID(v)
		case tagRequestedSOPClassUID:
			c.RequestedSOPClassUID = trimUID(v)
		case tagAffectedSOPInstanceUID:
			c.AffectedSOPInstanceUID = trimUID(v)
		case tagCommandField:
			c.Field, err = us()
			haveField = true
		case tagMessageID:
			c.MessageID, err = us()
		case tagMessageIDBeingRespondedTo:
			c.MessageIDBeingRespondedTo, err = us()
		case tagPriority:
			c.Priority, err = us()
		case tagCommandDataSetType:
			var d uint16
			d, err = us()
			c.HasDataSet = d != noDataSet
			haveDST = true
		case tagStatus:
			c.Status, err = us()
			c.hasStatus = true
		case tagOffendingElement:
			for i := 0; i+4 <= len(v); i += 4 {
				c.OffendingElements = append(c.OffendingElements,
					uint32(binary.LittleEndian.Uint16(v[i:]))<<16|uint32(binary.LittleEndian.Uint16(v[i+2:])))
			}
		case tagErrorComment:
			c.ErrorComment = strings.TrimRight(string(v), " \x00")
		case tagMoveOriginatorAET:
			c.MoveOriginatorAET = strings.Trim(string(v), " \x00")
		case tagMoveOriginatorMessageID:
			c.MoveOriginatorMessageID, err = us()
			c.hasMoveOrigMID = true
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveField {
		return nil, badCommand("no CommandField")
	}
	if !haveDST {
		return nil, badCommand("no CommandDataSetType")
	}
	return c, nil
}

// Status codes used by C-ECHO and C-STORE (PS3.7 Annex C, B.2.3).
const (
	StatusSuccess              uint16 = 0x0000
	StatusWarning              uint16 = 0x0001
	StatusCoercion             uint16 = 0xB000
	StatusElementsDiscarded    uint16 = 0xB006
	StatusDataSetMismatchWarn  uint16 = 0xB007
	StatusOutOfResources       uint16 = 0xA700
	StatusDataSetMismatch      uint16 = 0xA900
	StatusCannotUnderstand     uint16 = 0xC000
	StatusProcessingFailure    uint16 = 0x0110
	StatusSOPClassNotSupported uint16 = 0x0122
	StatusNotAuthorized        uint16 = 0x0124
	StatusDuplicateInvocation  uint16 = 0x0210
	StatusUnrecognizedOp       uint16 = 0x0211
	StatusMistypedArgument     uint16 = 0x0212
)

// StatusKind classifies a DIMSE status (PS3.7 Annex C).
type StatusKind int

// Status kinds.
const (
	KindSuccess StatusKind = iota
	KindWarning
	KindFailure
	KindCancel
	KindPending
)

// KindOf classifies a status code.
func KindOf(status uint16) StatusKind {
	switch {
	case status == 0x0000:
		return KindSuccess
	case status == 0x0001 || status&0xF000 == 0xB000 || status == 0x0107 || status == 0x0116:
		return KindWarning
	case status == 0xFE00:
		return KindCancel
	case status == 0xFF00 || status == 0xFF01:
		return KindPending
	}
	return KindFailure
}

// StatusError carries a DIMSE status. A StoreHandler returns one to choose
// the C-STORE-RSP status; the SCU returns one when the peer answered with a
// non-success status.
type StatusError struct {
	Status  uint16
	Comment string // sent as Error Comment (0000,0902), 64 characters at most
	Err     error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("DIMSE status 0x%04X (%s)", e.Status, StatusText(e.Status))
	if e.Comment != "" {
		s += ": " + e.Comment
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *StatusError) Unwrap() error { return e.Err }

// NewStatusError builds a *StatusError.
func NewStatusError(status uint16, comment string, err error) *StatusError {
	return &StatusError{Status: status, Comment: comment, Err: err}
}

// StatusText names a status code for humans.
func StatusText(status uint16) string {
	switch {
	case status == StatusSuccess:
		return "success"
	case status == StatusCoercion:
		return "warning: coercion of data elements"
	case status == StatusElementsDiscarded:
		return "warning: elements discarded"
	case status == StatusDataSetMismatchWarn:
		return "warning: data set does not match SOP class"
	case status&0xFF00 == 0xA700:
		return "refused: out of resources"
	case status&0xFF00 == 0xA900:
		return "error: data set does not match SOP class"
	case status&0xF000 == 0xC000:
		return "error: cannot understand"
	case status == StatusSOPClassNotSupported:
		return "refused: SOP class not supported"
	case status == StatusNotAuthorized:
		return "refused: not authorized"
	case status == StatusProcessingFailure:
		return "processing failure"
	case status == StatusDuplicateInvocation:
		return "duplicate invocation"
	case status == StatusUnrecognizedOp:
		return "unrecognized operation"
	case status == StatusMistypedArgument:
		return "mistyped argument"
	}
	switch KindOf(status) {
	case KindWarning:
		return "warning"
	case KindPending:
		return "pending"
	case KindCancel:
		return "cancel"
	}
	return "failure"
}
