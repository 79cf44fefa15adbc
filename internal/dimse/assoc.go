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
	// memHint is the size of the association's last instance received
	// into memory: the next one's buffer starts that large (a series is
	// images of one size), instead of growing by copies.
	memHint int

	writeTimeout time.Duration
	log          *slog.Logger

	// draining is set by Server.Shutdown and by an eviction: release at
	// the next message boundary. kick marks a deadline forced to interrupt
	// an idle read. evicted tells the two apart.
	draining atomic.Bool
	kick     atomic.Bool
	evicted  atomic.Bool

	// src is the peer's per-source accounting key (server side).
	src string
	// idleSince is when the association last became idle between
	// messages (monoNow), 0 while a message is in progress or
	// the association is ending: only idle associations are evicted.
	idleSince atomic.Int64
	// meter counts the bytes read from the connection.
	meter meter
	// acceptedAt, stored and failed make the association's one summary
	// line (the C-STOREs answered with success or warning, and the others).
	acceptedAt     time.Time
	stored, failed atomic.Int64
	// guard enforces the message deadline and the minimum transfer rate
	// while a message is received (server side).
	guard msgGuard
}

// summary is the attributes of an association's closing log line.
func (a *assoc) summary() []any {
	out := []any{"instances", a.stored.Load(), "failed", a.failed.Load(), "bytes", a.meter.n}
	if !a.acceptedAt.IsZero() {
		out = append(out, "duration", time.Since(a.acceptedAt).Round(time.Millisecond).String())
	}
	return out
}

// meter counts the bytes read through it.
type meter struct {
	r io.Reader
	n int64
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.n += int64(n)
	return n, err
}

// msgGuard bounds the reception of one message: a whole-message deadline,
// and a minimum transfer rate averaged over windows of read-wait time (time
// spent waiting for the peer, not time this side spends writing what it
// received), so that a peer trickling bytes cannot hold a slot.
type msgGuard struct {
	timeout time.Duration // whole message; 0: none
	minRate int64         // bytes per second; 0: none
	window  time.Duration

	on       bool
	deadline time.Time
	used     time.Duration // read-wait time in the current window
	n0       int64         // meter count when the window began
}

// ErrTooSlow ends an association whose peer sends a message slower than
// ServerConfig.MinRate.
var ErrTooSlow = errors.New("dimse: message arrives slower than the minimum transfer rate")

// ErrMessageTimeout ends an association whose peer did not complete a
// message within ServerConfig.MessageTimeout.
var ErrMessageTimeout = errors.New("dimse: message not complete within the message timeout")

// beginMessage starts guarding a message whose first PDV just arrived.
func (a *assoc) beginMessage(now time.Time) {
	g := &a.guard
	g.on = true
	g.deadline = time.Time{}
	if g.timeout > 0 {
		g.deadline = now.Add(g.timeout)
	}
	g.used = 0
	g.n0 = a.meter.n
}

func (a *assoc) endMessage() { a.guard.on = false }

// checkRate closes a completed rate window: ErrTooSlow when too few bytes
// arrived in it.
func (a *assoc) checkRate() error {
	g := &a.guard
	if g.minRate <= 0 || g.window <= 0 || g.used < g.window {
		return nil
	}
	if got, want := a.meter.n-g.n0, int64(float64(g.minRate)*g.window.Seconds()); got < want {
		return fmt.Errorf("%w: %d bytes in %s, need %d", ErrTooSlow, got, g.window, want)
	}
	g.used, g.n0 = 0, a.meter.n
	return nil
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
	a := newPendingAssoc(conn, maxRecv, log)
	a.buffer()
	return a
}

// newPendingAssoc is newAssoc for a connection that has not sent its
// A-ASSOCIATE-RQ yet: PDUs are read straight from the connection (the PDU
// reader never reads past the PDU it was asked for) and the read buffer is
// only allocated by buffer, once the association is accepted.
func newPendingAssoc(conn net.Conn, maxRecv uint32, log *slog.Logger) *assoc {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	a := &assoc{conn: conn, log: log, maxSend: DefaultMaxPDULength}
	a.meter.r = conn
	a.pr.r = &a.meter
	a.pr.maxPData = maxRecv
	return a
}

// buffer puts a 64 KiB read buffer between the connection and the PDU
// reader (at a PDU boundary).
func (a *assoc) buffer() {
	if a.br == nil {
		a.br = bufio.NewReaderSize(&a.meter, 64<<10)
		a.pr.r = a.br
	}
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
// (within timeout of the call); other PDUs are returned as other. idle
// marks a read between messages, where a pending drain turns into
// errDraining. A deadline forced by Shutdown (kick) only interrupts idle
// reads: inside a message the read resumes. Inside a guarded message
// (beginMessage) the message deadline and the minimum rate apply too. PDV
// data aliases the read buffer and is valid until the next call.
func (a *assoc) nextPDV(timeout time.Duration, idle bool) (pdv *PDV, other PDU, err error) {
	if len(a.pdvs) > 0 {
		pdv = &a.pdvs[0]
		a.pdvs = a.pdvs[1:]
		return pdv, nil, nil
	}
	guarded := a.guard.on && !idle
	pduDeadline := time.Now().Add(timeout)
	for {
		start := time.Now()
		deadline := pduDeadline
		if guarded {
			if err := a.checkRate(); err != nil {
				return nil, nil, err
			}
			if g := &a.guard; g.minRate > 0 && g.window > 0 {
				if w := start.Add(g.window - g.used); w.Before(deadline) {
					deadline = w
				}
			}
			if d := a.guard.deadline; !d.IsZero() && d.Before(deadline) {
				deadline = d
			}
		}
		if err := a.conn.SetReadDeadline(deadline); err != nil {
			return nil, nil, err
		}
		if idle && a.draining.Load() && !a.pr.midPDU() {
			return nil, nil, errDraining
		}
		p, err := a.pr.next()
		if guarded {
			a.guard.used += time.Since(start)
		}
		if err != nil {
			if !isTimeout(err) {
				return nil, nil, err
			}
			if a.kick.Swap(false) {
				continue
			}
			if guarded {
				now := time.Now()
				if d := a.guard.deadline; !d.IsZero() && !now.Before(d) {
					return nil, nil, ErrMessageTimeout
				}
				if now.Before(pduDeadline) {
					continue // a rate window ended: checked above
				}
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
	_, _ = io.Copy(io.Discard, io.LimitReader(a.pr.r, 1<<20))
	_ = a.conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
