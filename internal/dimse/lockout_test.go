package dimse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
)

// The lock-out attacks of issue 14, each run while a well-behaved sender
// must get a C-STORE through within wellBehavedWithin. Where the design
// allows (per-source limits, slots taken late, idle eviction), the attack
// is configured not to time out during the test (ARTIM, idle timeout or
// rate window of a minute), so that the sender gets through while the
// attack is still holding what it could.

// wellBehavedWithin is the acceptance bound for a well-behaved sender.
const wellBehavedWithin = 5 * time.Second

// lockoutCap bounds the waits of these tests for what the server does on
// its own (a metric, an abort, a freed slot): a ceiling, not a budget;
// each wait ends when its event comes, however loaded the machine.
const lockoutCap = 2 * time.Minute

// attackIP is the loopback address of attacker i (127.0.1.1, ...); the
// well-behaved senders connect from 127.0.0.1.
func attackIP(i int) string { return fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250) }

// rawRequest sends rq from the local address ip ("": any) and returns the
// raw association and the answer. The connection is closed when the test
// ends.
func rawRequest(t *testing.T, addr, ip string, rq *AssociateRQ) (*assoc, PDU) {
	t.Helper()
	conn := dialFrom(t, addr, ip)
	a := newAssoc(conn, DefaultMaxPDULength, testLogger(t))
	if rq.ProtocolVersion == 0 {
		rq.ProtocolVersion = 1
	}
	if rq.ApplicationContext == "" {
		rq.ApplicationContext = ApplicationContextName
	}
	if rq.CalledAET == "" {
		rq.CalledAET = "AISEDGE"
	}
	if rq.CallingAET == "" {
		rq.CallingAET = "RAW"
	}
	if err := a.sendPDU(rq); err != nil {
		t.Fatal(err)
	}
	p, err := a.readPDU(time.Now().Add(lockoutCap))
	if err != nil {
		t.Fatal(err)
	}
	return a, p
}

// dialFrom opens a TCP connection to addr from the local address ip
// ("": any); it is closed when the test ends.
func dialFrom(t *testing.T, addr, ip string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: lockoutCap}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitFor polls cond until it holds, within a generous cap.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(lockoutCap)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, lockoutCap)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gateState is what the admission gate holds.
type gateState struct{ pending, active, activeBy, pendingBy int }

func (g *gate) state(src string) gateState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return gateState{pending: g.pending.Len(), active: g.active, activeBy: g.activeBy[src], pendingBy: g.pendingBy[src]}
}

// wellBehaved stores one instance with our client, then one with dcmtk
// storescu when installed, each from 127.0.0.1; each must be acknowledged
// within wellBehavedWithin of its start.
func wellBehaved(t *testing.T, srv *testServer) {
	t.Helper()
	fi := ctFile(t)
	ctxs, _ := ProposeFor([]*FileInstance{fi})
	before := len(srv.Store.all())
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), wellBehavedWithin)
	defer cancel()
	c, err := Dial(ctx, srv.Addr, DialConfig{CallingAET: "GOODSCU", CalledAET: "AISEDGE", Contexts: ctxs})
	if err != nil {
		t.Fatalf("well-behaved client: association: %v after %s", err, time.Since(start))
	}
	if st, err := c.StoreFile(ctx, fi); err != nil || st != StatusSuccess {
		t.Fatalf("well-behaved client: C-STORE status %04X: %v after %s", st, err, time.Since(start))
	}
	took := time.Since(start)
	c.Release()
	sent := 1
	t.Logf("well-behaved client: C-STORE acknowledged after %s", took.Round(time.Millisecond))
	if took > wellBehavedWithin {
		t.Errorf("well-behaved client took %s, more than %s", took, wellBehavedWithin)
	}
	if _, err := exec.LookPath("storescu"); err != nil {
		t.Logf("storescu not installed: only our client was tried")
	} else {
		start = time.Now()
		out, err := runTool(t, lockoutCap, "storescu", "-aet", "GOODSCU", "-aec", "AISEDGE", "127.0.0.1", srv.Port, fi.Path)
		took := time.Since(start)
		t.Logf("storescu: done after %s", took.Round(time.Millisecond))
		if err != nil {
			t.Fatalf("storescu: %v after %s\n%s", err, took, out)
		}
		if took > wellBehavedWithin {
			t.Errorf("storescu took %s, more than %s", took, wellBehavedWithin)
		}
		sent++
	}
	if got := len(srv.Store.all()) - before; got != sent {
		t.Errorf("%d instances stored, want %d", got, sent)
	}
}

