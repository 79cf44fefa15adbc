// Package monitoringtest holds the acceptance tests of the fleet's
// observability stack against real peers: Debian's Prometheus and promtool
// run the rendered scrape, agent and rule configurations against a running
// `aisedge run` and `aisedge hub` (with SeaweedFS and the XNAT emulator),
// and Debian's amtool checks the rendered Alertmanager configuration. It
// has no code of its own.
package monitoringtest
