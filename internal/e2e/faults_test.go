package e2e

// Fault tests (issue 5 "Fault tests", issue 6 "kill -9 mid-upload then
// restart"): the real aisedge binary killed with SIGKILL at random points
// of receive, staging, shipping, hub delivery and clean-up, restarted on the
// same data folder each time; and the edge against the real SeaweedFS,
// which is killed mid-upload and restarted, then cut off by a proxy.
//
// Kill points are drawn from a seed that every run logs; set
// AISEDGE_FAULT_SEED to replay a plan (the plan, not the exact timing:
// kills land wherever the process is when the signal arrives).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/edge"
	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
	"github.com/aisedge/aisedge/internal/objstore/s3"
	"github.com/aisedge/aisedge/internal/route"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
)

// faultSeed returns the seed of the run's kill plan.
func faultSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("AISEDGE_FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("AISEDGE_FAULT_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// TestFaultsStandaloneKill9 runs `aisedge run` (edge + in-process hub
// delivering into the archive tree) as a subprocess and kills it with
// SIGKILL again and again; after the last restart everything acknowledged
// must be in the archive exactly once and nothing left behind.
func TestFaultsStandaloneKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the aisedge binary: not in -short")
	}
	seed := faultSeed(t)
	t.Logf("kill plan seed %d (replay with AISEDGE_FAULT_SEED=%d)", seed, seed)
	bin := buildBinary(t, raceEnabled)
	t.Run("Edge", func(t *testing.T) { testEdgeKill9(t, bin, rand.New(rand.NewPCG(seed, 1))) })
	t.Run("HubDelivery", func(t *testing.T) { testHubKill9(t, bin, rand.New(rand.NewPCG(seed, 2))) })
	t.Run("SealCleanup", func(t *testing.T) { testSealCleanupKill9(t, bin) })
}

// killPhase is a point after the instances are acknowledged at which a run
// is killed: the trigger line and a random delay after it.
type killPhase struct {
	name     string
	match    func(procLine) bool
	maxDelay time.Duration
}

func eventIs(name string) func(procLine) bool {
	return func(l procLine) bool { return l.str("event") == name }
}

var postReceivePhases = []killPhase{
	// The stager logs study_staged per study; the next study, or the
	// shipment of this one, is under way.
	{"staging", eventIs("study_staged"), 30 * time.Millisecond},
	{"upload", eventIs("upload_started"), 150 * time.Millisecond},
	{"hub delivery", eventIs("delivery_started"), 300 * time.Millisecond},
	{"hub clean-up", eventIs("delivery_completed"), 15 * time.Millisecond},
}

