package dimse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/orthanc"
)

// startStorescp runs dcmtk storescp with opts (before its port) until the
// test ends and returns its address, once it answers a C-ECHO.
func startStorescp(t *testing.T, opts ...string) string {
	t.Helper()
	p := startPeer(t, "storescp.log", "storescp", 1,
		func(p []int, _ int) []string { return append(append([]string{}, opts...), strconv.Itoa(p[0])) },
		func(p []int, timeout time.Duration) error {
			return echo(fmt.Sprintf("127.0.0.1:%d", p[0]), "STORESCP", timeout)
		}, nil)
	return fmt.Sprintf("127.0.0.1:%d", p.ports[0])
}

// echo checks with a C-ECHO that a DICOM peer serves addr (within
// timeout).
func echo(addr, aet string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := Dial(ctx, addr, DialConfig{CalledAET: aet, Timeout: timeout})
	if err != nil {
		return err
	}
	defer c.Release()
	return c.Echo(ctx)
}

func corpusInstances(t testing.TB, files []*sourceFile) []*FileInstance {
	t.Helper()
	var out []*FileInstance
	for _, sf := range files {
		fi, err := ReadFileInstance(sf.Path)
		if err != nil {
			t.Fatalf("ReadFileInstance(%s): %v", sf.Path, err)
		}
		if fi.SOPInstanceUID != sf.SOPInstance || fi.SOPClassUID != sf.SOPClass || fi.TransferSyntaxUID != sf.TS {
			t.Fatalf("%s: header scan %+v disagrees with the codec (%s %s %s)", sf.Path, fi, sf.SOPClass, sf.SOPInstance, sf.TS)
		}
		out = append(out, fi)
	}
	return out
}

func TestReadFileInstanceRejects(t *testing.T) {
	for _, n := range []string{"pydicom_chrSQEncoding1.dcm", "pydicom_nested_priv_SQ.dcm", "README.md"} {
		if _, err := ReadFileInstance(filepath.Join(testdataDir, n)); err == nil {
			t.Errorf("%s: accepted as sendable", n)
		}
	}
}

func sendAll(t *testing.T, addr string, files []*FileInstance, opts SendOptions) SendSummary {
	t.Helper()
	// A ceiling, not a budget.
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	if opts.Dial.CalledAET == "" {
		opts.Dial.CalledAET = "AISEDGE"
	}
	sum := SendFiles(ctx, addr, files, opts)
	for _, f := range sum.Failures {
		t.Errorf("%s: %v", filepath.Base(f.File.Path), f.Err)
	}
	if sum.Sent != len(files) {
		t.Errorf("sent %d of %d", sum.Sent, len(files))
	}
	return sum
}

// TestSendToSelf sends the corpus with SendFiles to our own receiver: the
// data sets must arrive byte for byte, whatever their transfer syntax.
func TestSendToSelf(t *testing.T) {
	_, files := testCorpus(t)
	fis := corpusInstances(t, files)
	for _, par := range []int{1, 3} {
		t.Run(fmt.Sprintf("parallel%d", par), func(t *testing.T) {
			srv := startServer(t, nil)
			sendAll(t, srv.Addr, fis, SendOptions{Parallel: par, PerAssociation: 40})
			checkReceived(t, srv, files, func(*sourceFile) bool { return true }, true)
		})
	}
}

// TestReceiveInMemory sends the corpus to a receiver that keeps instances
// up to 64 KiB in memory (ServerConfig.MemoryBytes): the small ones reach
// the handler as Instance.Data, the others move to a file as they outgrow
// the buffer, and every one arrives byte for byte (the handler writes
// in-memory ones out with Instance.Materialize). One association carries
// many instances, so a buffer reused too early would show.
func TestReceiveInMemory(t *testing.T) {
	_, files := testCorpus(t)
	fis := corpusInstances(t, files)
	const limit = 64 << 10
	srv := startServer(t, func(c *ServerConfig) { c.HandlerSyncs = true; c.MemoryBytes = limit })
	sendAll(t, srv.Addr, fis, SendOptions{Parallel: 1, PerAssociation: 1000})
	checkReceived(t, srv, files, func(*sourceFile) bool { return true }, true)
	var mem, file int
	for _, r := range srv.Store.all() {
		switch {
		case r.InMemory && r.Size > limit:
			t.Errorf("%d-byte instance handed over in memory (limit %d)", r.Size, limit)
		case !r.InMemory && r.Size <= limit:
			t.Errorf("%d-byte instance handed over as a file (limit %d)", r.Size, limit)
		case r.InMemory:
			mem++
		default:
			file++
		}
	}
	if mem == 0 || file == 0 {
		t.Fatalf("%d instances in memory, %d in files: the corpus should give both", mem, file)
	}
	if _, err := NewServer(ServerConfig{Handler: srv.Store, TempDir: t.TempDir(), MemoryBytes: limit}); err == nil {
		t.Fatal("NewServer took MemoryBytes without HandlerSyncs")
	}
}

