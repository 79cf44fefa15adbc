// Package deid owns de-identification: the profile model and its strict
// parser, the PS3.15 Annex E basic profile (Table E.1-1, generated from the
// 2026c CSV by internal/gentable) with its options, keyed pseudonyms, UID
// remapping and date shifting, the pixel-risk policy, the value-free report
// and the verification gate that re-reads every serialised output and
// quarantines it if any identifying value of the input can still be found.
//
// The contract is docs/deid.md; comments cite its sections by heading,
// e.g. (docs/deid.md, "Pseudonyms"). The legacy AIS-Edge profile and hash
// are in docs/compat.md, "The legacy profile and its hash".
//
// Invariants:
//
//   - Deterministic: same input bytes, profile and key give the same output
//     bytes, on any node, at any time (no randomness, no clock).
//   - Instance-local: all linkage comes from keyed functions of original
//     values (HMAC-SHA256 with sub-keys derived from AIS_DEID_HMAC_SALT).
//   - Nothing unverified leaves: an instance is either written (after the
//     gate passed on its bytes) or quarantined with a value-free reason.
//   - Original values never appear in reports, logs or errors; logs carry
//     only new UIDs, pseudonyms, counts and hashed input identifiers.
//
// Choices where the contract leaves room (the safer one each time):
//
//   - Free text PS3.15 does not list (LT/ST/UT, "Comments", "Notes") is
//     cleaned, not kept; narrative text also loses capitalised
//     mid-sentence words (names the input does not list).
//   - Issuer identifiers (Local Namespace / Universal Entity ID) are
//     removed unless RetainInstitutionIdentity.
//   - Empty Patient ID, DICOMDIRs, Content Sequence without Clean
//     Structured Content, graphic annotations, encapsulated documents and
//     pixel risk quarantine the instance.
//   - legacy-djb2 and Pixels.Clear need an AcknowledgeRisk entry, like the
//     risky features (docs/deid.md, "Profile lint"); "Strict": false
//     needs one too.
//   - Overlay and curve groups whose data is removed are removed whole.
//   - Conditional codes use a small PS3.3 extract (iod.go); unknown
//     attributes take the leftmost code and are reported iod-type-unknown.
//
// Imported by the edge's receiver (internal/edge, one engine per project)
// and cmd/aisedge (the deid command, and the fleet's profile check); never
// by deployment (internal/fleet/...), which reads the built-in profiles and
// the key's format from internal/deidconf. It is pure: no network, no
// storage, no DICOM networking (internal/layering_test.go). It imports
// internal/dicom, internal/deidconf, internal/session (the folder and label
// names), internal/fault (the failure classes of its errors) and the
// standard library (plus golang.org/x/text for Unicode normalisation).
package deid
