package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ServerConfig configures a Server. Handler and TempDir are required.
type ServerConfig struct {
	// Handler takes each received instance.
	Handler StoreHandler
	// TempDir receives the instances while they arrive; it should be on the
	// file system the handler renames them into.
	TempDir string

	// MaxAssociations limits concurrent associations (default 32). A slot
	// is taken once a complete, acceptable A-ASSOCIATE-RQ has been read;
	// connections that have not sent one yet do not count (see
	// MaxPendingConnections). When every slot is taken, the association
	// idle longest is released for the newcomer (EvictIdleAfter), or the
	// request waits (SlotWait) and is then rejected with "local limit
	// exceeded".
	MaxAssociations int
	// MaxAssociationsPerSource limits the associations of one source, an
	// IPv4 address or an IPv6 /64 (default MaxAssociations/4, at least 1:
	// at least four sources are needed to fill the receiver; a modality
	// uses one association, a PACS forwarding in parallel a few). Requests
	// beyond it are treated as if the receiver were full, but only that
	// source's own idle associations are released for them.
	MaxAssociationsPerSource int
	// MaxPendingConnections bounds the connections that have not
	// completed an A-ASSOCIATE-RQ yet, or are being rejected (default
	// 4 x MaxAssociations, at least 64). When it is reached the oldest
	// such connection is closed for the new one. One source may have at
	// most 2 x MaxAssociationsPerSource of them (at least 4); its further
	// connections are closed at once.
	MaxPendingConnections int
	// SlotWait is how long a request waits for a slot when none is free
	// and no association is idle enough to be released (default 5 s;
	// negative: no wait). Peers wait far longer for an answer (dcmtk and
	// pynetdicom: 30 s).
	SlotWait time.Duration
	// EvictIdleAfter is how long an association must have been idle
	// between messages before a full receiver releases it (A-RELEASE-RQ,
	// as at shutdown) to admit a new request (default 2 s; negative:
	// never). Longest idle first.
	EvictIdleAfter time.Duration
	// MaxPDULength is the largest P-DATA-TF PDU this side receives, offered
	// in A-ASSOCIATE-AC (default 256 KiB).
	MaxPDULength uint32
	// ARTIMTimeout bounds the wait for a whole A-ASSOCIATE-RQ after a
	// connection is accepted, and for the peer to close or answer after a
	// final PDU (default 30 s).
	ARTIMTimeout time.Duration
	// IdleTimeout bounds the wait for the next message (default 30 s); the
	// association is aborted when it expires.
	IdleTimeout time.Duration
	// DataTimeout bounds the wait for each PDU inside a message (default
	// 60 s): a stalled sender is aborted and its partial instance dropped.
	DataTimeout time.Duration
	// MessageTimeout bounds the reception of a whole message, command and
	// data set (default 30 min: 4 GiB at 2.3 MiB/s; negative: none).
	MessageTimeout time.Duration
	// MinRate is the minimum transfer rate of a message in bytes per
	// second, averaged over MinRateWindow of waiting for the peer (default
	// 8 KiB/s over 20 s; negative: none). A slower sender is aborted and
	// its partial instance dropped, so that trickled bytes cannot hold a
	// slot.
	MinRate       int64
	MinRateWindow time.Duration
	// WriteTimeout bounds each write to the peer (default 60 s).
	WriteTimeout time.Duration
	// MinFreeBytes is the free-space watermark of TempDir's file system:
	// below it, C-STOREs fail with A700 (default 1 GiB; negative disables).
	MinFreeBytes int64

	// SOPClasses decides which abstract syntaxes are accepted.
	SOPClasses SOPClassPolicy
	// Admit, when set, is asked about every association request with valid
	// AE titles, before a slot is taken; a non-nil Rejection is sent as
	// A-ASSOCIATE-RJ.
	Admit func(info *AssociationInfo) *Rejection
	// Validate checks a received data set before it is fsynced and handed
	// over; the default (ValidateInstance) parses it and compares its SOP
	// Class and Instance UIDs with the command. Return a *StatusError.
	Validate func(in *Instance, r io.ReaderAt) error
	// HandlerSyncs: the handler makes the instance durable itself (a
	// write-ahead record of its own, or Instance.Sync before it keeps the
	// file); the server does not flush the received file first.
	HandlerSyncs bool
	// MemoryBytes: an instance (file meta header included) of at most this
	// many bytes is received into memory instead of a temporary file and
	// handed over as Instance.Data, for a handler that makes it durable
	// itself; larger ones move to a file as they outgrow it. Each
	// association receives one instance at a time. 0: every instance goes
	// to a file. Requires HandlerSyncs.
	MemoryBytes int64

	// Logger receives JSON-friendly structured logs; UIDs are hashed. It
	// is used as given: the caller adds its attributes (component=dimse).
	Logger *slog.Logger
	// UIDHash keys the hashes that logs show for SOP Instance UIDs; nil
	// gives a key of the process's own (RandomUIDHasher).
	UIDHash *UIDHasher
	// AETLabel is what logs show for an AE title the peer sent: the
	// caller passes through the titles it configured and hides the rest
	// (a scanner may be set up with anything, a patient's name included).
	// Nil shows every title as "ae-" and its keyed hash.
	AETLabel func(aet string) string
}