// testEdgeKill9: 120 instances in three sessions, sent in four batches
// (the last two are later series of studies sent before: appends), over
// eight runs that are each killed: four during an association after a
// random number of acknowledgements, each followed by one killed at a random
// point after a pipeline step (staging, upload, hub delivery, hub clean-up,
// in a random order). Unacknowledged instances are sent again on the next
// run, as a scanner would.
func testEdgeKill9(t *testing.T, bin string, rng *rand.Rand) {
	start := time.Now()
	eng := standaloneEngine(t)
	root := "1.2.826.0.1.3680043.8.1055.77"
	var batches [4][]instance
	batches[0] = slices.Concat(
		makeInstances(t, eng, "KILLP1", root+".1", root+".1.1", 1, 20),
		makeInstances(t, eng, "KILLP1", root+".1", root+".1.2", 2, 20),
		makeInstances(t, eng, "KILLP2", root+".2", root+".2.1", 1, 20))
	batches[1] = makeInstances(t, eng, "KILLP3", root+".3", root+".3.1", 1, 20)
	// Later series of studies sent before: appends, once their first
	// generation has shipped.
	batches[2] = makeInstances(t, eng, "KILLP3", root+".3", root+".3.2", 4, 20)
	batches[3] = makeInstances(t, eng, "KILLP1", root+".1", root+".1.3", 3, 20)
	all := slices.Concat(batches[:]...)

	base := t.TempDir()
	dataDir := filepath.Join(base, "data")
	acked := map[string]bool{}
	var ackMu sync.Mutex
	unacked := func(ins []instance) []instance {
		ackMu.Lock()
		defer ackMu.Unlock()
		var out []instance
		for _, in := range ins {
			if !acked[in.fi.SOPInstanceUID] {
				out = append(out, in)
			}
		}
		return out
	}
	record := func(m map[string]bool) {
		ackMu.Lock()
		defer ackMu.Unlock()
		for k := range m {
			acked[k] = true
		}
	}
	ackedCount := func() int { ackMu.Lock(); defer ackMu.Unlock(); return len(acked) }

	post := slices.Clone(postReceivePhases)
	rng.Shuffle(len(post), func(i, j int) { post[i], post[j] = post[j], post[i] })
	run, started := 0, 0
	var kills []string

	// receiveKill sends what has not been acknowledged of the batches so
	// far and kills the process after a random number of acknowledgements.
	receiveKill := func(upTo int) {
		run++
		s := startStandalone(t, bin, dataDir, run)
		todo := unacked(slices.Concat(batches[:upTo+1]...))
		k := 1 + rng.IntN(len(todo)-1)
		var once sync.Once
		var desc string
		got := sendInstances(s.dicomAddr, todo, func(n int) {
			if n == k {
				once.Do(func() {
					s.kill()
					desc = fmt.Sprintf("during an association, after %d of %d acknowledgements", k, len(todo))
				})
			}
		})
		record(got)
		once.Do(func() { s.kill(); desc = fmt.Sprintf("after sending (%d acknowledged; %d planned)", len(got), k) })
		s.checkRaces()
		kills = append(kills, fmt.Sprintf("run %d killed %s", run, desc))
		t.Logf("run %d: killed %s; acknowledged %d/%d; %v", run, desc, ackedCount(), len(all), countData(dataDir))
	}
	// postKill starts a run, sends what is still unacknowledged and kills
	// the run a random moment after the phase's trigger.
	postKill := func(ph killPhase) {
		run++
		s := startStandalone(t, bin, dataDir, run)
		delay := time.Duration(rng.Int64N(int64(ph.maxDelay) + 1))
		killed := make(chan string, 1)
		go func() {
			_, ok := s.waitLine(0, 10*time.Second, ph.match)
			time.Sleep(delay)
			alive := s.alive()
			s.kill()
			switch {
			case !alive:
				killed <- "(it had exited by itself)"
			case ok:
				killed <- fmt.Sprintf("%v after the first %s trigger", delay, ph.name)
			default:
				killed <- fmt.Sprintf("after 10 s without a %s trigger", ph.name)
			}
		}()
		// Send again only what earlier runs tried: a batch not yet started
		// is sent by its own receive-kill run.
		if todo := unacked(slices.Concat(batches[:started]...)); len(todo) > 0 {
			record(sendInstances(s.dicomAddr, todo, nil))
		}
		desc := <-killed
		s.checkRaces()
		if !strings.HasPrefix(desc, "after 10 s") && !strings.HasPrefix(desc, "(") {
			desc = "during " + ph.name + ", " + desc
		}
		kills = append(kills, fmt.Sprintf("run %d killed %s", run, desc))
		t.Logf("run %d: killed %s; acknowledged %d/%d; %v", run, desc, ackedCount(), len(all), countData(dataDir))
	}
	for i := range batches {
		started = i + 1
		receiveKill(i)
		postKill(post[i])
	}

	// The last run: send until everything is acknowledged, let it drain.
	run++
	s := startStandalone(t, bin, dataDir, run)
	for try := 0; len(unacked(all)) > 0; try++ {
		if try == 5 {
			t.Fatalf("%d instances still not acknowledged after 5 attempts\n%s", len(unacked(all)), s.tail(40))
		}
		record(sendInstances(s.dicomAddr, unacked(all), nil))
	}
	want := map[string]bool{}
	for _, in := range all {
		want[in.remap] = true
	}
	waitDrained(t, s, dataDir, len(want))
	s.stop()
	s.checkRaces()

	verifyArchive(t, filepath.Join(dataDir, "archive"), want)
	verifyNothingLeft(t, dataDir)
	t.Logf("%d instances acknowledged (%d distinct SOP Instance UIDs), %d kills, %d runs, %v:\n  %s",
		ackedCount(), len(want), len(kills), run, time.Since(start).Round(time.Millisecond), strings.Join(kills, "\n  "))
}

