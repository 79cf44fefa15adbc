package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func standaloneForTest(dir string) standaloneOptions {
	return standaloneOptions{listen: "127.0.0.1:0", aeTitle: "AISEDGE", dataDir: dir, project: "DEMO", profile: "research-default",
		httpAddr: "127.0.0.1:0", edgeName: "standalone", quiet: time.Second, force: time.Hour, minFree: -1}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// `aisedge run` refuses folders and key files other users can change or
// read, names the path, the problem and the fix, and changes nothing.
func TestStandaloneRefusesUnsafeFolders(t *testing.T) {
	t.Setenv("AIS_DEID_HMAC_SALT", "")
	os.Unsetenv("AIS_DEID_HMAC_SALT")
	type setup func(t *testing.T, data string) (path string)
	mk := func(rel string, mode os.FileMode) setup {
		return func(t *testing.T, data string) string {
			p := filepath.Join(data, rel)
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
			os.Chmod(data, 0o750)
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	salt := func(mode os.FileMode, uid int) setup {
		return func(t *testing.T, data string) string {
			os.MkdirAll(data, 0o750)
			p := filepath.Join(data, "deid-hmac-salt")
			if err := os.WriteFile(p, []byte(testSalt+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, mode)
			if uid >= 0 {
				if err := os.Chown(p, uid, uid); err != nil {
					t.Fatal(err)
				}
			}
			return p
		}
	}
	chownTo := func(s setup, uid int) setup {
		return func(t *testing.T, data string) string {
			p := s(t, data)
			if err := os.Chown(p, uid, uid); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	for _, tc := range []struct {
		name     string
		root     bool // needs root (chown to another user)
		setup    setup
		want     []string // $P is the path
		wantMode os.FileMode
	}{
		{name: "data dir 0777", setup: mk("", 0o777), want: []string{"data folder $P is world-writable (mode 0777)", "(fix: chmod go-w $P)"}, wantMode: 0o777},
		{name: "facility backup 0777", setup: mk("facility-backup", 0o777), want: []string{"facility backup folder $P is world-writable"}, wantMode: 0o777},
		{name: "quarantine 0770", setup: mk("edge/quarantine", 0o770), want: []string{"quarantine folder $P is group-writable (mode 0770)", "chmod g-w $P"}, wantMode: 0o770},
		{name: "spool 0757", setup: mk("edge/spool", 0o757), want: []string{"spool folder $P is world-writable"}, wantMode: 0o757},
		{name: "salt 0644", setup: salt(0o644, -1), want: []string{"de-identification key file $P is readable or writable by other users (mode 0644)", "chmod 0600 $P"}, wantMode: 0o644},
		{name: "salt of another user", root: true, setup: salt(0o644, 54321), want: []string{"de-identification key file $P is owned by another user (54321)", "sudo chown root $P && sudo chmod 0600 $P"}, wantMode: 0o644},
		{name: "facility backup made first by another user", root: true, setup: chownTo(mk("facility-backup", 0o755), 54321),
			want: []string{"facility backup folder $P is owned by another user (54321)", "sudo chown -R root $P"}, wantMode: 0o755},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("needs root to give a file to another user")
			}
			data := filepath.Join(t.TempDir(), "data")
			p := tc.setup(t, data)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // should it start after all, it stops at once
			o := standaloneForTest(data)
			err := o.run(ctx, quietLogger(), io.Discard, nil)
			if err == nil {
				t.Fatal("started")
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "$P", p); !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			st, _ := os.Stat(p)
			if st.Mode().Perm() != tc.wantMode {
				t.Errorf("mode changed to %v", st.Mode())
			}
			if _, err := os.Stat(filepath.Join(data, "aisedge.sock")); err == nil {
				t.Error("the API socket was made")
			}
		})
	}
}

// A fresh data folder gets private folders and a 0600 key.
func TestStandaloneCreatesPrivateFolders(t *testing.T) {
	t.Setenv("AIS_DEID_HMAC_SALT", "")
	os.Unsetenv("AIS_DEID_HMAC_SALT")
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := standaloneForTest(data)
	if err := o.run(ctx, quietLogger(), io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]os.FileMode{"": 0o750, "edge": 0o750, "edge/spool": 0o700, "edge/staging": 0o750, "edge/quarantine": 0o750,
		"facility-backup": 0o700, "hub": 0o700, "bucket": 0o750, "archive": 0o750, "deid-hmac-salt": 0o600} {
		st, err := os.Stat(filepath.Join(data, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if m := st.Mode().Perm(); m&^want != 0 {
			t.Errorf("%s: mode %v, want at most %v", rel, m, want)
		}
	}
	// A second start reads the key it made.
	if err := o.run(ctx, quietLogger(), io.Discard, nil); err != nil {
		t.Fatal(err)
	}
}

// The actions are on the socket only unless --http-action-token; then the
// TCP port needs the token and an allowed Host, and error answers carry no
// paths.
func TestStandaloneHTTPActions(t *testing.T) {
	t.Setenv("AIS_DEID_HMAC_SALT", testSalt)
	base := t.TempDir()
	tokFile := filepath.Join(base, "token")
	os.WriteFile(tokFile, []byte(testToken+"\n"), 0o600)
	for _, enabled := range []bool{false, true} {
		data := filepath.Join(base, "data-"+map[bool]string{false: "off", true: "on"}[enabled])
		o := standaloneForTest(data)
		if enabled {
			o.httpActionToken, o.httpAllowedHosts = tokFile, "edge.example.org"
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- o.run(ctx, quietLogger(), io.Discard, func(_, h string) { ready <- h }) }()
		var addr string
		select {
		case addr = <-ready:
		case err := <-done:
			t.Fatal(err)
		}
		post := func(path, host, auth string) (int, string) {
			req, _ := http.NewRequest("POST", "http://"+addr+path, nil)
			if host != "" {
				req.Host = host
			}
			if auth != "" {
				req.Header.Set("Authorization", "Bearer "+auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if !enabled {
			if code, body := post("/api/quarantine-requeue/x", "", testToken); code != 404 || !strings.Contains(body, "local socket only") {
				t.Errorf("actions on TCP by default: %d %q", code, body)
			}
		} else {
			for _, tc := range []struct {
				path, host, auth string
				want             int
			}{
				{"/api/quarantine-requeue/20260101T000000Z-00000000", "", "", 401},
				{"/api/quarantine-requeue/20260101T000000Z-00000000", "rebind.example:8080", testToken, 421},
				{"/api/quarantine-requeue/20260101T000000Z-00000000", "edge.example.org:8080", testToken, 409},
				{"/api/quarantine-requeue/20260101T000000Z-00000000", "", testToken, 409},
				{"/api/deadletter-requeue/staged/edge-a/P.S.E/", "", testToken, 409},
			} {
				code, body := post(tc.path, tc.host, tc.auth)
				if code != tc.want || strings.Contains(body, base) || strings.Contains(body, "/tmp") {
					t.Errorf("POST %s Host %q: %d %q, want %d without paths", tc.path, tc.host, code, body, tc.want)
				}
			}
		}
		// The CLI keeps working over the socket.
		// Ready once the bucket's first reachability probe answered.
		var out strings.Builder
		for {
			out.Reset()
			if code := run([]string{"status", "--socket", filepath.Join(data, "aisedge.sock")}, &out, &out); code != 0 || !strings.Contains(out.String(), "s3: s3: not checked yet") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(out.String(), "ready: true") {
			t.Errorf("status over the socket: %s", out.String())
		}
		out.Reset()
		if code := run([]string{"quarantine", "--socket", filepath.Join(data, "aisedge.sock"), "requeue", "nope"}, &out, &out); code != 1 || strings.Contains(out.String(), data) {
			t.Errorf("requeue over the socket (%d): %s", code, out.String())
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// A token file others can read is refused.
	os.Chmod(tokFile, 0o644)
	o := standaloneForTest(filepath.Join(base, "data-bad"))
	o.httpActionToken = tokFile
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.run(ctx, quietLogger(), io.Discard, nil); err == nil || !strings.Contains(err.Error(), "chmod 0600 "+tokFile) {
		t.Errorf("token file 0644: %v", err)
	}
}
