package dimsebench

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/bench/internal/smoke"
)

// TestSmokeBenchmarks runs BenchmarkCStore once per file in smoke mode.
func TestSmokeBenchmarks(t *testing.T) {
	want := map[string][]string{}
	for _, name := range []string{"pydicom_MR_small_implicit.dcm", "pydicom_CT_small.dcm", "suyashkumar_5_CT_multiframe.dcm"} {
		want["BenchmarkCStore/"+name] = []string{"MB/s", "inst/s"}
	}
	smoke.Benchmarks(t, want)
}

// TestSmokeCStoreScript runs cstore_bench.sh in smoke mode (one run of 4
// CT instances through every server and sender, on free ports) and checks
// every run stored (or, for the Lua hook, de-identified) all it was sent
// and every ratio was printed for every sender. The CT workload is the one kept: its 531 kB instances span
// several PDUs; the MR template is checked by benchdata's test (each run
// costs 1-4 s of process starts and stops on a loaded 2-core machine, so
// the small workload would double the time for little).
func TestSmokeCStoreScript(t *testing.T) {
	if smoke.Enabled() {
		t.Skip("already in smoke mode (the child process)")
	}
	for _, b := range []string{"storescu", "storescp", "Orthanc", "curl", "ss"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed: run ./scripts/test", b)
		}
	}
	ports := freePorts(t, 2)
	out := smoke.Script(t, "bench/dimse/cstore_bench.sh", "BENCH_DIR="+t.TempDir(),
		fmt.Sprint("PORT=", ports[0]), fmt.Sprint("HPORT=", ports[1]))

	num := `[0-9]+(\.[0-9]+)?`
	runRe := regexp.MustCompile(`^(aisedge|storescp|orthanc|run|orthanc-lua)\s+(\S+)\s+(small|ct)\s+run=1 n=([0-9]+) wall=` + num + `s inst/s=[0-9]+ MB/s=` + num + ` stored=([0-9]+) srvCPU=` + num + `s srvRSS=[0-9]+MiB rc=([0-9]+) sndCPU=` + num + `s mkfile=[0-9]+us$`)
	runs, workloads := 0, []string{"ct"}
	for _, l := range strings.Split(out, "\n") {
		m := runRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		runs++
		if n := map[string]string{"small": "20", "ct": "4"}[m[3]]; m[4] != n || m[7] != n || m[9] != "0" {
			t.Errorf("run %q: want n=%s stored=%s rc=0", l, n, n)
		}
	}
	if runs != 15*len(workloads) {
		t.Errorf("%d run lines, want %d (5 servers x 3 senders x %v)", runs, 15*len(workloads), workloads)
	}
	for _, snd := range []string{"storescu", "aisedge", "aisedge-p4"} {
		re := regexp.MustCompile(`(?m)^run\s+` + snd + `\s+ct\s+server=\s*` + num + ` sender=\s*` + num + ` ceiling=\s*[0-9]+ inst/s mkfile=[0-9]+us$`)
		if !re.MatchString(out) {
			t.Errorf("no CPU line for run with %s", snd)
		}
	}
	if strings.Contains(out, "INCOMPLETE") {
		t.Error("a median is marked INCOMPLETE STORE")
	}
	for _, wl := range workloads {
		for _, snd := range []string{"storescu", "aisedge", "aisedge-p4"} {
			for _, ratios := range []string{`receive/storescp=` + num + `\s+receive/orthanc=` + num, `run/orthanc=` + num + `\s+run/orthanc-lua=` + num} {
				re := regexp.MustCompile(`(?m)^` + wl + `\s+sender=` + snd + `\s+` + ratios + `$`)
				if !re.MatchString(out) {
					t.Errorf("no ratio line %s for %s sent by %s", ratios, wl, snd)
				}
			}
		}
	}
}

// freePorts returns n distinct loopback ports free right now.
func freePorts(t *testing.T, n int) []int {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
