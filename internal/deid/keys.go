package deid

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/aisedge/aisedge/internal/deidconf"
)

// SaltEnv is the environment variable holding the per-deployment secret
// (hex, at least 32 bytes), as in the original system.
const SaltEnv = deidconf.SaltEnv

// SaltFileEnv names a file holding the secret instead (the commands check
// its owner and mode, as for every key file).
const SaltFileEnv = deidconf.SaltFileEnv

// hkdfSalt is the HKDF salt (docs/deid.md, "Keys").
const hkdfSalt = "AIS-Edge deid v1"

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Keys holds the sub-keys derived from the deployment secret. The secret
// itself is kept only for the legacy-djb2 mode (which hashes it as text,
// like the original Lua hook). Keys never appear in logs or errors.
type Keys struct {
	id                                            string
	patientID, accession, studyID, uid, shift, ae []byte
	logID                                         []byte
	legacySalt                                    string
}

// KeyID identifies the key without revealing it: the first 8 base32
// characters of HMAC(k_key-id, "key-id"). Rotation changes it.
func (k *Keys) KeyID() string { return k.id }

// String hides the key material.
func (k *Keys) String() string { return "deid.Keys{KeyID: " + k.id + "}" }

// KeysFromEnv derives the keys from $AIS_DEID_HMAC_SALT.
func KeysFromEnv() (*Keys, error) {
	v, ok := os.LookupEnv(SaltEnv)
	if !ok || v == "" {
		return nil, invalidf("keys", "%s is not set (generate one with: openssl rand -hex 32)", SaltEnv)
	}
	return NewKeys(v)
}

// NewKeys derives the sub-keys from the hex-encoded master secret, which
// must decode to at least 32 bytes (docs/deid.md, "Keys").
func NewKeys(saltHex string) (*Keys, error) { return NewKeysFrom(saltHex, SaltEnv) }

// NewKeysFrom is NewKeys for a secret read from source (a file name, for
// the errors).
func NewKeysFrom(saltHex, source string) (*Keys, error) {
	trimmed := strings.TrimSpace(saltHex)
	m, err := deidconf.DecodeKey(trimmed, source)
	if err != nil {
		return nil, &kindError{kind: ErrInvalidInput, op: "keys", err: err}
	}
	sub := func(info string) []byte {
		k, err := hkdf.Key(sha256.New, m, []byte(hkdfSalt), info, 32)
		if err != nil {
			panic(err) // only for impossible lengths
		}
		return k
	}
	k := &Keys{
		patientID: sub("patient-id"), accession: sub("accession"), studyID: sub("study-id"),
		uid: sub("uid"), shift: sub("date-shift"), ae: sub("ae"), logID: sub("log-id"),
		legacySalt: trimmed,
	}
	k.id = b32.EncodeToString(mac(sub("key-id"), []byte("key-id")))[:8]
	return k, nil
}

// LogKey is the sub-key of the identifiers that logs, events, status and
// quarantine entries show for an original instance (never its UID, never
// an unkeyed hash of it, which anyone holding the originals could link).
func (k *Keys) LogKey() []byte { return append([]byte(nil), k.logID...) }

func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// message builds the canonical message of a keyed function
// (docs/deid.md, "Pseudonyms").
func message(field, namespace, value string) []byte {
	b := make([]byte, 0, 8+len(field)+len(namespace)+len(value))
	b = append(b, "v1\x1f"...)
	b = append(b, field...)
	b = append(b, 0x1f)
	b = append(b, namespace...)
	b = append(b, 0x1f)
	b = append(b, value...)
	return b
}

// canonicalValue strips leading/trailing spaces and NULs (no case folding).
func canonicalValue(v string) string { return strings.Trim(v, " \x00") }

func pseudonym(key []byte, field, namespace, value string, spec IDSpec) string {
	t := mac(key, message(field, namespace, canonicalValue(value)))
	return spec.Prefix + b32.EncodeToString(t)[:spec.Length]
}

