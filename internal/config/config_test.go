package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestEffectiveConfig(t *testing.T) {
	f, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "valid.effective.golden", string(b))
	if f.Edge.FacilityBackup.MaxBytes != 500<<30 {
		t.Errorf("maxBytes %d", f.Edge.FacilityBackup.MaxBytes)
	}
}

// TestProblems is the table of testdata/problems/*.yaml: each file's
// problems, all at once, each with file:line, field and fix, against
// <name>.golden ("valid" when there are none).
func TestProblems(t *testing.T) {
	files, err := filepath.Glob("testdata/problems/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no cases", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := Load(file)
			got := "valid\n"
			if err != nil {
				got = err.Error() + "\n"
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("not a *config.Error: %v", err)
				}
				for _, p := range ce.Problems {
					if p.Line == 0 || p.Field == "" || p.Fix == "" || p.File != file {
						t.Errorf("problem without file, line, field or fix: %s", p)
					}
				}
			}
			golden(t, "problems/"+name+".golden", got)
		})
	}
}

// The values the problems table shows as decoded are decoded.
func TestDecodedValues(t *testing.T) {
	f, _ := Load("testdata/problems/anchors.yaml")
	if f.Hub.S3.Endpoint != "https://seaweedfs.aisedge.local" || f.Hub.S3.Bucket != "Other_Bucket" || f.Edge.S3.Bucket != "ingest-bucket" {
		t.Errorf("merge: %+v %+v", f.Hub.S3, f.Edge.S3)
	}
	f, _ = Parse("t.yaml", []byte("hub:\n  retain: True\n  interval: 90s\n  parallel: 0x10\n  httpActions: {enabled: true, tokenFile: /t, allowedHosts: [a, 'b:1']}\n"))
	if !f.Hub.Retain || f.Hub.Interval != Duration(90e9) || f.Hub.Parallel != 16 || !f.Hub.HTTPActions.Enabled ||
		strings.Join(f.Hub.HTTPActions.AllowedHosts, ",") != "a,b:1" {
		t.Errorf("%+v", f.Hub)
	}
	for in, want := range map[string]Size{"1GiB": 1 << 30, "10GB": 10e9, "42": 42, "-1": -1, "3 MiB": 3 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	if _, err := parseSize("9999999999TiB"); err == nil {
		t.Error("overflowing size accepted")
	}
	if f.Line("hub.interval") != 3 || f.Line("hub.xnat.url") != 1 || f.Line("edge.name") != 0 {
		t.Errorf("lines %d %d %d", f.Line("hub.interval"), f.Line("hub.xnat.url"), f.Line("edge.name"))
	}
}

func TestSecret(t *testing.T) {
	t.Setenv("TEST_SECRET", "from-env")
	if v, err := Secret("", "TEST_SECRET"); err != nil || v != "from-env" {
		t.Fatal(v, err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "s")
	os.WriteFile(p, []byte("from-file\n"), 0o600)
	if v, err := Secret(p, "TEST_SECRET"); err != nil || v != "from-file" {
		t.Fatal(v, err)
	}
	if _, err := Secret("", "TEST_SECRET_UNSET_X"); err == nil || strings.Contains(err.Error(), "from") {
		t.Fatal(err)
	}
	// A key file others may read is refused, naming the fix.
	os.Chmod(p, 0o644)
	if _, err := Secret(p, "TEST_SECRET"); err == nil || !strings.Contains(err.Error(), "chmod 0600 "+p) {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := Secret(empty, "TEST_SECRET"); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatal(err)
	}
}