// TestLockoutSilentConnections: 300 TCP connections that send nothing.
// They never take an association slot; one source may keep 16 of them
// pending, and from many sources the oldest pending ones are closed for
// newcomers. ARTIM is a minute: the attack holds for the whole test.
func TestLockoutSilentConnections(t *testing.T) {
	const n = 300
	t.Run("one-source", func(t *testing.T) {
		srv := startServer(t, func(c *ServerConfig) { c.ARTIMTimeout = time.Minute })
		for range n {
			dialFrom(t, srv.Addr, attackIP(0))
		}
		perSource := max(4, 2*srv.cfg.MaxAssociationsPerSource)
		waitFor(t, "over-limit connections closed", func() bool {
			return srv.Metrics.Snapshot().ConnectionsDropped == int64(n-perSource)
		})
		wellBehaved(t, srv)
		waitReleased(t, srv)
		if st := srv.gate.state(attackIP(0)); st.pendingBy != perSource || st.active != 0 {
			t.Errorf("attack no longer held: %+v", st)
		}
	})
	t.Run("many-sources", func(t *testing.T) {
		srv := startServer(t, func(c *ServerConfig) { c.ARTIMTimeout = time.Minute })
		for i := range n {
			dialFrom(t, srv.Addr, attackIP(i))
		}
		limit := srv.cfg.MaxPendingConnections
		waitFor(t, "oldest pending connections closed", func() bool {
			return srv.Metrics.Snapshot().ConnectionsDropped == int64(n-limit)
		})
		wellBehaved(t, srv)
		waitReleased(t, srv)
		// The sender's first connection pushed out one more; the second
		// found its room.
		if st := srv.gate.state(""); st.pending != limit-1 || st.active != 0 {
			t.Errorf("attack no longer held: %+v", st)
		}
	})
	t.Run("slot-taken-late", func(t *testing.T) {
		// Room for every silent connection: none is closed, and still
		// none holds a slot.
		srv := startServer(t, func(c *ServerConfig) {
			c.ARTIMTimeout = time.Minute
			c.MaxPendingConnections = 2 * n
		})
		for i := range n {
			dialFrom(t, srv.Addr, attackIP(i))
		}
		waitFor(t, "every connection pending", func() bool { return srv.gate.state("").pending == n })
		wellBehaved(t, srv)
		waitReleased(t, srv)
		if st, m := srv.gate.state(""), srv.Metrics.Snapshot(); st.pending != n || st.active != 0 || m.ConnectionsDropped != 0 {
			t.Errorf("gate %+v, %d dropped", st, m.ConnectionsDropped)
		}
	})
}

// waitReleased waits until the well-behaved client's association has
// given its slot back: the client's release and the server's bookkeeping
// are not ordered with the test's next look at the gate.
func waitReleased(t *testing.T, srv *testServer) {
	t.Helper()
	waitFor(t, "the well-behaved association released", func() bool { return srv.gate.state("").active == 0 })
}

// attackAssocs opens n associations from each of the given sources, one
// after the other, and returns those accepted (a CT storage context on
// ID 1); rejected ones are closed.
func attackAssocs(t *testing.T, addr string, sources []string, n int) []*assoc {
	t.Helper()
	var out []*assoc
	for _, ip := range sources {
		for range n {
			a, p := rawRequest(t, addr, ip, &AssociateRQ{PresentationContexts: []PresentationContextRQ{
				{ID: 1, AbstractSyntax: ctImageStorage, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}},
			}})
			switch r := p.(type) {
			case *AssociateAC:
				a.contexts[1] = &PresentationContext{ID: 1, AbstractSyntax: ctImageStorage, TransferSyntax: dicom.ExplicitVRLittleEndian}
				a.setMaxSend(r.UserInfo.MaxPDULength)
				out = append(out, a)
			case *AssociateRJ:
				if rj := (Rejection{r.Result, r.Source, r.Reason}); rj != *RejectLocalLimitExceeded {
					t.Fatalf("attack association rejected with %v", &rj)
				}
				a.conn.Close()
			default:
				t.Fatalf("attack association answered with %v", p.Type())
			}
		}
	}
	return out
}

