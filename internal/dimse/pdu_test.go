package dimse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
)

func samplePDUs() []PDU {
	return []PDU{
		&AssociateRQ{
			ProtocolVersion: 1, CalledAET: "AISEDGE", CallingAET: "SCANNER1",
			ApplicationContext: ApplicationContextName,
			PresentationContexts: []PresentationContextRQ{
				{ID: 1, AbstractSyntax: "1.2.840.10008.1.1", TransferSyntaxes: []string{"1.2.840.10008.1.2"}},
				{ID: 3, AbstractSyntax: "1.2.840.10008.5.1.4.1.1.2", TransferSyntaxes: []string{"1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}},
			},
			UserInfo: UserInfo{
				MaxPDULength: 16384, ImplementationClassUID: "1.2.3.4", ImplementationVersionName: "TEST_1",
				AsyncOps:       &[2]uint16{0, 1},
				RoleSelections: []RoleSelection{{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", SCU: true}},
				ExtendedNeg:    []ExtendedNegotiation{{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", Info: []byte{1, 0, 1}}},
				UserIdentity:   &UserIdentity{Type: 2, ResponseWanted: true, Primary: []byte("user"), Secondary: []byte("pw")},
			},
		},
		&AssociateAC{
			ProtocolVersion: 1, CalledAET: "AISEDGE", CallingAET: "SCANNER1",
			ApplicationContext: ApplicationContextName,
			PresentationContexts: []PresentationContextAC{
				{ID: 1, Result: ResultAcceptance, TransferSyntax: "1.2.840.10008.1.2"},
				{ID: 3, Result: ResultAbstractSyntaxNotSupported, TransferSyntax: "1.2.840.10008.1.2"},
			},
			UserInfo: UserInfo{MaxPDULength: DefaultMaxPDULength, ImplementationClassUID: "1.2.3.4", AsyncOps: &[2]uint16{1, 1}},
		},
		&AssociateRJ{Result: 1, Source: 1, Reason: 7},
		&PDataTF{PDVs: []PDV{
			{ContextID: 1, Command: true, Last: true, Data: []byte{1, 2, 3, 4}},
			{ContextID: 1, Last: false, Data: []byte("dataset fragment")},
		}},
		&ReleaseRQ{},
		&ReleaseRP{},
		&Abort{Source: AbortSourceServiceProvider, Reason: AbortReasonUnexpectedPDU},
	}
}

func encode(t testing.TB, p PDU) []byte {
	t.Helper()
	b, err := p.AppendBinary(nil)
	if err != nil {
		t.Fatalf("encode %v: %v", p.Type(), err)
	}
	return b
}

func TestPDURoundTrip(t *testing.T) {
	for _, p := range samplePDUs() {
		b := encode(t, p)
		got, err := ReadPDU(bytes.NewReader(b), 0)
		if err != nil {
			t.Fatalf("%v: decode: %v", p.Type(), err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("%v: round trip\n got %#v\nwant %#v", p.Type(), got, p)
		}
	}
}

func TestPDUStream(t *testing.T) {
	var all []byte
	for _, p := range samplePDUs() {
		all = append(all, encode(t, p)...)
	}
	// A reader that returns one byte at a time exercises partial reads.
	pr := pduReader{r: &oneByteReader{b: all}}
	for i, want := range samplePDUs() {
		got, err := pr.next()
		if err != nil {
			t.Fatalf("PDU %d: %v", i, err)
		}
		if got.Type() != want.Type() {
			t.Fatalf("PDU %d: type %v, want %v", i, got.Type(), want.Type())
		}
	}
	if _, err := pr.next(); err != io.EOF {
		t.Fatalf("after last PDU: %v, want EOF", err)
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// timeoutOnce fails the first read after n bytes with a timeout, then
// continues: the PDU reader must resume where it stopped.
type timeoutOnce struct {
	b     []byte
	n     int
	fired bool
}

type fakeTimeout struct{}

func (fakeTimeout) Error() string { return "i/o timeout" }
func (fakeTimeout) Timeout() bool { return true }

func (r *timeoutOnce) Read(p []byte) (int, error) {
	if !r.fired && r.n == 0 {
		r.fired = true
		return 0, fakeTimeout{}
	}
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := len(p)
	if !r.fired && k > r.n {
		k = r.n
	}
	if k > len(r.b) {
		k = len(r.b)
	}
	copy(p, r.b[:k])
	r.b = r.b[k:]
	if !r.fired {
		r.n -= k
	}
	return k, nil
}

func TestPDUReaderResumesAfterTimeout(t *testing.T) {
	b := encode(t, samplePDUs()[0])
	for _, cut := range []int{0, 3, 6, 20, len(b) - 1} {
		pr := pduReader{r: &timeoutOnce{b: b, n: cut}}
		_, err := pr.next()
		if cut > 0 || err != nil {
			var te interface{ Timeout() bool }
			if !errors.As(err, &te) {
				t.Fatalf("cut %d: first read: %v, want timeout", cut, err)
			}
			if cut > 0 && !pr.midPDU() {
				t.Errorf("cut %d: midPDU false after partial read", cut)
			}
		}
		got, err := pr.next()
		if err != nil {
			t.Fatalf("cut %d: resumed read: %v", cut, err)
		}
		if got.Type() != TypeAssociateRQ {
			t.Fatalf("cut %d: got %v", cut, got.Type())
		}
	}
}

func TestPDUMalformed(t *testing.T) {
	hdr := func(typ byte, n uint32, body ...byte) []byte {
		b := []byte{typ, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[2:], n)
		return append(b, body...)
	}
	rq := encode(t, samplePDUs()[0])
	cases := []struct {
		name string
		in   []byte
		max  uint32
		want func(error) bool
	}{
		{"unknown type", hdr(0x09, 4, 0, 0, 0, 0), 0, isPDUErr},
		{"release wrong length", hdr(0x05, 5, 0, 0, 0, 0, 0), 0, isPDUErr},
		{"abort wrong length", hdr(0x07, 2, 0, 0), 0, isPDUErr},
		{"pdata over limit", hdr(0x04, 1<<20), 64 << 10, func(err error) bool { return errors.Is(err, ErrPDUTooLarge) }},
		{"pdata over hard limit", hdr(0x04, 0xFFFFFFFF), 0xFFFFFFFF, func(err error) bool { return errors.Is(err, ErrPDUTooLarge) }},
		{"associate over limit", hdr(0x01, MaxAssociatePDULength+1), 0, func(err error) bool { return errors.Is(err, ErrPDUTooLarge) }},
		{"pdata empty", hdr(0x04, 0), 0, isPDUErr},
		{"pdv too long", hdr(0x04, 8, 0, 0, 0, 9, 1, 3, 0, 0), 0, isPDUErr},
		{"pdv too short", hdr(0x04, 6, 0, 0, 0, 1, 1, 3), 0, isPDUErr},
		{"pdv even context", hdr(0x04, 7, 0, 0, 0, 3, 2, 3, 9), 0, isPDUErr},
		{"truncated body", hdr(0x01, 100, 1, 2, 3), 0, func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"truncated header", []byte{1, 0, 0}, 0, func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"rq short fixed part", hdr(0x01, 10, make([]byte, 10)...), 0, isPDUErr},
		{"rq item overruns", func() []byte {
			b := append([]byte(nil), rq...)
			binary.BigEndian.PutUint16(b[6+68+2:], 0xFFFF) // application context item length
			return b
		}(), 0, isPDUErr},
	}
	for _, c := range cases {
		_, err := ReadPDU(bytes.NewReader(c.in), c.max)
		if err == nil || !c.want(err) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}

func isPDUErr(err error) bool {
	var pe *PDUError
	return errors.As(err, &pe)
}

func TestCommandRoundTrip(t *testing.T) {
	cmds := []*Command{
		{Field: CEchoRQ, MessageID: 7, AffectedSOPClassUID: "1.2.840.10008.1.1"},
		{Field: CStoreRQ, MessageID: 9, AffectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", AffectedSOPInstanceUID: "1.2.3.4.5", Priority: PriorityMedium, HasDataSet: true},
		{Field: CStoreRSP, MessageIDBeingRespondedTo: 9, AffectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", AffectedSOPInstanceUID: "1.2.3.4.5", Status: 0xA700, ErrorComment: "disk below watermark", hasStatus: true},
	}
	for _, c := range cmds {
		b := c.Encode(nil)
		if binary.LittleEndian.Uint32(b[8:]) != uint32(len(b)-12) {
			t.Errorf("group length %d, want %d", binary.LittleEndian.Uint32(b[8:]), len(b)-12)
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		if c.Field&0x8000 != 0 {
			c.hasStatus = true
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip\n got %#v\nwant %#v", got, c)
		}
	}
	if _, err := DecodeCommand([]byte{0, 0, 0, 0, 0xFF, 0, 0, 0}); !errors.Is(err, ErrBadCommand) {
		t.Errorf("overlong element: %v", err)
	}
	if _, err := DecodeCommand([]byte{8, 0, 0x18, 0, 0, 0, 0, 0}); !errors.Is(err, ErrBadCommand) {
		t.Errorf("group 0008 element: %v", err)
	}
}

// FuzzReadPDU feeds arbitrary bytes to the PDU decoder: it must never panic,
// and whatever it accepts must re-encode to something that decodes equal.
func FuzzReadPDU(f *testing.F) {
	for _, p := range samplePDUs() {
		f.Add(encode(f, p))
	}
	f.Add([]byte{4, 0, 0, 0, 0, 8, 0, 0, 0, 4, 1, 3, 0xAA, 0xBB})
	f.Add([]byte{1, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ReadPDU(bytes.NewReader(in), 64<<10)
		if err != nil {
			return
		}
		b, err := p.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode %v: %v", p.Type(), err)
		}
		q, err := ReadPDU(bytes.NewReader(b), 64<<10)
		if err != nil {
			t.Fatalf("decode of re-encoded %v: %v", p.Type(), err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("re-encoded %v differs:\n%#v\n%#v", p.Type(), p, q)
		}
		if pd, ok := p.(*PDataTF); ok {
			for _, v := range pd.PDVs {
				if c := v.ContextID; v.Command && v.Last && len(v.Data) > 0 {
					_, _ = DecodeCommand(v.Data)
					_ = c
				}
			}
		}
	})
}
