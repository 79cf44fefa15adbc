package join

import (
	"os"
	"strings"
	"testing"
)

func TestReplaceHostsBlock(t *testing.T) {
	block := hostsBlock("10.0.0.1", []string{"k0s-a.x", "seaweedfs.x"})
	base := "127.0.0.1\tlocalhost\n10.1.2.3 pacs\n"
	tests := []struct {
		name, in, block, want, err string
	}{
		{name: "appended", in: base, block: block, want: base + block},
		{name: "same block unchanged", in: base + block, block: block, want: base + block},
		{name: "replaced in place", in: "a\n" + strings.Replace(block, "10.0.0.1", "10.9.9.9", 1) + "b\n", block: block, want: "a\n" + block + "b\n"},
		{name: "no final newline", in: "127.0.0.1 localhost", block: block, want: "127.0.0.1 localhost\n" + block},
		{name: "removed (cloud)", in: "a\n" + block + "b\n", block: "", want: "a\nb\n"},
		{name: "nothing to remove", in: base, block: "", want: base},
		{name: "two blocks become one", in: block + "a\n" + block, block: block, want: block + "a\n"},
		{name: "empty file", in: "", block: block, want: block},
		{name: "unterminated", in: "a\n" + BeginMarker + "\n1.2.3.4 x\n", block: block, err: "without"},
		{name: "stray end", in: "a\n" + EndMarker + "\n", block: block, err: "without"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replaceHostsBlock(tt.in, tt.block)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if again, _ := replaceHostsBlock(got, tt.block); again != got {
				t.Errorf("not idempotent:\n%s", again)
			}
		})
	}
}

func TestConflictingHosts(t *testing.T) {
	in := "127.0.0.1 localhost\n10.0.0.9 k0s.aisedge.local # the original's\n" + hostsBlock("10.0.0.1", []string{"k0s.aisedge.local"})
	got := conflictingHosts(in, []string{"k0s.aisedge.local"})
	if len(got) != 1 || !strings.HasPrefix(got[0], "10.0.0.9") {
		t.Errorf("got %q", got)
	}
}

// k0sCorefile is the Corefile k0s v1.35 deploys (jointest embeds the same
// file; it imports this package, so it cannot be imported here).
var k0sCorefile = func() string {
	b, err := os.ReadFile("jointest/k0s.Corefile")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func TestPatchCorefile(t *testing.T) {
	names := []string{"k0s-a.x", "konnect-a.x", "seaweedfs.x"}
	ourBlock := "    " + beginComment + "\n    hosts {\n        10.0.0.1 k0s-a.x konnect-a.x seaweedfs.x\n        fallthrough\n    }\n    " + EndMarker + "\n"
	patched := strings.Replace(k0sCorefile, ".:53 {\n", ".:53 {\n"+ourBlock, 1)
	original := strings.Replace(k0sCorefile, "    reload\n", "    reload\n    hosts {\n      10.0.0.7 k0s-a.x seaweedfs.x\n      10.0.0.8 printer.local\n      fallthrough\n    }\n", 1)
	tests := []struct {
		name, in, ip string
		names        []string
		want, err    string
	}{
		{name: "k0s default", in: k0sCorefile, ip: "10.0.0.1", names: names, want: patched},
		{name: "already patched", in: patched, ip: "10.0.0.1", names: names, want: patched},
		{name: "new IP replaced in place", in: strings.Replace(patched, "10.0.0.1", "10.0.0.2", 1), ip: "10.0.0.1", names: names, want: patched},
		{name: "removed (cloud)", in: patched, ip: "", names: nil, want: k0sCorefile},
		{name: "cloud, nothing to remove", in: k0sCorefile, names: nil, want: k0sCorefile},
		{name: "the original's hosts plugin taken over", in: original, ip: "10.0.0.1", names: names,
			want: strings.Replace(k0sCorefile, "    reload\n", "    reload\n    "+beginComment+"\n    hosts {\n        10.0.0.1 k0s-a.x konnect-a.x seaweedfs.x\n        10.0.0.8 printer.local\n        fallthrough\n    }\n    "+EndMarker+"\n", 1)},
		{name: "no root server block", in: "example.org {\n    whoami\n}\n", ip: "10.0.0.1", names: names, err: "no root server block"},
		{name: "unterminated marker", in: "    " + BeginMarker + "\n" + k0sCorefile, ip: "10.0.0.1", names: names, err: "without"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := patchCorefile(tt.in, tt.ip, tt.names)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if strings.Count(got, "{") != strings.Count(got, "}") {
				t.Errorf("braces unbalanced:\n%s", got)
			}
			if again, _ := patchCorefile(got, tt.ip, tt.names); again != got {
				t.Errorf("not idempotent:\n%s", again)
			}
		})
	}
}

func TestParseK0sState(t *testing.T) {
	tests := []struct {
		out  string
		want k0sState
	}{
		{"missing\n", k0sState{missing: true}},
		{"binary /usr/local/bin/k0s\n", k0sState{binary: "/usr/local/bin/k0s"}},
		{"binary /usr/local/bin/k0s\ninstalled /etc/systemd/system/k0sworker.service\ntoken abc\nrunning\n",
			k0sState{binary: "/usr/local/bin/k0s", installed: true, tokenSum: "abc", running: true}},
		{"", k0sState{}}, // a dry run: nothing known, everything shown
	}
	for _, tt := range tests {
		if got := parseK0sState([]byte(tt.out)); got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.out, got, tt.want)
		}
	}
}
