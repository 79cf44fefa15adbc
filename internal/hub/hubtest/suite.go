// Package hubtest is the conformance suite of hub.Destination: one set of
// tests that every destination must pass against its real peer (the XNAT
// emulator, a folder, Orthanc over DICOM C-STORE and over DICOMweb), so that
// the hub can rely on the contract written on the interface rather than on
// a destination's quirks. Only tests import it.
//
//	func TestConformance(t *testing.T) {
//		hubtest.Run(t, func(t *testing.T) hubtest.Peer { return hubtest.Peer{Dest: newDest(t), Held: held} }, hubtest.Options{})
//	}
//
// Each test makes its own session (a fresh subject pseudonym and fresh
// UIDs), so one peer may serve every test of a run.
package hubtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/manifest"
)

// Peer is one destination under test and a view of what its peer holds.
type Peer struct {
	Dest hub.Destination
	// Held returns every file the peer holds for the session of m (its
	// project, subject and session; a PACS: its patient), one entry per
	// copy, so that a duplicate shows twice. Bytes are as the peer gives
	// them back.
	Held func(t *testing.T, m *manifest.Manifest) [][]byte
	// Sent, if set, returns how many files the destination has sent to
	// the peer so far (to check that a redelivery sends only the gaps);
	// nil when that cannot be observed.
	Sent func() int
}

// Compare says how a held copy must equal its source.
type Compare int

const (
	// SameFile: byte for byte (XNAT, a folder).
	SameFile Compare = iota
	// SameDataset: the data set (after the file meta group, which a PACS
	// rewrites with its own identification) byte for byte.
	SameDataset
)

// Options adapt the suite to a destination.
type Options struct {
	Compare Compare
	// Unreachable returns the destination pointed at an address where
	// nothing answers (nil: skipped).
	Unreachable func(t *testing.T) hub.Destination
	// WrongCredentials returns the destination with credentials its peer
	// refuses (nil: skipped).
	WrongCredentials func(t *testing.T) hub.Destination
}

// Run runs the suite. newPeer is called once per test and may register
// cleanups on the test it is given.
func Run(t *testing.T, newPeer func(t *testing.T) Peer, opts Options) {
	tests := []struct {
		name string
		fn   func(t *testing.T, p Peer, o Options)
	}{
		{"DeliverVerified", testDeliverVerified},
		{"Idempotent", testIdempotent},
		{"Append", testAppend},
		{"RedeliveryFillsGaps", testRedeliveryFillsGaps},
		{"FailedThenRedelivered", testFailedThenRedelivered},
		{"Cancelled", testCancelled},
		{"Unreachable", testUnreachable},
		{"WrongCredentials", testWrongCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "Unreachable" && opts.Unreachable == nil || tc.name == "WrongCredentials" && opts.WrongCredentials == nil {
				t.Skip("not applicable to this destination")
			}
			tc.fn(t, newPeer(t), opts)
		})
	}
}

// Session is a session generation made for a test: its manifest and the
// folder holding its files, as the hub hands them to Deliver.
type Session struct {
	M   *manifest.Manifest
	Dir string
	// Data maps each manifest path to the file's bytes.
	Data map[string][]byte

	study string
}

func randDigits(n int) string {
	v, _ := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil))
	return fmt.Sprintf("%0*d", n, v)
}

// NewSession makes generation 1 of a new session of project PROJ: series
// numbered from 1, each with files small DICOM MR instances of their own
// UIDs and pixels. The subject is a fresh pseudonym.
func NewSession(t *testing.T, series, files int) *Session {
	t.Helper()
	id := randDigits(12)
	s := &Session{
		M: &manifest.Manifest{Version: manifest.Version, Edge: "edge-a", Project: "PROJ", Subject: "PROJ-" + id, Visit: "V" + id,
			Folder: "PROJ.PROJ-" + id + ".V" + id, Generation: 1, Modality: "MR", ProfileHash: "h", CreatedAt: time.Now().UTC().Truncate(time.Second)},
		Dir:   t.TempDir(),
		Data:  map[string][]byte{},
		study: "2.25." + id,
	}
	s.add(t, 1, series, files)
	return s
}