// PatientPseudonym is the pseudonym of a Patient ID in a namespace.
func (k *Keys) PatientPseudonym(namespace, patientID string, spec IDSpec) string {
	return pseudonym(k.patientID, "PatientID", namespace, patientID, spec)
}

// AccessionPseudonym is the pseudonym of an Accession Number.
func (k *Keys) AccessionPseudonym(namespace, accession string, spec IDSpec) string {
	return pseudonym(k.accession, "AccessionNumber", namespace, accession, spec)
}

// AccessionFromStudy synthesises an accession pseudonym from the Study
// Instance UID when the original accession number is empty.
func (k *Keys) AccessionFromStudy(namespace, studyUID string, spec IDSpec) string {
	return pseudonym(k.accession, "accession-from-study", namespace, studyUID, spec)
}

// StudyIDPseudonym is the pseudonym of a Study ID configured on its own.
func (k *Keys) StudyIDPseudonym(namespace, studyID string, spec IDSpec) string {
	return pseudonym(k.studyID, "StudyID", namespace, studyID, spec)
}

// RemapUID maps a UID to 2.25.<decimal> (docs/deid.md, "UID remapping"):
// the first 16 bytes
// of HMAC(k_uid, "v1" 0x1F u) with UUID version 8 and the RFC variant set.
func (k *Keys) RemapUID(u string) string {
	u = strings.TrimRight(u, "\x00 ")
	b := mac(k.uid, append([]byte("v1\x1f"), u...))[:16]
	b[6] = (b[6] & 0x0F) | 0x80
	b[8] = (b[8] & 0x3F) | 0x80
	return "2.25." + new(big.Int).SetBytes(b).Text(10)
}

// DateShiftDays returns the signed whole-day offset of a subject
// (docs/deid.md, "Date shifting"). It is never written anywhere.
func (k *Keys) DateShiftDays(namespace, patientID string, dc DateConfig) int {
	t := mac(k.shift, message("PatientID", namespace, canonicalValue(patientID)))
	r := binary.BigEndian.Uint64(t[:8])
	span := uint64(dc.MaxDays - dc.MinDays + 1)
	days := dc.MinDays + int(r%span)
	if dc.WeekAligned {
		// The nearest multiple of 7 inside [MinDays, MaxDays]; a range
		// too narrow to hold one keeps the unaligned value.
		w := ((days + 3) / 7) * 7
		for w > dc.MaxDays {
			w -= 7
		}
		for w < dc.MinDays {
			w += 7
		}
		if w <= dc.MaxDays {
			days = w
		}
	}
	if dc.Direction != "future" {
		days = -days
	}
	return days
}

// AETitle cleans an AE title under RetainDeviceIdentity: "AE" + first 14
// base32 characters of HMAC(k_ae, value).
func (k *Keys) AETitle(v string) string {
	return "AE" + b32.EncodeToString(mac(k.ae, []byte(canonicalValue(v))))[:14]
}

// LegacyHash is the original AIS-Edge Lua hook's 48-bit hash
// (docs/compat.md, "The legacy profile and its hash"): over the bytes of
// SALT+"|"+v, h1 = djb2
// (h1 = 33·h1 + c, from 5381) and h2 = 31·h2 + c + (h1 mod 256) with the
// updated h1, both mod 2³²; the result is the first 12 characters of the
// upper-case hex of h1‖h2. Not a cryptographic function: only for sites
// that must keep the subject labels they already have.
func (k *Keys) LegacyHash(v string) string { return legacyDJB2(k.legacySalt, v) }

func legacyDJB2(salt, v string) string {
	var h1, h2 uint32 = 5381, 0
	s := salt + "|" + v
	for i := 0; i < len(s); i++ {
		c := uint32(s[i])
		h1 = 33*h1 + c
		h2 = 31*h2 + c + (h1 & 0xFF)
	}
	return fmt.Sprintf("%08X%08X", h1, h2)[:12]
}
