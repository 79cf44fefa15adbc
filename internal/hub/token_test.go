package hub

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTokenStore: a renewed token is used after a restart while it is valid
// and while the secret files still hold the token it descends from.
func TestTokenStore(t *testing.T) {
	ts := TokenStore{Path: filepath.Join(t.TempDir(), "xnat-alias-token.json")}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, _, ok := ts.Load("a0", "s0", now); ok {
		t.Fatal("loaded from nothing")
	}
	if err := ts.Save("a0", "s0", "a1", "s1", now.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(ts.Path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v %v", st.Mode(), err)
	}
	if a, s, ok := ts.Load("a0", "s0", now.Add(47*time.Hour)); !ok || a != "a1" || s != "s1" {
		t.Fatalf("load: %q %q %v", a, s, ok)
	}
	if _, _, ok := ts.Load("a0", "s0", now.Add(48*time.Hour)); ok {
		t.Fatal("expired token loaded")
	}
	if _, _, ok := ts.Load("a9", "s9", now); ok {
		t.Fatal("token of other secret files loaded")
	}
	if err := ts.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := ts.Remove(); err != nil {
		t.Fatal(err)
	}
}