// AssociationInfo describes an association request for ServerConfig.Admit.
type AssociationInfo struct {
	CalledAET, CallingAET     string
	Remote                    net.Addr
	ImplementationClassUID    string
	ImplementationVersionName string
}

// Metrics are the server's counters; read them with Snapshot.
type Metrics struct {
	AssociationsAccepted atomic.Int64
	AssociationsRejected atomic.Int64
	AssociationsAborted  atomic.Int64
	Echoes               atomic.Int64
	StoresOK             atomic.Int64
	StoresFailed         atomic.Int64
	BytesReceived        atomic.Int64
	Active               atomic.Int64
	// AssociationsEvicted counts idle associations released to admit a
	// request; ConnectionsDropped counts connections closed before their
	// A-ASSOCIATE-RQ (over the pending bounds).
	AssociationsEvicted atomic.Int64
	ConnectionsDropped  atomic.Int64
}

// MetricsSnapshot is a copy of Metrics.
type MetricsSnapshot struct {
	AssociationsAccepted, AssociationsRejected, AssociationsAborted int64
	Echoes, StoresOK, StoresFailed, BytesReceived, Active           int64
	AssociationsEvicted, ConnectionsDropped                         int64
}

// Snapshot copies the counters.
func (m *Metrics) Snapshot() MetricsSnapshot {
	return MetricsSnapshot{
		AssociationsAccepted: m.AssociationsAccepted.Load(),
		AssociationsRejected: m.AssociationsRejected.Load(),
		AssociationsAborted:  m.AssociationsAborted.Load(),
		Echoes:               m.Echoes.Load(),
		StoresOK:             m.StoresOK.Load(),
		StoresFailed:         m.StoresFailed.Load(),
		BytesReceived:        m.BytesReceived.Load(),
		Active:               m.Active.Load(),
		AssociationsEvicted:  m.AssociationsEvicted.Load(),
		ConnectionsDropped:   m.ConnectionsDropped.Load(),
	}
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("dimse: server closed")

// Server is a C-ECHO and C-STORE service class provider.
//
// Per association (admission: see admission.go):
//
//	accept (pending) ─ARTIM─▶ A-ASSOCIATE-RQ ─┬─ bad AE title / Admit refuses / nothing acceptable ─▶ A-ASSOCIATE-RJ, close
//	                                          ├─ no slot within SlotWait ─▶ A-ASSOCIATE-RJ, close
//	                                          └─ slot ─▶ A-ASSOCIATE-AC ─▶ idle ◀───────────────┐
//	idle ─ command PDVs ─▶ C-ECHO: RSP ───────────────────────────────────────┤
//	     └─ C-STORE: data PDVs ─▶ temp file ─▶ validate ─▶ fsync ─▶ Handler ─▶ RSP
//	idle ─ A-RELEASE-RQ ─▶ A-RELEASE-RP, close
//	idle ─ Shutdown / evicted ─▶ A-RELEASE-RQ ─▶ wait A-RELEASE-RP (3 s), close
//	message ─ MessageTimeout / under MinRate ─▶ A-ABORT
//	any  ─ A-ABORT / timeout / protocol error ─▶ partial instance deleted, close
type Server struct {
	cfg     ServerConfig
	log     *slog.Logger
	gate    *gate
	baseCtx context.Context
	cancel  context.CancelFunc

	poolOnce sync.Once
	pool     *tempPool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*assoc]struct{}
	wg        sync.WaitGroup
	shutting  atomic.Bool

	// Metrics counts associations, instances and bytes.
	Metrics Metrics
}

