package dimse

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/testpeer/proc"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"

	"github.com/aisedge/aisedge/internal/dicom"
)

func TestEchoscu(t *testing.T) {
	srv := startServer(t, nil)
	out, err := runTool(t, patience, "echoscu", "-aet", "TESTSCU", "-aec", "AISEDGE", "127.0.0.1", srv.Port)
	if err != nil {
		t.Fatalf("echoscu: %v\n%s", err, out)
	}
	if n := srv.Metrics.Snapshot().Echoes; n != 1 {
		t.Fatalf("echoes = %d, want 1", n)
	}
}

// checkReceived verifies that every source file the sender could send
// arrived and matches what was sent. exact demands byte-identical data
// sets (senders that stream files unchanged); otherwise the comparison is
// at data set level (diffDatasets), since dcmtk re-encodes sequence
// lengths and drops trailing padding on the way.
func checkReceived(t *testing.T, srv *testServer, files []*sourceFile, sent func(*sourceFile) bool, exact bool) {
	t.Helper()
	got := srv.Store.all()
	if m := srv.Metrics.Snapshot(); m.StoresFailed != 0 {
		t.Errorf("%d C-STOREs failed", m.StoresFailed)
	}
	want := 0
	for _, sf := range files {
		if !sent(sf) {
			continue
		}
		want++
		src, err := dicom.ReadFileBytes(mustRead(t, sf.Path), nil)
		if err != nil {
			t.Fatalf("%s: %v", sf.Path, err)
		}
		var why []string
		found := false
		for _, r := range got {
			if r.SOPInstanceUID != sf.SOPInstance || r.SOPClassUID != sf.SOPClass {
				continue
			}
			sameTS := r.TransferSyntaxUID == sf.TS
			if exact && sameTS {
				if sameSent(storedData(t, r.FinalPath), sf.Data) {
					found = true
					break
				}
				why = append(why, "bytes differ")
				continue
			}
			dst, err := dicom.ReadFileBytes(mustRead(t, r.FinalPath), nil)
			if err != nil {
				why = append(why, "stored copy does not parse: "+err.Error())
				continue
			}
			if dst.TransferSyntax.UID != r.TransferSyntaxUID {
				why = append(why, "stored meta has the wrong transfer syntax")
				continue
			}
			if d := diffDatasets(src.Dataset, dst.Dataset, sameTS, ""); d != "" {
				why = append(why, d)
				continue
			}
			found = true
			break
		}
		if !found {
			t.Errorf("%s (%s): no matching instance received: %v", filepath.Base(sf.Path), sf.TS, why)
		}
	}
	if len(got) < want {
		t.Errorf("received %d instances, want at least %d", len(got), want)
	}
	t.Logf("%d files sent, %d instances received", want, len(got))
}

// sameSent reports whether a received data set equals the file's, allowing
// the pad byte a sender adds to an odd-length (deflated) data set.
func sameSent(got, file []byte) bool {
	if len(file)%2 == 1 && len(got) == len(file)+1 && got[len(file)] == 0 {
		got = got[:len(file)]
	}
	return bytes.Equal(got, file)
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isUncompressed(ts string) bool {
	x, ok := dicom.LookupTransferSyntax(ts)
	return ok && !x.Encapsulated && !x.Deflated
}

func TestStorescu(t *testing.T) {
	needBinary(t, "storescu")
	dir, files := testCorpus(t)
	if len(files) < 90 {
		t.Fatalf("only %d sendable files in the corpus", len(files))
	}
	cases := []struct {
		name string
		args []string
		// sendable reports which files storescu can send in this mode.
		sendable func(*sourceFile) bool
	}{
		{"default", nil, func(sf *sourceFile) bool { return isUncompressed(sf.TS) }},
		{"xi", []string{"-xi"}, func(sf *sourceFile) bool { return isUncompressed(sf.TS) }},
		{"xe", []string{"-xe"}, func(sf *sourceFile) bool { return isUncompressed(sf.TS) }},
		{"xb", []string{"-xb"}, func(sf *sourceFile) bool { return isUncompressed(sf.TS) }},
		{"allts", sampledata.StorescuAllSyntaxes(t), func(*sourceFile) bool { return true }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startServer(t, nil)
			var args []string
			args = append(args, "-aet", "TESTSCU", "-aec", "AISEDGE", "-nh", "-pdu", "131072")
			args = append(args, c.args...)
			args = append(args, "+sd", "+r", "127.0.0.1", srv.Port)
			var send []string
			for _, sf := range files {
				if c.sendable(sf) {
					send = append(send, sf.Path)
				}
			}
			if c.name == "allts" {
				send = []string{dir}
			}
			out, err := runTool(t, 2*patience, "storescu", append(args, send...)...)
			if err != nil {
				t.Fatalf("storescu: %v\n%s", err, tail(out, 40))
			}
			// Without -R storescu proposes its own list of 128 storage
			// classes; files of other classes are not sent at all.
			noContext := map[string]bool{}
			for _, line := range strings.Split(out, "\n") {
				if i := strings.Index(line, "No presentation context for: "); i >= 0 {
					f := strings.Fields(line[i:])
					noContext[f[len(f)-1]] = true
				} else if strings.HasPrefix(line, "E: ") && !expectedStorescuError(line) {
					t.Errorf("storescu: %s", line)
				}
			}
			checkReceived(t, srv, files, func(sf *sourceFile) bool { return c.sendable(sf) && !noContext[sf.SOPClass] }, false)
		})
	}
}

// expectedStorescuError matches the complaints storescu makes about the
// non-DICOM and DICOMDIR files of the corpus when scanning directories.
func expectedStorescuError(line string) bool {
	for _, s := range []string{"No SOP Class or Instance UID", "Bad DICOM file", "DcmElement: Unknown Tag", "No presentation context for"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func tail(s string, n int) string { return proc.Tail(s, n) }

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