// TestSendTranscodes checks the fallback: a receiver that only accepts
// Implicit VR Little Endian gets uncompressed files re-encoded and refuses
// nothing else; compressed files fail without being decompressed.
func TestSendTranscodes(t *testing.T) {
	_, files := testCorpus(t)
	var pick []*sourceFile
	for _, sf := range files {
		if strings.Contains(sf.Path, "dicomdirtests") {
			continue
		}
		pick = append(pick, sf)
	}
	fis := corpusInstances(t, pick)
	dir := t.TempDir()
	// storescp +xi: accepts Implicit VR Little Endian only.
	addr := startStorescp(t, "+xi", "-pm", "+uf", "-od", dir)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	sum := SendFiles(ctx, addr, fis, SendOptions{Dial: DialConfig{CalledAET: "STORESCP"}})
	for _, f := range sum.Failures {
		if transcodable(f.File.TransferSyntaxUID) {
			t.Errorf("%s (%s): %v", filepath.Base(f.File.Path), uidName(f.File.TransferSyntaxUID), f.Err)
		} else if !strings.Contains(f.Err.Error(), "no accepted presentation context") {
			t.Errorf("%s: compressed file failed for another reason: %v", filepath.Base(f.File.Path), f.Err)
		}
	}
	stored := storedBySOP(t, dir)
	for _, sf := range pick {
		if !transcodable(sf.TS) {
			continue
		}
		if !containsMatch(t, stored[sf.SOPInstance], sf, false) {
			t.Errorf("%s: no data-set-equal copy stored by storescp", filepath.Base(sf.Path))
		}
	}
}