// NewServer checks cfg, fills in defaults and returns a server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("dimse: ServerConfig.Handler is required")
	}
	if cfg.TempDir == "" {
		return nil, errors.New("dimse: ServerConfig.TempDir is required")
	}
	if cfg.MemoryBytes > 0 && !cfg.HandlerSyncs {
		return nil, errors.New("dimse: ServerConfig.MemoryBytes needs HandlerSyncs (an instance in memory is not durable until the handler makes it so)")
	}
	if st, err := os.Stat(cfg.TempDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("dimse: TempDir %q is not a directory", cfg.TempDir)
	}
	if cfg.MaxAssociations <= 0 {
		cfg.MaxAssociations = 32
	}
	if cfg.MaxAssociationsPerSource <= 0 {
		cfg.MaxAssociationsPerSource = max(1, cfg.MaxAssociations/4)
	}
	cfg.MaxAssociationsPerSource = min(cfg.MaxAssociationsPerSource, cfg.MaxAssociations)
	if cfg.MaxPendingConnections <= 0 {
		cfg.MaxPendingConnections = max(64, 4*cfg.MaxAssociations)
	}
	if cfg.MaxPDULength == 0 {
		cfg.MaxPDULength = DefaultMaxPDULength
	}
	if cfg.MaxPDULength < MinMaxPDULength || cfg.MaxPDULength > HardMaxPDULength {
		return nil, fmt.Errorf("dimse: MaxPDULength %d outside [%d, %d]", cfg.MaxPDULength, MinMaxPDULength, HardMaxPDULength)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.ARTIMTimeout, 30*time.Second)
	def(&cfg.IdleTimeout, 30*time.Second)
	def(&cfg.DataTimeout, time.Minute)
	def(&cfg.WriteTimeout, time.Minute)
	def(&cfg.MinRateWindow, 20*time.Second)
	// Zero takes the default, negative disables.
	orDefault := func(d *time.Duration, v time.Duration) {
		switch {
		case *d == 0:
			*d = v
		case *d < 0:
			*d = -1
		}
	}
	orDefault(&cfg.SlotWait, 5*time.Second)
	orDefault(&cfg.EvictIdleAfter, 2*time.Second)
	orDefault(&cfg.MessageTimeout, 30*time.Minute)
	switch {
	case cfg.MinRate == 0:
		cfg.MinRate = 8 << 10
	case cfg.MinRate < 0:
		cfg.MinRate = -1
	}
	if cfg.MinFreeBytes == 0 {
		cfg.MinFreeBytes = 1 << 30
	}
	if cfg.Validate == nil {
		cfg.Validate = ValidateInstance
	}
	if cfg.UIDHash == nil {
		cfg.UIDHash = RandomUIDHasher()
	}
	if cfg.AETLabel == nil {
		h := cfg.UIDHash
		cfg.AETLabel = func(aet string) string { return "ae-" + h.Hash("ae:"+aet) }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		log:       log,
		baseCtx:   ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*assoc]struct{}{},
	}
	s.gate = newGate(cfg.MaxAssociations, cfg.MaxAssociationsPerSource,
		cfg.MaxPendingConnections, max(4, 2*cfg.MaxAssociationsPerSource), cfg.EvictIdleAfter,
		func(n int) { s.Metrics.Active.Store(int64(n)) })
	return s, nil
}

// ListenAndServe listens on the TCP address and serves.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	s.startPool()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		pc, evicted := s.gate.enter(conn)
		if evicted != nil {
			s.Metrics.ConnectionsDropped.Add(1)
			evicted.Close()
		}
		if pc == nil {
			s.Metrics.ConnectionsDropped.Add(1)
			conn.Close()
			continue
		}
		s.wg.Add(1)
		go s.serveConn(conn, pc)
	}
}

