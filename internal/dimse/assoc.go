package dimse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// assoc is the transport side of one association, shared by the SCP and
// the SCU: PDU reading with reusable buffers, PDV iteration, message
// fragmentation and single-write PDU sending.
type assoc struct {
	conn net.Conn
	br   *bufio.Reader
	pr   pduReader
	wbuf []byte

	id                    string
	calledAET, callingAET string
	// maxSend is the largest PDU length field the peer accepts.
	maxSend  int
	contexts [256]*PresentationContext

	pdvs   []PDV // PDVs of the current P-DATA-TF not yet consumed
	cmdBuf []byte
	spoolW *bufio.Writer // the receiver's file write buffer

	writeTimeout time.Duration
	log          *slog.Logger

	// draining is set by Server.Shutdown: release at the next message
	// boundary. kick marks a deadline forced to interrupt an idle read.
	draining atomic.Bool
	kick     atomic.Bool
}

// errDraining is returned by nextPDV when a release is due instead of a read.
var errDraining = errors.New("dimse: draining")

// ErrPeerAborted is returned when the peer sent A-ABORT.
var ErrPeerAborted = errors.New("dimse: association aborted by peer")

// protocolError is a violation detected above the PDU codec; it is answered
// with A-ABORT.
type protocolError struct {
	reason AbortReason
	msg    string
}

func (e *protocolError) Error() string { return "dimse: protocol error: " + e.msg }

func protoErr(reason AbortReason, format string, args ...any) error {
	return &protocolError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

func newAssoc(conn net.Conn, maxRecv uint32, log *slog.Logger) *assoc {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	a := &assoc{conn: conn, br: bufio.NewReaderSize(conn, 64<<10), log: log, maxSend: DefaultMaxPDULength}
	a.pr.r = a.br
	a.pr.maxPData = maxRecv
	return a
}

func (a *assoc) setMaxSend(peerMax uint32) {
	switch {
	case peerMax == 0 || peerMax > HardMaxPDULength:
		a.maxSend = 1 << 20 // "unlimited": large enough to amortise syscalls
	case peerMax < 64:
		a.maxSend = 64
	default:
		a.maxSend = int(peerMax)
	}
}

// readPDU reads the next whole PDU with the given deadline (zero: none).
func (a *assoc) readPDU(deadline time.Time) (PDU, error) {
	if err := a.conn.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	return a.pr.next()
}

// nextPDV returns the next PDV, reading a new P-DATA-TF PDU when needed
// (each read with the given timeout); other PDUs are returned as other.
// idle marks a read between messages, where a pending drain turns into
// errDraining. A deadline forced by Shutdown (kick) only interrupts idle
// reads: inside a message the read resumes. PDV data aliases the read
// buffer and is valid until the next call.
func (a *assoc) nextPDV(timeout time.Duration, idle bool) (pdv *PDV, other PDU, err error) {
	if len(a.pdvs) > 0 {
		pdv = &a.pdvs[0]
		a.pdvs = a.pdvs[1:]
		return pdv, nil, nil
	}
	for {
		if err := a.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return nil, nil, err
		}
		if idle && a.draining.Load() && !a.pr.midPDU() {
			return nil, nil, errDraining
		}
		p, err := a.pr.next()
		if err != nil {
			if isTimeout(err) && a.kick.Swap(false) {
				continue
			}
			return nil, nil, err
		}
		pd, ok := p.(*PDataTF)
		if !ok {
			return nil, p, nil
		}
		a.pdvs = pd.PDVs[1:]
		return &pd.PDVs[0], nil, nil
	}
}

// buffered reports whether unread PDVs or a partial PDU are held.
func (a *assoc) buffered() bool { return len(a.pdvs) > 0 || a.pr.midPDU() }

// readCommand assembles the command set that starts with first.
func (a *assoc) readCommand(first *PDV, timeout time.Duration) (*Command, byte, error) {
	if !first.Command {
		return nil, 0, protoErr(AbortReasonUnexpectedParameter, "data set fragment where a command was expected")
	}
	pcid := first.ContextID
	if pc := a.contexts[pcid]; pc == nil {
		return nil, 0, protoErr(AbortReasonInvalidParameter, "presentation context %d was not accepted", pcid)
	}
	a.cmdBuf = append(a.cmdBuf[:0], first.Data...)
	last := first.Last
	for !last {
		pdv, other, err := a.nextPDV(timeout, false)
		if err != nil {
			return nil, 0, err
		}
		if other != nil {
			return nil, 0, a.unexpected(other)
		}
		if !pdv.Command || pdv.ContextID != pcid {
			return nil, 0, protoErr(AbortReasonUnexpectedParameter, "command fragments interleaved with other PDVs")
		}
		if len(a.cmdBuf)+len(pdv.Data) > MaxCommandLength {
			return nil, 0, protoErr(AbortReasonInvalidParameter, "command set longer than %d bytes", MaxCommandLength)
		}
		a.cmdBuf = append(a.cmdBuf, pdv.Data...)
		last = pdv.Last
	}
	cmd, err := DecodeCommand(a.cmdBuf)
	if err != nil {
		return nil, 0, protoErr(AbortReasonInvalidParameter, "%v", err)
	}
	return cmd, pcid, nil
}

