//go:build race

package e2e

// raceEnabled: the test binary runs with the race detector, so the aisedge
// binary the fault tests start is built with it too.
const raceEnabled = true
