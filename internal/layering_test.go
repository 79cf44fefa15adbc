// Package internal_test holds the layering test: which of the project's
// packages may depend on which, read from `go list` (imports of the
// packages themselves, not of their tests).
package internal_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/aisedge/aisedge/"

// graph is the import graph of the module's packages (without tests) and
// of everything they import.
type graph map[string][]string

func loadGraph(t *testing.T) graph {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Fatal("no go command to list the packages with")
		}
	}
	cmd := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = ".." // the module's root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g := graph{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		g[f[0]] = f[1:]
	}
	return g
}

// under returns the module's packages at path or below it.
func (g graph) under(path string) []string {
	var out []string
	for p := range g {
		if p == module+path || strings.HasPrefix(p, module+path+"/") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// chain returns a chain of imports from pkg to a package that bad
// accepts, or nil.
func (g graph) chain(pkg string, bad func(string) bool) []string {
	seen := map[string]bool{}
	var walk func(p string) []string
	walk = func(p string) []string {
		if seen[p] {
			return nil
		}
		seen[p] = true
		for _, q := range g[p] {
			if bad(q) {
				return []string{p, q}
			}
			if c := walk(q); c != nil {
				return append([]string{p}, c...)
			}
		}
		return nil
	}
	return walk(pkg)
}

// in reports whether p is one of the module's paths or below one of them.
func in(paths ...string) func(string) bool {
	return func(p string) bool {
		for _, q := range paths {
			if strings.HasPrefix(q, "internal/") || strings.HasPrefix(q, "cmd/") {
				q = module + q
			}
			if p == q || strings.HasPrefix(p, q+"/") {
				return true
			}
		}
		return false
	}
}

var (
	network = []string{"net", "net/http", "crypto/tls", "os/exec", "github.com/minio/minio-go/v7"}
	storage = []string{"internal/objstore", "internal/spool", "go.etcd.io/bbolt"}
)

func TestLayering(t *testing.T) {
	g := loadGraph(t)
	for _, tc := range []struct {
		rule   string
		pkgs   string   // these packages (and those below) ...
		forbid []string // ... import none of these, directly or not
		only   bool     // pkgs itself, not those below
	}{
		{"the codec knows no network or storage", "internal/dicom",
			slices.Concat(network, storage, []string{"internal/dimse", "internal/deid", "internal/edge", "internal/hub", "internal/xnat"}), false},
		{"de-identification is pure: no network, no storage, no DICOM networking", "internal/deid",
			slices.Concat(network, storage, []string{"internal/dimse", "internal/edge", "internal/hub", "internal/xnat", "internal/fleet"}), false},
		{"the receiver hands off through its Handler interface", "internal/dimse",
			slices.Concat(storage, []string{"internal/deid", "internal/edge", "internal/hub", "internal/xnat"}), false},
		{"deployment never imports de-identification", "internal/fleet",
			[]string{"internal/deid", "internal/dimse", "internal/edge", "internal/hub", "internal/xnat"}, false},
		{"failure classes and backoff are for every package: no network, nothing of the project", "internal/fault",
			slices.Concat(network, []string{strings.TrimSuffix(module, "/")}), true},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			pkgs := g.under(tc.pkgs)
			if tc.only {
				pkgs = slices.DeleteFunc(pkgs, func(p string) bool { return p != module+tc.pkgs })
			}
			if len(pkgs) == 0 {
				t.Fatalf("no package under %s: the rule checks nothing", tc.pkgs)
			}
			for _, p := range pkgs {
				if c := g.chain(p, in(tc.forbid...)); c != nil {
					t.Errorf("%s imports %s", strings.TrimPrefix(c[0], module), strings.Join(c[1:], " → "))
				}
			}
		})
	}
}

// TestXNATOnlyInTheHub: the XNAT client is imported by the hub (its
// destination), by its own emulator, and by the command that builds the
// hub's destination from the configuration; by nothing else.
func TestXNATOnlyInTheHub(t *testing.T) {
	g := loadGraph(t)
	allowed := in("internal/hub", "internal/xnat", "cmd/aisedge")
	var importers []string
	for p, imps := range g {
		if slices.Contains(imps, module+"internal/xnat") {
			importers = append(importers, strings.TrimPrefix(p, module))
			if !allowed(p) {
				t.Errorf("%s imports internal/xnat: XNAT calls live in the hub", strings.TrimPrefix(p, module))
			}
		}
	}
	if !slices.Contains(importers, "internal/hub") {
		t.Fatalf("internal/hub does not import internal/xnat (importers: %q): the rule checks nothing", importers)
	}
}