// testHubKill9: a 150-instance session, acknowledged and sealed in the
// bucket; the run is then killed while the hub writes it into the archive
// (once a random number of its files are there), again on the next runs
// while files are missing, and once during the hub's clean-up of the
// bucket. The archive must end with every file once, the bucket empty.
func testHubKill9(t *testing.T, bin string, rng *rand.Rand) {
	start := time.Now()
	eng := standaloneEngine(t)
	var all []instance
	dataDir := filepath.Join(t.TempDir(), "data")
	archiveCount := func() int {
		return countFiles(filepath.Join(dataDir, "archive"), func(rel string) bool { return strings.HasSuffix(rel, ".dcm") })
	}
	var kills []string
	midDelivery, nkills := 0, 0
	// deliveryKill kills the run once the archive holds a random number of
	// files more than it does now (and fewer than all).
	deliveryKill := func(run int, s *standalone) {
		total := len(all)
		have := archiveCount()
		target := have + 1 + rng.IntN(total-have-1)
		deadline := time.Now().Add(60 * time.Second)
		n := have
		for n < target && time.Now().Before(deadline) && s.alive() {
			time.Sleep(time.Millisecond)
			n = archiveCount()
		}
		s.kill()
		nkills++
		s.checkRaces()
		after := countData(dataDir)
		if n < target {
			t.Fatalf("run %d: the archive did not reach %d files within 60 s (%v)\n%s", run, target, after, s.tail(40))
		}
		if after.archive < total {
			midDelivery++
		}
		kills = append(kills, fmt.Sprintf("run %d killed during hub delivery at >= %d of %d archive files (after the kill: %v)", run, target, total, after))
		t.Logf("%s", kills[len(kills)-1])
	}

	// A session is received and sealed, and its delivery killed part-way,
	// up to three times over as the hub fills the gaps. If the first kill
	// lands after the delivery (timing), another session is tried.
	run := 0
	var s *standalone
	for attempt := 1; attempt <= 3 && midDelivery == 0; attempt++ {
		root := fmt.Sprintf("1.2.826.0.1.3680043.8.1055.78.%d", attempt)
		patient := fmt.Sprintf("HUBKILL%d", attempt)
		ins := slices.Concat(
			makeInstances(t, eng, patient, root, root+".1", 1, 50),
			makeInstances(t, eng, patient, root, root+".2", 2, 50),
			makeInstances(t, eng, patient, root, root+".3", 3, 50))
		all = append(all, ins...)
		run++
		s = startStandalone(t, bin, dataDir, run)
		if got := sendInstances(s.dicomAddr, ins, nil); len(got) != len(ins) {
			t.Fatalf("run %d: %d of %d instances acknowledged\n%s", run, len(got), len(ins), s.tail(40))
		}
		if _, ok := s.waitLine(0, 60*time.Second, eventIs("delivery_started")); !ok {
			t.Fatalf("run %d: no hub delivery started\n%s", run, s.tail(40))
		}
		deliveryKill(run, s)
		// The hub starts over (downloads again) and writes what is
		// missing; killed again part-way.
		for range 2 {
			if archiveCount() >= len(all)-1 {
				break
			}
			run++
			s = startStandalone(t, bin, dataDir, run)
			deliveryKill(run, s)
		}
	}
	want := map[string]bool{}
	for _, in := range all {
		want[in.remap] = true
	}
	total := len(all)
	// Next run: killed during the clean-up after the delivery is recorded,
	// unless an earlier kill landed after that point (then this run only
	// finishes the clean-up, and is not killed).
	run++
	s = startStandalone(t, bin, dataDir, run)
	delay := time.Duration(rng.Int64N(int64(5*time.Millisecond) + 1))
	recorded := false
	for deadline := time.Now().Add(60 * time.Second); !recorded; {
		if _, recorded = s.waitLine(0, 100*time.Millisecond, eventIs("delivery_completed")); recorded {
			break
		}
		if countData(dataDir).bucket == 0 || time.Now().After(deadline) || !s.alive() {
			break
		}
	}
	if recorded {
		time.Sleep(delay)
		s.kill()
		nkills++
		kills = append(kills, fmt.Sprintf("run %d killed %v after xnat_upload_completed (clean-up): %v", run, delay, countData(dataDir)))
	} else {
		kills = append(kills, fmt.Sprintf("run %d not killed: the delivery had been recorded before the last kill; the run finished the clean-up (%v)", run, countData(dataDir)))
	}
	s.checkRaces()
	t.Logf("%s", kills[len(kills)-1])
	if recorded {
		run++
		s = startStandalone(t, bin, dataDir, run)
	}
	waitDrained(t, s, dataDir, total)
	s.stop()
	s.checkRaces()
	if midDelivery == 0 {
		t.Errorf("no kill landed in the middle of the hub's delivery (timing); the test proved less than it should")
	}
	verifyArchive(t, filepath.Join(dataDir, "archive"), want)
	verifyNothingLeft(t, dataDir)
	t.Logf("%d instances acknowledged, %d kills (%d mid-delivery), %d runs, %v:\n  %s",
		total, nkills, midDelivery, run, time.Since(start).Round(time.Millisecond), strings.Join(kills, "\n  "))
}

