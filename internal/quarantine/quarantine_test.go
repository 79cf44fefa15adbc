package quarantine

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		copy bool
	}{{"linked", false}, {"copied", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "received.dcm")
			if err := os.WriteFile(src, []byte("DICM original"), 0o600); err != nil {
				t.Fatal(err)
			}
			s := &Store{Dir: filepath.Join(dir, "quarantine"), Copy: tc.copy}
			at := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
			first, err := s.Put(src, Entry{ReceivedAt: at, SOPHash: "h1", Reasons: []string{"pixel-risk: burned-in-annotation"}})
			if err != nil {
				t.Fatal(err)
			}
			second, err := s.Put(src, Entry{ID: "0123456789abcdef", ReceivedAt: at.Add(-time.Hour), Reasons: []string{"parse-failed"}})
			if err != nil {
				t.Fatal(err)
			}
			if first.ID == "" || first.ID[:16] != "20261206T070000Z" {
				t.Errorf("generated id %q", first.ID)
			}
			list, err := s.List()
			if err != nil || len(list) != 2 || list[0].ID != second.ID || list[1].ID != first.ID {
				t.Fatalf("List = %+v, %v; want the two entries, oldest first", list, err)
			}
			if b, err := os.ReadFile(s.InstancePath(first.ID)); err != nil || !bytes.Equal(b, []byte("DICM original")) {
				t.Fatalf("original: %q, %v", b, err)
			}
			st1, _ := os.Stat(src)
			st2, _ := os.Stat(s.InstancePath(first.ID))
			if os.SameFile(st1, st2) == tc.copy {
				t.Errorf("Copy=%v, but the original is the same file: %v", tc.copy, os.SameFile(st1, st2))
			}
			first.Requeues++
			if err := s.Update(first); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(first.ID); err != nil || got.Requeues != 1 || got.Reasons[0] != "pixel-risk: burned-in-annotation" {
				t.Fatalf("Get after Update = %+v, %v", got, err)
			}
			if err := s.Remove(second.ID); err != nil {
				t.Fatal(err)
			}
			if list, _ := s.List(); len(list) != 1 {
				t.Fatalf("%d entries after Remove", len(list))
			}
		})
	}
}

func TestBadIDs(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	for _, id := range []string{"", "..", "../x", "a/b", ".hidden", "a b"} {
		if _, err := s.Get(id); err == nil {
			t.Errorf("Get(%q) accepted", id)
		}
		if err := s.Remove(id); err == nil {
			t.Errorf("Remove(%q) accepted", id)
		}
		if err := s.Update(Entry{ID: id}); err == nil && id != "" {
			t.Errorf("Update(%q) accepted", id)
		}
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Fatalf("List of an empty store = %v, %v", list, err)
	}
	if list, err := (&Store{Dir: filepath.Join(t.TempDir(), "missing")}).List(); err != nil || list != nil {
		t.Fatalf("List of a missing folder = %v, %v", list, err)
	}
}

func TestReasonCode(t *testing.T) {
	for _, tc := range []struct{ reason, code string }{
		{"pixel-risk: burned-in annotation", "pixel-risk"},
		{"gate:strings: x", "gate"},
		{"replace-failed at (0010,0010): y", "replace-failed"},
		{"unmapped-aet at CALLED", "unmapped-aet"},
		{"parse-failed", "parse-failed"},
		{"", ""},
	} {
		if got := ReasonCode(tc.reason); got != tc.code {
			t.Errorf("ReasonCode(%q) = %q, want %q", tc.reason, got, tc.code)
		}
		if got := (Entry{Reasons: []string{tc.reason, "other: x"}}).Code(); got != tc.code {
			t.Errorf("Code of %q = %q", tc.reason, got)
		}
	}
	if (Entry{}).Code() != "" {
		t.Error("an entry without reasons has a code")
	}
}
