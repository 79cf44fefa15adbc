// Package e2e holds the end-to-end tests of the distributed roles: dcmtk
// storescu → edge → real SeaweedFS (TLS, put-only edge key) → hub → XNAT
// emulator. It has no code of its own.
package e2e