// Shutdown stops accepting, lets every association finish the message in
// flight, then releases it (A-RELEASE-RQ from this side). When ctx expires
// first, the remaining associations are aborted.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutting.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	for a := range s.conns {
		a.draining.Store(true)
		a.kick.Store(true)
		_ = a.conn.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	s.gate.wake() // requests waiting for a slot are refused now
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		s.stopPool()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		s.stopPool()
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection at once; partial
// instances are discarded and unacknowledged.
func (s *Server) Close() error {
	s.shutting.Store(true)
	s.cancel()
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	for a := range s.conns {
		a.conn.Close()
	}
	s.mu.Unlock()
	s.gate.wake()
	go func() { s.wg.Wait(); s.stopPool() }()
	return nil
}

// startPool removes the temporary files a crashed receiver left behind
// and starts the pool of pre-created ones.
func (s *Server) startPool() {
	s.poolOnce.Do(func() {
		if n, err := removeStaleTemps(s.cfg.TempDir); err != nil {
			s.log.Warn("cannot clean the temporary directory", "err", err)
		} else if n > 0 {
			s.log.Info("removed unacknowledged partial instances left by a previous run", "files", n)
		}
		s.pool = newTempPool(s.cfg.TempDir, 8)
	})
}

func (s *Server) stopPool() {
	s.poolOnce.Do(func() {}) // no pool may start afterwards
	if s.pool != nil {
		s.pool.close()
	}
}

func (s *Server) track(a *assoc, on bool) {
	s.mu.Lock()
	if on {
		s.conns[a] = struct{}{}
		if s.shutting.Load() {
			a.draining.Store(true)
		}
	} else {
		delete(s.conns, a)
	}
	s.mu.Unlock()
}

func (s *Server) serveConn(conn net.Conn, pc *pconn) {
	defer s.wg.Done()
	defer s.gate.leave(pc)
	id := fmt.Sprintf("%08x", rand.Uint32())
	log := s.log.With("assoc", id, "remote", conn.RemoteAddr().String())
	a := newPendingAssoc(conn, s.cfg.MaxPDULength, log)
	a.id = id
	a.src = pc.src
	a.writeTimeout = s.cfg.WriteTimeout
	a.guard.timeout = max(s.cfg.MessageTimeout, 0)
	a.guard.minRate = max(s.cfg.MinRate, 0)
	a.guard.window = s.cfg.MinRateWindow
	s.track(a, true)
	defer s.track(a, false)
	defer conn.Close()
	defer s.gate.free(a)

	// ARTIM bounds the whole request, however slowly it trickles in.
	if err := conn.SetReadDeadline(time.Now().Add(s.cfg.ARTIMTimeout)); err != nil {
		return
	}
	if a.draining.Load() {
		return // Shutdown came before the deadline was set: its kick is lost
	}
	p, err := a.pr.next()
	if err != nil {
		log.Info("no association request", "err", err)
		var pe *PDUError
		if errors.As(err, &pe) {
			a.abortFor(err)
		}
		return
	}
	rq, ok := p.(*AssociateRQ)
	if !ok {
		log.Info("unexpected PDU instead of association request", "pdu", p.Type().String())
		a.abort(AbortSourceServiceProvider, AbortReasonUnexpectedPDU)
		return
	}
	a.calledAET, a.callingAET = rq.CalledAET, rq.CallingAET
	log = log.With("called_aet", s.cfg.AETLabel(rq.CalledAET), "calling_aet", s.cfg.AETLabel(rq.CallingAET))
	a.log = log
	info := &AssociationInfo{
		CalledAET: rq.CalledAET, CallingAET: rq.CallingAET, Remote: conn.RemoteAddr(),
		ImplementationClassUID: rq.UserInfo.ImplementationClassUID, ImplementationVersionName: rq.UserInfo.ImplementationVersionName,
	}
	var rej *Rejection
	switch {
	case !ValidAETitle(rq.CalledAET):
		rej = RejectCalledAET
	case !ValidAETitle(rq.CallingAET):
		rej = RejectCallingAET
	case s.shutting.Load():
		rej = RejectTemporaryCongestion
	case s.cfg.Admit != nil:
		rej = s.cfg.Admit(info)
	}
	var ac *AssociateAC
	var accepted []PresentationContext
	if rej == nil {
		ac, accepted, rej = negotiateAccept(rq, &s.cfg.SOPClasses, s.cfg.MaxPDULength)
	}
	if rej == nil {
		rej = s.takeSlot(a, pc)
	}
	if rej != nil {
		s.Metrics.AssociationsRejected.Add(1)
		log.Warn("association rejected", "reason", rej.reasonText())
		if err := a.sendPDU(rej.pdu()); err == nil {
			a.lingerClose(s.lingerFor())
		}
		return
	}
	s.gate.leave(pc) // a slot now bounds this connection
	if err := a.sendPDU(ac); err != nil {
		log.Info("sending A-ASSOCIATE-AC failed", "err", err)
		return
	}
	a.buffer()
	for i := range accepted {
		a.contexts[accepted[i].ID] = &accepted[i]
	}
	a.setMaxSend(rq.UserInfo.MaxPDULength)
	s.Metrics.AssociationsAccepted.Add(1)
	a.acceptedAt = time.Now()
	// One line per association at info: the closing one, with counts.
	log.Debug("association accepted", "proposed", len(rq.PresentationContexts), "accepted", len(accepted),
		"peer_max_pdu", rq.UserInfo.MaxPDULength, "peer_impl", rq.UserInfo.ImplementationVersionName)
	s.serveAssoc(a)
}