// Append makes the next generation of the session with more series
// (numbered after the earlier ones), in a folder of its own.
func (s *Session) Append(t *testing.T, series, files int) *Session {
	t.Helper()
	first := len(s.M.Series) + 1
	for _, se := range s.M.Series {
		var n int
		fmt.Sscan(se.SeriesNumber, &n)
		first = max(first, n+1)
	}
	m := *s.M
	m.Generation++
	m.Files, m.Series = nil, nil
	next := &Session{M: &m, Dir: t.TempDir(), Data: map[string][]byte{}, study: s.study}
	next.add(t, first, series, files)
	return next
}

func (s *Session) add(t *testing.T, first, series, files int) {
	t.Helper()
	for n := first; n < first+series; n++ {
		scan := fmt.Sprintf("%d.T%d", n, n)
		se := manifest.Series{Scan: scan, SeriesNumber: fmt.Sprint(n), SeriesDescription: fmt.Sprintf("T%d", n), Modality: "MR"}
		for i := 1; i <= files; i++ {
			uid := fmt.Sprintf("%s.%d.%d", s.study, n, i)
			b := instance(t, s.M, s.study, n, i, uid)
			rel := scan + "/DICOM/" + uid + ".dcm"
			p := filepath.Join(s.Dir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := manifest.Digest(rel, bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			s.M.Files = append(s.M.Files, f)
			s.Data[rel] = b
			se.Files++
			se.Bytes += f.Size
		}
		s.M.Series = append(s.M.Series, se)
	}
}

const mrImageStorage = "1.2.840.10008.5.1.4.1.1.4"

// instance encodes one de-identified MR instance with random pixels.
func instance(t *testing.T, m *manifest.Manifest, study string, series, number int, uid string) []byte {
	t.Helper()
	ds := dicom.NewDataset()
	set := func(kw string, vr dicom.VR, v string) { ds.SetString(dicom.MustTag(kw), vr, v) }
	set("SpecificCharacterSet", dicom.CS, "ISO_IR 100")
	set("SOPClassUID", dicom.UI, mrImageStorage)
	set("SOPInstanceUID", dicom.UI, uid)
	set("StudyDate", dicom.DA, "20240601")
	set("StudyTime", dicom.TM, "080000")
	set("Modality", dicom.CS, "MR")
	set("Manufacturer", dicom.LO, "ACME")
	set("SeriesDescription", dicom.LO, fmt.Sprintf("T%d", series))
	set("PatientName", dicom.PN, m.Subject)
	set("PatientID", dicom.LO, m.Subject)
	set("StudyInstanceUID", dicom.UI, study)
	set("SeriesInstanceUID", dicom.UI, fmt.Sprintf("%s.%d", study, series))
	set("StudyID", dicom.SH, m.Visit)
	set("SeriesNumber", dicom.IS, fmt.Sprint(series))
	set("InstanceNumber", dicom.IS, fmt.Sprint(number))
	set("PhotometricInterpretation", dicom.CS, "MONOCHROME2")
	for kw, v := range map[string]uint16{"SamplesPerPixel": 1, "Rows": 8, "Columns": 8, "BitsAllocated": 16, "BitsStored": 12, "HighBit": 11, "PixelRepresentation": 0} {
		ds.SetUint16(dicom.MustTag(kw), v)
	}
	pix := make([]byte, 128)
	rand.Read(pix)
	for i := 1; i < len(pix); i += 2 {
		pix[i] &= 0x0F // 12 bits stored
	}
	ds.SetBytes(dicom.TagPixelData, dicom.OW, pix)
	var b bytes.Buffer
	f := &dicom.File{Meta: dicom.NewFileMeta(mrImageStorage, uid, dicom.ExplicitVRLittleEndian), Dataset: ds}
	if err := dicom.WriteFile(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// datasetOf returns the bytes after a Part 10 file's meta group.
func datasetOf(b []byte) []byte {
	if len(b) < 144 || string(b[128:132]) != "DICM" {
		return b
	}
	off := 132
	for off+8 <= len(b) && b[off] == 0x02 && b[off+1] == 0x00 {
		vr := string(b[off+4 : off+6])
		switch vr {
		case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV":
			n := int(b[off+8]) | int(b[off+9])<<8 | int(b[off+10])<<16 | int(b[off+11])<<24
			off += 12 + n
		default:
			off += 8 + (int(b[off+6]) | int(b[off+7])<<8)
		}
	}
	return b[min(off, len(b)):]
}

// Equal reports whether a held copy equals its source under c.
func Equal(c Compare, a, b []byte) bool {
	if c == SameDataset {
		return bytes.Equal(datasetOf(a), datasetOf(b))
	}
	return bytes.Equal(a, b)
}

// deliver calls Deliver and fails the test on an error.
func deliver(t *testing.T, p Peer, s *Session) {
	t.Helper()
	if err := p.Dest.Deliver(t.Context(), s.M, s.Dir); err != nil {
		t.Fatalf("Deliver generation %d: %v", s.M.Generation, err)
	}
}

// expectHeld checks that the peer holds each file of the sessions exactly
// once, equal to its source, and nothing else for the session.
func expectHeld(t *testing.T, p Peer, o Options, sessions ...*Session) {
	t.Helper()
	held := p.Held(t, sessions[0].M)
	used := make([]bool, len(held))
	want := 0
	for _, s := range sessions {
		for _, f := range s.M.Files {
			want++
			n := 0
			for i, h := range held {
				if Equal(o.Compare, h, s.Data[f.Path]) {
					n++
					used[i] = true
				}
			}
			switch {
			case n == 0:
				t.Errorf("%s (generation %d) is not held, or not as sent", f.Path, s.M.Generation)
			case n > 1:
				t.Errorf("%s (generation %d) is held %d times", f.Path, s.M.Generation, n)
			}
		}
	}
	for i, u := range used {
		if !u {
			t.Errorf("held copy %d (%d bytes) is none of the files delivered", i, len(held[i]))
		}
	}
	if len(held) != want {
		t.Errorf("the peer holds %d files for the session, want %d", len(held), want)
	}
}

func sent(p Peer) int {
	if p.Sent == nil {
		return -1
	}
	return p.Sent()
}

// DeliverVerified: every file of a generation is at the destination, as
// sent, once Deliver returns nil.
func testDeliverVerified(t *testing.T, p Peer, o Options) {
	s := NewSession(t, 2, 3)
	deliver(t, p, s)
	expectHeld(t, p, o, s)
}

// Idempotent: delivering a delivered generation again (the hub's crash
// after Deliver, before its record) holds nothing twice and sends nothing.
func testIdempotent(t *testing.T, p Peer, o Options) {
	s := NewSession(t, 2, 2)
	deliver(t, p, s)
	before := sent(p)
	deliver(t, p, s)
	if after := sent(p); after != before {
		t.Errorf("the second delivery sent %d files again", after-before)
	}
	expectHeld(t, p, o, s)
}

// Append: a later generation adds its series to the session; the earlier
// generation's files stay.
func testAppend(t *testing.T, p Peer, o Options) {
	s1 := NewSession(t, 1, 2)
	deliver(t, p, s1)
	s2 := s1.Append(t, 2, 1)
	deliver(t, p, s2)
	expectHeld(t, p, o, s1, s2)
}

// RedeliveryFillsGaps: what a crash part-way through a delivery leaves
// (the peer holds some files of the generation; here: a delivery of the
// generation's first files only) is completed by delivering the
// generation again, which sends only what the peer lacked and leaves no
// duplicate.
func testRedeliveryFillsGaps(t *testing.T, p Peer, o Options) {
	s := NewSession(t, 2, 3)
	part := *s.M
	part.Files = s.M.Files[:4]
	if err := p.Dest.Deliver(t.Context(), &part, s.Dir); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Held(t, s.M)); n != len(part.Files) {
		t.Fatalf("the peer holds %d files after the first part, want %d", n, len(part.Files))
	}
	before := sent(p)
	deliver(t, p, s)
	if after := sent(p); before >= 0 && after-before != len(s.M.Files)-len(part.Files) {
		t.Errorf("the redelivery sent %d files; the peer lacked %d", after-before, len(s.M.Files)-len(part.Files))
	}
	expectHeld(t, p, o, s)
}

// FailedThenRedelivered: a delivery that fails part-way (one file cannot
// be read) returns an error, and delivering again once it can completes
// the session without duplicates.
func testFailedThenRedelivered(t *testing.T, p Peer, o Options) {
	s := NewSession(t, 2, 3)
	gone := s.M.Files[len(s.M.Files)-1]
	src := filepath.Join(s.Dir, filepath.FromSlash(gone.Path))
	if err := os.Rename(src, src+".away"); err != nil {
		t.Fatal(err)
	}
	if err := p.Dest.Deliver(t.Context(), s.M, s.Dir); err == nil {
		t.Fatal("Deliver succeeded with a file missing")
	}
	if n := len(p.Held(t, s.M)); n >= len(s.M.Files) {
		t.Fatalf("the peer holds %d files of %d with one missing", n, len(s.M.Files))
	}
	if err := os.Rename(src+".away", src); err != nil {
		t.Fatal(err)
	}
	deliver(t, p, s)
	expectHeld(t, p, o, s)
}

// Cancelled: a delivery whose context ends returns a transient error
// (neither permanent nor refused credentials); delivering again completes
// the session without duplicates.
func testCancelled(t *testing.T, p Peer, o Options) {
	s := NewSession(t, 2, 2)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := p.Dest.Deliver(ctx, s.M, s.Dir)
	if err == nil {
		t.Fatal("Deliver with an ended context succeeded")
	}
	if hub.IsPermanent(err) || errors.Is(err, hub.ErrCredentials) {
		t.Fatalf("an ended context gave %v; want a transient error", err)
	}
	deliver(t, p, s)
	expectHeld(t, p, o, s)
}

// Unreachable: a peer that does not answer is a transient failure.
func testUnreachable(t *testing.T, _ Peer, o Options) {
	d := o.Unreachable(t)
	s := NewSession(t, 1, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	err := d.Deliver(ctx, s.M, s.Dir)
	if err == nil || hub.IsPermanent(err) || errors.Is(err, hub.ErrCredentials) {
		t.Fatalf("an unreachable peer gave %v; want a transient error", err)
	}
	checkNoSecrets(t, err)
}

// WrongCredentials: a peer that refuses the hub's credentials is
// ErrCredentials (the hub pauses), not a permanent failure of the
// generation.
func testWrongCredentials(t *testing.T, _ Peer, o Options) {
	d := o.WrongCredentials(t)
	s := NewSession(t, 1, 1)
	err := d.Deliver(t.Context(), s.M, s.Dir)
	if !errors.Is(err, hub.ErrCredentials) || hub.IsPermanent(err) {
		t.Fatalf("refused credentials gave %v; want ErrCredentials", err)
	}
	checkNoSecrets(t, err)
	if r, ok := d.(hub.Resumer); ok {
		if err := r.Resume(t.Context()); !errors.Is(err, hub.ErrCredentials) {
			t.Fatalf("Resume with refused credentials gave %v; want ErrCredentials", err)
		}
	}
}

// Secret is the password WrongCredentials destinations are given; it must
// not appear in their errors.
const Secret = "conformance-wrong-secret"

func checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	if strings.Contains(err.Error(), Secret) {
		t.Errorf("the error shows the password: %v", err)
	}
}

// RandomHex returns n random bytes in hex (names for peers' fixtures).
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