func sources(n int) []string {
	var s []string
	for i := range n {
		s = append(s, attackIP(i))
	}
	return s
}

// TestLockoutIdleAssociations: MaxAssociations accepted associations that
// send nothing. The idle timeout is a minute: from one source the
// per-source limit leaves room; from several the longest idle one is
// released for the newcomer.
func TestLockoutIdleAssociations(t *testing.T) {
	t.Run("one-source", func(t *testing.T) {
		srv := startServer(t, func(c *ServerConfig) {
			c.IdleTimeout = time.Minute
			c.EvictIdleAfter, c.SlotWait = -1, -1 // the per-source limit alone
		})
		max := srv.cfg.MaxAssociations
		held := attackAssocs(t, srv.Addr, sources(1), max)
		if len(held) != srv.cfg.MaxAssociationsPerSource {
			t.Fatalf("one source holds %d associations, want %d", len(held), srv.cfg.MaxAssociationsPerSource)
		}
		wellBehaved(t, srv)
		if st := srv.gate.state(attackIP(0)); st.activeBy != len(held) {
			t.Errorf("attack no longer held: %+v", st)
		}
	})
	t.Run("many-sources", func(t *testing.T) {
		srv := startServer(t, func(c *ServerConfig) {
			c.IdleTimeout = time.Minute
			c.EvictIdleAfter = 200 * time.Millisecond
		})
		per := srv.cfg.MaxAssociationsPerSource
		held := attackAssocs(t, srv.Addr, sources(srv.cfg.MaxAssociations/per), per)
		if len(held) != srv.cfg.MaxAssociations {
			t.Fatalf("attack holds %d associations, want %d", len(held), srv.cfg.MaxAssociations)
		}
		wellBehaved(t, srv)
		m := srv.Metrics.Snapshot()
		if m.AssociationsEvicted < 1 || m.AssociationsEvicted > 2 {
			t.Errorf("%d associations evicted, want one per well-behaved sender", m.AssociationsEvicted)
		}
		// One attacker association, among the oldest, was released.
		if got := releasedAmong(t, held, 1); got[0] >= len(held)/2 {
			t.Errorf("association %d of %d released, not one of the longest idle", got[0], len(held))
		}
	})
	t.Run("same-source", func(t *testing.T) {
		// A source at its own limit releases its own idle association,
		// never another source's.
		srv := startServer(t, func(c *ServerConfig) {
			c.MaxAssociations, c.MaxAssociationsPerSource = 4, 2
			c.IdleTimeout = time.Minute
			c.EvictIdleAfter = 100 * time.Millisecond
		})
		other := attackAssocs(t, srv.Addr, []string{attackIP(1)}, 1)
		mine := attackAssocs(t, srv.Addr, []string{attackIP(0)}, 3)
		if len(other) != 1 || len(mine) != 3 {
			t.Fatalf("accepted %d and %d, want 1 and 3", len(other), len(mine))
		}
		if got := releasedAmong(t, mine, 1); got[0] == 2 {
			t.Errorf("the new association was released, not an idle one")
		}
		if _, err := other[0].readPDU(time.Now().Add(200 * time.Millisecond)); !isTimeout(err) {
			t.Errorf("other source's association: %v, want it left alone", err)
		}
		if m := srv.Metrics.Snapshot(); m.AssociationsEvicted != 1 {
			t.Errorf("%d evicted, want 1", m.AssociationsEvicted)
		}
	})
}

// releasedAmong waits until n of the associations have received
// A-RELEASE-RQ and returns their indexes.
func releasedAmong(t *testing.T, as []*assoc, n int) []int {
	t.Helper()
	var got []int
	done := make([]bool, len(as))
	deadline := time.Now().Add(lockoutCap)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d associations released within %s, want %d", len(got), len(as), lockoutCap, n)
		}
		for i, a := range as {
			if done[i] {
				continue
			}
			p, err := a.readPDU(time.Now().Add(5 * time.Millisecond))
			switch {
			case isTimeout(err):
			case err != nil:
				t.Fatalf("association %d: %v", i, err)
			case p.Type() == TypeReleaseRQ:
				done[i] = true
				got = append(got, i)
			default:
				t.Fatalf("association %d: %v, want A-RELEASE-RQ or nothing", i, p.Type())
			}
		}
	}
	return got
}

