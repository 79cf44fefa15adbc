package e2e

// The adversarial PHI corpus (internal/testpeer/phicorpus) through
// `aisedge run`, built and started as a subprocess, fed by dcmtk storescu
// with every transfer syntax proposed (compressed files travel
// unchanged), files that carry planted AE titles in associations of their
// own. Once every instance is de-identified or quarantined and every
// session delivered into --archive-dir, the corpus's own scanner searches
// for every planted identifier:
//
//   - the archive tree: every file's bytes and every path component;
//   - every MANIFEST.json and every object that passed through the data
//     folder's bucket (bytes, and the object keys as labels);
//   - the spool, staging and hub folders, and the quarantine's entry.json
//     records (the originals the quarantine keeps on site: names only);
//   - every stdout event and stderr log line (as written and JSON-decoded);
//   - GET /, /api/status, /metrics, /healthz, /readyz;
//   - `aisedge status`, `status --json`, `quarantine ls` and
//     `quarantine show` for each entry.
//
// The facility backup (originals, on site) is not searched. Instances the
// quarantine holds count as quarantined, not leaked, unless something of
// theirs is found elsewhere. The test fails when any planted identifier
// leaked, after printing planted vs. leaked vs. quarantined per class and
// kind, and whether the utility controls survived.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/phicorpus"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
)

const phiCorpusProject = "PHICORPUS"

func TestRunPHICorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the aisedge binary: not in -short")
	}
	if _, err := exec.LookPath("storescu"); err != nil {
		t.Skip("storescu (dcmtk) not installed: run ./scripts/test")
	}
	corpus, m, sc := phicorpus.Setup(t)
	tally := phicorpus.NewTally(m)
	tally.NotApplicable("input file names do not travel over DICOM", func(p phicorpus.Planted) bool {
		return p.Path == phicorpus.PathInputName
	})

	bin := phiBuild(t)
	base := t.TempDir()
	dataDir, archive := filepath.Join(base, "data"), filepath.Join(base, "archive")
	args := []string{"run", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--ae-title", "AISEDGE",
		"--data-dir", dataDir, "--project", phiCorpusProject, "--profile", "research-default",
		"--quiet-period", phiQuiet.String(), "--min-free-bytes", "-1", "--archive-dir", archive, "--log-level", "debug"}
	p, w, stopWatch := phiStart(t, bin, args, []string{deid.SaltEnv + "=" + salt}, base, dataDir)
	defer stopWatch()

	// Send: one association for the corpus, one per file with planted AE
	// titles.
	profile := sampledata.StorescuAllSyntaxes(t)
	bySOP := map[string]string{}
	var common []string
	type assoc struct{ calling, called, file string }
	var own []assoc
	for _, f := range m.Files {
		bySOP[f.SOPInstanceUID] = f.Name
		path := filepath.Join(corpus, filepath.FromSlash(f.Name))
		if f.CallingAET != "" || f.CalledAET != "" {
			own = append(own, assoc{f.CallingAET, f.CalledAET, path})
			continue
		}
		common = append(common, path)
	}
	storescu := func(calling, called string, files ...string) {
		if out, err := phiStorescu(profile, p.dicomAddr, calling, called, files...); err != nil {
			t.Logf("storescu -aet %s -aec %s (%d files): %v\n%s", calling, called, len(files), err, out)
		}
	}
	start := time.Now()
	storescu("PHICORPUS", "AISEDGE", common...)
	for _, a := range own {
		storescu(a.calling, a.called, a.file)
	}
	t.Logf("storescu sent %d files in %v", len(m.Files), time.Since(start).Round(time.Millisecond))

	// Wait until every file is de-identified or quarantined, then until
	// every session is delivered and the bucket is empty.
	deadline := time.Now().Add(120 * time.Second)
	var deidentified int
	var quarantined map[string][]string
	for {
		deidentified, quarantined = corpusAccounted(p.snapshot(), dataDir, bySOP)
		if deidentified+len(quarantined) >= len(m.Files) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("only %d of %d files de-identified or quarantined after 120 s", deidentified+len(quarantined), len(m.Files))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	expected := map[string]int{}
	for _, l := range p.snapshot() {
		if l.stream == "stdout" && l.event() == "instance_deidentified" {
			expected[l.str("session")]++
		}
	}
	for {
		ok, _, why := phiDelivered(p.snapshot(), expected, nil, false)
		if ok && phiBucketSessions(dataDir) == 0 {
			break
		}
		if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Errorf("not every session delivered: %s\n%s", why, p.tail(20))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d files de-identified into %d sessions, %d quarantined, all delivered %v after the first C-STORE",
		deidentified, len(expected), len(quarantined), time.Since(start).Round(time.Millisecond))
	for _, f := range m.Files {
		if quarantined[f.Name] != nil {
			tally.Quarantine(f.Name)
		} else {
			tally.Deliver(f.Name)
		}
	}

	// What the process serves and tells an operator.
	served := phiFetchHTTP(t, p.httpAddr)
	socket := filepath.Join(dataDir, "aisedge.sock")
	cli := map[string][]byte{}
	runCLI := func(args ...string) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("aisedge %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		cli["aisedge "+strings.Join(args, " ")] = out
	}
	runCLI("status", "--socket", socket)
	runCLI("status", "--json", "--socket", socket)
	runCLI("quarantine", "--socket", socket, "ls")
	ids, _ := os.ReadDir(filepath.Join(dataDir, "edge", "quarantine"))
	for _, d := range ids {
		if d.IsDir() {
			runCLI("quarantine", "--socket", socket, "show", d.Name())
		}
	}
	if code := p.stop(); code != 0 {
		t.Errorf("aisedge run exited with status %d after SIGTERM\n%s", code, p.tail(30))
	}
	stopWatch()

	// The search.
	lines := p.snapshot()
	for i, l := range lines {
		where := fmt.Sprintf("%s line %d", l.stream, i+1)
		surface := "stderr logs"
		if l.stream == "stdout" {
			surface = "stdout events"
		}
		tally.Add(sc.ScanString(surface, where, l.raw)...)
		if s, _ := phicorpus.JSONStrings(l.raw); s != "" {
			tally.Add(sc.ScanString(surface+" (JSON-decoded)", where, s)...)
		}
	}
	tally.Scanned("process output lines", len(lines))
	for path, body := range served {
		tally.Add(sc.ScanBytes("HTTP endpoints", "GET "+path, body)...)
		if s, _ := phicorpus.JSONStrings(string(body)); s != "" {
			tally.Add(sc.ScanString("HTTP endpoints (JSON-decoded)", "GET "+path, s)...)
		}
	}
	tally.Scanned("HTTP endpoints", len(served))
	for cmd, out := range cli {
		tally.Add(sc.ScanBytes("aisedge CLI output", cmd, out)...)
	}
	tally.Scanned("aisedge CLI commands", len(cli))
	objects := phiEachObject(t, w, func(key string, data []byte) {
		tally.Add(sc.ScanLabel("bucket object keys", key, []byte(key))...)
		if phiManifestRE.MatchString(filepath.Base(key)) {
			tally.Add(sc.ScanLabel("MANIFEST.json (bucket)", key, data)...)
		} else {
			tally.Add(sc.ScanBytes("bucket objects (as they passed)", key, data)...)
		}
	})
	tally.Scanned("bucket objects (as they passed)", objects)
	sealed, staged, _ := w.manifests()
	for key, raw := range sealed {
		tally.Add(sc.ScanLabel("MANIFEST.json (sealed)", key, raw)...)
	}
	for key, raw := range staged {
		tally.Add(sc.ScanLabel("MANIFEST.json (staging)", key, raw)...)
	}
	tally.Scanned("MANIFEST.json", len(sealed)+len(staged))
	scanTree := func(surface, dir string, o phicorpus.TreeOptions) {
		if err := tally.ScanTree(sc, surface, surface, dir, o); err != nil && !os.IsNotExist(err) {
			t.Errorf("%s: %v", surface, err)
		}
	}
	scanTree("archive", archive, phicorpus.TreeOptions{})
	scanTree("bucket (at the end)", filepath.Join(dataDir, "bucket"), phicorpus.TreeOptions{})
	scanTree("hub state", filepath.Join(dataDir, "hub"), phicorpus.TreeOptions{})
	scanTree("edge spool", filepath.Join(dataDir, "edge", "spool"), phicorpus.TreeOptions{})
	scanTree("edge staging", filepath.Join(dataDir, "edge", "staging"), phicorpus.TreeOptions{})
	scanTree("edge quarantine records", filepath.Join(dataDir, "edge", "quarantine"), phicorpus.TreeOptions{
		// The originals stay on site: their names are searched, not their bytes.
		NamesOnly: func(rel string) bool { return filepath.Base(rel) != "entry.json" },
	})

	tally.Report(t, "aisedge run, research-default, storescu", "aisedge run", quarantined, corpusControls(m, archive, quarantined))
}

