package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/fsperm"
)

const testKeyHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestDeidKeys: the key from a file (flag or configuration field, or
// $AIS_DEID_HMAC_SALT_FILE) gives the same keys as the same secret in
// $AIS_DEID_HMAC_SALT; a file others may read is refused with the chmod
// that fixes it; both variables at once are refused.
func TestDeidKeys(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key")
	os.WriteFile(good, []byte(testKeyHex+"\n"), 0o600)
	open := filepath.Join(dir, "key-0644")
	os.WriteFile(open, []byte(testKeyHex+"\n"), 0o600)
	os.Chmod(open, 0o644)
	notHex := filepath.Join(dir, "key-text")
	os.WriteFile(notHex, []byte("not a key\n"), 0o600)

	t.Setenv(deid.SaltFileEnv, "")
	t.Setenv(deid.SaltEnv, testKeyHex)
	fromEnv, src, err := deidKeys("")
	if err != nil || src != "$"+deid.SaltEnv {
		t.Fatalf("from the environment: %v %q", err, src)
	}
	fromFile, src, err := deidKeys(good)
	if err != nil || src != good || fromFile.KeyID() != fromEnv.KeyID() {
		t.Fatalf("from the file: %v %q (key ids %s, %s)", err, src, fromFile.KeyID(), fromEnv.KeyID())
	}
	_, _, err = deidKeys(open)
	var p *fsperm.Problem
	if !errors.As(err, &p) || !strings.Contains(p.Fix, "chmod") {
		t.Errorf("a 0644 key file: %v", err)
	}
	if _, _, err := deidKeys(notHex); err == nil || !strings.Contains(err.Error(), "key file "+notHex+" is not hex") || strings.Contains(err.Error(), "not a key") {
		t.Errorf("a key file that is not hex: %v", err)
	}
	t.Setenv(deid.SaltFileEnv, good)
	if _, _, err := deidKeys(""); err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("both variables: %v", err)
	}
	t.Setenv(deid.SaltEnv, "")
	if k, src, err := deidKeys(""); err != nil || src != "$"+deid.SaltFileEnv || k.KeyID() != fromEnv.KeyID() {
		t.Errorf("from $%s: %v %q", deid.SaltFileEnv, err, src)
	}
}

// TestDeidKeyFileCommands: through the built command, a key file that
// others may read stops `aisedge run` and `config validate` with the
// configuration exit status, naming the field, line and fix; a 0600 one
// is used (no key is generated into the data folder).
func TestDeidKeyFileCommands(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "key-0644")
	os.WriteFile(open, []byte(testKeyHex+"\n"), 0o600)
	os.Chmod(open, 0o644)
	good := filepath.Join(dir, "key")
	os.WriteFile(good, []byte(testKeyHex+"\n"), 0o600)

	p := startAisedge(t, []string{deid.SaltEnv + "=", deid.SaltFileEnv + "=" + open}, "run", "--data-dir", filepath.Join(dir, "d1"),
		"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	if code := p.exitCode(); code != exitConfig || !strings.Contains(p.text(), open) || !strings.Contains(p.text(), "chmod") {
		t.Errorf("run with a 0644 key file: exit %d\n%s", code, p.text())
	}

	data := filepath.Join(dir, "d2")
	p = startAisedge(t, []string{deid.SaltEnv + "=", deid.SaltFileEnv + "="}, "run", "--data-dir", data, "--deid-key-file", good,
		"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	p.wait("the receiver", msgIs("receiver listening"))
	if code := p.stop(); code != 0 {
		t.Errorf("run with --deid-key-file: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(data, "deid-hmac-salt")); !os.IsNotExist(err) {
		t.Errorf("a key was generated although --deid-key-file names one: %v", err)
	}

	cfg := writeFile(t, dir, "aisedge.yaml", "edge:\n  name: edge-a\n  dataDir: "+filepath.Join(dir, "edge")+"\n  deidKeyFile: "+open+
		"\n  facilityBackup:\n    dir: "+filepath.Join(dir, "backup")+"\n  s3:\n    endpoint: https://s3.example.org\n")
	code, out := cli(t, "config", "validate", cfg)
	if code != exitConfig || !strings.Contains(out, "aisedge.yaml:4: edge.deidKeyFile:") || !strings.Contains(out, "chmod") {
		t.Errorf("config validate with a 0644 key file: exit %d\n%s", code, out)
	}
}
