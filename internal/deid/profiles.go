package deid

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

// Built-in profiles, shipped with the binary (the product never reads the
// specification tree at run time):
//
//   - research-default: PS3.15 with modified dates, patient
//     characteristics, device identity, clean descriptors, clean
//     structured content and the PS3.15 safe-private sample;
//   - ais-legacy-template: the original AIS-Edge
//     deidentification-profile.json template, verbatim (rejected until
//     its risky choices are acknowledged);
//   - ais-legacy-migration: the same with those acknowledgements and the
//     legacy-djb2 pseudonyms, for sites migrating existing subjects.
//
//go:embed profiles/*.json
var builtinFS embed.FS

// BuiltinProfile returns the JSON of a built-in profile by name.
func BuiltinProfile(name string) ([]byte, error) {
	b, err := builtinFS.ReadFile("profiles/" + name + ".json")
	if err != nil {
		return nil, invalidf("profile", "no built-in profile %q (have: %s)", name, strings.Join(BuiltinProfiles(), ", "))
	}
	return b, nil
}

// BuiltinProfiles lists the built-in profile names.
func BuiltinProfiles() []string {
	ents, _ := builtinFS.ReadDir("profiles")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

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