// dripper trickles a C-STORE: the command, then a P-DATA-TF PDU promising
// 16 KiB of data set, of which one byte is written every interval.
type dripper struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func drip(t *testing.T, conns []*assoc, interval time.Duration) *dripper {
	t.Helper()
	for i, a := range conns {
		cmd := &Command{Field: CStoreRQ, MessageID: 1, AffectedSOPClassUID: ctImageStorage,
			AffectedSOPInstanceUID: fmt.Sprintf("1.2.3.4.%d", i+1), HasDataSet: true}
		b := a.appendFragments(nil, 1, true, cmd.Encode(nil), true)
		n := uint32(16 << 10)
		b = appendHeader(b, TypePDataTF, n+6)
		b = append(b, byte((n+2)>>24), byte((n+2)>>16), byte((n+2)>>8), byte(n+2), 1, pdvFlags(false, true))
		if err := a.write(b); err != nil {
			t.Fatal(err)
		}
	}
	d := &dripper{stop: make(chan struct{})}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-tick.C:
			}
			for _, a := range conns {
				_ = a.write([]byte{0})
			}
		}
	}()
	t.Cleanup(func() { close(d.stop); d.wg.Wait() })
	return d
}

// TestLockoutDripFeed: MaxAssociations C-STOREs that drip one byte at a
// time. From one source the per-source limit leaves room (rate window of a
// minute: the drips are still held); from several the drips fall under
// the minimum rate, are aborted after one window, and the waiting request
// takes a freed slot.
func TestLockoutDripFeed(t *testing.T) {
	t.Run("one-source", func(t *testing.T) {
		srv := startServer(t, func(c *ServerConfig) {
			c.MinRateWindow = time.Minute
			c.SlotWait = -1
		})
		held := attackAssocs(t, srv.Addr, sources(1), srv.cfg.MaxAssociations)
		if len(held) != srv.cfg.MaxAssociationsPerSource {
			t.Fatalf("one source holds %d associations, want %d", len(held), srv.cfg.MaxAssociationsPerSource)
		}
		drip(t, held, 200*time.Millisecond)
		wellBehaved(t, srv)
		if st, m := srv.gate.state(attackIP(0)), srv.Metrics.Snapshot(); st.activeBy != len(held) || m.AssociationsAborted != 0 {
			t.Errorf("attack no longer held: %+v, %d aborted", st, m.AssociationsAborted)
		}
	})
	t.Run("many-sources", func(t *testing.T) {
		srv := startServer(t, func(c *ServerConfig) {
			c.MinRateWindow = time.Second
			c.SlotWait = lockoutCap // a cap: the drips go after one window
		})
		per := srv.cfg.MaxAssociationsPerSource
		held := attackAssocs(t, srv.Addr, sources(srv.cfg.MaxAssociations/per), per)
		if len(held) != srv.cfg.MaxAssociations {
			t.Fatalf("attack holds %d associations, want %d", len(held), srv.cfg.MaxAssociations)
		}
		drip(t, held, 200*time.Millisecond)
		wellBehaved(t, srv)
		waitFor(t, "every drip aborted", func() bool {
			return srv.Metrics.Snapshot().AssociationsAborted == int64(len(held))
		})
		for _, a := range held {
			if last := expectEnd(t, a, lockoutCap); last != TypeAbort {
				t.Errorf("drip ended with %v, want A-ABORT", last)
			}
		}
		if m := srv.Metrics.Snapshot(); m.StoresFailed != int64(len(held)) {
			t.Errorf("%d stores failed, want %d", m.StoresFailed, len(held))
		}
	})
}