// corpusAccounted counts the instance_deidentified events and returns the
// quarantined corpus files with their reasons (the entry.json records;
// the file from the original the quarantine keeps beside each).
func corpusAccounted(lines []procLine, dataDir string, bySOP map[string]string) (int, map[string][]string) {
	n := 0
	for _, l := range lines {
		if l.stream == "stdout" && l.event() == "instance_deidentified" {
			n++
		}
	}
	quarantined := map[string][]string{}
	qdir := filepath.Join(dataDir, "edge", "quarantine")
	dirs, _ := os.ReadDir(qdir)
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(qdir, d.Name(), "entry.json"))
		if err != nil {
			continue
		}
		var e struct {
			Reasons []string `json:"reasons"`
		}
		if json.Unmarshal(b, &e) != nil {
			continue
		}
		name := "unreadable quarantined instance " + d.Name()
		if f, err := dicom.Open(filepath.Join(qdir, d.Name(), "instance.dcm"), &dicom.ParseOptions{StopAtPixelData: true}); err == nil {
			if n, ok := bySOP[f.Dataset.String(dicom.TagSOPInstanceUID)]; ok {
				name = n
			}
			f.Close()
		}
		quarantined[name] = append(quarantined[name], e.Reasons...)
	}
	return n, quarantined
}

// corpusControls reports, for each utility control, whether an archived
// file holds it unchanged and whether a scan folder is named after it.
func corpusControls(m *phicorpus.Manifest, archive string, quarantined map[string][]string) string {
	folders := map[string]bool{}
	filepath.WalkDir(archive, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			folders[strings.ToUpper(d.Name())] = true
		}
		return nil
	})
	var b strings.Builder
	for _, c := range phicorpus.Controls(m, archive, quarantined, func(p string) bool { return strings.HasSuffix(p, ".dcm") }) {
		folder := "no scan folder named after it"
		want := strings.ToUpper(strings.Trim(strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
				return r
			}
			return '_'
		}, c.Value), "_"))
		for f := range folders {
			if strings.HasSuffix(f, "."+want) || strings.Contains(f, want) {
				folder = "scan folder " + f
			}
		}
		fmt.Fprintf(&b, "  %s; %s\n", c, folder)
	}
	return b.String()
}
