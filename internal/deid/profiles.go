package deid

import (
	"fmt"

	"github.com/aisedge/aisedge/internal/deidconf"
)

// BuiltinProfile returns the JSON of a built-in profile by name
// (deidconf.BuiltinProfile, whose doc lists them).
func BuiltinProfile(name string) ([]byte, error) {
	b, err := deidconf.BuiltinProfile(name)
	if err != nil {
		return nil, &kindError{kind: ErrInvalidInput, op: "profile", err: err}
	}
	return b, nil
}

// BuiltinProfiles lists the built-in profile names.
func BuiltinProfiles() []string { return deidconf.BuiltinProfiles() }

// MustBuiltin loads a built-in profile and panics on failure; for tests and
// defaults.
func MustBuiltin(name string) *Profile {
	b, err := BuiltinProfile(name)
	if err != nil {
		panic(err)
	}
	p, err := LoadProfile(b)
	if err != nil {
		panic(fmt.Sprintf("built-in profile %s: %v", name, err))
	}
	return p
}