// storedBySOP parses every file under dir and indexes them by SOP Instance UID.
func storedBySOP(t testing.TB, dir string) map[string][]*dicom.File {
	t.Helper()
	out := map[string][]*dicom.File{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		f, err := dicom.ReadFileBytes(mustRead(t, p), nil)
		if err != nil {
			t.Errorf("stored %s does not parse: %v", p, err)
			return nil
		}
		uid := f.Dataset.String(dicom.TagSOPInstanceUID)
		out[uid] = append(out[uid], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func containsMatch(t testing.TB, cands []*dicom.File, sf *sourceFile, strict bool) bool {
	src, err := dicom.ReadFileBytes(mustRead(t, sf.Path), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		if diffDatasets(src.Dataset, c.Dataset, strict && c.TransferSyntax.UID == sf.TS, "") == "" {
			return true
		}
	}
	return false
}

// TestSendToStorescp delivers the corpus to dcmtk storescp accepting every
// transfer syntax, bit-preserving: each stored data set must equal the file.
func TestSendToStorescp(t *testing.T) {
	_, files := testCorpus(t)
	fis := corpusInstances(t, files)
	dir := t.TempDir()
	addr := startStorescp(t, "+xa", "-pm", "+B", "+uf", "-od", dir)
	sendAll(t, addr, fis, SendOptions{Dial: DialConfig{CalledAET: "STORESCP"}, PerAssociation: 50, Parallel: 2})
	// Bit-preserving storescp keeps the received data set bytes.
	got := map[string][][]byte{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sf, ok := loadSource(p)
		f.Close()
		if !ok {
			t.Errorf("storescp wrote an unreadable file %s", e.Name())
			continue
		}
		got[sf.SOPInstance] = append(got[sf.SOPInstance], sf.Data)
	}
	for _, sf := range files {
		found := false
		for _, d := range got[sf.SOPInstance] {
			if sameSent(d, sf.Data) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: not stored unchanged by storescp", filepath.Base(sf.Path))
		}
	}
}

// startOrthanc starts a private Orthanc (internal/testpeer/orthanc);
// modalities maps names to [AET, host, port].
func startOrthanc(t testing.TB, modalities map[string][]any) *orthanc.Server {
	t.Helper()
	return orthanc.Start(t, orthanc.Options{Modalities: modalities})
}

// TestOrthancPushesToUs uploads the corpus to Orthanc over REST, then asks
// Orthanc to C-STORE it to our receiver (POST /modalities/{name}/store).
func TestOrthancPushesToUs(t *testing.T) {
	_, files := testCorpus(t)
	srv := startServer(t, nil)
	port := 0
	fmt.Sscan(srv.Port, &port)
	o := startOrthanc(t, map[string][]any{"aisedge": {"AISEDGE", "127.0.0.1", port}})
	var ids []string
	for _, sf := range files {
		var r struct{ ID string }
		o.Do(t, "POST", "/instances", bytes.NewReader(mustRead(t, sf.Path)), &r)
		ids = append(ids, r.ID)
	}
	var uniq []string
	seen := map[string]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	body, _ := json.Marshal(map[string]any{"Resources": uniq, "Synchronous": true})
	var res struct{ InstancesCount, FailedInstancesCount int }
	o.Do(t, "POST", "/modalities/aisedge/store", bytes.NewReader(body), &res)
	t.Logf("Orthanc store job: %d instances, %d failed", res.InstancesCount, res.FailedInstancesCount)
	if res.FailedInstancesCount != 0 {
		t.Errorf("Orthanc reports %d failed instances", res.FailedInstancesCount)
	}
	if m := srv.Metrics.Snapshot(); m.StoresOK != int64(len(uniq)) || m.StoresFailed != 0 {
		t.Errorf("received %d ok / %d failed, want %d ok", m.StoresOK, m.StoresFailed, len(uniq))
	}
	// Each instance Orthanc kept (the first of duplicate UIDs) must have
	// arrived equal to what Orthanc holds.
	got := srv.Store.all()
	for _, id := range uniq {
		var raw []byte
		o.Do(t, "GET", "/instances/"+id+"/file", nil, &raw)
		held, err := dicom.ReadFileBytes(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		uid := held.Dataset.String(dicom.TagSOPInstanceUID)
		ok := false
		for _, r := range got {
			if r.SOPInstanceUID != uid {
				continue
			}
			st, err := dicom.ReadFileBytes(mustRead(t, r.FinalPath), nil)
			if err == nil && diffDatasets(held.Dataset, st.Dataset, r.TransferSyntaxUID == held.TransferSyntax.UID, "") == "" {
				ok = true
			}
		}
		if !ok {
			t.Errorf("instance %s (%s) not received equal", id, uid)
		}
	}
}

// TestSendToOrthanc delivers the corpus to Orthanc with SendFiles.
func TestSendToOrthanc(t *testing.T) {
	_, files := testCorpus(t)
	fis := corpusInstances(t, files)
	o := startOrthanc(t, map[string][]any{})
	sendAll(t, o.DICOMAddr, fis, SendOptions{Dial: DialConfig{CalledAET: "ORTHANC"}, Parallel: 2})
	var stats struct{ CountInstances int }
	o.Do(t, "GET", "/statistics", nil, &stats)
	uniq := map[string]bool{}
	for _, sf := range files {
		uniq[sf.SOPInstance] = true
	}
	if stats.CountInstances != len(uniq) {
		t.Errorf("Orthanc holds %d instances, want %d", stats.CountInstances, len(uniq))
	}
	// Compare what Orthanc holds with the sources, by SOP Instance UID.
	var ids []string
	o.Do(t, "GET", "/instances", nil, &ids)
	held := map[string]*dicom.File{}
	for _, id := range ids {
		var raw []byte
		o.Do(t, "GET", "/instances/"+id+"/file", nil, &raw)
		f, err := dicom.ReadFileBytes(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		held[f.Dataset.String(dicom.TagSOPInstanceUID)] = f
	}
	for uid := range uniq {
		f := held[uid]
		if f == nil {
			t.Errorf("%s missing in Orthanc", uid)
			continue
		}
		var cands []*sourceFile
		for _, sf := range files {
			if sf.SOPInstance == uid {
				cands = append(cands, sf)
			}
		}
		ok := false
		for _, sf := range cands {
			if containsMatch(t, []*dicom.File{f}, sf, true) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s: Orthanc's copy differs from every source", filepath.Base(cands[0].Path))
		}
	}
}
