// Package deploy holds deployment artefacts that are not Go code:
// monitoring/ has the Grafana dashboard and the Prometheus alert rules for
// every aisedge role. Its test proves that they parse and that every
// metric they reference is one the code emits. Nothing imports it.
package deploy