// testSealCleanupKill9 kills the run at the moment the edge has recorded a
// shipment as sealed (the manifest is in the bucket, the spool has begun to
// delete the shipment's files: the first deletion is the trigger), before
// it has removed the rest and the staging folder. After a restart the
// session must be delivered and the edge's copies removed all the same.
// (Before 4acc1af both stayed behind for good.)
func testSealCleanupKill9(t *testing.T, bin string) {
	eng := standaloneEngine(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	objects := filepath.Join(dataDir, "edge", "spool", "objects")
	var want []instance
	hit := false
	attempt := 0
	for attempt < 3 && !hit {
		attempt++
		root := fmt.Sprintf("1.2.826.0.1.3680043.8.1055.80.%d", attempt)
		ins := makeInstances(t, eng, fmt.Sprintf("SEALKILL%d", attempt), root, root+".1", 1, 100)
		want = append(want, ins...)
		s := startStandalone(t, bin, dataDir, attempt)
		if got := sendInstances(s.dicomAddr, ins, nil); len(got) != len(ins) {
			t.Fatalf("run %d: %d of %d acknowledged\n%s", attempt, len(got), len(ins), s.tail(40))
		}
		deadline := time.Now().Add(60 * time.Second)
		for countFiles(objects, nil) >= len(ins) && time.Now().Before(deadline) && s.alive() {
			time.Sleep(50 * time.Microsecond)
		}
		s.kill()
		s.checkRaces()
		c := countData(dataDir)
		hit = c.spool > 0 || c.staging > 0
		t.Logf("run %d: killed at the spool's first deletion after the seal (in the window: %v): %v", attempt, hit, c)
	}
	if !hit {
		t.Skip("no kill landed between the seal and the clean-up in 3 attempts (timing); nothing shown")
	}
	s := startStandalone(t, bin, dataDir, attempt+1)
	uids := map[string]bool{}
	for _, in := range want {
		uids[in.remap] = true
	}
	// The archive fills and the bucket empties; the edge's copies must go too.
	deadline := time.Now().Add(30 * time.Second)
	for c := countData(dataDir); c.archive < len(want) || c.bucket > 0 || c.spool > 0 || c.staging > 0; c = countData(dataDir) {
		if time.Now().After(deadline) {
			t.Errorf("30 s after the restart: %v; want %d archive files and nothing else", c, len(want))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.stop()
	s.checkRaces()
	verifyArchive(t, filepath.Join(dataDir, "archive"), uids)
	verifyNothingLeft(t, dataDir)
}

// waitDrained waits until the archive holds want files, the bucket is
// empty and the status shows nothing open, queued, quarantined, pending or
// dead-lettered; then up to 5 s more for the spool and staging area to
// empty (verifyNothingLeft judges what is left).
func waitDrained(t *testing.T, s *standalone, dataDir string, want int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var c dataCounts
	var st map[string]json.RawMessage
	var err error
	for {
		c = countData(dataDir)
		if c.archive >= want && c.bucket == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			st, err = s.status(ctx)
			cancel()
			if err == nil && statusEmpty(t, st) {
				break
			}
		}
		if time.Now().After(deadline) || !s.alive() {
			t.Fatalf("run %d: not drained within 90 s: %v; want %d archive files\nstatus: %s %v\n%s", s.run, c, want, st, err, s.tail(60))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if c = countData(dataDir); c.spool == 0 && c.staging == 0 {
			break
		}
	}
	t.Logf("run %d: drained: %v", s.run, c)
}

// statusEmpty reports whether /api/status shows no open study, queued
// shipment, quarantine entry, pending delivery or dead letter.
func statusEmpty(t *testing.T, st map[string]json.RawMessage) bool {
	t.Helper()
	var es struct {
		Open       []json.RawMessage `json:"openStudies"`
		Queued     []json.RawMessage `json:"queuedShipments"`
		Quarantine []json.RawMessage `json:"quarantine"`
	}
	var hs struct {
		Pending []json.RawMessage `json:"pending"`
		Dead    []json.RawMessage `json:"deadLetters"`
	}
	if err := json.Unmarshal(st["edge"], &es); err != nil {
		t.Fatalf("edge status %s: %v", st["edge"], err)
	}
	if err := json.Unmarshal(st["hub"], &hs); err != nil {
		t.Fatalf("hub status %s: %v", st["hub"], err)
	}
	return len(es.Open)+len(es.Queued)+len(es.Quarantine)+len(hs.Pending)+len(hs.Dead) == 0
}

var (
	archiveFileRE     = regexp.MustCompile(`^[A-Za-z0-9_]+/[A-Za-z0-9_]+/[A-Za-z0-9_]+/scans/[0-9]+\.[A-Za-z0-9_]+/resources/DICOM/files/[0-9a-f]+(-[0-9]+)?\.dcm$`)
	archiveManifestRE = regexp.MustCompile(`^([A-Za-z0-9_]+/[A-Za-z0-9_]+/[A-Za-z0-9_]+)/MANIFEST(?:\.g([0-9]+))?\.json$`)
)

// verifyArchive checks the archive tree: only DICOM files and manifests,
// every de-identified SOP Instance UID of want exactly once and no other,
// every manifest's files present with its MD5, generations without gaps,
// and no file that no manifest lists.
func verifyArchive(t *testing.T, archive string, want map[string]bool) {
	t.Helper()
	ad := &hub.ArchiveDir{Dir: archive}
	where := map[string][]string{} // SOP Instance UID → files
	listed := map[string]bool{}
	gens := map[string][]int{}
	var dcms []string
	for _, rel := range listFiles(archive) {
		switch {
		case archiveFileRE.MatchString(rel):
			dcms = append(dcms, rel)
			f, err := dicom.Open(filepath.Join(archive, filepath.FromSlash(rel)), &dicom.ParseOptions{StopAtPixelData: true})
			if err != nil {
				t.Errorf("archive file %s: %v", rel, err)
				continue
			}
			uid := f.Dataset.String(dicom.TagSOPInstanceUID)
			f.Close()
			where[uid] = append(where[uid], rel)
		case archiveManifestRE.MatchString(rel):
			sm := archiveManifestRE.FindStringSubmatch(rel)
			b, err := os.ReadFile(filepath.Join(archive, filepath.FromSlash(rel)))
			if err != nil {
				t.Fatal(err)
			}
			m, err := manifest.Parse(b)
			if err != nil {
				t.Errorf("archive manifest %s: %v", rel, err)
				continue
			}
			gens[sm[1]] = append(gens[sm[1]], m.Generation)
			for _, mf := range m.Files {
				p := ad.FilePath(m, mf.Path)
				r, _ := filepath.Rel(archive, p)
				listed[filepath.ToSlash(r)] = true
				fh, err := os.Open(p)
				if err != nil {
					t.Errorf("manifest %s lists %s, not in the archive: %v", rel, mf.Path, err)
					continue
				}
				d, err := manifest.Digest(mf.Path, fh)
				fh.Close()
				if err != nil || d.MD5 != mf.MD5 || d.Size != mf.Size {
					t.Errorf("archive file %s does not match manifest %s (%v)", mf.Path, rel, err)
				}
			}
		default:
			t.Errorf("unexpected file in the archive: %s", rel)
		}
	}
	for _, rel := range dcms {
		if !listed[rel] {
			t.Errorf("archive file %s is in no manifest", rel)
		}
	}
	for sess, g := range gens {
		slices.Sort(g)
		for i, n := range g {
			if n != i+1 {
				t.Errorf("session %s has manifest generations %v: a gap or a repeat", sess, g)
				break
			}
		}
	}
	dups, lost, extra := 0, 0, 0
	for uid, files := range where {
		if len(files) > 1 {
			dups++
			t.Errorf("DUPLICATE: SOP Instance UID %s is in the archive %d times: %v", uid, len(files), files)
		}
		if !want[uid] {
			extra++
			t.Errorf("archive holds SOP Instance UID %s, which is not one of the acknowledged instances", uid)
		}
	}
	for uid := range want {
		if len(where[uid]) == 0 {
			lost++
			t.Errorf("LOST: acknowledged instance (de-identified SOP Instance UID %s) is not in the archive", uid)
		}
	}
	if len(dcms) != len(want) || dups+lost+extra > 0 {
		t.Errorf("archive: %d files for %d acknowledged instances; %d duplicated, %d lost, %d unexpected", len(dcms), len(want), dups, lost, extra)
	} else {
		t.Logf("archive: %d files = %d acknowledged instances, each once, in %d sessions (generations %v)", len(dcms), len(want), len(gens), gens)
	}
}

// verifyNothingLeft checks, after a clean stop, that the spool, staging
// area, quarantine, hub work area and bucket hold nothing.
func verifyNothingLeft(t *testing.T, dataDir string) {
	t.Helper()
	for _, c := range []struct {
		dir  string
		keep func(string) bool
	}{
		{filepath.Join(dataDir, "edge", "spool", "objects"), nil},
		{filepath.Join(dataDir, "edge", "spool", "tmp"), nil},
		{filepath.Join(dataDir, "edge", "staging"), nil},
		{filepath.Join(dataDir, "edge", "quarantine"), nil},
		{filepath.Join(dataDir, "hub", "work"), nil},
		// Objects, and the fs store's per-object records; its temporary
		// files are checked below.
		{filepath.Join(dataDir, "bucket"), func(rel string) bool { return !strings.HasPrefix(rel, ".objstore/tmp/") }},
	} {
		var left []string
		for _, rel := range listFiles(c.dir) {
			if c.keep == nil || c.keep(rel) {
				left = append(left, rel)
			}
		}
		if len(left) > 0 {
			t.Errorf("left behind in %s: %d files: %v", c.dir, len(left), left[:min(len(left), 10)])
		}
	}
	if tmp := listFiles(filepath.Join(dataDir, "bucket", ".objstore", "tmp")); len(tmp) > 0 {
		// Put's temporary files of a killed run; the store removes them
		// when they are an hour old. Not objects, so not a failure.
		t.Logf("bucket: %d temporary files of interrupted PUTs (removed by the store after an hour)", len(tmp))
	}
}

// TestFaultObjectStoreOutage: the edge (in-process, edge-b's put-only key)
// ships to the real SeaweedFS, which goes away twice. First SeaweedFS itself
// is killed (SIGKILL) in the middle of an upload and stays down while more
// studies arrive, then restarts on its data; then, through a proxy, the
// connections are reset after 10 objects of an upload, and later answered
// with 503. Each time the edge must keep receiving, keep the shipments
// (transient failures: upload_failed, not held), retry with growing delays
// and, once the store is back, seal each session exactly once, without
// sending again the objects that made it before the outage.
func TestFaultObjectStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("needs SeaweedFS and restarts it: not in -short")
	}
	srv := seaweed.Start(t)
	direct, err := s3.New(srv.Config(srv.Edge("edge-b")))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startS3Proxy(t, srv.Endpoint, srv.CAFile)
	viaProxyCfg := srv.Config(srv.Edge("edge-b"))
	viaProxyCfg.Endpoint, viaProxyCfg.CAFile = proxy.URL, proxy.CAFile
	viaProxy, err := s3.New(viaProxyCfg)
	if err != nil {
		t.Fatal(err)
	}
	store := &switchStore{}
	store.set(direct)
	adminStore, err := s3.New(srv.Config(srv.Admin))
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "staged/edge-b/"
	if n := count(t, adminStore, prefix, ""); n != 0 {
		t.Fatalf("%d objects under %s before the test", n, prefix)
	}

	keys, _ := deid.NewKeys(salt)
	prof := deid.MustBuiltin("research-default")
	table, err := route.Parse([]byte(`{"AETMap": {"AISEDGE": {"project": "OUTAGE"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	newEngine := func(rt route.Route) (*deid.Engine, error) {
		return deid.New(deid.Config{Profile: prof, Keys: keys, Site: "edge-b", ProjectCode: rt.Project})
	}
	eng, _ := newEngine(route.Route{Project: "OUTAGE"})
	folderOf := func(ins []instance) string {
		f, err := dicom.Open(ins[0].fi.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		res, err := eng.Deidentify(f, deid.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Session.Folder()
	}
	root := "1.2.826.0.1.3680043.8.1055.79"
	studyA := makeInstances(t, eng, "OUTP1", root+".1", root+".1.1", 1, 12)
	studyB := makeInstances(t, eng, "OUTP2", root+".2", root+".2.1", 1, 8)
	studyC := slices.Concat(
		makeInstances(t, eng, "OUTP3", root+".3", root+".3.1", 1, 20),
		makeInstances(t, eng, "OUTP3", root+".3", root+".3.2", 2, 20))
	studyD := slices.Concat(
		makeInstances(t, eng, "OUTP4", root+".4", root+".4.1", 1, 20),
		makeInstances(t, eng, "OUTP4", root+".4", root+".4.2", 2, 20))
	folderA, folderB, folderC, folderD := folderOf(studyA), folderOf(studyB), folderOf(studyC), folderOf(studyD)

	evs := &eventLog{}
	edgeDir := t.TempDir()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))
	e, err := edge.New(edge.Config{
		Name: "edge-b", DataDir: edgeDir, Listen: "127.0.0.1:0", AETitle: "AISEDGE", Routes: table, Engine: newEngine,
		Store: store, Layout: direct.Layout(), Quiet: time.Second, Tick: 200 * time.Millisecond,
		MinFreeBytes: -1, Log: log, EventsOut: evs,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	edgeDone := make(chan error, 1)
	go func() { edgeDone <- e.Run(ctx, func(a net.Addr) { addrc <- a.String() }) }()
	addr := <-addrc

	sendOK := func(ins []instance) {
		t.Helper()
		if got := sendInstances(addr, ins, nil); len(got) != len(ins) {
			t.Fatalf("%d of %d instances acknowledged", len(got), len(ins))
		}
	}
	checkQueued := func(folders ...string) {
		t.Helper()
		st, err := e.Status()
		if err != nil {
			t.Fatal(err)
		}
		queued := map[string]bool{}
		for _, q := range st.Queued {
			queued[edge.Folder(q.Session)] = true
			if q.Held || q.Attempts == 0 || q.LastError == "" {
				t.Errorf("shipment %s generation %d: held %v, attempts %d, last error %q; want retried, not held",
					edge.Folder(q.Session), q.Generation, q.Held, q.Attempts, q.LastError)
			}
		}
		for _, f := range folders {
			if !queued[f] {
				t.Errorf("%s is not queued during the outage: %+v", f, st.Queued)
			}
		}
	}
	checkTransient := func(from int) {
		t.Helper()
		for _, ev := range evs.all("upload_failed")[from:] {
			if ev.m["permanent"] != false {
				t.Errorf("upload_failed marked permanent during an outage: %s", ev.raw)
			}
		}
	}

	// Outage 1: SeaweedFS killed (SIGKILL) right after the 10th object of
	// C's upload is stored; A and B arrive while it is down.
	type downResult struct {
		up func()
		at time.Time
	}
	downc := make(chan downResult, 1)
	store.afterPuts(10, ".dcm", func() { up := srv.Down(t); downc <- downResult{up, time.Now()} })
	sendOK(studyC)
	var dr downResult
	select {
	case dr = <-downc:
	case <-time.After(60 * time.Second):
		t.Fatal("C's upload did not store 10 objects within 60 s")
	}
	t.Logf("outage 1: SeaweedFS killed after 10 objects of C were stored")
	sendOK(studyA)
	sendOK(studyB)
	// The backoff is the edge loop's: it grows with consecutive failed
	// rounds, so it is measured on C, which failed first.
	evs.wait(t, 60*time.Second, "5 failed uploads of C, and one of A and of B", func() bool {
		return len(evs.times("upload_failed", folderC)) >= 5 && len(evs.times("upload_failed", folderA)) >= 1 &&
			len(evs.times("upload_failed", folderB)) >= 1
	})
	checkQueued(folderA, folderB, folderC)
	checkTransient(0)
	fails := evs.times("upload_failed", folderC)
	gaps := make([]time.Duration, 4)
	for i := range gaps {
		gaps[i] = fails[i+1].Sub(fails[i])
	}
	// Without backoff the edge would try every tick (200 ms: 0.8 s for
	// five attempts); with it the waits double from 0.2 s (3 s for five).
	// Slack for attempts that take a while to fail.
	if span := fails[4].Sub(fails[0]); gaps[3] < 800*time.Millisecond || span < 2*time.Second {
		t.Errorf("retry intervals %v (%v for 5 attempts) do not grow: no backoff", gaps, span)
	}
	t.Logf("outage 1: first retry intervals of C: %v", gaps)
	dr.up()
	down := dr.at
	restored := time.Now()
	evs.wait(t, 120*time.Second, "A, B and C sealed", func() bool { return len(evs.all("upload_completed")) == 3 })
	t.Logf("outage 1: SeaweedFS down %v (restart included), %d failed attempts; all sealed %v after it was back",
		restored.Sub(down).Round(time.Millisecond), len(evs.all("upload_failed")), time.Since(restored).Round(time.Millisecond))
	checkSealedOnce(t, adminStore, prefix+folderA+"/", len(studyA))
	checkSealedOnce(t, adminStore, prefix+folderB+"/", len(studyB))
	checkSealedOnce(t, adminStore, prefix+folderC+"/", len(studyC))

	// Outage 2, through the proxy: in the middle of D's upload, after 10
	// objects the proxy resets connections; later it answers 503.
	store.set(viaProxy)
	proxy.cutAfterPuts(10, ".dcm", proxyReset)
	failsBefore := len(evs.all("upload_failed"))
	sendOK(studyD)
	evs.wait(t, 60*time.Second, "3 failed uploads of D", func() bool { return len(evs.times("upload_failed", folderD)) >= 3 })
	proxy.setMode(proxyUnavailable)
	evs.wait(t, 60*time.Second, "a failed upload of D on a 503", func() bool {
		for _, ev := range evs.all("upload_failed") {
			if ev.str("session") == folderD && strings.Contains(ev.str("msg"), "unavailable") {
				return true
			}
		}
		return false
	})
	checkQueued(folderD)
	checkTransient(failsBefore)
	partial := count(t, adminStore, prefix+folderD+"/", "")
	if partial < 10 || partial >= len(studyD) || count(t, adminStore, prefix+folderD+"/", "MANIFEST") != 0 {
		t.Errorf("during outage 2 the bucket holds %d objects of D (want at least 10 and no manifest)", partial)
	}
	t.Logf("outage 2: %d of %d objects of D stored before the cut, %d failed attempts", partial, len(studyD), len(evs.times("upload_failed", folderD)))
	proxy.setMode(proxyUp)
	evs.wait(t, 60*time.Second, "D sealed", func() bool { return len(evs.all("upload_completed")) == 4 })
	checkSealedOnce(t, adminStore, prefix+folderD+"/", len(studyD))
	for key, n := range proxy.putsUnder("/" + folderD + "/") {
		if n != 1 {
			t.Errorf("%s was stored %d times: objects uploaded before the outage were sent again", key, n)
		}
	}
	if st, _ := e.Status(); len(st.Queued) != 0 || st.LastError != "" {
		t.Errorf("after the outages: queued %+v, last error %q", st.Queued, st.LastError)
	}
	for _, f := range []string{folderA, folderB, folderC, folderD} {
		if n := len(evs.times("upload_completed", f)); n != 1 {
			t.Errorf("%s: %d upload_completed events, want 1", f, n)
		}
	}
	cancel()
	if err := <-edgeDone; err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(edgeDir, "spool", "objects"), filepath.Join(edgeDir, "staging")} {
		if left := listFiles(d); len(left) > 0 {
			t.Errorf("after the sessions were sealed, %s still holds %d files", d, len(left))
		}
	}

	// The hub delivers the four sessions, each instance once, and empties
	// the bucket.
	archive := t.TempDir()
	h, err := hub.Open(hub.Config{Store: adminStore, Prefix: prefix, Destinations: []hub.Target{{Dest: &hub.ArchiveDir{Dir: archive}}}, DataDir: t.TempDir(), EventsOut: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, in := range slices.Concat(studyA, studyB, studyC, studyD) {
		want[in.remap] = true
	}
	verifyArchive(t, archive, want)
	if n := count(t, adminStore, prefix, ""); n != 0 {
		t.Errorf("%d objects left under %s after the hub's delivery", n, prefix)
	}
}

// switchStore is an objstore.Store whose backend the test switches (the
// edge talks to SeaweedFS directly, then through the proxy).
type switchStore struct {
	mu  sync.Mutex
	cur objstore.Store
	// after n more successful Puts of keys ending in suffix, hook runs
	// (once, in the Put's goroutine, before Put returns).
	n      int
	suffix string
	hook   func()
}

func (s *switchStore) afterPuts(n int, suffix string, hook func()) {
	s.mu.Lock()
	s.n, s.suffix, s.hook = n, suffix, hook
	s.mu.Unlock()
}

func (s *switchStore) set(st objstore.Store) { s.mu.Lock(); s.cur = st; s.mu.Unlock() }
func (s *switchStore) get() objstore.Store   { s.mu.Lock(); defer s.mu.Unlock(); return s.cur }

func (s *switchStore) Put(ctx context.Context, key string, r io.Reader, size int64, o objstore.PutOptions) (objstore.Info, error) {
	info, err := s.get().Put(ctx, key, r, size, o)
	if err == nil {
		var hook func()
		s.mu.Lock()
		if s.hook != nil && strings.HasSuffix(key, s.suffix) {
			if s.n--; s.n == 0 {
				hook, s.hook = s.hook, nil
			}
		}
		s.mu.Unlock()
		if hook != nil {
			hook()
		}
	}
	return info, err
}
func (s *switchStore) Stat(ctx context.Context, key string) (objstore.Info, error) {
	return s.get().Stat(ctx, key)
}
func (s *switchStore) List(ctx context.Context, prefix string) iter.Seq2[objstore.Info, error] {
	return s.get().List(ctx, prefix)
}
func (s *switchStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.get().Get(ctx, key)
}
func (s *switchStore) Delete(ctx context.Context, key string) error { return s.get().Delete(ctx, key) }

// checkSealedOnce checks one sealed session in the bucket: one manifest
// (generation 1), whose files are exactly the other objects, each with the
// manifest's size and MD5 (the ETag of a single-part upload).
func checkSealedOnce(t *testing.T, store objstore.Store, base string, files int) {
	t.Helper()
	objs := map[string]objstore.Info{}
	for info, err := range store.List(context.Background(), base) {
		if err != nil {
			t.Fatal(err)
		}
		objs[strings.TrimPrefix(info.Key, base)] = info
	}
	names := slices.Sorted(maps.Keys(objs))
	if _, ok := objs[manifest.FileName]; !ok {
		t.Errorf("%s: no %s among the %d objects: %v", base, manifest.FileName, len(objs), names)
		return
	}
	rc, err := store.Get(context.Background(), base+manifest.FileName)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	m, err := manifest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != files || len(objs) != files+1 {
		t.Errorf("%s: manifest lists %d files and the bucket holds %d objects; want %d files and the manifest", base, len(m.Files), len(objs), files)
	}
	inManifest := map[string]bool{manifest.FileName: true}
	for _, f := range m.Files {
		inManifest[f.Path] = true
		info, ok := objs[f.Path]
		if !ok {
			t.Errorf("SEALED BUT MISSING: %s%s is in the sealed manifest, not in the bucket", base, f.Path)
			continue
		}
		if info.Size != f.Size || objstore.NormalizeETag(info.ETag) != f.MD5 {
			t.Errorf("%s%s: listed size %d ETag %s, manifest size %d MD5 %s", base, f.Path, info.Size, info.ETag, f.Size, f.MD5)
		}
	}
	for _, n := range names {
		if !inManifest[n] {
			t.Errorf("%s%s: in the bucket, in no manifest", base, n)
		}
	}
}

// eventLog is the edge's EventsOut: it keeps every event line with the
// time it was written.
type eventLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []procLine
}

func (l *eventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(l.buf.Next(i + 1))
		ll := procLine{at: time.Now(), raw: strings.TrimSpace(line)}
		json.Unmarshal([]byte(line), &ll.m)
		l.lines = append(l.lines, ll)
	}
	return len(p), nil
}

func (l *eventLog) all(event string) []procLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []procLine
	for _, ll := range l.lines {
		if ll.str("event") == event {
			out = append(out, ll)
		}
	}
	return out
}

func (l *eventLog) times(event, session string) []time.Time {
	var out []time.Time
	for _, ll := range l.all(event) {
		if ll.str("session") == session {
			out = append(out, ll.at)
		}
	}
	return out
}

func (l *eventLog) wait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			l.mu.Lock()
			n := len(l.lines)
			tail := l.lines[max(0, n-20):]
			var b strings.Builder
			for _, ll := range tail {
				b.WriteString(ll.raw + "\n")
			}
			l.mu.Unlock()
			t.Fatalf("%s: not within %v; last events:\n%s", what, d, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
