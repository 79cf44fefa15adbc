package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
)

// ContextProposal is one presentation context to propose.
type ContextProposal struct {
	AbstractSyntax   string
	TransferSyntaxes []string
}

// DialConfig configures an association request.
type DialConfig struct {
	CallingAET string // default "AISEDGE"
	CalledAET  string // default "ANY-SCP"
	// Contexts to propose; at most 128. Empty means Verification only.
	Contexts []ContextProposal
	// MaxPDULength this side receives (default 256 KiB).
	MaxPDULength uint32
	// Timeout bounds connecting, association negotiation, each response
	// and each write (default 60 s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Client is an association requested by this side (SCU). It is not safe
// for concurrent use: open one per goroutine.
type Client struct {
	a        *assoc
	accepted []*PresentationContext
	msgID    uint16
	timeout  time.Duration
	dead     bool // the association failed; the connection is closed
	// PeerImplementation is the peer's implementation version name.
	PeerImplementation string
}

// Dial connects to addr (host:port) and negotiates an association.
// A *Rejection is returned when the peer rejects it.
func Dial(ctx context.Context, addr string, cfg DialConfig) (*Client, error) {
	if cfg.CallingAET == "" {
		cfg.CallingAET = "AISEDGE"
	}
	if cfg.CalledAET == "" {
		cfg.CalledAET = "ANY-SCP"
	}
	if cfg.MaxPDULength == 0 {
		cfg.MaxPDULength = DefaultMaxPDULength
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if len(cfg.Contexts) == 0 {
		cfg.Contexts = []ContextProposal{{VerificationSOPClass, []string{dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian}}}
	}
	if len(cfg.Contexts) > 128 {
		return nil, fmt.Errorf("dimse: %d presentation contexts proposed, at most 128", len(cfg.Contexts))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	a := newAssoc(conn, cfg.MaxPDULength, log.With("component", "dimse", "peer", addr))
	a.writeTimeout = cfg.Timeout
	a.calledAET, a.callingAET = cfg.CalledAET, cfg.CallingAET
	rq := &AssociateRQ{
		ProtocolVersion: 1, CalledAET: cfg.CalledAET, CallingAET: cfg.CallingAET,
		ApplicationContext: ApplicationContextName,
		UserInfo: UserInfo{
			MaxPDULength:              cfg.MaxPDULength,
			ImplementationClassUID:    dicom.ImplementationClassUID,
			ImplementationVersionName: dicom.ImplementationVersionName,
		},
	}
	proposed := map[byte]ContextProposal{}
	for i, p := range cfg.Contexts {
		id := byte(2*i + 1)
		rq.PresentationContexts = append(rq.PresentationContexts, PresentationContextRQ{ID: id, AbstractSyntax: p.AbstractSyntax, TransferSyntaxes: p.TransferSyntaxes})
		proposed[id] = p
	}
	// Stop the exchange when ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := a.sendPDU(rq); err != nil {
		conn.Close()
		return nil, err
	}
	p, err := a.readPDU(time.Now().Add(cfg.Timeout))
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("dimse: waiting for A-ASSOCIATE-AC: %w", err)
	}
	switch r := p.(type) {
	case *AssociateRJ:
		conn.Close()
		return nil, &Rejection{Result: r.Result, Source: r.Source, Reason: r.Reason}
	case *Abort:
		conn.Close()
		return nil, ErrPeerAborted
	case *AssociateAC:
		c := &Client{a: a, timeout: cfg.Timeout, PeerImplementation: r.UserInfo.ImplementationVersionName}
		for _, pc := range r.PresentationContexts {
			prop, ok := proposed[pc.ID]
			if !ok || pc.Result != ResultAcceptance {
				continue
			}
			if !contains(prop.TransferSyntaxes, pc.TransferSyntax) {
				a.abort(AbortSourceServiceUser, 0)
				return nil, fmt.Errorf("dimse: peer accepted context %d with transfer syntax %s, which was not proposed", pc.ID, pc.TransferSyntax)
			}
			ctx := &PresentationContext{ID: pc.ID, AbstractSyntax: prop.AbstractSyntax, TransferSyntax: pc.TransferSyntax}
			a.contexts[pc.ID] = ctx
			c.accepted = append(c.accepted, ctx)
		}
		a.setMaxSend(r.UserInfo.MaxPDULength)
		return c, nil
	default:
		a.abort(AbortSourceServiceProvider, AbortReasonUnexpectedPDU)
		return nil, fmt.Errorf("dimse: unexpected %v in answer to A-ASSOCIATE-RQ", p.Type())
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Accepted returns the accepted presentation contexts.
func (c *Client) Accepted() []PresentationContext {
	out := make([]PresentationContext, len(c.accepted))
	for i, p := range c.accepted {
		out[i] = *p
	}
	return out
}

// findContext returns an accepted context for the abstract syntax, with
// transfer syntax ts when possible.
func (c *Client) findContext(abstract, ts string) (exact, any *PresentationContext) {
	for _, pc := range c.accepted {
		if pc.AbstractSyntax != abstract {
			continue
		}
		if pc.TransferSyntax == ts && exact == nil {
			exact = pc
		}
		if any == nil {
			any = pc
		}
	}
	return exact, any
}

func (c *Client) nextMsgID() uint16 {
	c.msgID++
	if c.msgID == 0 {
		c.msgID = 1
	}
	return c.msgID
}

// ErrNoContext is returned when no accepted presentation context fits.
var ErrNoContext = errors.New("dimse: no accepted presentation context")

// Echo sends C-ECHO-RQ and waits for the response.
func (c *Client) Echo(ctx context.Context) error {
	_, pc := c.findContext(VerificationSOPClass, "")
	if pc == nil {
		return fmt.Errorf("%w for Verification", ErrNoContext)
	}
	id := c.nextMsgID()
	rsp, err := c.roundTrip(ctx, pc.ID, &Command{Field: CEchoRQ, MessageID: id, AffectedSOPClassUID: VerificationSOPClass}, nil, 0, CEchoRSP)
	if err != nil {
		return err
	}
	if KindOf(rsp.Status) != KindSuccess {
		return &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return nil
}

// roundTrip sends a request and reads its response.
func (c *Client) roundTrip(ctx context.Context, pcid byte, cmd *Command, data io.Reader, size int64, want uint16) (*Command, error) {
	if c.dead {
		return nil, ErrAssociationClosed
	}
	stop := context.AfterFunc(ctx, func() { c.a.conn.SetDeadline(time.Now()) })
	defer stop()
	rsp, err := c.exchange(ctx, pcid, cmd, data, size, want)
	if err != nil {
		c.dead = true
	}
	return rsp, err
}

// ErrAssociationClosed is returned for requests on a failed association.
var ErrAssociationClosed = errors.New("dimse: association already failed or closed")

// Usable reports whether the association can carry further requests.
func (c *Client) Usable() bool { return !c.dead }

func (c *Client) exchange(ctx context.Context, pcid byte, cmd *Command, data io.Reader, size int64, want uint16) (*Command, error) {
	if err := c.a.sendMessage(pcid, cmd, data, size); err != nil {
		return nil, c.fail(ctx, err)
	}
	for {
		pdv, other, err := c.a.nextPDV(c.timeout, false)
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		if other != nil {
			switch other.(type) {
			case *ReleaseRQ:
				// The peer wants to end the association (e.g. it shuts
				// down): the request in flight is not acknowledged.
				_ = c.a.sendPDU(&ReleaseRP{})
				c.a.conn.Close()
				return nil, ErrPeerReleased
			default:
				err := c.a.unexpected(other)
				c.a.abortFor(err)
				return nil, err
			}
		}
		rsp, _, err := c.a.readCommand(pdv, c.timeout)
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		if rsp.HasDataSet {
			// Responses of C-ECHO and C-STORE carry no data set.
			err := protoErr(AbortReasonUnexpectedParameter, "response with a data set")
			c.a.abortFor(err)
			return nil, err
		}
		if rsp.Field != want || rsp.MessageIDBeingRespondedTo != cmd.MessageID {
			err := protoErr(AbortReasonUnexpectedParameter, "unexpected response 0x%04X to message %d", rsp.Field, rsp.MessageIDBeingRespondedTo)
			c.a.abortFor(err)
			return nil, err
		}
		return rsp, nil
	}
}

// ErrPeerReleased is returned when the peer released the association while
// a request was outstanding.
var ErrPeerReleased = errors.New("dimse: association released by peer before responding")

func (c *Client) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	c.a.abortFor(err)
	return err
}

// Release releases the association and closes the connection.
func (c *Client) Release() error {
	defer c.a.conn.Close()
	if err := c.a.sendPDU(&ReleaseRQ{}); err != nil {
		return err
	}
	for {
		p, err := c.a.readPDU(time.Now().Add(c.timeout))
		if err != nil {
			return fmt.Errorf("dimse: waiting for A-RELEASE-RP: %w", err)
		}
		switch p.(type) {
		case *ReleaseRP:
			return nil
		case *ReleaseRQ:
			_ = c.a.sendPDU(&ReleaseRP{})
		case *Abort:
			return ErrPeerAborted
		}
	}
}

// Abort aborts the association (A-ABORT) and closes the connection.
func (c *Client) Abort() { c.a.abort(AbortSourceServiceUser, 0) }

// Close closes the connection without any PDU.
func (c *Client) Close() error { return c.a.conn.Close() }
