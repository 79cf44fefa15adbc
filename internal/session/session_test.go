package session

import (
	"errors"
	"testing"
)

func TestFolderRoundTrip(t *testing.T) {
	id := ID{Project: "PRJ", Subject: "PRJ-S7K2", Visit: "V4Q9"}
	if id.Folder() != "PRJ.PRJ-S7K2.V4Q9" {
		t.Fatalf("folder %q", id.Folder())
	}
	got, err := ParseFolder(id.Folder())
	if err != nil || got != id {
		t.Fatalf("ParseFolder: %+v, %v", got, err)
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   ID
	}{
		{"empty subject", ID{"P", "", "V"}},
		{"dot", ID{"P", "S.1", "V"}},
		{"slash", ID{"P", "S", "../V"}},
		{"backslash", ID{"P", `S\1`, "V"}},
		{"control", ID{"P", "S", "V\x00"}},
	} {
		if err := tc.id.Valid(); err == nil {
			t.Errorf("%s: valid", tc.name)
		}
	}
	for _, name := range []string{"", "P.S", "P.S.V.X", "P..V", "P.S./"} {
		if _, err := ParseFolder(name); !errors.Is(err, ErrFolder) {
			t.Errorf("ParseFolder(%q): %v", name, err)
		}
	}
}
