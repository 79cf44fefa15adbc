//go:build race

package e2e

// phiRace: the test process runs with the race detector, which slows the
// in-process XNAT emulator (and the machine) down; the subprocess test
// allows more grace then.
const phiRace = true