// takeSlot takes an association slot for a, releasing the longest idle
// association when the receiver (or a's source) is full, or waiting up to
// SlotWait.
func (s *Server) takeSlot(a *assoc, pc *pconn) *Rejection {
	s.gate.setWaiting(pc, true)
	defer s.gate.setWaiting(pc, false)
	deadline := time.Now()
	if s.cfg.SlotWait > 0 {
		deadline = deadline.Add(s.cfg.SlotWait)
	}
	victim, rej := s.gate.acquire(a, deadline, s.shutting.Load)
	if victim != nil {
		s.Metrics.AssociationsEvicted.Add(1)
		attrs := []any{"for_assoc", a.id}
		if since := victim.idleSince.Load(); since != 0 {
			attrs = append(attrs, "idle", time.Duration(monoNow()-since).Round(time.Millisecond).String())
		}
		victim.log.Info("releasing the longest idle association for a new request", attrs...)
		victim.evicted.Store(true)
		victim.draining.Store(true)
		victim.kick.Store(true)
		_ = victim.conn.SetReadDeadline(time.Now())
	}
	return rej
}

// serveAssoc runs the data transfer phase until release, abort or error.
func (s *Server) serveAssoc(a *assoc) {
	for {
		a.idleSince.Store(monoNow())
		pdv, other, err := a.nextPDV(s.cfg.IdleTimeout, true)
		a.idleSince.Store(0)
		if err != nil {
			switch {
			case errors.Is(err, errDraining):
				s.release(a)
			case isTimeout(err) && a.draining.Load() && !a.buffered():
				s.release(a)
			case isTimeout(err):
				a.log.Warn("idle timeout; aborting association", a.summary()...)
				s.Metrics.AssociationsAborted.Add(1)
				a.abort(AbortSourceServiceUser, 0)
			case errors.Is(err, io.EOF):
				a.log.Info("peer closed the connection without release", a.summary()...)
			default:
				a.log.Warn("association failed", append(a.summary(), "err", err)...)
				s.Metrics.AssociationsAborted.Add(1)
				a.abortFor(err)
			}
			return
		}
		if other != nil {
			switch other.(type) {
			case *ReleaseRQ:
				err := a.sendPDU(&ReleaseRP{})
				a.log.Info("association released", a.summary()...)
				s.gate.free(a) // the association is over, however long the peer lingers
				if err == nil {
					a.lingerClose(s.lingerFor())
				}
			case *Abort:
				s.Metrics.AssociationsAborted.Add(1)
				a.log.Info("association aborted by peer", a.summary()...)
			default:
				s.Metrics.AssociationsAborted.Add(1)
				a.log.Warn("unexpected PDU; aborting", append(a.summary(), "pdu", other.Type().String())...)
				a.abort(AbortSourceServiceProvider, AbortReasonUnexpectedPDU)
			}
			return
		}
		a.beginMessage(time.Now())
		err = s.handleMessage(a, pdv)
		a.endMessage()
		if err != nil {
			s.Metrics.AssociationsAborted.Add(1)
			switch {
			case errors.Is(err, ErrPeerAborted):
				a.log.Info("association aborted by peer during a message", a.summary()...)
			case errors.Is(err, ErrTooSlow), errors.Is(err, ErrMessageTimeout):
				a.log.Warn("peer too slow; aborting association", append(a.summary(), "err", err)...)
			default:
				a.log.Warn("association failed during a message", append(a.summary(), "err", err)...)
			}
			a.abortFor(err)
			return
		}
	}
}