// unexpected turns a non-P-DATA PDU received inside a message into the
// error that ends the association.
func (a *assoc) unexpected(p PDU) error {
	if _, ok := p.(*Abort); ok {
		return ErrPeerAborted
	}
	return protoErr(AbortReasonUnexpectedPDU, "%v in the middle of a message", p.Type())
}

func (a *assoc) write(b []byte) error {
	if a.writeTimeout > 0 {
		if err := a.conn.SetWriteDeadline(time.Now().Add(a.writeTimeout)); err != nil {
			return err
		}
	}
	_, err := a.conn.Write(b)
	return err
}

// sendPDU encodes p and writes it in one Write.
func (a *assoc) sendPDU(p PDU) error {
	b, err := p.AppendBinary(a.wbuf[:0])
	if err != nil {
		return err
	}
	a.wbuf = b
	return a.write(b)
}

// abort sends A-ABORT (best effort) and closes the connection.
func (a *assoc) abort(source AbortSource, reason AbortReason) {
	if a.writeTimeout == 0 {
		_ = a.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	}
	_ = a.sendPDU(&Abort{Source: source, Reason: reason})
	_ = a.conn.Close()
}

// abortFor sends the A-ABORT fitting err (protocol errors get a provider
// abort with their reason), unless the peer aborted or the connection died.
func (a *assoc) abortFor(err error) {
	var pe *protocolError
	var pduE *PDUError
	switch {
	case errors.Is(err, ErrPeerAborted):
		_ = a.conn.Close()
	case errors.As(err, &pe):
		a.abort(AbortSourceServiceProvider, pe.reason)
	case errors.As(err, &pduE):
		a.abort(AbortSourceServiceProvider, pduE.Reason)
	default:
		a.abort(AbortSourceServiceUser, 0)
	}
}

// appendFragments appends P-DATA-TF PDUs (one PDV each) carrying data. The
// final PDV has the last-fragment bit when last is set.
func (a *assoc) appendFragments(b []byte, pcid byte, command bool, data []byte, last bool) []byte {
	chunk := a.maxSend - 6
	for {
		n := len(data)
		if n > chunk {
			n = chunk
		}
		fin := last && n == len(data)
		b = appendHeader(b, TypePDataTF, uint32(n+6))
		b = append(b, byte((n+2)>>24), byte((n+2)>>16), byte((n+2)>>8), byte(n+2), pcid, pdvFlags(command, fin))
		b = append(b, data[:n]...)
		data = data[n:]
		if len(data) == 0 {
			return b
		}
	}
}

// sendMessage sends a command and, when data is non-nil, size bytes of data
// set read from it, fragmented to the peer's max PDU length. PDUs are
// gathered in one buffer and written whole, at most ~1 MiB per Write.
func (a *assoc) sendMessage(pcid byte, cmd *Command, data io.Reader, size int64) error {
	cmd.HasDataSet = data != nil
	a.cmdBuf = cmd.Encode(a.cmdBuf[:0])
	b := a.appendFragments(a.wbuf[:0], pcid, true, a.cmdBuf, true)
	if data == nil {
		a.wbuf = b
		return a.write(b)
	}
	// PDV fragments must have an even length: chunks are even, and an odd
	// data set (a deflated stream without its pad byte) gets a trailing
	// NUL, as PS3.5 §A.5 pads it in files.
	chunk := int64(a.maxSend-6) &^ 1
	pad := size%2 == 1
	if pad {
		data = io.MultiReader(io.LimitReader(data, size), bytes.NewReader([]byte{0}))
		size++
	}
	flushAt := 1 << 20
	if flushAt < a.maxSend+12 {
		flushAt = a.maxSend + 12
	}
	remaining := size
	for {
		n := remaining
		if n > chunk {
			n = chunk
		}
		fin := n == remaining
		b = appendHeader(b, TypePDataTF, uint32(n+6))
		b = append(b, byte((n+2)>>24), byte((n+2)>>16), byte((n+2)>>8), byte(n+2), pcid, pdvFlags(false, fin))
		if need := len(b) + int(n); cap(b) < need {
			nb := make([]byte, len(b), need+need/4)
			copy(nb, b)
			b = nb
		}
		if _, err := io.ReadFull(data, b[len(b):len(b)+int(n)]); err != nil {
			a.wbuf = b[:0]
			return fmt.Errorf("dimse: reading data set: %w", err)
		}
		b = b[:len(b)+int(n)]
		remaining -= n
		if fin || len(b) >= flushAt {
			if err := a.write(b); err != nil {
				a.wbuf = b[:0]
				return err
			}
			if fin {
				a.wbuf = b[:0]
				return nil
			}
			b = b[:0]
		}
	}
}

// lingerClose waits (at most d) for the peer to close after a final PDU
// (A-ASSOCIATE-RJ, A-RELEASE-RP), as the ARTIM timer prescribes, then
// closes.
func (a *assoc) lingerClose(d time.Duration) {
	_ = a.conn.SetReadDeadline(time.Now().Add(d))
	_, _ = io.Copy(io.Discard, io.LimitReader(a.br, 1<<20))
	_ = a.conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
