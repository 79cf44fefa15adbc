package main

// The adversarial PHI corpus (internal/testpeer/phicorpus) through
// `aisedge deid --profile research-default`, in-process: every byte of
// every output file, every output file and folder name, the value-free
// reports, the quarantine's entry.json files (not the originals it keeps
// on site), stdout and stderr are searched for every planted identifier
// by the corpus's own scanner. The test fails when any planted identifier
// leaked, and prints per class and kind what was planted, leaked,
// quarantined and removed, and whether the utility controls survived.

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/phicorpus"
)

func TestDeidPHICorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("the adversarial PHI corpus: not in -short")
	}
	corpus, m, sc := phicorpus.Setup(t)
	base := t.TempDir()
	out, reports := filepath.Join(base, "out"), filepath.Join(base, "reports")
	quarantine := out + ".quarantine"
	t.Setenv("AIS_DEID_HMAC_SALT", deidTestSalt)
	var stdout, stderr bytes.Buffer
	code := run([]string{"deid", "--profile", "research-default", "--site", "PHISITE", "--project", "PHICORPUS",
		"--out", out, "--reports", reports, "--progress", "never", "--log-level", "debug", corpus}, &stdout, &stderr)
	if code == 2 {
		t.Fatalf("usage error:\n%s\n%s", &stdout, &stderr)
	}
	t.Logf("aisedge deid exit %d:\n%s", code, &stdout)

	tally := phicorpus.NewTally(m)
	tally.NotApplicable("association AE titles: the offline command has no association", func(p phicorpus.Planted) bool {
		return p.Path == phicorpus.PathAssociation
	})

	// Which inputs were quarantined: the quarantine folder is named after
	// a keyed hash of the input (HMAC-SHA256 under the key's log-id
	// sub-key), never an unkeyed digest.
	keys, err := deid.NewKeys(deidTestSalt)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string][]string{}
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(corpus, filepath.FromSlash(f.Name)))
		if err != nil {
			t.Fatal(err)
		}
		h := hmac.New(sha256.New, keys.LogKey())
		h.Write(b)
		id := hex.EncodeToString(h.Sum(nil))[:16]
		rj, err := os.ReadFile(filepath.Join(quarantine, id, "entry.json"))
		if err != nil {
			tally.Deliver(f.Name)
			continue
		}
		tally.Quarantine(f.Name)
		var doc struct {
			Reasons []string `json:"reasons"` // "code[ at path][: detail]"
		}
		json.Unmarshal(rj, &doc)
		for _, r := range doc.Reasons {
			r, _, _ = strings.Cut(r, ": ") // the code and the path, without the detail
			reasons[f.Name] = append(reasons[f.Name], strings.Replace(r, " at ", " ", 1))
		}
	}

	// The search.
	if err := tally.ScanTree(sc, "deid output", "deid output files", out, phicorpus.TreeOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tally.ScanTree(sc, "deid reports", "deid reports", reports, phicorpus.TreeOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tally.ScanTree(sc, "deid quarantine records", "deid quarantine records", quarantine, phicorpus.TreeOptions{
		// The originals stay on site: their names are searched, not their bytes.
		NamesOnly: func(rel string) bool { return filepath.Base(rel) == "instance.dcm" },
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name string
		b    *bytes.Buffer
	}{{"stdout", &stdout}, {"stderr", &stderr}} {
		lines := 0
		sr := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
		sr.Buffer(make([]byte, 64<<10), 16<<20)
		for sr.Scan() {
			lines++
			tally.Add(sc.ScanString(s.name, fmt.Sprintf("%s line %d", s.name, lines), sr.Text())...)
		}
		tally.Scanned(s.name+" lines", lines)
	}

	tally.Report(t, "aisedge deid --profile research-default", "aisedge deid", reasons, deidControls(m, out, reasons),
		"compressed outputs decoded:\n"+deidDecodeOutputs(t, out))
}

// deidDecodeOutputs decodes every compressed output (dcmtk for JPEG and
// JPEG-LS, GDCM for JPEG 2000): text stripped from a codestream must leave
// it valid.
func deidDecodeOutputs(t *testing.T, out string) string {
	t.Helper()
	tools := map[string][]string{
		dicom.JPEGBaseline8Bit: {"dcmdjpeg"}, "1.2.840.10008.1.2.4.80": {"dcmdjpls"}, "1.2.840.10008.1.2.4.81": {"dcmdjpls"},
		"1.2.840.10008.1.2.4.90": {"gdcmconv", "--raw"}, "1.2.840.10008.1.2.4.91": {"gdcmconv", "--raw"},
	}
	type output struct{ path, ts string }
	var outputs []output
	phicorpus.WalkDICOM(out, nil, func(p string, f *dicom.File) {
		outputs = append(outputs, output{p, f.TransferSyntax.UID})
	})
	var b strings.Builder
	for _, x := range outputs {
		p, ts := x.path, x.ts
		tool, ok := tools[ts]
		if !ok {
			continue
		}
		if _, err := exec.LookPath(tool[0]); err != nil {
			fmt.Fprintf(&b, "  %s: %s not installed\n", filepath.Base(p), tool[0])
			continue
		}
		args := append(append([]string(nil), tool[1:]...), p, filepath.Join(t.TempDir(), "decoded.dcm"))
		if o, err := exec.Command(tool[0], args...).CombinedOutput(); err != nil {
			fmt.Fprintf(&b, "  %s (%s): DOES NOT DECODE with %s: %v %s\n", filepath.Base(p), ts, tool[0], err, strings.TrimSpace(string(o)))
		} else {
			fmt.Fprintf(&b, "  %s (%s): decodes with %s\n", filepath.Base(p), ts, tool[0])
		}
	}
	return b.String()
}

// deidControls reports, for each utility control, whether an output holds
// it unchanged in its element.
func deidControls(m *phicorpus.Manifest, out string, quarantined map[string][]string) string {
	var b strings.Builder
	for _, c := range phicorpus.Controls(m, out, quarantined, nil) {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	return b.String()
}
