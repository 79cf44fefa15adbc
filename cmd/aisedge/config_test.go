package main

import (
	"context"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A file the validate cases create under their folder ($DIR).
type caseFile struct {
	content string
	mode    os.FileMode
	dir     bool // a folder (content unused)
}

type validateCase struct {
	name  string
	files map[string]caseFile
	env   map[string]string // unset unless named here
	args  []string          // flags before the file
	yaml  string            // $DIR is the case's folder
}

const (
	testSalt  = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// secretEnv lists every variable the start checks read.
var secretEnv = []string{"AIS_DEID_HMAC_SALT", "AISEDGE_S3_ACCESS_KEY", "AISEDGE_S3_SECRET_KEY", "XNAT_USER", "XNAT_PASS", "MY_S3_KEY", "MY_S3_SECRET"}

var allSecrets = map[string]string{"AIS_DEID_HMAC_SALT": testSalt, "AISEDGE_S3_ACCESS_KEY": "edge-key", "AISEDGE_S3_SECRET_KEY": "edge-secret",
	"XNAT_USER": "hub", "XNAT_PASS": "hub-secret"}

func testCA() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not parsed by AppendCertsFromPEM")}))
}

const validYAML = `edge:
  name: edge-a
  dataDir: $DIR/edge
  facilityBackup:
    dir: $DIR/backup
  s3:
    endpoint: https://seaweedfs.aisedge.local
hub:
  dataDir: $DIR/hub
  s3:
    endpoint: https://seaweedfs.aisedge.local
  xnat:
    url: https://xnat.example.org
`

var validateCases = []validateCase{
	{name: "valid", env: allSecrets, yaml: validYAML},
	// The file issue 14 found called valid: an unknown profile, port
	// 99999, an access key file without a secret key file, parallel: -3,
	// retain: "yes"; and the secrets are missing.
	{name: "issue14", files: map[string]caseFile{"access-key": {content: "AK\n", mode: 0o600}}, yaml: `edge:
  name: edge-a
  dataDir: $DIR/edge
  profile: research-defualt
  dicom:
    listen: 0.0.0.0:99999
  facilityBackup:
    dir: $DIR/backup
  s3:
    endpoint: https://seaweedfs.aisedge.local
    accessKeyFile: $DIR/access-key
    parallel: -3
hub:
  dataDir: $DIR/hub
  retain: "yes"
  s3:
    endpoint: https://seaweedfs.aisedge.local
  xnat:
    url: https://xnat.example.org
`},
	// A file with nothing wrong in it, on a machine without the secrets:
	// `edge` and `hub` would not start, so validate does not say valid.
	{name: "missing-secrets", yaml: validYAML},
	{name: "missing-secrets-edge-only", args: []string{"--role", "edge"}, env: map[string]string{"AIS_DEID_HMAC_SALT": "not hex"}, yaml: validYAML},
	{name: "hub-role-only", args: []string{"--role", "hub"}, env: map[string]string{"XNAT_USER": "hub", "XNAT_PASS": "pw", "AISEDGE_S3_ACCESS_KEY": "k", "AISEDGE_S3_SECRET_KEY": "s"}, yaml: validYAML},
	// Key files: readable by others, empty, a short token; a CA bundle
	// without a certificate; custom variables not set.
	{name: "key-files", env: map[string]string{"AIS_DEID_HMAC_SALT": testSalt},
		files: map[string]caseFile{
			"ak": {content: "AK\n", mode: 0o644}, "sk": {content: "\n", mode: 0o600},
			"xu": {content: "hub\n", mode: 0o600}, "xp": {content: "pw\n", mode: 0o640},
			"token": {content: "short\n", mode: 0o600}, "hub-token": {content: testToken + "\n", mode: 0o666},
			"ca.pem": {content: "not a certificate\n", mode: 0o644},
		}, yaml: `edge:
  name: edge-a
  dataDir: $DIR/edge
  facilityBackup: {dir: $DIR/backup}
  s3:
    endpoint: https://seaweedfs.aisedge.local
    caFile: $DIR/ca.pem
    accessKeyFile: $DIR/ak
    secretKeyFile: $DIR/sk
  httpActions:
    enabled: true
    tokenFile: $DIR/token
hub:
  dataDir: $DIR/hub
  s3:
    endpoint: https://seaweedfs.aisedge.local
    accessKeyEnv: MY_S3_KEY
    secretKeyEnv: MY_S3_SECRET
  xnat:
    url: https://xnat.example.org
    usernameFile: $DIR/xu
    passwordFile: $DIR/xp
  httpActions:
    enabled: true
    tokenFile: $DIR/hub-token
`},
	// Folders others may write to are refused, not changed; a file where
	// a folder should be; a socket path too long for a unix socket.
	{name: "folders", env: allSecrets,
		files: map[string]caseFile{
			"edge": {dir: true, mode: 0o777}, "edge/quarantine": {dir: true, mode: 0o770},
			"backup": {dir: true, mode: 0o1777}, "hub": {content: "a file", mode: 0o600},
		}, yaml: `edge:
  name: edge-a
  dataDir: $DIR/edge
  facilityBackup: {dir: $DIR/backup}
  s3: {endpoint: "https://seaweedfs.aisedge.local"}
hub:
  dataDir: $DIR/hub
  socket: $DIR/` + strings.Repeat("s", 110) + `.sock
  s3: {endpoint: "https://seaweedfs.aisedge.local"}
  xnat: {url: "https://xnat.example.org"}
`},
	// Destinations: each one's secrets, checked like XNAT's (a password
	// file others may read, an empty token), its CA bundle, an archive
	// folder others may write to; an XNAT of hub.destinations without
	// XNAT_USER/XNAT_PASS.
	{name: "destinations", env: map[string]string{"AISEDGE_S3_ACCESS_KEY": "k", "AISEDGE_S3_SECRET_KEY": "s"}, args: []string{"--role", "hub"},
		files: map[string]caseFile{
			"wu": {content: "hub\n", mode: 0o600}, "wp": {content: "pw\n", mode: 0o644}, "wt": {content: "\n", mode: 0o600},
			"ca.pem": {content: "not a certificate\n", mode: 0o644}, "archive": {dir: true, mode: 0o777},
		}, yaml: `hub:
  dataDir: $DIR/hub
  s3: {endpoint: "https://seaweedfs.aisedge.local"}
  destinations:
    - name: research
      type: xnat
      xnat: {url: "https://xnat.example.org"}
    - name: pacs
      type: dicom
      dicom: {address: "pacs.example.org:104", calledAET: PACS}
    - name: web
      type: dicomweb
      dicomweb: {url: "https://pacs.example.org/dicom-web", usernameFile: $DIR/wu, passwordFile: $DIR/wp, caFile: $DIR/ca.pem}
    - name: web2
      type: dicomweb
      dicomweb: {url: "https://pacs2.example.org/dicom-web", tokenFile: $DIR/wt}
    - type: archive
      archive: {dir: $DIR/archive}
`},
	// Profiles resolved: the default one, a profile file that does not
	// load, and every profile the routing file names.
	{name: "profiles", env: allSecrets,
		files: map[string]caseFile{
			"bad-profile.json": {content: "{not json", mode: 0o644},
			"routing.json": {content: `{"AETMap": {"CT1": {"project": "P1", "profile": "no-such-profile"}, "MR1": {"project": "P2", "profile": "ais-legacy-migration"}},
 "Defaults": {"deidentificationProfileFile": "research-default"}}`, mode: 0o644},
		}, yaml: `edge:
  name: edge-a
  dataDir: $DIR/edge
  routing: $DIR/routing.json
  profile: $DIR/bad-profile.json
  facilityBackup: {dir: $DIR/backup}
  s3: {endpoint: "https://seaweedfs.aisedge.local"}
`},
	{name: "routing-profiles", env: allSecrets,
		files: map[string]caseFile{
			"routing.json": {content: `{"AETMap": {"CT1": {"project": "P1", "profile": "no-such-profile"}, "MR1": {"project": "P2", "profile": "ais-legacy-migration"}}}`, mode: 0o644},
		}, yaml: `edge:
  name: edge-a
  dataDir: $DIR/edge
  routing: $DIR/routing.json
  facilityBackup: {dir: $DIR/backup}
  s3: {endpoint: "https://seaweedfs.aisedge.local"}
`},
}

// setupCase makes the case's folder, files and environment and returns
// the configuration file's path and the folder.
func setupCase(t *testing.T, tc validateCase) (cfg, dir string) {
	t.Helper()
	dir = t.TempDir()
	for _, k := range secretEnv {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for k, v := range tc.env {
		t.Setenv(k, v)
	}
	names := make([]string, 0, len(tc.files))
	for n := range tc.files {
		names = append(names, n)
	}
	// Parents before children.
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if len(names[j]) < len(names[i]) {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	for _, n := range names {
		f := tc.files[n]
		p := filepath.Join(dir, n)
		if f.dir {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte(f.content), 0o600); err != nil {
			t.Fatal(err)
		}
		mode := f.mode
		if mode&0o1000 != 0 {
			mode = mode&0o777 | os.ModeSticky
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	cfg = filepath.Join(dir, "aisedge.yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(tc.yaml, "$DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

// TestConfigValidate is the table of `aisedge config validate` on files
// and machines: every problem of the file and of what its roles need at
// start (secrets, key files, profiles, folders) at once, each with
// file:line, field and fix; golden output in testdata/validate/.
func TestConfigValidate(t *testing.T) {
	for _, tc := range validateCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, dir := setupCase(t, tc)
			var out strings.Builder
			code := run(append(append([]string{"config", "validate"}, tc.args...), cfg), &out, &out)
			got := strings.ReplaceAll(out.String(), dir, "$DIR")
			got = "exit " + string(rune('0'+code)) + "\n" + got
			goldenFile(t, filepath.Join("testdata", "validate", tc.name+".golden"), got)
			if (code == 0) != strings.HasPrefix(tc.name, "valid") && !strings.HasSuffix(tc.name, "role-only") {
				t.Errorf("exit %d", code)
			}
			// Validate creates nothing.
			for _, d := range []string{"edge", "backup", "hub"} {
				if _, ok := tc.files[d]; !ok {
					if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
						t.Errorf("validate created %s", d)
					}
				}
			}
		})
	}
}

// Wherever validate fails on a role's section, that role fails at start
// with the same problems, before it listens or creates anything.
func TestRolesFailWhereValidateFails(t *testing.T) {
	for _, tc := range validateCases {
		if len(tc.args) > 0 || tc.name == "valid" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			cfg, dir := setupCase(t, tc)
			var out strings.Builder
			if code := run([]string{"config", "validate", cfg}, &out, &out); code != exitConfig {
				t.Fatalf("validate exit %d", code)
			}
			validate := problemLines(out.String())
			ran := 0
			for _, role := range []string{"edge", "hub"} {
				if !strings.HasPrefix(tc.yaml, role+":") && !strings.Contains(tc.yaml, "\n"+role+":") {
					continue
				}
				var mine []string
				for _, l := range validate {
					if f := problemField(l); f == role || strings.HasPrefix(f, role+".") || !strings.HasPrefix(f, "edge") && !strings.HasPrefix(f, "hub") {
						mine = append(mine, l)
					}
				}
				if len(mine) == 0 {
					continue // the role would start
				}
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // should it start after all, it stops at once
				var err error
				if role == "edge" {
					err = runEdge(ctx, []string{"--config", cfg}, io.Discard, io.Discard)
				} else {
					err = runHub(ctx, []string{"--config", cfg, "--once"}, io.Discard, io.Discard)
				}
				ran++
				if err == nil {
					t.Fatalf("%s started where validate failed:\n%s", role, strings.Join(mine, "\n"))
				}
				started := problemLines(err.Error())
				for _, l := range mine {
					if !contains(started, l) {
						t.Errorf("%s at start lacks %q; it said:\n%s", role, l, err)
					}
				}
				for _, l := range started {
					if !contains(validate, l) {
						t.Errorf("%s at start says %q, validate did not", role, l)
					}
				}
			}
			if ran == 0 {
				t.Error("no role checked")
			}
			for _, d := range []string{"edge", "backup", "hub"} {
				if _, ok := tc.files[d]; !ok {
					if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
						t.Errorf("a failed start created %s", d)
					}
				}
			}
		})
	}
}

func problemLines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); strings.Contains(l, "(fix: ") || strings.Contains(l, ".yaml:") {
			out = append(out, l)
		}
	}
	return out
}

var problemFieldRE = regexp.MustCompile(`\.yaml:\d+: (\S+): `)

// problemField is the field a problem line names.
func problemField(l string) string {
	if m := problemFieldRE.FindStringSubmatch(l); m != nil {
		return m[1]
	}
	return ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

var updateGolden = os.Getenv("AISEDGE_UPDATE_GOLDEN") != ""

// goldenFile compares got with path (rewritten when
// AISEDGE_UPDATE_GOLDEN=1 or -update is given).
func goldenFile(t *testing.T, path, got string) {
	t.Helper()
	if updateGolden || *updateRef {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/aisedge -run TestConfigValidate -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