// TestMinRate: a C-STORE arriving at a modest steady rate is not
// disturbed; one dripping, or one that never ends, is aborted and its
// partial instance dropped.
func TestMinRate(t *testing.T) {
	srv := startServer(t, func(c *ServerConfig) {
		c.MinRate = 256
		c.MinRateWindow = 2 * time.Second
	})
	t.Run("steady", func(t *testing.T) {
		// 512 bytes every 40 ms (12.5 KiB/s nominal; 512 bytes in each
		// 2 s window suffice) for about 3 s: more than one window.
		fi := ctFile(t)
		a, _ := rawRQ(t, srv.Addr, &AssociateRQ{PresentationContexts: []PresentationContextRQ{
			{ID: 1, AbstractSyntax: fi.SOPClassUID, TransferSyntaxes: []string{fi.TransferSyntaxUID}},
		}})
		pcid := byte(1)
		inst := ctInstanceBytes(t)
		cmd := &Command{Field: CStoreRQ, MessageID: 1, AffectedSOPClassUID: fi.SOPClassUID, AffectedSOPInstanceUID: fi.SOPInstanceUID, HasDataSet: true}
		if err := a.write(a.appendFragments(nil, pcid, true, cmd.Encode(nil), true)); err != nil {
			t.Fatal(err)
		}
		const chunk = 512
		start := time.Now()
		for off := 0; off < len(inst); off += chunk {
			end := min(off+chunk, len(inst))
			if err := a.write(a.appendFragments(nil, pcid, false, inst[off:end], end == len(inst))); err != nil {
				t.Fatalf("after %s: %v", time.Since(start), err)
			}
			if end < len(inst) {
				time.Sleep(40 * time.Millisecond)
			}
		}
		st := readStoreRSP(t, a)
		if st != StatusSuccess {
			t.Errorf("status %04X", st)
		}
		t.Logf("%d bytes in %s", len(inst), time.Since(start).Round(time.Millisecond))
	})
	t.Run("drip", func(t *testing.T) {
		held := attackAssocs(t, srv.Addr, sources(1), 1)
		start := time.Now()
		drip(t, held, 100*time.Millisecond)
		if last := expectEnd(t, held[0], lockoutCap); last != TypeAbort {
			t.Errorf("last PDU %v, want A-ABORT", last)
		}
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("aborted after %s, before one rate window", d)
		}
	})
	t.Run("message-timeout", func(t *testing.T) {
		srv := startServer(t, func(c *ServerConfig) { c.MessageTimeout = time.Second })
		a, pcid := ctContext(t, srv.Addr)
		start := time.Now()
		sendPartial(t, a, pcid, 1)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // fast, but never the last fragment
			defer close(done)
			chunk := a.appendFragments(nil, pcid, false, make([]byte, 16<<10), false)
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if a.write(chunk) != nil {
					return
				}
			}
		}()
		defer func() { close(stop); <-done }()
		if last := expectEnd(t, a, lockoutCap); last != TypeAbort {
			t.Errorf("last PDU %v, want A-ABORT", last)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("aborted after %s, before the message timeout", d)
		}
	})
	if got := len(srv.Store.all()); got != 1 {
		t.Errorf("%d instances stored, want the steady one", got)
	}
}

// ctInstanceBytes is the data set of the CT sample.
func ctInstanceBytes(t *testing.T) []byte {
	t.Helper()
	sf, ok := loadSource(ctFile(t).Path)
	if !ok {
		t.Fatal("CT sample not loadable")
	}
	return sf.Data
}

// readStoreRSP reads a C-STORE-RSP on a raw association.
func readStoreRSP(t *testing.T, a *assoc) uint16 {
	t.Helper()
	pdv, other, err := a.nextPDV(lockoutCap, false)
	if err != nil || other != nil {
		t.Fatalf("waiting for C-STORE-RSP: %v %v", other, err)
	}
	rsp, _, err := a.readCommand(pdv, lockoutCap)
	if err != nil {
		t.Fatal(err)
	}
	return rsp.Status
}

