package dimse

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/route"
)

const ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"

// admitFromTable adapts a routing table like the receive command does.
func admitFromTable(tab *route.Table) func(*AssociationInfo) *Rejection {
	return func(info *AssociationInfo) *Rejection {
		_, err := tab.Admit(info.CalledAET, info.CallingAET, info.Remote)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, route.ErrUnknownCalledAET):
			return RejectCalledAET
		case errors.Is(err, route.ErrCallingAETNotAllowed):
			return RejectCallingAET
		default:
			return RejectNoReason
		}
	}
}

func dialT(t *testing.T, addr string, cfg DialConfig) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

func ctFile(t *testing.T) *FileInstance {
	t.Helper()
	fi, err := ReadFileInstance(filepath.Join(testdataDir, "pydicom_CT_small.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func TestUnknownCalledAET(t *testing.T) {
	tab, err := route.Parse([]byte(`{"AETMap":{"CT1":{"project":"P"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("quarantine", func(t *testing.T) {
		srv := startServer(t, func(c *ServerConfig) { c.Admit = admitFromTable(tab) })
		fi := ctFile(t)
		ctxs, _ := ProposeFor([]*FileInstance{fi})
		c := dialT(t, srv.Addr, DialConfig{CalledAET: "NOBODY", Contexts: ctxs})
		if st, err := c.StoreFile(context.Background(), fi); err != nil || st != 0 {
			t.Fatalf("store: %v %v", st, err)
		}
		c.Release()
		got := srv.Store.all()
		if len(got) != 1 || got[0].CalledAET != "NOBODY" {
			t.Fatalf("received %+v", got)
		}
		if _, ok := tab.Lookup(got[0].CalledAET); ok {
			t.Error("unknown AET has a route")
		}
	})
	t.Run("reject", func(t *testing.T) {
		rt := *tab
		rt.Unknown = route.Reject
		srv := startServer(t, func(c *ServerConfig) { c.Admit = admitFromTable(&rt) })
		_, err := Dial(context.Background(), srv.Addr, DialConfig{CalledAET: "NOBODY"})
		var rj *Rejection
		if !errors.As(err, &rj) || *rj != *RejectCalledAET {
			t.Fatalf("Dial: %v, want %v", err, RejectCalledAET)
		}
		c := dialT(t, srv.Addr, DialConfig{CalledAET: "CT1"})
		if err := c.Echo(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.Release()
		// A real peer sees the same rejection.
		out, err := runTool(t, patience, "echoscu", "-aec", "NOBODY", "127.0.0.1", srv.Port)
		if err == nil || !strings.Contains(out, "Called AE Title Not Recognized") {
			t.Errorf("echoscu: %v\n%s", err, out)
		}
	})
	t.Run("calling-and-source-lists", func(t *testing.T) {
		rt := *tab
		rt.AllowCallingAETs = []string{"MOD1"}
		srv := startServer(t, func(c *ServerConfig) { c.Admit = admitFromTable(&rt) })
		_, err := Dial(context.Background(), srv.Addr, DialConfig{CalledAET: "CT1", CallingAET: "INTRUDER"})
		var rj *Rejection
		if !errors.As(err, &rj) || *rj != *RejectCallingAET {
			t.Fatalf("Dial: %v", err)
		}
		dialT(t, srv.Addr, DialConfig{CalledAET: "CT1", CallingAET: "MOD1"}).Release()
		rt2 := *tab
		p, _ := route.ParseSource("10.0.0.0/8")
		rt2.AllowSources = append(rt2.AllowSources, p)
		srv2 := startServer(t, func(c *ServerConfig) { c.Admit = admitFromTable(&rt2) })
		if _, err := Dial(context.Background(), srv2.Addr, DialConfig{CalledAET: "CT1"}); !errors.As(err, &rj) {
			t.Fatalf("Dial from a disallowed source: %v", err)
		}
	})
}

func TestConcurrencyLimit(t *testing.T) {
	// The plain limit: no eviction, no wait (see lockout_test.go for them).
	srv := startServer(t, func(c *ServerConfig) {
		c.MaxAssociations, c.MaxAssociationsPerSource = 2, 2
		c.EvictIdleAfter, c.SlotWait = -1, -1
	})
	c1 := dialT(t, srv.Addr, DialConfig{})
	c2 := dialT(t, srv.Addr, DialConfig{})
	_, err := Dial(context.Background(), srv.Addr, DialConfig{})
	var rj *Rejection
	if !errors.As(err, &rj) || *rj != *RejectLocalLimitExceeded {
		t.Fatalf("third association: %v, want %v", err, RejectLocalLimitExceeded)
	}
	if err := c1.Echo(context.Background()); err != nil {
		t.Fatal(err)
	}
	c1.Release()
	c2.Release()
	// A freed slot is usable again (once the server has seen the
	// releases).
	deadline := time.Now().Add(patience)
	for {
		c, err := Dial(context.Background(), srv.Addr, DialConfig{})
		if err == nil {
			c.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawRQ proposes contexts and returns the raw association and the AC.
func rawRQ(t *testing.T, addr string, rq *AssociateRQ) (*assoc, *AssociateAC) {
	t.Helper()
	a, p := rawRequest(t, addr, "", rq)
	ac, ok := p.(*AssociateAC)
	if !ok {
		t.Fatalf("got %v, want A-ASSOCIATE-AC", p.Type())
	}
	for _, pc := range ac.PresentationContexts {
		if pc.Result == ResultAcceptance {
			a.contexts[pc.ID] = &PresentationContext{ID: pc.ID, TransferSyntax: pc.TransferSyntax}
		}
	}
	a.setMaxSend(ac.UserInfo.MaxPDULength)
	return a, ac
}

func TestNegotiationResults(t *testing.T) {
	srv := startServer(t, nil)
	jpegLossless := "1.2.840.10008.1.2.4.70"
	rq := &AssociateRQ{
		PresentationContexts: []PresentationContextRQ{
			{ID: 1, AbstractSyntax: ctImageStorage, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian, jpegLossless, dicom.ImplicitVRLittleEndian}},
			{ID: 3, AbstractSyntax: ctImageStorage, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian, dicom.ExplicitVRLittleEndian}},
			{ID: 5, AbstractSyntax: ctImageStorage, TransferSyntaxes: []string{dicom.ExplicitVRBigEndian}},
			{ID: 7, AbstractSyntax: "1.2.840.10008.5.1.4.1.2.1.1", TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}, // Q/R FIND
			{ID: 9, AbstractSyntax: ctImageStorage, TransferSyntaxes: []string{"1.2.3.4.5"}},
			{ID: 11, AbstractSyntax: "1.3.12.2.1107.5.9.1", TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}}, // Siemens CSA non-image
			{ID: 13, AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}},
			{ID: 15, AbstractSyntax: "1.2.840.10008.5.1.4.1.1.5", TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}, // retired NM storage
			{ID: 17, AbstractSyntax: ctImageStorage, TransferSyntaxes: []string{dicom.DeflatedExplicitVRLittleEndian, dicom.ExplicitVRLittleEndian}},
		},
		UserInfo: UserInfo{
			MaxPDULength: 32768, ImplementationClassUID: "1.2.3", AsyncOps: &[2]uint16{5, 5},
			RoleSelections: []RoleSelection{{SOPClassUID: ctImageStorage, SCU: true, SCP: true}},
			ExtendedNeg:    []ExtendedNegotiation{{SOPClassUID: ctImageStorage, Info: []byte{1}}},
			UserIdentity:   &UserIdentity{Type: 1, ResponseWanted: true, Primary: []byte("bob")},
		},
	}
	_, ac := rawRQ(t, srv.Addr, rq)
	want := map[byte]struct {
		res byte
		ts  string
	}{
		1: {ResultAcceptance, jpegLossless}, 3: {ResultAcceptance, dicom.ExplicitVRLittleEndian},
		5: {ResultAcceptance, dicom.ExplicitVRBigEndian}, 7: {ResultAbstractSyntaxNotSupported, ""},
		9: {ResultTransferSyntaxesNotSupported, ""}, 11: {ResultAcceptance, dicom.ExplicitVRLittleEndian},
		13: {ResultAcceptance, dicom.ImplicitVRLittleEndian}, 15: {ResultAcceptance, dicom.ImplicitVRLittleEndian},
		17: {ResultAcceptance, dicom.DeflatedExplicitVRLittleEndian},
	}
	if len(ac.PresentationContexts) != len(want) {
		t.Fatalf("%d results", len(ac.PresentationContexts))
	}
	for _, pc := range ac.PresentationContexts {
		w := want[pc.ID]
		if pc.Result != w.res || (w.res == ResultAcceptance && pc.TransferSyntax != w.ts) {
			t.Errorf("context %d: result %d ts %s, want %d %s", pc.ID, pc.Result, pc.TransferSyntax, w.res, w.ts)
		}
	}
	if ac.UserInfo.MaxPDULength < 128<<10 {
		t.Errorf("offered max PDU %d < 128 KiB", ac.UserInfo.MaxPDULength)
	}
	if ac.UserInfo.AsyncOps == nil || *ac.UserInfo.AsyncOps != [2]uint16{1, 1} {
		t.Errorf("async ops answer %v", ac.UserInfo.AsyncOps)
	}
	if len(ac.UserInfo.RoleSelections) != 1 || ac.UserInfo.RoleSelections[0].SCP {
		t.Errorf("role selection answer %+v", ac.UserInfo.RoleSelections)
	}
	if ac.UserInfo.ImplementationClassUID == "" || ac.CalledAET != "AISEDGE" || ac.CallingAET != "RAW" {
		t.Errorf("AC header/user info: %+v", ac)
	}

	// A private class is refused when private classes are not accepted.
	srv2 := startServer(t, func(c *ServerConfig) { c.SOPClasses.RejectPrivate = true })
	_, ac = rawRQ(t, srv2.Addr, &AssociateRQ{PresentationContexts: []PresentationContextRQ{
		{ID: 1, AbstractSyntax: "1.3.12.2.1107.5.9.1", TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}},
	}})
	if ac.PresentationContexts[0].Result != ResultAbstractSyntaxNotSupported {
		t.Errorf("private class with RejectPrivate: result %d", ac.PresentationContexts[0].Result)
	}
}

// sendPartial starts a C-STORE of a large data set and sends only part of
// it (n PDVs of 16 KiB).
func sendPartial(t *testing.T, a *assoc, pcid byte, n int) {
	t.Helper()
	cmd := &Command{Field: CStoreRQ, MessageID: 1, AffectedSOPClassUID: ctImageStorage, AffectedSOPInstanceUID: "1.2.3.4.5.6.7", HasDataSet: true}
	b := a.appendFragments(nil, pcid, true, cmd.Encode(nil), true)
	chunk := make([]byte, 16<<10)
	for i := 0; i < n; i++ {
		b = a.appendFragments(b, pcid, false, chunk, false)
	}
	if err := a.write(b); err != nil {
		t.Fatal(err)
	}
}

func ctContext(t *testing.T, addr string) (*assoc, byte) {
	a, ac := rawRQ(t, addr, &AssociateRQ{PresentationContexts: []PresentationContextRQ{
		{ID: 1, AbstractSyntax: ctImageStorage, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}},
	}})
	if ac.PresentationContexts[0].Result != ResultAcceptance {
		t.Fatal("CT context refused")
	}
	return a, 1
}

// expectEnd reads until the server ends the association and reports the
// last PDU type seen (0 for none). No P-DATA (no response) is allowed.
func expectEnd(t *testing.T, a *assoc, within time.Duration) PDUType {
	t.Helper()
	var last PDUType
	for {
		p, err := a.readPDU(time.Now().Add(within))
		if err != nil {
			if isTimeout(err) {
				t.Fatalf("association still open after %s", within)
			}
			return last
		}
		if p.Type() == TypePDataTF {
			t.Fatal("server answered a message that should not be acknowledged")
		}
		last = p.Type()
	}
}

// assertNothingStored checks that no instance arrived and no temporary
// file is left (the cleanup of startServer checks the temp dir again).
func assertNothingStored(t *testing.T, srv *testServer) {
	t.Helper()
	if n := len(srv.Store.all()); n != 0 {
		t.Errorf("%d instances stored", n)
	}
	deadline := time.Now().Add(patience)
	for {
		// Empty files are the receiver's pre-created spares.
		var left []string
		all, _ := filepath.Glob(filepath.Join(srv.Dir, "tmp", "*"))
		for _, p := range all {
			if st, err := os.Stat(p); err == nil && st.Size() > 0 {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporary files left: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stored, _ := filepath.Glob(filepath.Join(srv.Dir, "store", "*"))
	if len(stored) != 0 {
		t.Errorf("files in the store: %v", stored)
	}
}

func TestAbortMidInstance(t *testing.T) {
	srv := startServer(t, nil)
	a, pcid := ctContext(t, srv.Addr)
	sendPartial(t, a, pcid, 64) // 1 MiB of an instance that never ends
	time.Sleep(100 * time.Millisecond)
	a.abort(AbortSourceServiceUser, 0)
	waitMetric(t, func() bool { return srv.Metrics.Snapshot().AssociationsAborted == 1 })
	assertNothingStored(t, srv)

	// The same when the TCP connection just drops.
	a, pcid = ctContext(t, srv.Addr)
	sendPartial(t, a, pcid, 8)
	a.conn.Close()
	waitMetric(t, func() bool { return srv.Metrics.Snapshot().StoresFailed == 2 })
	assertNothingStored(t, srv)
}

func waitMetric(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStalledPeer(t *testing.T) {
	// ARTIM stays at its default here: a short one could end an
	// association whose request the test was slow to send.
	srv := startServer(t, func(c *ServerConfig) {
		c.DataTimeout = 300 * time.Millisecond
		c.IdleTimeout = 400 * time.Millisecond
	})
	t.Run("mid-instance", func(t *testing.T) {
		a, pcid := ctContext(t, srv.Addr)
		sendPartial(t, a, pcid, 4)
		if last := expectEnd(t, a, patience); last != TypeAbort {
			t.Errorf("last PDU %v, want A-ABORT", last)
		}
		assertNothingStored(t, srv)
	})
	t.Run("idle", func(t *testing.T) {
		a, _ := ctContext(t, srv.Addr)
		start := time.Now()
		if last := expectEnd(t, a, patience); last != TypeAbort {
			t.Errorf("last PDU %v, want A-ABORT", last)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("aborted after %s, before the idle timeout", d)
		}
	})
	t.Run("no-request", func(t *testing.T) {
		srv := startServer(t, func(c *ServerConfig) { c.ARTIMTimeout = 300 * time.Millisecond })
		conn, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(patience))
		if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("ARTIM: read %v, want EOF", err)
		}
	})
	t.Run("half-pdu", func(t *testing.T) {
		a, _ := ctContext(t, srv.Addr)
		a.write([]byte{4, 0, 0, 0, 1, 0, 0, 0}) // P-DATA header promising 256 bytes
		expectEnd(t, a, patience)
	})
}

func TestMalformedPDUs(t *testing.T) {
	srv := startServer(t, nil)
	hdr := func(typ byte, n uint32, body ...byte) []byte {
		return append([]byte{typ, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
	}
	cases := []struct {
		name        string
		afterAssoc  bool
		send        []byte
		wantAbort   bool
		wantReason  AbortReason
		checkReason bool
	}{
		{"garbage first", false, []byte("GET / HTTP/1.1\r\n\r\n"), true, AbortReasonUnrecognizedPDU, true},
		{"P-DATA first", false, hdr(4, 8, 0, 0, 0, 4, 1, 3, 0, 0), true, AbortReasonUnexpectedPDU, true},
		{"huge RQ", false, hdr(1, 1<<30), true, AbortReasonInvalidParameter, true},
		{"short RQ", false, hdr(1, 10, make([]byte, 10)...), true, AbortReasonInvalidParameter, true},
		{"unknown PDU", true, hdr(9, 4, 0, 0, 0, 0), true, AbortReasonUnrecognizedPDU, true},
		{"P-DATA over max", true, hdr(4, DefaultMaxPDULength+1), true, AbortReasonInvalidParameter, true},
		{"PDV overruns", true, hdr(4, 8, 0, 0, 1, 0, 1, 3, 0, 0), true, AbortReasonInvalidParameter, true},
		{"unaccepted context", true, hdr(4, 8, 0, 0, 0, 4, 7, 3, 0, 0), true, AbortReasonInvalidParameter, true},
		{"bad command set", true, hdr(4, 14, 0, 0, 0, 10, 1, 3, 8, 0, 0x10, 0, 0xFF, 0, 0, 0), true, AbortReasonInvalidParameter, true},
		{"data before command", true, hdr(4, 8, 0, 0, 0, 4, 1, 2, 0, 0), true, AbortReasonUnexpectedParameter, true},
		{"second RQ", true, hdr(1, 68, make([]byte, 68)...), true, AbortReasonUnexpectedPDU, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a *assoc
			if c.afterAssoc {
				a, _ = ctContext(t, srv.Addr)
			} else {
				conn, err := net.Dial("tcp", srv.Addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				a = newAssoc(conn, DefaultMaxPDULength, testLogger(t))
			}
			if err := a.write(c.send); err != nil {
				t.Fatal(err)
			}
			p, err := a.readPDU(time.Now().Add(patience))
			if err != nil {
				if c.wantAbort {
					t.Fatalf("no A-ABORT: %v", err)
				}
				return
			}
			ab, ok := p.(*Abort)
			if !ok {
				t.Fatalf("got %v, want A-ABORT", p.Type())
			}
			if c.checkReason && (ab.Source != AbortSourceServiceProvider || ab.Reason != c.wantReason) {
				t.Errorf("abort source %d reason %d, want 2/%d", ab.Source, ab.Reason, c.wantReason)
			}
			expectEnd(t, a, patience)
		})
	}
	// The server is still fine.
	dialT(t, srv.Addr, DialConfig{}).Release()
}

func TestDiskWatermark(t *testing.T) {
	srv := startServer(t, func(c *ServerConfig) { c.MinFreeBytes = 1 << 62 })
	_, files := testCorpus(t)
	var fis []*FileInstance
	for _, sf := range files[:5] {
		fi, err := ReadFileInstance(sf.Path)
		if err != nil {
			t.Fatal(err)
		}
		fis = append(fis, fi)
	}
	sum := SendFiles(context.Background(), srv.Addr, fis, SendOptions{})
	if sum.Failed != len(fis) || sum.Sent != 0 {
		t.Fatalf("sent %d failed %d", sum.Sent, sum.Failed)
	}
	for _, f := range sum.Failures {
		var se *StatusError
		if !errors.As(f.Err, &se) || se.Status != StatusOutOfResources {
			t.Errorf("%s: %v, want status A700", f.File.Path, f.Err)
		}
	}
	assertNothingStored(t, srv)
}

func TestValidationStatuses(t *testing.T) {
	srv := startServer(t, nil)
	// A truncated file: C000, nothing stored.
	trunc := &FileInstance{Path: filepath.Join(testdataDir, "pydicom_MR_truncated.dcm")}
	fi, err := ReadFileInstance(trunc.Path)
	if err != nil {
		t.Fatal(err)
	}
	ct := ctFile(t)
	wrong := *ct
	wrong.SOPInstanceUID = "1.2.3.999"
	ctxs, _ := ProposeFor([]*FileInstance{fi, ct})
	c := dialT(t, srv.Addr, DialConfig{Contexts: ctxs})
	defer c.Release()
	if st, err := c.StoreFile(context.Background(), fi); st != StatusCannotUnderstand || err == nil {
		t.Errorf("truncated: status %04X %v, want C000", st, err)
	}
	// The command names another instance than the data set: A900.
	if st, err := c.StoreFile(context.Background(), &wrong); st != StatusDataSetMismatch || err == nil {
		t.Errorf("mismatch: status %04X %v, want A900", st, err)
	}
	assertNothingStored(t, srv)
	// The association is still usable.
	if st, err := c.StoreFile(context.Background(), ct); st != 0 || err != nil {
		t.Errorf("good file: %04X %v", st, err)
	}
}

// slowHandler blocks in Store until released.
type slowHandler struct {
	inner   StoreHandler
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *slowHandler) Store(ctx context.Context, in *Instance) error {
	h.once.Do(func() { close(h.entered) })
	<-h.release
	return h.inner.Store(ctx, in)
}

func TestGracefulShutdown(t *testing.T) {
	var h *slowHandler
	srv := startServer(t, func(c *ServerConfig) {
		h = &slowHandler{inner: c.Handler, entered: make(chan struct{}), release: make(chan struct{})}
		c.Handler = h
	})
	ct := ctFile(t)
	ctxs, _ := ProposeFor([]*FileInstance{ct})
	c := dialT(t, srv.Addr, DialConfig{Contexts: ctxs})
	idle := dialT(t, srv.Addr, DialConfig{Contexts: ctxs})
	type res struct {
		st  uint16
		err error
	}
	first := make(chan res, 1)
	go func() {
		st, err := c.StoreFile(context.Background(), ct)
		first <- res{st, err}
	}()
	<-h.entered
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	waitShutting(t, srv)
	// New associations are refused while draining.
	if _, err := Dial(context.Background(), srv.Addr, DialConfig{}); err == nil {
		t.Error("new association accepted during shutdown")
	}
	close(h.release)
	if r := <-first; r.err != nil || r.st != 0 {
		t.Fatalf("in-flight C-STORE: %04X %v, want success", r.st, r.err)
	}
	// The busy association is released after its message; so is the idle
	// one: a further request is not acknowledged.
	if _, err := c.StoreFile(context.Background(), ct); !errors.Is(err, ErrPeerReleased) {
		t.Errorf("request after shutdown: %v, want ErrPeerReleased", err)
	}
	if _, err := idle.StoreFile(context.Background(), ct); !errors.Is(err, ErrPeerReleased) {
		t.Errorf("request on the idle association after shutdown: %v, want ErrPeerReleased", err)
	}
	if err := <-shut; err != nil {
		buf := make([]byte, 1<<20)
		t.Fatalf("Shutdown: %v\n%s", err, buf[:runtime.Stack(buf, true)])
	}
	if n := len(srv.Store.all()); n != 1 {
		t.Errorf("%d instances stored, want 1", n)
	}
}

func TestDuplicates(t *testing.T) {
	srv := startServer(t, nil)
	// The three MR_small files share a SOP Instance UID with different
	// bytes; CT_small sent twice is identical.
	var fis []*FileInstance
	for _, n := range []string{"pydicom_MR_small_implicit.dcm", "pydicom_MR_small_bigendian.dcm", "pydicom_MR_small_jpeg_ls_lossless.dcm", "pydicom_CT_small.dcm", "pydicom_CT_small.dcm"} {
		fi, err := ReadFileInstance(filepath.Join(testdataDir, n))
		if err != nil {
			t.Fatal(err)
		}
		fis = append(fis, fi)
	}
	sum := sendAll(t, srv.Addr, fis, SendOptions{})
	if sum.Sent != 5 {
		t.Fatalf("sent %d", sum.Sent)
	}
	entries, _ := os.ReadDir(filepath.Join(srv.Dir, "store"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// 3 copies of the MR instance (-1, -2 suffixes) + 1 CT.
	if len(names) != 4 {
		t.Errorf("stored files %v, want 4", names)
	}
	suffixed := 0
	for _, n := range names {
		if strings.HasSuffix(n, "-1.dcm") || strings.HasSuffix(n, "-2.dcm") {
			suffixed++
		}
	}
	if suffixed != 2 {
		t.Errorf("want two suffixed copies: %v", names)
	}
}

// TestStaleTempsRemoved: partial instances a crashed receiver left in the
// temporary directory are deleted when serving starts (they were never
// acknowledged); other files are left alone.
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, tempPrefix+"123.dcm")
	other := filepath.Join(dir, "keep.dcm")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := NewServer(ServerConfig{Handler: StoreFunc(func(context.Context, *Instance) error { return nil }), TempDir: dir, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	dialT(t, ln.Addr().String(), DialConfig{}).Release()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("unrelated file removed: %v", err)
	}
	srv.Shutdown(context.Background())
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
	if len(left) != 0 {
		t.Errorf("pool files left after shutdown: %v", left)
	}
}

// TestShutdownWithStorescu stops the receiver while dcmtk storescu is
// sending: every instance storescu was told is stored must be stored, and
// the release from this side must not make storescu hang. The receiver
// holds the instance after the first ten until the shutdown has begun, so
// the shutdown comes mid-transfer however fast or slow the machine is.
func TestShutdownWithStorescu(t *testing.T) {
	needBinary(t, "storescu")
	_, files := testCorpus(t)
	var paths []string
	for _, sf := range files {
		if isUncompressed(sf.TS) {
			paths = append(paths, sf.Path)
		}
	}
	const before = 10
	if len(paths) < before+2 {
		t.Fatalf("%d uncompressed files, want more than %d", len(paths), before+1)
	}
	var n atomic.Int64
	gate := make(chan struct{})
	srv := startServer(t, func(c *ServerConfig) {
		inner := c.Handler
		c.Handler = StoreFunc(func(ctx context.Context, in *Instance) error {
			if n.Add(1) > before {
				<-gate
			}
			return inner.Store(ctx, in)
		})
	})
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := runTool(t, 2*patience, "storescu", append([]string{"-v", "-aec", "AISEDGE", "-nh", "127.0.0.1", srv.Port}, paths...)...)
		done <- result{out, err}
	}()
	waitMetric(t, func() bool { return srv.Metrics.Snapshot().StoresOK >= before })
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	waitShutting(t, srv)
	close(gate)
	if err := <-shut; err != nil {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		r := <-done
		t.Fatalf("Shutdown: %v\nstorescu: %v\n%s\n%s", err, r.err, tail(r.out, 30), buf)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(patience):
		t.Fatalf("storescu still running %v after the shutdown", patience)
	}
	acked := strings.Count(r.out, "Received Store Response (Success)")
	stored := len(srv.Store.all())
	t.Logf("storescu: %v; %d acknowledged, %d stored, %d files", r.err, acked, stored, len(paths))
	if acked == 0 || acked >= len(paths) {
		t.Errorf("shutdown did not interrupt the transfer (%d of %d acknowledged)", acked, len(paths))
	}
	if stored != acked {
		t.Errorf("%d stored, %d acknowledged: they must match", stored, acked)
	}
}

// waitShutting waits until srv's Shutdown has begun (it refuses new
// associations from then on).
func waitShutting(t *testing.T, srv *testServer) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !srv.shutting.Load() {
		if time.Now().After(deadline) {
			t.Fatal("Shutdown did not begin")
		}
		time.Sleep(time.Millisecond)
	}
}
