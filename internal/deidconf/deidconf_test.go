package deidconf

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestDecodeKey(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		bytes     int    // decoded length, 0 when refused
		err       string // part of the error
	}{
		{"32 bytes", strings.Repeat("ab", 32), 32, ""},
		{"spaces around", "  " + strings.Repeat("0f", 40) + "\n", 40, ""},
		{"short", strings.Repeat("ab", 31), 0, "decodes to 31 bytes; at least 32"},
		{"not hex", strings.Repeat("zz", 32), 0, "is not hex"},
		{"empty", "", 0, "decodes to 0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := DecodeKey(tc.key, "KEY_SOURCE")
			if tc.err == "" {
				if err != nil || len(b) != tc.bytes {
					t.Fatalf("%d bytes, %v", len(b), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "KEY_SOURCE ") {
				t.Fatalf("err = %v, want %q naming the source", err, tc.err)
			}
			if tc.key != "" && strings.Contains(err.Error(), tc.key) {
				t.Fatal("the error shows the key")
			}
		})
	}
}

func TestBuiltinProfiles(t *testing.T) {
	names := BuiltinProfiles()
	if want := []string{"ais-legacy-migration", "ais-legacy-template", "research-default"}; !slices.Equal(names, want) {
		t.Fatalf("built-in profiles %q, want %q", names, want)
	}
	for _, n := range names {
		b, err := BuiltinProfile(n)
		if err != nil || !json.Valid(b) || !IsBuiltin(n) {
			t.Errorf("%s: %v (valid JSON %v)", n, err, json.Valid(b))
		}
	}
	if _, err := BuiltinProfile("nope"); err == nil || !strings.Contains(err.Error(), "research-default") {
		t.Errorf("unknown profile: %v", err)
	}
	if IsBuiltin("profiles/research-default") || IsBuiltin("") {
		t.Error("IsBuiltin accepts a name that is not one")
	}
}
