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

// Every problem is reported at once, with file, line, field and fix.
func TestAllProblemsReported(t *testing.T) {
	_, err := Load("testdata/invalid.yaml")
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	golden(t, "invalid.errors.golden", err.Error()+"\n")
	for _, p := range ce.Problems {
		if p.Line == 0 || p.Fix == "" {
			t.Errorf("problem without line or fix: %s", p)
		}
	}
}

func TestUnknownFieldsNamed(t *testing.T) {
	_, err := Load("testdata/unknown.yaml")
	if err == nil {
		t.Fatal("unknown fields accepted")
	}
	for _, want := range []string{"testdata/unknown.yaml:4: quietPeriod: unknown field", "testdata/unknown.yaml:8: acessKeyFile: unknown field"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestSecret(t *testing.T) {
	t.Setenv("TEST_SECRET", "from-env")
	if v, err := Secret("", "TEST_SECRET"); err != nil || v != "from-env" {
		t.Fatal(v, err)
	}
	p := filepath.Join(t.TempDir(), "s")
	os.WriteFile(p, []byte("from-file\n"), 0o600)
	if v, err := Secret(p, "TEST_SECRET"); err != nil || v != "from-file" {
		t.Fatal(v, err)
	}
	if _, err := Secret("", "TEST_SECRET_UNSET_X"); err == nil || strings.Contains(err.Error(), "from") {
		t.Fatal(err)
	}
}
