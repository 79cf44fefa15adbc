// Package sampledata locates the repository's DICOM sample files
// (testdata/dicom at the module root; testdata/dicom/README.md gives each
// file's source, version and licence) and unpacks the archived ones. It is test support with no project
// imports, so that every package's tests can use it (internal/dicom's
// included); internal/testpeer/samples adds synthetic series on top.
package sampledata

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns the folder of the sample files. A test that needs them fails
// (it does not skip) when they cannot be found: the suite's promise
// includes them.
func Dir(tb testing.TB) string {
	tb.Helper()
	d, err := Locate()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// Locate finds testdata/dicom at the root of the module that holds the
// working folder (for code without a testing.TB, such as a benchmark's
// TestMain).
func Locate() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	d := filepath.Join(root, "testdata", "dicom")
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		return "", fmt.Errorf("sample DICOM files not found in the repository: %w", err)
	}
	return d, nil
}

// Path returns the path of one sample file.
func Path(tb testing.TB, name string) string { return filepath.Join(Dir(tb), name) }

// Gunzipped unpacks a .gz sample into the test's temporary folder.
func Gunzipped(tb testing.TB, name string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), strings.TrimSuffix(name, ".gz"))
	if err := Gunzip(Path(tb, name), out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// Gunzip unpacks the gzip file src into dst (for fixtures that outlive one
// test, such as a benchmark's).
func Gunzip(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, zr); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", src, err)
	}
	return f.Close()
}

// Untarred unpacks a .tar.gz sample (every regular file but READMEs) into
// the test's temporary folder and returns the files' paths.
func Untarred(tb testing.TB, name string) []string {
	tb.Helper()
	in, err := os.Open(Path(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	var out []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || strings.Contains(strings.ToUpper(filepath.Base(h.Name)), "README") {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			tb.Fatalf("tar entry %q escapes", h.Name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
}

// ModuleRoot is the folder of go.mod above the test's working folder.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	d, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("go.mod not found above %s", wd)
}
