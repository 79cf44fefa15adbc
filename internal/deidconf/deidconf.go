// Package deidconf owns what de-identification and deployment share
// without deployment depending on de-identification: the built-in
// profiles shipped in the binary (their names and JSON), the environment
// variables that carry the de-identification key, and the key's format.
//
// internal/deid builds on it (its BuiltinProfile, SaltEnv and NewKeys);
// internal/fleet and internal/fleet/render use it to check and render a
// site's settings. It imports only the standard library.
package deidconf

import (
	"embed"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// SaltEnv is the environment variable holding the per-deployment secret
// (hex, at least 32 bytes), as in the original system.
const SaltEnv = "AIS_DEID_HMAC_SALT"

// SaltFileEnv names a file holding the secret instead (the commands check
// its owner and mode, as for every key file).
const SaltFileEnv = "AIS_DEID_HMAC_SALT_FILE"

// MinKeyBytes is the least length of the decoded secret.
const MinKeyBytes = 32

// DecodeKey decodes the hex-encoded secret (spaces around it ignored),
// which must be at least MinKeyBytes long. source names where it was read
// from, for the errors, which never contain the secret.
func DecodeKey(saltHex, source string) ([]byte, error) {
	m, err := hex.DecodeString(strings.TrimSpace(saltHex))
	if err != nil {
		return nil, fmt.Errorf("%s is not hex (generate one with: openssl rand -hex 32)", source)
	}
	if len(m) < MinKeyBytes {
		return nil, fmt.Errorf("%s decodes to %d bytes; at least %d are required (openssl rand -hex 32)", source, len(m), MinKeyBytes)
	}
	return m, nil
}

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
		return nil, fmt.Errorf("no built-in profile %q (have: %s)", name, strings.Join(BuiltinProfiles(), ", "))
	}
	return b, nil
}

// IsBuiltin reports whether name is a built-in profile.
func IsBuiltin(name string) bool { return slices.Contains(BuiltinProfiles(), name) }

// BuiltinProfiles lists the built-in profile names, sorted.
func BuiltinProfiles() []string {
	ents, _ := builtinFS.ReadDir("profiles")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(out)
	return out
}