// releaseWait bounds the wait for A-RELEASE-RP after a shutdown release.
const releaseWait = 3 * time.Second

// lingerFor is how long to wait for the peer to close after a final PDU:
// ARTIM, but no longer than releaseWait once shutting down.
func (s *Server) lingerFor() time.Duration {
	if s.shutting.Load() {
		return min(s.cfg.ARTIMTimeout, releaseWait)
	}
	return s.cfg.ARTIMTimeout
}

// release runs an acceptor-initiated release (graceful shutdown).
func (s *Server) release(a *assoc) {
	if !a.evicted.Load() { // an eviction was logged when decided
		a.log.Info("releasing association for shutdown", a.summary()...)
	}
	if err := a.sendPDU(&ReleaseRQ{}); err != nil {
		return
	}
	a.pdvs = nil
	// Some peers never answer a release they did not ask for (dcmtk
	// storescu waiting for a C-STORE-RSP ignores it and keeps the
	// connection): do not hold the shutdown for a full ARTIM period.
	deadline := time.Now().Add(min(s.cfg.ARTIMTimeout, releaseWait))
	for {
		p, err := a.readPDU(deadline)
		if err != nil {
			if isTimeout(err) && a.kick.Swap(false) && time.Now().Before(deadline) {
				continue
			}
			if isTimeout(err) {
				a.log.Info("no A-RELEASE-RP; aborting")
				a.abort(AbortSourceServiceUser, 0)
			}
			a.conn.Close()
			return
		}
		switch p.(type) {
		case *ReleaseRP, *Abort:
			a.conn.Close()
			return
		case *ReleaseRQ:
			// Release collision: answer and keep waiting for our answer.
			if err := a.sendPDU(&ReleaseRP{}); err != nil {
				return
			}
		default:
			// A message the peer sent before seeing our request: it is not
			// answered, so the peer does not count it as stored.
		}
	}
}

func (s *Server) handleMessage(a *assoc, first *PDV) error {
	cmd, pcid, err := a.readCommand(first, s.cfg.DataTimeout)
	if err != nil {
		return err
	}
	switch cmd.Field {
	case CStoreRQ:
		return s.handleStore(a, pcid, cmd)
	case CEchoRQ:
		if cmd.HasDataSet {
			if err := s.drain(a, pcid); err != nil {
				return err
			}
		}
		s.Metrics.Echoes.Add(1)
		return a.sendMessage(pcid, &Command{
			Field: CEchoRSP, MessageIDBeingRespondedTo: cmd.MessageID,
			AffectedSOPClassUID: VerificationSOPClass, Status: StatusSuccess,
		}, nil, 0)
	case CCancelRQ:
		return nil
	default:
		if cmd.HasDataSet {
			if err := s.drain(a, pcid); err != nil {
				return err
			}
		}
		if cmd.Field&0x8000 != 0 {
			return protoErr(AbortReasonUnexpectedParameter, "unexpected response 0x%04X", cmd.Field)
		}
		a.log.Info("unsupported DIMSE operation", "command", fmt.Sprintf("0x%04X", cmd.Field))
		return a.sendMessage(pcid, &Command{
			Field: cmd.Field | 0x8000, MessageIDBeingRespondedTo: cmd.MessageID,
			AffectedSOPClassUID: cmd.AffectedSOPClassUID, Status: StatusUnrecognizedOp,
		}, nil, 0)
	}
}

// drain reads and discards a data set.
func (s *Server) drain(a *assoc, pcid byte) error {
	for {
		pdv, other, err := a.nextPDV(s.cfg.DataTimeout, false)
		if err != nil {
			return err
		}
		if other != nil {
			return a.unexpected(other)
		}
		if pdv.Command || pdv.ContextID != pcid {
			return protoErr(AbortReasonUnexpectedParameter, "data set fragments interleaved with other PDVs")
		}
		if pdv.Last {
			return nil
		}
	}
}