// TestAETitleRepertoire: AE titles outside the default repertoire (PS3.5:
// no control characters, no backslash, ISO 646 G0 only) are refused with
// the reason naming the title; trailing NULs are padding.
func TestAETitleRepertoire(t *testing.T) {
	srv := startServer(t, nil)
	bad := []string{"CT\x00X", "\x00CT", "\x1b[31mRED", "A\\B", "TAB\tAE", "CR\rLF\n", "CAF\xc9", "DEL\x7f"}
	for _, aet := range bad {
		_, err := Dial(context.Background(), srv.Addr, DialConfig{CalledAET: aet})
		var rj *Rejection
		if !errors.As(err, &rj) || *rj != *RejectCalledAET {
			t.Errorf("called %q: %v, want %v", aet, err, RejectCalledAET)
		}
		_, err = Dial(context.Background(), srv.Addr, DialConfig{CalledAET: "AISEDGE", CallingAET: aet})
		if !errors.As(err, &rj) || *rj != *RejectCallingAET {
			t.Errorf("calling %q: %v, want %v", aet, err, RejectCallingAET)
		}
	}
	for _, aet := range []string{"CT 1", " LEADING", "CT\x00\x00\x00", "ALL-OF_16.CHARS!", "~`@#$%^&*()[]{}"} {
		c, err := Dial(context.Background(), srv.Addr, DialConfig{CalledAET: aet, CallingAET: aet})
		if err != nil {
			t.Errorf("%q: %v", aet, err)
			continue
		}
		c.Release()
	}
	// dcmtk sees the rejection as such.
	if _, err := exec.LookPath("echoscu"); err == nil {
		out, err := runTool(t, lockoutCap, "echoscu", "-aec", "A\\B", "127.0.0.1", srv.Port)
		if err == nil || !strings.Contains(out, "Called AE Title Not Recognized") {
			t.Errorf("echoscu: %v\n%s", err, out)
		}
	}
	if m := srv.Metrics.Snapshot(); m.AssociationsAccepted != 5 {
		t.Errorf("%d associations accepted, want 5", m.AssociationsAccepted)
	}
}

func TestValidAETitle(t *testing.T) {
	for aet, want := range map[string]bool{
		"": true, "AISEDGE": true, "CT 1": true, "0123456789ABCDEF": true, "0123456789ABCDEFG": false,
		"A\\B": false, "A\x00": false, "\x1b": false, "\x7f": false, "\xe9": false, "a-z_.~": true,
	} {
		if got := ValidAETitle(aet); got != want {
			t.Errorf("ValidAETitle(%q) = %v", aet, got)
		}
	}
}

// TestDuplicateContextIDs: a request proposing two contexts under one ID
// is rejected whole; otherwise every proposed ID gets exactly one answer.
func TestDuplicateContextIDs(t *testing.T) {
	srv := startServer(t, nil)
	ctx := func(id byte, as string) PresentationContextRQ {
		return PresentationContextRQ{ID: id, AbstractSyntax: as, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}}
	}
	_, p := rawRequest(t, srv.Addr, "", &AssociateRQ{ProtocolVersion: 1, ApplicationContext: ApplicationContextName,
		CalledAET: "AISEDGE", CallingAET: "RAW",
		PresentationContexts: []PresentationContextRQ{ctx(1, VerificationSOPClass), ctx(3, ctImageStorage), ctx(1, ctImageStorage)}})
	rj, ok := p.(*AssociateRJ)
	if !ok {
		t.Fatalf("got %v, want A-ASSOCIATE-RJ", p.Type())
	}
	if got := (Rejection{rj.Result, rj.Source, rj.Reason}); got != *RejectProviderNoReason {
		t.Errorf("rejection %v, want %v", &got, RejectProviderNoReason)
	}
	// Distinct IDs, an even one among them: one answer each.
	_, ac := rawRQ(t, srv.Addr, &AssociateRQ{PresentationContexts: []PresentationContextRQ{
		ctx(1, VerificationSOPClass), ctx(2, ctImageStorage), ctx(3, ctImageStorage)}})
	seen := map[byte]int{}
	for _, pc := range ac.PresentationContexts {
		seen[pc.ID]++
	}
	if len(ac.PresentationContexts) != 3 || seen[1] != 1 || seen[2] != 1 || seen[3] != 1 {
		t.Errorf("answers %+v", ac.PresentationContexts)
	}
}

// TestLogComponentOnce: the server logs with the logger it is given, so a
// caller's component=dimse appears once per line.
func TestLogComponentOnce(t *testing.T) {
	var buf syncBuffer
	srv := startServer(t, func(c *ServerConfig) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "dimse")
	})
	c := dialT(t, srv.Addr, DialConfig{})
	if err := c.Echo(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Release()
	waitFor(t, "release logged", func() bool { return strings.Contains(buf.String(), "association released") })
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for _, l := range lines {
		if n := strings.Count(l, `"component":`); n != 1 {
			t.Errorf("%d component attributes: %s", n, l)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["component"] != "dimse" {
			t.Errorf("line %s: %v", l, err)
		}
	}
	if len(lines) < 2 {
		t.Errorf("only %d log lines", len(lines))
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
